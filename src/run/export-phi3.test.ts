// Phi-3 exports without a GPU (export.gpu.test.ts referees the numbers with our engine and
// llama.cpp): the merged checkpoint adds scaling · B·A to the fused qkv_proj / gate_up_proj
// tensors; the GGUF is llama.cpp's phi3 architecture (attn_qkv, fused ffn_up, no q/k row
// permutation, rotary dim, longrope factor tensors and attention factor); the LoRA GGUF names the
// fused modules.

import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../io/checkpoint';
import { metaValue, readGguf } from '../io/gguf';
import { MemoryFolder } from '../io/sink';
import { FileSet, bytesSource } from '../io/source';
import { tinyCheckpoint } from '../io/testing/tiny-checkpoint';
import { tinyBpeTokenizer } from '../io/testing/bpe-tokenizer';
import { LoraLayout } from '../engine/model/lora';
import { Rng } from '../util/rng';
import { exportMerged } from './export-merged';
import { runExport } from './export-model';
import { ggufPreTokenizer, llamaCppSafeName } from './export-gguf';

const enc = new TextEncoder();
const fs = (files: Map<string, Uint8Array>, name = 'tiny-phi3') =>
  new FileSet(
    [...files].map(([p, b]) => [p, bytesSource(b, p)] as [string, ReturnType<typeof bytesSource>]),
    name,
  );

// hidden 32, 4 heads / 2 kv of 8 (6 rotary dims), intermediate 40, longrope over 64 -> 256 positions
function tinyPhi3() {
  const t = tinyCheckpoint({
    architectures: ['Phi3ForCausalLM'],
    model_type: 'phi3',
    hidden_size: 32,
    intermediate_size: 40,
    vocab_size: 160,
    partial_rotary_factor: 0.75,
    max_position_embeddings: 256,
    original_max_position_embeddings: 64,
    rope_scaling: { type: 'longrope', short_factor: [1, 1.5, 2], long_factor: [1, 4, 8] },
    sliding_window: 2047,
  });
  const tok = tinyBpeTokenizer('llama3', 160);
  t.files.set('tokenizer.json', enc.encode(JSON.stringify(tok.tokenizerJson)));
  t.files.set('tokenizer_config.json', enc.encode(JSON.stringify(tok.tokenizerConfig)));
  const layout = new LoraLayout(t.config, {
    r: 4,
    lora_alpha: 8,
    lora_dropout: 0,
    target_modules: ['qkv_proj', 'gate_up_proj'],
    use_rslora: false,
  });
  const rng = new Rng(5);
  const flat = Float32Array.from({ length: layout.size }, () => rng.uniform(-0.2, 0.2));
  return { ...t, adapter: { layout, flat } };
}

