// Phi-3 / Phi-4-mini config.json parsing (model_type phi3), on the published config.json files
// kept in fixtures/ (Phi-4-mini-instruct's has the longrope factors and partial_rotary_factor).

import { describe, expect, it } from 'vitest';
import { parseHfConfig } from './hf-config';
import { baseParamCount, expectedWeights, linearModules } from '../engine/model/config';
import PHI4_MINI from './fixtures/phi-4-mini-instruct.config.json';
import PHI3_MINI_4K from './fixtures/phi-3-mini-4k-instruct.config.json';

describe('parseHfConfig: phi3', () => {
  it('Phi-3-mini-4k-instruct: MHA 32/32, untied, 32064 vocabulary, full rotary, sliding window 2047', () => {
    const { model } = parseHfConfig(PHI3_MINI_4K);
    expect(model).toEqual({
      modelType: 'phi3',
      hiddenSize: 3072,
      numLayers: 32,
      numHeads: 32,
      numKvHeads: 32,
      headDim: 96,
      intermediateSize: 8192,
      vocabSize: 32064,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: null,
      tieWordEmbeddings: false,
      attentionBias: false,
      maxPositionEmbeddings: 4096,
      bosTokenId: 1,
      eosTokenIds: [32000],
      slidingWindow: 2047,
    });
    // 3.82B: embedding + head 2 x 32064 x 3072, per layer qkv 9216x3072, o, gate_up 16384x3072, down
    const layer = 9216 * 3072 + 3072 * 3072 + 16384 * 3072 + 3072 * 8192 + 2 * 3072;
    expect(baseParamCount(model)).toBe(2 * 32064 * 3072 + 32 * layer + 3072);
    expect(baseParamCount(model)).toBe(3_821_079_552);
  });

  it('Phi-4-mini-instruct: GQA 24/8, tied, partial rotary 0.75 (96 of 128), longrope with its attention factor', () => {
    const { model, torchDtype } = parseHfConfig(PHI4_MINI);
    expect(model).toMatchObject({
      modelType: 'phi3',
      numHeads: 24,
      numKvHeads: 8,
      headDim: 128,
      ropeDim: 96,
      vocabSize: 200064,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 131072,
      bosTokenId: 199999,
      eosTokenIds: [199999],
      slidingWindow: 262144,
    });
    expect(torchDtype).toBe('bfloat16');
    const rs = model.ropeScaling;
    if (rs?.ropeType !== 'longrope') throw new Error('expected longrope');
    expect(rs.shortFactor).toHaveLength(48);
    expect(rs.longFactor[47]).toBe(47.77);
    expect(rs.originalMaxPositionEmbeddings).toBe(4096);
    expect(rs.factor).toBe(32); // 131072 / 4096
    // sqrt(1 + ln 32 / ln 4096) = sqrt(1 + 5/12)
    expect(rs.attentionFactor).toBeCloseTo(Math.sqrt(17 / 12), 15);
  });

  it('Phi-4-mini-instruct has 3.84B parameters: fused weights, the embedding counted once', () => {
    const { model } = parseHfConfig(PHI4_MINI);
    const names = expectedWeights(model).map((w) => w.name);
    expect(names).toContain('model.layers.0.self_attn.qkv_proj.weight');
    expect(names).toContain('model.layers.31.mlp.gate_up_proj.weight');
    expect(names).not.toContain('model.layers.0.self_attn.q_proj.weight');
    expect(names).not.toContain('lm_head.weight');
    const shapes = new Map(expectedWeights(model).map((w) => [w.name, w.shape]));
    expect(shapes.get('model.layers.0.self_attn.qkv_proj.weight')).toEqual([3072 + 2 * 1024, 3072]);
    expect(shapes.get('model.layers.0.mlp.gate_up_proj.weight')).toEqual([2 * 8192, 3072]);
    expect(baseParamCount(model)).toBe(3_836_021_760);
    expect(linearModules(model)).toEqual(['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj']);
  });

  it('legacy "su" is longrope; v5 rope_parameters; bad factors are refused by name', () => {
    const su = { ...PHI4_MINI, rope_scaling: { ...PHI4_MINI.rope_scaling, type: 'su' } };
    expect(parseHfConfig(su).model.ropeScaling?.ropeType).toBe('longrope');
    const { rope_scaling: _s, rope_theta: _t, ...rest } = PHI4_MINI;
    const v5 = { ...rest, rope_parameters: { ...PHI4_MINI.rope_scaling, rope_theta: 10000, rope_type: 'longrope' } };
    expect(parseHfConfig(v5).model.ropeScaling).toEqual(parseHfConfig(PHI4_MINI).model.ropeScaling);
    const short = { ...PHI4_MINI, rope_scaling: { ...PHI4_MINI.rope_scaling, short_factor: [1, 1] } };
    expect(() => parseHfConfig(short)).toThrow(
      'config.json: rope_scaling.short_factor has 2 entries, but the rotary dimension 96 needs 48',
    );
    const odd = { ...PHI3_MINI_4K, partial_rotary_factor: 0.35 };
    expect(() => parseHfConfig(odd)).toThrow(/partial_rotary_factor 0.35 gives a rotary dimension of 33/);
    expect(() => parseHfConfig({ ...PHI3_MINI_4K, rope_scaling: { type: 'dynamic', factor: 2 } })).toThrow(
      'config.json: rope_scaling.rope_type "dynamic" is not supported (supported: default, longrope)',
    );
    // partial rotary stays refused outside phi3
    expect(() =>
      parseHfConfig({ ...PHI3_MINI_4K, model_type: 'llama', architectures: null, partial_rotary_factor: 0.5 }),
    ).toThrow(/partial_rotary_factor 0.5 is not supported/);
  });

  it('Phi3Config defaults: kv heads = heads, eps 1e-5, bos 1, eos 32000, 4096 positions', () => {
    const minimal = {
      model_type: 'phi3',
      hidden_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      intermediate_size: 96,
      vocab_size: 100,
    };
    expect(parseHfConfig(minimal).model).toMatchObject({
      numKvHeads: 4,
      headDim: 16,
      rmsNormEps: 1e-5,
      bosTokenId: 1,
      eosTokenIds: [32000],
      maxPositionEmbeddings: 4096,
      slidingWindow: null,
      tieWordEmbeddings: false,
    });
    expect(
      parseHfConfig({ ...minimal, model_type: undefined, architectures: ['Phi3ForCausalLM'] }).model.modelType,
    ).toBe('phi3');
  });
});
