// The export files' bytes and structure, without a GPU or llama.cpp (those referee the numbers
// in export.gpu.test.ts): the streamed safetensors writer, sharding as transformers does it,
// GGUF layout and metadata types, Q8_0 blocks, the q/k row permutation, the token list padding,
// the LoRA alpha for rsLoRA, and the Modelfile.

import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../io/hf-config';
import { openCheckpoint } from '../io/checkpoint';
import { type TensorToWrite, streamSafetensors, writeSafetensors } from '../io/safetensors';
import { GGUF_ALIGNMENT, dequantizeQ8_0, metaType, metaValue, quantizeQ8_0, readGguf } from '../io/gguf';
import { MemoryFolder } from '../io/sink';
import { FileSet, bytesSource } from '../io/source';
import { tinyCheckpoint, tinyHfConfig } from '../io/testing/tiny-checkpoint';
import { tinyBpeTokenizer } from '../io/testing/bpe-tokenizer';
import { LoraLayout } from '../engine/model/lora';
import { Rng } from '../util/rng';
import { baseTensors, exportMerged, planShards, rowChunks } from './export-merged';
import {
  checkGgufSupport,
  gemma3LlamaCppQueryScalar,
  gemma3SlidingPeriod,
  ggufArch,
  ggufLoraAlpha,
  ggufModelMetadata,
  ggufTensorName,
  ggufTokenizerMetadata,
  llama3RopeFreqs,
  permuteRows,
} from './export-gguf';
import { runExport } from './export-model';
import GEMMA3_270M from '../io/fixtures/gemma3-270m-config.json';
import GEMMA3_1B from '../io/fixtures/gemma3-1b-pt-config.json';
import { templateFamily, writeModelfile } from './modelfile';
import PHI4_TEMPLATE from '../io/fixtures/phi-4-mini-instruct.chat_template.json';
import { REPO_ROOT } from '../engine/testing/cases.node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const enc = new TextEncoder();
const fs = (files: Map<string, Uint8Array>, name = 'tiny') =>
  new FileSet(
    [...files].map(([p, b]) => [p, bytesSource(b, p)] as [string, ReturnType<typeof bytesSource>]),
    name,
  );

function tinyWithTokenizer(overrides: Record<string, unknown> = {}) {
  const t = tinyCheckpoint({ vocab_size: 160, hidden_size: 32, intermediate_size: 64, ...overrides });
  const tok = tinyBpeTokenizer('qwen2', 160);
  t.files.set('tokenizer.json', enc.encode(JSON.stringify(tok.tokenizerJson)));
  t.files.set('tokenizer_config.json', enc.encode(JSON.stringify(tok.tokenizerConfig)));
  return t;
}

function randomAdapter(config: ReturnType<typeof parseHfConfig>['model'], rslora = false) {
  const layout = new LoraLayout(config, {
    r: 4,
    lora_alpha: 8,
    lora_dropout: 0,
    target_modules: ['q_proj', 'k_proj', 'down_proj'],
    use_rslora: rslora,
  });
  const rng = new Rng(3);
  const flat = Float32Array.from({ length: layout.size }, () => rng.uniform(-0.2, 0.2));
  return { layout, flat };
}

