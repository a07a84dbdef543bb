// Phi-3's LoRA targets as PEFT names them: the fused qkv_proj and gate_up_proj carry one A and one
// B over the fused output; "all-linear" is the family's four modules; Llama's names are refused by
// name; a PEFT adapter written by the engine reads back into the same flat buffer.

import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../../io/hf-config';
import { readAdapter, writeAdapter } from '../../io/peft';
import { FileSet, bytesSource } from '../../io/source';
import { resolveTargets } from '../../config/hparams';
import { Rng } from '../../util/rng';
import { LoraLayout, type LoraSpec } from './lora';
import { linearModules } from './config';

// reference/cases/tiny-phi3's shape: hidden 64, 4 heads / 2 kv of 16, intermediate 88, 2 layers
const phi3 = parseHfConfig({
  model_type: 'phi3',
  hidden_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 88,
  vocab_size: 257,
  partial_rotary_factor: 0.75,
  tie_word_embeddings: true,
}).model;
const spec = (target_modules: LoraSpec['target_modules']): LoraSpec => ({
  r: 4,
  lora_alpha: 8,
  lora_dropout: 0,
  target_modules,
  use_rslora: false,
});

describe('LoRA on phi3', () => {
  it('"all-linear" is qkv_proj, o_proj, gate_up_proj, down_proj; lists keep their canonical order', () => {
    expect(resolveTargets('all-linear', linearModules(phi3))).toEqual([
      'qkv_proj',
      'o_proj',
      'gate_up_proj',
      'down_proj',
    ]);
    expect(resolveTargets(['down_proj', 'qkv_proj'], linearModules(phi3))).toEqual(['qkv_proj', 'down_proj']);
    // Llama's expansion is unchanged
    expect(resolveTargets('all-linear')).toEqual([
      'q_proj',
      'k_proj',
      'v_proj',
      'o_proj',
      'gate_proj',
      'up_proj',
      'down_proj',
    ]);
  });

  it('one A [r, 64] and one B [fused out, r] per fused module, with PEFT key names', () => {
    const layout = new LoraLayout(phi3, spec(['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj']));
    const s0 = layout.slots.filter((s) => s.layer === 0);
    expect(s0.map((s) => [s.keyB, s.outFeatures, s.inFeatures])).toEqual([
      ['base_model.model.model.layers.0.self_attn.qkv_proj.lora_B.weight', 64 + 2 * 32, 64],
      ['base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight', 64, 64],
      ['base_model.model.model.layers.0.mlp.gate_up_proj.lora_B.weight', 2 * 88, 64],
      ['base_model.model.model.layers.0.mlp.down_proj.lora_B.weight', 64, 88],
    ]);
    // PEFT's trainable params: 2 layers x r x (in + out) per module
    expect(layout.paramCount).toBe(2 * 4 * (64 + 128 + (64 + 64) + (64 + 176) + (88 + 64)));
  });

  it("refuses Llama's module names on a phi3 model, naming its own", () => {
    expect(() => new LoraLayout(phi3, spec(['q_proj', 'v_proj']))).toThrow(
      `target_modules: "q_proj" is not one of phi3's linear modules qkv_proj, o_proj, gate_up_proj, down_proj`,
    );
  });

  it('a written adapter reads back (target_modules as PEFT writes them) into the same buffer', async () => {
    const layout = new LoraLayout(phi3, spec(['qkv_proj', 'gate_up_proj']));
    const flat = layout.init(3);
    const rng = new Rng(4);
    for (const s of layout.slots) for (let i = 0; i < s.outFeatures * 4; i++) flat[s.offsetB + i] = rng.uniform(-1, 1);
    const out = writeAdapter(layout, flat, { baseModelNameOrPath: 'microsoft/Phi-4-mini-instruct' });
    expect(JSON.parse(out.config).target_modules).toEqual(['gate_up_proj', 'qkv_proj']); // sorted, as PEFT writes its set
    const enc = new TextEncoder();
    const files = new FileSet(
      [
        ['adapter_config.json', bytesSource(enc.encode(out.config), 'adapter_config.json')],
        ['adapter_model.safetensors', bytesSource(out.safetensors, 'adapter_model.safetensors')],
      ],
      'phi3-adapter',
    );
    const a = await readAdapter(files, phi3);
    expect(a.spec.target_modules).toEqual(['qkv_proj', 'gate_up_proj']);
    expect(Array.from(a.flat)).toEqual(Array.from(flat));
    // an adapter for Llama names does not load into phi3
    const llamaCfg = JSON.stringify({ ...JSON.parse(out.config), target_modules: ['q_proj'] });
    const bad = new FileSet(
      [
        ['adapter_config.json', bytesSource(enc.encode(llamaCfg), 'adapter_config.json')],
        ['adapter_model.safetensors', bytesSource(out.safetensors, 'adapter_model.safetensors')],
      ],
      'llama-adapter',
    );
    await expect(readAdapter(bad, phi3)).rejects.toThrow(
      'adapter_config.json: target_modules lists "q_proj", which a phi3 model does not have (its linear modules: qkv_proj, o_proj, gate_up_proj, down_proj)',
    );
  });
});
