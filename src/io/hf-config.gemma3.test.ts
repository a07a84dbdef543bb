import { describe, expect, it } from 'vitest';
import { parseHfConfig } from './hf-config';
import { baseParamCount, expectedWeights } from '../engine/model/config';
import GEMMA3_270M from './fixtures/gemma3-270m-config.json';
import GEMMA3_1B from './fixtures/gemma3-1b-pt-config.json';

// Gemma 3 (gemma3_text) configs: the 270M fixture carries the fields of google/gemma-3-270m's
// config.json (their values agree with the published GGUF metadata: 18 blocks, 640 wide, 4 heads,
// 1 kv head, head_dim 256, FFN 2048, window 512, rope base 1e6). The 1B fixture carries the fields of
// google/gemma-3-1b-pt's config.json (no layer_types: sliding_window_pattern 6, and no
// tie_word_embeddings: Gemma3TextConfig ties by default); gemma-3-1b-it's differs only in
// eos_token_id [1, 106] and transformers_version, left out here.

describe('parseHfConfig: gemma3_text', () => {
  it('Gemma 3 270M: head_dim 256, GQA 4/1, tied, window 512 on 15 of 18 layers, two RoPE bases', () => {
    const { model, torchDtype } = parseHfConfig(GEMMA3_270M);
    expect(model).toMatchObject({
      modelType: 'gemma3_text',
      hiddenSize: 640,
      numLayers: 18,
      numHeads: 4,
      numKvHeads: 1,
      headDim: 256,
      intermediateSize: 2048,
      vocabSize: 262144,
      ropeTheta: 1e6,
      ropeScaling: null,
      tieWordEmbeddings: true,
      attentionBias: false,
      bosTokenId: 2,
      eosTokenIds: [1],
      slidingWindow: null, // Gemma's window is per layer, in gemma3
      qkNorm: true, // q_norm / k_norm: the per-head norm Qwen3 has too, weights as 1 + w
    });
    expect(torchDtype).toBe('bfloat16');
    const g = model.gemma3!;
    expect(g.queryPreAttnScalar).toBe(256);
    expect(g.slidingWindow).toBe(512);
    expect(g.ropeLocalTheta).toBe(10000);
    expect(g.slidingLayers.map((s) => (s ? 's' : 'F')).join('')).toBe('sssssFsssssFsssssF');
  });

  it('Gemma 3 270M has 268,098,176 parameters: a 262144 x 640 tied embedding and 18 layers', () => {
    const { model } = parseHfConfig(GEMMA3_270M);
    const embed = 262144 * 640;
    const linear = 640 * (1024 + 256 + 256) + 1024 * 640 + 3 * 640 * 2048;
    const norms = 4 * 640 + 2 * 256;
    expect(baseParamCount(model)).toBe(embed + 18 * (linear + norms) + 640);
    expect(baseParamCount(model)).toBe(268_098_176);
    const names = expectedWeights(model).map((w) => w.name);
    expect(names).toContain('model.layers.17.self_attn.q_norm.weight');
    expect(names).toContain('model.layers.0.pre_feedforward_layernorm.weight');
    expect(names).toContain('model.layers.0.post_feedforward_layernorm.weight');
    expect(names).not.toContain('lm_head.weight');
  });

  it('Gemma 3 1B: 26 layers 1152 wide, GQA 4/1, head_dim 256, window 512; layers 5, 11, 17, 23 full', () => {
    const { model, torchDtype } = parseHfConfig(GEMMA3_1B);
    expect(model).toMatchObject({
      modelType: 'gemma3_text',
      hiddenSize: 1152,
      numLayers: 26,
      numHeads: 4,
      numKvHeads: 1,
      headDim: 256,
      intermediateSize: 6912,
      vocabSize: 262144,
      maxPositionEmbeddings: 32768,
      rmsNormEps: 1e-6,
      ropeTheta: 1e6,
      ropeScaling: null,
      tieWordEmbeddings: true,
      attentionBias: false,
      bosTokenId: 2,
      eosTokenIds: [1],
      slidingWindow: null,
      qkNorm: true,
    });
    expect(torchDtype).toBe('bfloat16');
    const g = model.gemma3!;
    expect(g).toMatchObject({ queryPreAttnScalar: 256, slidingWindow: 512, ropeLocalTheta: 10000 });
    const full = g.slidingLayers.flatMap((s, i) => (s ? [] : [i]));
    expect(full).toEqual([5, 11, 17, 23]);
    expect(g.slidingLayers).toHaveLength(26);
  });

  it('Gemma 3 1B has 999,885,952 parameters: a 262144 x 1152 tied embedding and 26 layers', () => {
    const { model } = parseHfConfig(GEMMA3_1B);
    const embed = 262144 * 1152;
    const linear = 1152 * (1024 + 256 + 256) + 1024 * 1152 + 3 * 1152 * 6912;
    const norms = 4 * 1152 + 2 * 256;
    expect(embed + 26 * (linear + norms) + 1152).toBe(999_885_952);
    expect(baseParamCount(model)).toBe(999_885_952);
    const names = expectedWeights(model).map((w) => w.name);
    expect(names).toHaveLength(1 + 26 * 13 + 1);
    expect(names).not.toContain('lm_head.weight');
  });

  it('applies Gemma3TextConfig defaults: layer pattern from _sliding_window_pattern, head_dim 256, rope_theta 1e6', () => {
    const { layer_types: _, head_dim: __, rope_local_base_freq: ___, rope_theta: _____, ...rest } = GEMMA3_270M;
    const m = parseHfConfig({ ...rest, num_hidden_layers: 7, _sliding_window_pattern: 3 }).model;
    expect(m.headDim).toBe(256);
    expect(m.ropeTheta).toBe(1e6);
    expect(m.gemma3!.ropeLocalTheta).toBe(10000);
    expect(m.gemma3!.slidingLayers).toEqual([true, true, false, true, true, false, true]);
    const { tie_word_embeddings: ____, ...untied } = rest as Record<string, unknown>;
    expect(parseHfConfig({ ...untied, layer_types: GEMMA3_270M.layer_types }).model.tieWordEmbeddings).toBe(true);
  });

  it('reads the v5 layout: rope_parameters keyed by layer type', () => {
    const { rope_theta: _, rope_local_base_freq: __, rope_scaling: ___, ...rest } = GEMMA3_270M;
    const m = parseHfConfig({
      ...rest,
      rope_parameters: {
        full_attention: { rope_type: 'default', rope_theta: 1e6 },
        sliding_attention: { rope_type: 'default', rope_theta: 1e4 },
      },
    }).model;
    expect(m.ropeTheta).toBe(1e6);
    expect(m.gemma3!.ropeLocalTheta).toBe(1e4);
  });

  it('refuses what the engine does not implement, naming the field', () => {
    const bad = (o: object) => () => parseHfConfig({ ...GEMMA3_270M, ...o });
    expect(bad({ final_logit_softcapping: 30 })).toThrow(
      'config.json: final_logit_softcapping 30 is not supported (only null)',
    );
    expect(bad({ attn_logit_softcapping: 50 })).toThrow(/attn_logit_softcapping 50 is not supported/);
    expect(bad({ hidden_activation: 'gelu' })).toThrow(/hidden_activation "gelu" is not supported/);
    expect(bad({ use_bidirectional_attention: true })).toThrow(/use_bidirectional_attention true/);
    expect(bad({ layer_types: ['sliding_attention'] })).toThrow(
      /layer_types has 1 entries, but num_hidden_layers is 18/,
    );
    expect(bad({ layer_types: [...GEMMA3_270M.layer_types.slice(1), 'chunked_attention'] })).toThrow(
      /layer_types\[17\] "chunked_attention" is not supported/,
    );
    expect(bad({ rope_scaling: { rope_type: 'linear', factor: 8 } })).toThrow(/rope_scaling.rope_type "linear"/);
    expect(bad({ model_type: 'gemma3' })).toThrow(/model_type "gemma3" is not supported \(supported: .*gemma3_text/);
  });
});
