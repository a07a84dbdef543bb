// Phi-3's LoRA targets as PEFT names them: the fused qkv_proj and gate_up_proj carry one A and one
// B over the fused output; "all-linear" is the family's four modules; Llama's names are refused by
// name; a PEFT adapter written by the engine reads back into the same flat buffer. PEFT's targeting
// (regex full match, layers_to_transform, rank_pattern / alpha_pattern) and DoRA act on the fused
// names and the fused out_features.

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

  it('targeting on the fused names: regex full match, rank/alpha patterns, layers_to_transform, DoRA over the fused rows; round trip', async () => {
    const layout = new LoraLayout(phi3, {
      ...spec([]),
      target_regex: 'model\\.layers\\.1\\.(self_attn\\.qkv_proj|mlp\\.gate_up_proj)',
      rank_pattern: { gate_up_proj: 6 },
      alpha_pattern: { 'model.layers.1.self_attn.qkv_proj': 2 },
      use_dora: true,
    });
    expect(layout.slots.map((s) => [s.layer, s.module, s.r, s.scaling, s.outFeatures, s.keyM])).toEqual([
      [1, 'qkv_proj', 4, 2 / 4, 128, 'base_model.model.model.layers.1.self_attn.qkv_proj.lora_magnitude_vector'],
      [1, 'gate_up_proj', 6, 8 / 6, 176, 'base_model.model.model.layers.1.mlp.gate_up_proj.lora_magnitude_vector'],
    ]);
    expect(layout.maxR).toBe(6);
    expect(layout.modules).toEqual(['qkv_proj', 'gate_up_proj']);
    // PEFT's trainable params: r x (in + out) per site, plus DoRA's magnitude [out]
    expect(layout.paramCount).toBe(4 * (64 + 128) + 128 + 6 * (64 + 176) + 176);
    // a regex on Llama's names matches no phi3 module
    expect(() => new LoraLayout(phi3, { ...spec([]), target_regex: '.*\\.q_proj' })).toThrow(
      'target_modules ".*\\.q_proj" matches no module of the model (names look like model.layers.0.self_attn.qkv_proj)',
    );
    const lt = new LoraLayout(phi3, { ...spec(['qkv_proj', 'down_proj']), layers_to_transform: [0] });
    expect(lt.slots.map((s) => `${s.layer}.${s.module}`)).toEqual(['0.qkv_proj', '0.down_proj']);

    const flat = layout.init(5);
    const rng = new Rng(6);
    for (const s of layout.slots) {
      for (let i = 0; i < s.outFeatures * s.r; i++) flat[s.offsetB + i] = rng.uniform(-1, 1);
      for (let i = 0; i < s.outFeatures; i++) flat[s.offsetM! + i] = rng.uniform(0.5, 2);
    }
    const out = writeAdapter(layout, flat, { baseModelNameOrPath: 'microsoft/Phi-4-mini-instruct' });
    const cfg = JSON.parse(out.config);
    expect([cfg.target_modules, cfg.rank_pattern, cfg.alpha_pattern, cfg.use_dora]).toEqual([
      'model\\.layers\\.1\\.(self_attn\\.qkv_proj|mlp\\.gate_up_proj)',
      { gate_up_proj: 6 },
      { 'model.layers.1.self_attn.qkv_proj': 2 },
      true,
    ]);
    const enc = new TextEncoder();
    const files = new FileSet(
      [
        ['adapter_config.json', bytesSource(enc.encode(out.config), 'adapter_config.json')],
        ['adapter_model.safetensors', bytesSource(out.safetensors, 'adapter_model.safetensors')],
      ],
      'phi3-dora-adapter',
    );
    const a = await readAdapter(files, phi3);
    expect(a.layout.slots.map((s) => [s.layer, s.module, s.r, s.scaling, s.offsetM])).toEqual(
      layout.slots.map((s) => [s.layer, s.module, s.r, s.scaling, s.offsetM]),
    );
    expect(Array.from(a.flat)).toEqual(Array.from(flat));
  });
});