describe('streamed safetensors', () => {
  it('writes exactly the bytes writeSafetensors writes', async () => {
    const rng = new Rng(1);
    const tensors: TensorToWrite[] = [
      { name: 'b', dtype: 'F32', shape: [3, 5], data: Float32Array.from({ length: 15 }, () => rng.uniform(-1, 1)) },
      { name: 'a', dtype: 'BF16', shape: [7], data: Float32Array.from({ length: 7 }, () => rng.uniform(-1, 1)) },
      { name: 'c', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
    ];
    const whole = writeSafetensors(tensors, { format: 'pt' });
    const out = new MemoryFolder();
    const { fromF32 } = await import('../io/safetensors');
    const size = await streamSafetensors(
      await out.file('x'),
      tensors.map((t) => ({
        ...t,
        data: async () => (t.data instanceof Float32Array ? fromF32(t.data, t.dtype as 'F32') : t.data),
      })),
      { format: 'pt' },
    );
    expect(size).toBe(whole.byteLength);
    expect(out.files.get('x')).toEqual(whole);
  });
});

describe('merged checkpoint folder', () => {
  it('shards past max_shard_size with an index as transformers writes it, and reads back with the same weights', async () => {
    const t = tinyWithTokenizer();
    const adapter = randomAdapter(t.config);
    const single = new MemoryFolder();
    await exportMerged(fs(t.files), adapter, single);
    expect([...single.files.keys()].filter((f) => f.endsWith('.safetensors'))).toEqual(['model.safetensors']);
    const sharded = new MemoryFolder();
    const res = await exportMerged(fs(t.files), adapter, sharded, { maxShardBytes: 40_000 });
    const shardNames = res.files.filter((f) => f.endsWith('.safetensors'));
    expect(shardNames.length).toBeGreaterThan(1);
    expect(shardNames[0]).toBe(`model-00001-of-${String(shardNames.length).padStart(5, '0')}.safetensors`);
    const index = JSON.parse(new TextDecoder().decode(sharded.files.get('model.safetensors.index.json')));
    expect(Object.keys(index)).toEqual(['metadata', 'weight_map']);
    expect(Object.keys(index.weight_map)).toEqual(Object.keys(index.weight_map).sort());
    const a = await openCheckpoint(fs(single.files));
    const b = await openCheckpoint(fs(sharded.files));
    expect(index.metadata.total_size).toBe(a.totalBytes);
    for (const w of a.list()) expect(await b.read(w.name)).toEqual(await a.read(w.name));
    // the tokenizer and config travel unchanged
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
      expect(sharded.files.get(f)).toEqual(t.files.get(f));
  });

  it("merges a DoRA adapter as PEFT's merge_safe: each row of W + s B A scaled to its magnitude", async () => {
    const t = tinyWithTokenizer({ torch_dtype: 'float32' });
    const layout = new LoraLayout(t.config, {
      r: 2,
      lora_alpha: 6,
      lora_dropout: 0,
      target_modules: ['v_proj'],
      use_rslora: false,
      use_dora: true,
    });
    const rng = new Rng(9);
    const flat = Float32Array.from({ length: layout.size }, () => rng.uniform(-0.2, 0.2));
    const slot = layout.slots.find((s) => s.layer === 1)!;
    for (let o = 0; o < slot.outFeatures; o++) flat[slot.offsetM! + o] = 0.5 + o;
    const out = new MemoryFolder();
    await exportMerged(fs(t.files), { layout, flat }, out);
    const base = await openCheckpoint(fs(t.files));
    const merged = await openCheckpoint(fs(out.files));
    const name = 'model.layers.1.self_attn.v_proj.weight';
    const w = await base.readAsF32(name);
    const got = await merged.readAsF32(name);
    const [O, I, r, s] = [slot.outFeatures, slot.inFeatures, 2, 3];
    for (const o of [0, O - 1]) {
      const row = Array.from({ length: I }, (_, i) => {
        let ba = 0;
        for (let k = 0; k < r; k++) ba += flat[slot.offsetB + o * r + k] * flat[slot.offsetA + k * I + i];
        return w[o * I + i] + s * ba;
      });
      const norm = Math.hypot(...row);
      // the merged row has norm m[o] and the direction of W + s B A
      expect(Math.hypot(...got.subarray(o * I, (o + 1) * I))).toBeCloseTo(0.5 + o, 5);
      for (let i = 0; i < I; i++) expect(got[o * I + i]).toBeCloseTo(((0.5 + o) / norm) * row[i], 6);
    }
  });

  it('reads a sharded base through its index', async () => {
    const t = tinyCheckpoint({ vocab_size: 160 }, { shards: 3, dtype: 'BF16' });
    const one = tinyCheckpoint({ vocab_size: 160 }, { dtype: 'BF16' });
    const adapter = randomAdapter(t.config);
    const a = new MemoryFolder();
    const b = new MemoryFolder();
    await exportMerged(fs(t.files), adapter, a);
    await exportMerged(fs(one.files), adapter, b);
    expect(a.files.get('model.safetensors')).toEqual(b.files.get('model.safetensors'));
  });

  it('reads an untouched tensor in chunks of whole rows that add up to its bytes', async () => {
    const t = tinyWithTokenizer();
    const tensors = await baseTensors(fs(t.files), t.config);
    const emb = tensors.find((x) => x.entry.name === 'model.embed_tokens.weight')!;
    const rowBytes = emb.entry.byteLength / emb.entry.shape[0];
    const chunks: Uint8Array[] = [];
    for await (const c of rowChunks(emb, 5 * rowBytes + 3)) chunks.push(c);
    expect(chunks.length).toBe(Math.ceil(emb.entry.shape[0] / 5));
    expect(chunks[0].byteLength).toBe(5 * rowBytes);
    expect(Buffer.concat(chunks)).toEqual(Buffer.from(await emb.file.read(emb.entry.name)));
  });

  it('plans shards in order, opening a new one when the next tensor would overflow', () => {
    expect(planShards([4, 4, 4, 10, 1], 8)).toEqual([[0, 1], [2], [3], [4]]);
  });

  it('refuses an adapter made for another model, writing nothing', async () => {
    const t = tinyWithTokenizer();
    const other = tinyCheckpoint({ hidden_size: 24, vocab_size: 160 });
    const out = new MemoryFolder();
    await expect(exportMerged(fs(t.files), randomAdapter(other.config), out)).rejects.toThrow(/different model/);
    expect(out.files.size).toBe(0);
  });
});

describe('GGUF', () => {
  it('writes v3 with u32/f32 hyperparameters, reversed dims, 32-byte aligned data, and pads the vocabulary', async () => {
    const t = tinyWithTokenizer({ vocab_size: 170 });
    const out = new MemoryFolder();
    await runExport(fs(t.files), randomAdapter(t.config), out, { format: 'gguf', outType: 'q8_0' });
    const g = await readGguf(bytesSource(out.files.get('merged-q8_0.gguf')!, 'x.gguf'));
    expect(g.version).toBe(3);
    expect(g.dataStart % GGUF_ALIGNMENT).toBe(0);
    expect(metaValue(g, 'general.architecture')).toBe('llama');
    for (const k of ['llama.context_length', 'llama.attention.head_count_kv', 'llama.block_count'])
      expect(metaType(g, k), k).toBe(4); // u32
    expect(metaType(g, 'llama.attention.layer_norm_rms_epsilon')).toBe(6); // f32
    expect(metaType(g, 'llama.rope.freq_base')).toBe(6);
    expect(metaValue(g, 'llama.attention.head_count_kv')).toBe(2);
    expect(metaValue(g, 'tokenizer.ggml.pre')).toBe('qwen2');
    const tokens = metaValue(g, 'tokenizer.ggml.tokens') as string[];
    const types = metaValue(g, 'tokenizer.ggml.token_type') as number[];
    expect(tokens.length).toBe(170);
    expect(tokens.at(-1)).toBe('[PAD169]');
    expect(types.at(-1)).toBe(5);
    expect(tokens[1]).toBe('<|im_start|>');
    expect(types[1]).toBe(3);
    expect((metaValue(g, 'tokenizer.ggml.merges') as string[])[0]).toBe('Ġ e');
    expect(metaValue(g, 'tokenizer.chat_template')).toContain('<|im_start|>');
    const q = g.tensors.get('blk.0.attn_q.weight')!;
    expect(q.type).toBe('Q8_0'); // rows of 32
    expect(q.shape).toEqual([32, 32]);
    expect(g.tensors.get('blk.0.attn_norm.weight')!.type).toBe('F32');
    expect(g.tensors.get('output.weight')).toBeDefined(); // untied head
    for (const e of g.tensors.values()) expect(e.offset % GGUF_ALIGNMENT).toBe(0);
    const modelfile = new TextDecoder().decode(out.files.get('Modelfile'));
    expect(modelfile).toContain('FROM ./merged-q8_0.gguf');
    expect(modelfile).toContain('PARAMETER stop "<|im_end|>"');
  });

  it('Q8_0 blocks: d = max|x| / 127 as f16, q = round half away from zero', () => {
    const x = new Float32Array(64);
    for (let i = 0; i < 32; i++) x[i] = (i - 16) / 8; // max |x| = 2
    x[40] = -0.5;
    const b = quantizeQ8_0(x);
    expect(b.byteLength).toBe(68);
    const q = new Int8Array(b.buffer, 2, 32);
    expect(q[0]).toBe(-127); // -2
    expect(q[24]).toBe(64); // 1 * 127/2 = 63.5 -> 64
    expect(q[8]).toBe(-64); // -1 -> -63.5 -> -64
    const d2 = new DataView(b.buffer).getUint16(34, true);
    expect(d2).not.toBe(0);
    const back = dequantizeQ8_0(b, 64);
    expect(new Int8Array(b.buffer, 36, 32)[8]).toBe(-127); // the block's only value is its max
    expect(back[40]).toBeCloseTo(-0.5, 4); // up to the f16 scale's rounding
    for (let i = 0; i < 32; i++) expect(Math.abs(back[i] - x[i])).toBeLessThan(2 / 127);
  });

  it('permutes q/k rows from rotate-half to interleaved per head', () => {
    // 2 heads of head_dim 4, one column: rows [h0: 0 1 2 3 | h1: 4 5 6 7] -> [0 2 1 3 | 4 6 5 7]
    expect(Array.from(permuteRows(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 8, 1, 2))).toEqual([
      0, 2, 1, 3, 4, 6, 5, 7,
    ]);
  });

  it('Llama 3 rope_scaling becomes rope_freqs factors: 1 for short wavelengths, factor for long, smoothed between', () => {
    const c = parseHfConfig(
      tinyHfConfig({
        hidden_size: 40,
        num_attention_heads: 5,
        num_key_value_heads: 1,
        rope_theta: 500000,
        rope_scaling: {
          rope_type: 'llama3',
          factor: 8,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 256,
        },
      }),
    ).model;
    const f = llama3RopeFreqs(c); // head_dim 8: wavelengths 6.3, 167, 4443, 118000 against 64 and 256
    expect(f.length).toBe(4);
    expect(f[0]).toBe(1);
    const smooth = (256 / ((2 * Math.PI) / 500000 ** -0.25) - 1) / 3;
    expect(f[1]).toBeCloseTo(1 / ((1 - smooth) / 8 + smooth), 5);
    expect([f[2], f[3]]).toEqual([8, 8]);
  });

  it('a LoRA GGUF carries alpha so that alpha / r is the adapter scaling (rsLoRA: alpha · sqrt(r))', async () => {
    const t = tinyWithTokenizer();
    expect(ggufLoraAlpha(randomAdapter(t.config))).toBe(8);
    expect(ggufLoraAlpha(randomAdapter(t.config, true))).toBeCloseTo(8 * 2, 12);
    const out = new MemoryFolder();
    await runExport(fs(t.files), randomAdapter(t.config, true), out, { format: 'gguf-lora', outType: 'f32' });
    expect([...out.files.keys()].sort()).toEqual(['Modelfile', 'adapter.gguf', 'base-f32.gguf']);
    const g = await readGguf(bytesSource(out.files.get('adapter.gguf')!, 'adapter.gguf'));
    expect(metaValue(g, 'general.type')).toBe('adapter');
    expect(metaValue(g, 'adapter.type')).toBe('lora');
    expect(metaType(g, 'adapter.lora.alpha')).toBe(6);
    expect(metaValue(g, 'adapter.lora.alpha')).toBeCloseTo(16, 5);
    expect(g.tensors.get('blk.1.attn_q.weight.lora_a')!.shape).toEqual([4, 32]);
    expect(g.tensors.get('blk.1.ffn_down.weight.lora_b')!.shape).toEqual([32, 4]);
    const mf = new TextDecoder().decode(out.files.get('Modelfile'));
    expect(mf).toContain('FROM ./base-f32.gguf\nADAPTER ./adapter.gguf\n');
  });

  it('Qwen3 and SmolLM3: llama.cpp architectures, q/k norm names; a SmolLM3 NoPE pattern llama.cpp cannot run is refused', () => {
    const qwen3 = parseHfConfig({ ...tinyHfConfig(), model_type: 'qwen3', architectures: ['Qwen3ForCausalLM'] }).model;
    expect(ggufArch(qwen3)).toBe('qwen3');
    expect(ggufTensorName('model.layers.3.self_attn.q_norm.weight')).toBe('blk.3.attn_q_norm.weight');
    expect(ggufTensorName('model.layers.0.self_attn.k_norm.weight')).toBe('blk.0.attn_k_norm.weight');
    const smol = {
      ...tinyHfConfig(),
      model_type: 'smollm3',
      architectures: ['SmolLM3ForCausalLM'],
      num_hidden_layers: 8,
    };
    const every4th = parseHfConfig(smol).model;
    expect(ggufArch(every4th)).toBe('smollm3');
    expect(() => checkGgufSupport(every4th)).not.toThrow();
    const other = parseHfConfig({ ...smol, no_rope_layers: [1, 1, 0, 1, 1, 1, 1, 0] }).model;
    expect(() => checkGgufSupport(other)).toThrow(
      'GGUF export: this SmolLM3 does not rotate layer 2 (no_rope_layers), but llama.cpp skips RoPE on exactly every fourth layer (3, 7, 11, ...); its GGUF would run differently',
    );
  });

  it('refuses a DoRA adapter as a LoRA GGUF (llama.cpp has no magnitude vector), writing nothing', async () => {
    const t = tinyWithTokenizer();
    const a = randomAdapter(t.config);
    const dora = { ...a, layout: new LoraLayout(t.config, { ...a.layout.spec, use_dora: true }) };
    const out = new MemoryFolder();
    await expect(
      runExport(fs(t.files), { ...dora, flat: new Float32Array(dora.layout.size) }, out, { format: 'gguf-lora' }),
    ).rejects.toThrow(/DoRA adapter \(use_dora\) cannot be a llama.cpp LoRA GGUF/);
    expect(out.files.size).toBe(0);
  });

  it('a merged GGUF of a DoRA adapter holds the DoRA-merged weights of the merged folder', async () => {
    const t = tinyWithTokenizer();
    const a = randomAdapter(t.config);
    const layout = new LoraLayout(t.config, { ...a.layout.spec, target_modules: ['down_proj'], use_dora: true });
    const rng = new Rng(5);
    const flat = Float32Array.from({ length: layout.size }, () => rng.uniform(0.5, 1.5));
    const folder = new MemoryFolder();
    await exportMerged(fs(t.files), { layout, flat }, folder);
    const out = new MemoryFolder();
    await runExport(fs(t.files), { layout, flat }, out, { format: 'gguf', outType: 'f32' });
    const g = await readGguf(bytesSource(out.files.get('merged-f32.gguf')!, 'merged-f32.gguf'));
    const merged = await openCheckpoint(fs(folder.files));
    const base = await openCheckpoint(fs(t.files));
    const name = 'model.layers.0.mlp.down_proj.weight';
    const want = await merged.readAsF32(name);
    expect(await g.readF32('blk.0.ffn_down.weight')).toEqual(want);
    expect(want).not.toEqual(await base.readAsF32(name));
  });

  const gemmaHf = (o: Record<string, unknown> = {}) =>
    tinyHfConfig({
      model_type: 'gemma3_text',
      architectures: ['Gemma3ForCausalLM'],
      hidden_size: 32,
      intermediate_size: 64,
      vocab_size: 160,
      num_hidden_layers: 3,
      head_dim: 8,
      query_pre_attn_scalar: 8,
      sliding_window: 6,
      layer_types: ['sliding_attention', 'full_attention', 'sliding_attention'],
      rope_theta: 1000000,
      rope_local_base_freq: 20000,
      tie_word_embeddings: true,
      hidden_act: undefined,
      ...o,
    });

  it('gemma3_text: llama.cpp gemma3 names, (1 + w) norms, sliding-window metadata (period from layer_types)', async () => {
    const hf = gemmaHf();
    const t = tinyCheckpoint(hf);
    const tok = tinyBpeTokenizer('qwen2', 160);
    t.files.set('tokenizer.json', enc.encode(JSON.stringify(tok.tokenizerJson)));
    t.files.set('tokenizer_config.json', enc.encode(JSON.stringify(tok.tokenizerConfig)));
    expect(ggufArch(t.config)).toBe('gemma3');
    const a = randomAdapter(t.config);
    const out = new MemoryFolder();
    await runExport(fs(t.files), a, out, { format: 'gguf', outType: 'f32' });
    const g = await readGguf(bytesSource(out.files.get('merged-f32.gguf')!, 'g.gguf'));
    expect(metaValue(g, 'general.architecture')).toBe('gemma3');
    expect(metaValue(g, 'gemma3.attention.sliding_window')).toBe(6);
    expect(metaValue(g, 'gemma3.attention.sliding_window_pattern')).toBe(2);
    expect(metaValue(g, 'gemma3.rope.freq_base_swa')).toBe(20000);
    expect(metaValue(g, 'gemma3.rope.freq_base')).toBe(1000000);
    expect(metaValue(g, 'gemma3.attention.key_length')).toBe(8);
    expect(metaValue(g, 'gemma3.attention.head_count_kv')).toBe(2);
    expect(metaValue(g, 'tokenizer.ggml.model')).toBe('gpt2');
    expect([...g.tensors.keys()].filter((n) => n.startsWith('blk.0.')).sort()).toEqual(
      [
        'attn_k',
        'attn_k_norm',
        'attn_norm',
        'attn_output',
        'attn_q',
        'attn_q_norm',
        'attn_v',
        'ffn_down',
        'ffn_gate',
        'ffn_norm',
        'ffn_up',
        'post_attention_norm',
        'post_ffw_norm',
      ].map((n) => `blk.0.${n}.weight`),
    );
    expect(g.tensors.has('output.weight')).toBe(false); // tied to token_embd
    const base = await openCheckpoint(fs(t.files));
    for (const [hfName, ggName] of [
      ['model.layers.1.input_layernorm.weight', 'blk.1.attn_norm.weight'],
      ['model.layers.1.self_attn.q_norm.weight', 'blk.1.attn_q_norm.weight'],
      ['model.layers.1.self_attn.k_norm.weight', 'blk.1.attn_k_norm.weight'],
      ['model.layers.1.post_attention_layernorm.weight', 'blk.1.post_attention_norm.weight'],
      ['model.layers.1.pre_feedforward_layernorm.weight', 'blk.1.ffn_norm.weight'],
      ['model.layers.1.post_feedforward_layernorm.weight', 'blk.1.post_ffw_norm.weight'],
      ['model.norm.weight', 'output_norm.weight'],
    ]) {
      const w = await base.readAsF32(hfName);
      expect(await g.readF32(ggName), ggName).toEqual(w.map((v) => v + 1));
    }
    expect(await g.readF32('blk.2.ffn_up.weight')).toEqual(await base.readAsF32('model.layers.2.mlp.up_proj.weight'));
    // the LoRA GGUF names the same tensors
    expect(ggufTensorName('model.layers.3.post_attention_layernorm.weight', 'gemma3')).toBe(
      'blk.3.post_attention_norm.weight',
    );
    expect(ggufTensorName('model.layers.3.post_attention_layernorm.weight')).toBe('blk.3.ffn_norm.weight');
  });

  it('gemma3: the sliding period llama.cpp needs (layer i slides when i % P < P - 1), null when none gives the layers', () => {
    const sixth = Array.from({ length: 26 }, (_, i) => (i + 1) % 6 !== 0);
    expect(gemma3SlidingPeriod(sixth)).toBe(6);
    expect(gemma3SlidingPeriod([true, false, true])).toBe(2);
    expect(gemma3SlidingPeriod([true, true, true])).toBe(0);
    expect(gemma3SlidingPeriod([false, false])).toBe(1);
    expect(gemma3SlidingPeriod([false, true])).toBe(null);
    expect(gemma3SlidingPeriod([true, false, false])).toBe(null);
  });

  it('gemma3: the published 270M and 1B configs export as llama.cpp runs them (period 6, query scale 1/sqrt(256))', () => {
    for (const cfg of [GEMMA3_270M, GEMMA3_1B]) {
      const c = parseHfConfig(cfg).model;
      expect(() => checkGgufSupport(c)).not.toThrow();
      expect(gemma3SlidingPeriod(c.gemma3!.slidingLayers)).toBe(6);
      expect(gemma3LlamaCppQueryScalar(c)).toBe(256);
      const meta = ggufModelMetadata(c, 'g', 0);
      expect(meta.get('gemma3.attention.sliding_window')).toEqual({ type: 'u32', value: 512 });
      expect(meta.get('gemma3.attention.sliding_window_pattern')).toEqual({ type: 'u32', value: 6 });
    }
  });

  it('gemma3: refuses what llama.cpp would run differently, naming the field', () => {
    expect(() => checkGgufSupport(parseHfConfig(gemmaHf()).model)).not.toThrow();
    expect(() => checkGgufSupport(parseHfConfig(gemmaHf({ query_pre_attn_scalar: 10 })).model)).toThrow(
      "GGUF export: this Gemma 3 has query_pre_attn_scalar 10, but llama.cpp's gemma3 scales queries by 1/sqrt(8) (head_dim) whatever the config says; its GGUF would run differently (export the merged safetensors folder instead)",
    );
    const irregular = gemmaHf({ layer_types: ['full_attention', 'sliding_attention', 'sliding_attention'] });
    expect(() => checkGgufSupport(parseHfConfig(irregular).model)).toThrow(
      /this Gemma 3's layer_types \(FSS, S sliding, F full\) is not "every P-th layer full"/,
    );
    // 62 layers is llama.cpp's 27B: hidden / heads, not head_dim
    const big = (q: number) =>
      parseHfConfig(gemmaHf({ num_hidden_layers: 62, layer_types: undefined, head_dim: 16, query_pre_attn_scalar: q }))
        .model;
    expect(gemma3LlamaCppQueryScalar(big(16))).toBe(8);
    expect(() => checkGgufSupport(big(16))).toThrow(/query_pre_attn_scalar 16, but .* by 1\/sqrt\(8\) \(hidden_size/);
    expect(() => checkGgufSupport(big(8))).not.toThrow();
  });

  it("refuses a SentencePiece-style BPE tokenizer.json (byte_fallback: Gemma's own), saying what to use instead", () => {
    const c = parseHfConfig(gemmaHf()).model;
    const tok = tinyBpeTokenizer('qwen2', 160);
    const json = tok.tokenizerJson as { model: Record<string, unknown> };
    expect(() =>
      ggufTokenizerMetadata(c, {
        tokenizerJson: { ...json, model: { ...json.model, byte_fallback: true } },
        tokenizerConfig: tok.tokenizerConfig as Record<string, unknown>,
        chatTemplate: null,
      }),
    ).toThrow(
      /SentencePiece-style BPE \(byte_fallback.*convert it with llama.cpp's convert_hf_to_gguf.py, which reads tokenizer.model/,
    );
  });

  it('names a tokenizer it cannot export', () => {
    const t = tinyCheckpoint();
    expect(() =>
      ggufTokenizerMetadata(t.config, {
        tokenizerJson: JSON.parse(new TextDecoder().decode(t.files.get('tokenizer.json'))),
        tokenizerConfig: {},
        chatTemplate: null,
      }),
    ).toThrow(/WordLevel model; GGUF export supports byte-level BPE/);
  });
});

describe('Modelfile', () => {
  it('recognises ChatML, Llama 3 and Mistral templates and writes their stops', () => {
    expect(templateFamily("{{ '<|im_start|>' + m.role }}")).toBe('chatml');
    expect(templateFamily("{{ '<|start_header_id|>' }}")).toBe('llama3');
    expect(templateFamily("{{ '[INST] ' + m.content }}")).toBe('mistral');
    const l3 = writeModelfile({ from: './m.gguf', chatTemplate: '<|start_header_id|>', eosTokens: ['<|eot_id|>'] });
    expect(l3).toContain('TEMPLATE """{{ if .System }}<|start_header_id|>system<|end_header_id|>');
    expect(l3.match(/PARAMETER stop "<\|eot_id\|>"/g)).toHaveLength(1);
    const none = writeModelfile({ from: 'llama3.2:1b', chatTemplate: '{{ messages }}' });
    expect(none).toContain('not one of ChatML, Llama 3, Mistral, Gemma or Phi');
    expect(none).not.toMatch(/^TEMPLATE/m);
    expect(none).toContain('FROM llama3.2:1b');
  });

  it("writes the published Gemma 3, Phi-4-mini, Qwen3 and SmolLM3 templates' turns for Ollama", () => {
    const fixture = (f: string) => readFileSync(join(REPO_ROOT, 'src/data/testing/templates', f), 'utf8');
    expect(templateFamily(fixture('gemma-3-it.jinja'))).toBe('gemma');
    expect(templateFamily(PHI4_TEMPLATE.chat_template)).toBe('phi');
    expect(templateFamily(fixture('qwen3.jinja'))).toBe('chatml');
    expect(templateFamily(fixture('smollm3.jinja'))).toBe('chatml');
    const gemma = writeModelfile({ from: './m.gguf', chatTemplate: fixture('gemma-3-it.jinja'), eosTokens: ['<eos>'] });
    // what the studio trained on: "<start_of_turn>user\n{system}\n\n{prompt}<end_of_turn>\n<start_of_turn>model\n"
    expect(gemma).toContain(
      'TEMPLATE """<start_of_turn>user\n{{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}<end_of_turn>\n<start_of_turn>model\n{{ .Response }}<end_of_turn>\n"""',
    );
    expect(gemma.match(/^PARAMETER stop .*$/gm)).toEqual([
      'PARAMETER stop "<end_of_turn>"',
      'PARAMETER stop "<start_of_turn>"',
      'PARAMETER stop "<eos>"',
    ]);
    const phi = writeModelfile({
      from: './m.gguf',
      chatTemplate: PHI4_TEMPLATE.chat_template,
      eosTokens: ['<|endoftext|>'],
    });
    expect(phi).toContain(
      'TEMPLATE """{{ if .System }}<|system|>{{ .System }}<|end|>{{ end }}{{ if .Prompt }}<|user|>{{ .Prompt }}<|end|>{{ end }}<|assistant|>{{ .Response }}<|end|>"""',
    );
    expect(phi).toContain('PARAMETER stop "<|end|>"');
  });
});