describe('phi3 exports', () => {
  it('merged: the fused tensors are W + scaling · B·A, everything else untouched', async () => {
    const t = tinyPhi3();
    const out = new MemoryFolder();
    await exportMerged(fs(t.files), t.adapter, out);
    const base = await openCheckpoint(fs(t.files));
    const merged = await openCheckpoint(fs(out.files));
    const { layout, flat } = t.adapter;
    for (const name of ['model.layers.1.self_attn.qkv_proj.weight', 'model.layers.0.mlp.gate_up_proj.weight']) {
      const slot = layout.slots.find((s) => name.includes(`layers.${s.layer}.`) && name.includes(`.${s.module}.`))!;
      const W = await base.readAsF32(name);
      const got = await merged.readAsF32(name);
      const [O, I, r] = [slot.outFeatures, slot.inFeatures, 4];
      expect(got.length).toBe(O * I);
      let worst = 0;
      for (let o = 0; o < O; o++)
        for (let i = 0; i < I; i++) {
          let ba = 0;
          for (let k = 0; k < r; k++) ba += flat[slot.offsetB + o * r + k] * flat[slot.offsetA + k * I + i];
          worst = Math.max(worst, Math.abs(got[o * I + i] - (W[o * I + i] + layout.scaling * ba)));
        }
      expect(worst, name).toBeLessThan(1e-6); // one f32 rounding of values below 2
    }
    for (const name of ['model.layers.0.self_attn.o_proj.weight', 'model.layers.0.mlp.down_proj.weight'])
      expect(await merged.read(name)).toEqual(await base.read(name));
  });

  it('GGUF: phi3 architecture, attn_qkv and fused ffn_up unpermuted, longrope factors and attention factor', async () => {
    const t = tinyPhi3();
    const out = new MemoryFolder();
    await runExport(fs(t.files), null, out, { format: 'gguf', outType: 'f32' });
    const g = await readGguf(bytesSource(out.files.get('base-f32.gguf')!, 'x.gguf'));
    expect(metaValue(g, 'general.architecture')).toBe('phi3');
    expect(metaValue(g, 'phi3.rope.dimension_count')).toBe(6);
    expect(metaValue(g, 'phi3.context_length')).toBe(256);
    expect(metaValue(g, 'phi3.rope.scaling.original_context_length')).toBe(64);
    expect(metaValue(g, 'phi3.attention.sliding_window')).toBe(2047);
    expect(metaValue(g, 'phi3.rope.scaling.attn_factor')).toBeCloseTo(Math.sqrt(1 + Math.log(4) / Math.log(64)), 6);
    expect(g.tensors.get('blk.0.attn_qkv.weight')!.shape).toEqual([32 + 2 * 16, 32]);
    expect(g.tensors.get('blk.0.ffn_up.weight')!.shape).toEqual([80, 32]);
    expect(g.tensors.get('blk.0.attn_q.weight')).toBeUndefined();
    expect(g.tensors.get('blk.0.ffn_gate.weight')).toBeUndefined();
    expect(g.tensors.get('rope_factors_short.weight')!.shape).toEqual([3]);
    expect(g.tensors.get('rope_factors_long.weight')!.shape).toEqual([3]);
    // the qkv rows are written as stored (no LlamaModel.permute for phi3)
    const base = await openCheckpoint(fs(t.files));
    const want = await base.readAsF32('model.layers.0.self_attn.qkv_proj.weight');
    const e = g.tensors.get('blk.0.attn_qkv.weight')!;
    const bytes = out.files.get('base-f32.gguf')!;
    const got = new Float32Array(bytes.slice(g.dataStart + e.offset, g.dataStart + e.offset + want.length * 4).buffer);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it('LoRA GGUF: lora_a / lora_b of attn_qkv and ffn_up over the fused outputs', async () => {
    const t = tinyPhi3();
    const out = new MemoryFolder();
    await runExport(fs(t.files), t.adapter, out, { format: 'gguf-lora' });
    const g = await readGguf(bytesSource(out.files.get('adapter.gguf')!, 'a.gguf'));
    expect(metaValue(g, 'general.architecture')).toBe('phi3');
    expect(g.tensors.get('blk.1.attn_qkv.weight.lora_b')!.shape).toEqual([64, 4]);
    expect(g.tensors.get('blk.1.ffn_up.weight.lora_a')!.shape).toEqual([4, 32]);
  });

  it("GGUF: Phi-4-mini's GPT-4o pre-tokenizer is llama.cpp's gpt-4o, not Llama 3's", () => {
    // tokenizer.json of Phi-4-mini-instruct (Xenova/gpt-4o): a Split on this regex, then ByteLevel
    const regex =
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    const pre = {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: regex }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    };
    expect(ggufPreTokenizer({ pre_tokenizer: pre })).toBe('gpt-4o');
    expect(ggufPreTokenizer(tinyBpeTokenizer('llama3', 160).tokenizerJson as Record<string, unknown>)).toBe(
      'llama-bpe',
    );
  });
});

describe('GGUF general.name that llama.cpp can load', () => {
  it('a "phi3" / "Phi-3" name becomes "phi 3" unless the vocabulary has the tokens llama.cpp then looks up', () => {
    const full = ['</s>', '<unk>', '<s>', '<|endoftext|>', 'a'];
    expect(llamaCppSafeName('tiny-phi3', ['a', '<|endoftext|>'])).toBe('tiny-phi 3');
    expect(llamaCppSafeName('My-Phi-3-sql', ['a'])).toBe('My-Phi 3-sql');
    expect(llamaCppSafeName('Phi-4-mini-instruct', ['a'])).toBe('Phi-4-mini-instruct');
    expect(llamaCppSafeName('phi3-mini', full)).toBe('phi3-mini');
  });
});
