import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SUPPORTED_MODEL_TYPES, baseParamCount, expectedWeights, usesRope } from '../engine/model/config';
import { looksLikeRepoId, parseHfConfig } from './hf-config';

// config.json files as published on the Hub (trimmed of keys the parser ignores only where noted).
const TINYLLAMA = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 5632,
  max_position_embeddings: 2048,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 22,
  num_key_value_heads: 4,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.35.0',
  use_cache: true,
  vocab_size: 32000,
};

const LLAMA_32_1B_INSTRUCT = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.45.0.dev0',
  use_cache: true,
  vocab_size: 128256,
};

const QWEN25_05B_INSTRUCT = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: 'silu',
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.1',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

const MISTRAL_7B_V01 = {
  architectures: ['MistralForCausalLM'],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: 'mistral',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  sliding_window: 4096,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.34.0.dev0',
  use_cache: true,
  vocab_size: 32000,
};

describe('parseHfConfig on published configs', () => {
  it('TinyLlama-1.1B-Chat: GQA 32/4, head_dim from hidden/heads, separate LM head', () => {
    const { model, torchDtype } = parseHfConfig(JSON.stringify(TINYLLAMA));
    expect(model).toEqual({
      modelType: 'llama',
      hiddenSize: 2048,
      numLayers: 22,
      numHeads: 32,
      numKvHeads: 4,
      headDim: 64,
      intermediateSize: 5632,
      vocabSize: 32000,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: null,
      tieWordEmbeddings: false,
      attentionBias: false,
      maxPositionEmbeddings: 2048,
      bosTokenId: 1,
      eosTokenIds: [2],
      slidingWindow: null,
    });
    expect(torchDtype).toBe('bfloat16');
  });

  it('Llama-3.2-1B-Instruct: llama3 rope scaling, tied embeddings, eos list', () => {
    const { model } = parseHfConfig(LLAMA_32_1B_INSTRUCT);
    expect(model.ropeScaling).toEqual({
      ropeType: 'llama3',
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    expect(model.ropeTheta).toBe(500000);
    expect(model.tieWordEmbeddings).toBe(true);
    expect(model.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(model.headDim).toBe(64);
  });

  it('Qwen2.5-0.5B-Instruct: q/k/v bias always on, no sliding window when use_sliding_window is false', () => {
    const { model } = parseHfConfig(QWEN25_05B_INSTRUCT);
    expect(model.modelType).toBe('qwen2');
    expect(model.attentionBias).toBe(true);
    expect(model.tieWordEmbeddings).toBe(true);
    expect(model.slidingWindow).toBeNull();
    expect(model.numKvHeads).toBe(2);
    expect(model.headDim).toBe(64);
    expect(model.bosTokenId).toBe(151643);
    expect(parseHfConfig({ ...QWEN25_05B_INSTRUCT, use_sliding_window: true }).model.slidingWindow).toBe(32768);
  });

  it('Mistral-7B: sliding window 4096 (v0.1), none when null (v0.3), 4096 when absent as in MistralConfig', () => {
    expect(parseHfConfig(MISTRAL_7B_V01).model.slidingWindow).toBe(4096);
    expect(parseHfConfig({ ...MISTRAL_7B_V01, sliding_window: null, rope_theta: 1e6 }).model).toMatchObject({
      slidingWindow: null,
      ropeTheta: 1e6,
    });
    const { sliding_window: _, ...noWindow } = MISTRAL_7B_V01;
    expect(parseHfConfig(noWindow).model.slidingWindow).toBe(4096);
    expect(parseHfConfig(MISTRAL_7B_V01).model.attentionBias).toBe(false);
  });

  it('applies transformers defaults for absent keys', () => {
    const minimal = {
      model_type: 'llama',
      hidden_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 8,
      intermediate_size: 128,
      vocab_size: 100,
    };
    expect(parseHfConfig(minimal).model).toMatchObject({
      numKvHeads: 8, // Llama: = heads
      headDim: 8,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      ropeScaling: null,
      tieWordEmbeddings: false,
      attentionBias: false,
      maxPositionEmbeddings: 2048,
      bosTokenId: 1,
      eosTokenIds: [2],
    });
    expect(parseHfConfig({ ...minimal, model_type: 'mistral' }).model.numKvHeads).toBe(8); // MistralConfig default
    expect(
      parseHfConfig({ ...minimal, model_type: 'qwen2', num_attention_heads: 32, hidden_size: 64 }).model,
    ).toMatchObject({
      numKvHeads: 32, // Qwen2Config default
      bosTokenId: null,
      eosTokenIds: [],
      attentionBias: true,
    });
    expect(parseHfConfig({ ...minimal, num_key_value_heads: null }).model.numKvHeads).toBe(8);
    expect(parseHfConfig({ ...minimal, attention_bias: true }).model.attentionBias).toBe(true);
    expect(parseHfConfig({ ...minimal, eos_token_id: null }).model.eosTokenIds).toEqual([]);
  });

  it('infers the model type from architectures, and reads the v5 layout (rope_parameters, dtype)', () => {
    const { model_type: _, ...noType } = TINYLLAMA;
    expect(parseHfConfig(noType).model.modelType).toBe('llama');
    const { rope_theta: _t, rope_scaling: _s, torch_dtype: _d, ...v4 } = LLAMA_32_1B_INSTRUCT;
    const v5 = {
      ...v4,
      dtype: 'bfloat16',
      rope_parameters: { ...LLAMA_32_1B_INSTRUCT.rope_scaling, rope_theta: 500000.0 },
    };
    const parsed = parseHfConfig(v5);
    expect(parsed.model.ropeTheta).toBe(500000);
    expect(parsed.model.ropeScaling?.factor).toBe(32);
    expect(parsed.torchDtype).toBe('bfloat16');
    const legacy = { ...TINYLLAMA, rope_scaling: { type: 'default' } };
    expect(parseHfConfig(legacy).model.ropeScaling).toBeNull();
    expect(
      parseHfConfig({ ...TINYLLAMA, rope_parameters: { rope_type: 'default', rope_theta: 5e5 } }).model.ropeTheta,
    ).toBe(5e5);
  });
});

describe('parseHfConfig errors name the field and the value', () => {
  const bad = (cfg: object) => () => parseHfConfig(cfg);
  it('unsupported architectures', () => {
    expect(bad({ ...TINYLLAMA, model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] })).toThrow(
      'config.json: model_type "gpt2" is not supported (supported: llama, mistral, qwen2, qwen3, smollm3, phi3, gemma3_text)',
    );
    expect(SUPPORTED_MODEL_TYPES).toEqual(
      expect.arrayContaining(['llama', 'mistral', 'qwen2', 'qwen3', 'smollm3', 'phi3', 'gemma3_text']),
    );
    expect(bad({ ...TINYLLAMA, architectures: ['LlamaForSequenceClassification'] })).toThrow(
      /architectures \["LlamaForSequenceClassification"\] is not supported \(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, SmolLM3ForCausalLM, Phi3ForCausalLM, Gemma3ForCausalLM\)/,
    );
    expect(bad({ ...TINYLLAMA, architectures: ['MistralForCausalLM'] })).toThrow(
      /model_type "llama" disagrees with architectures \["MistralForCausalLM"\]/,
    );
    const { model_type: _, architectures: _a, ...neither } = TINYLLAMA;
    expect(bad(neither)).toThrow(/model_type is missing/);
  });
  it('missing and mistyped fields', () => {
    const { hidden_size: _, ...noHidden } = TINYLLAMA;
    expect(bad(noHidden)).toThrow('config.json: hidden_size is missing (it must be a positive integer)');
    expect(bad({ ...TINYLLAMA, num_hidden_layers: '22' })).toThrow(
      'config.json: num_hidden_layers must be a positive integer (got "22")',
    );
    expect(bad({ ...TINYLLAMA, vocab_size: -5 })).toThrow(
      'config.json: vocab_size must be a positive integer (got -5)',
    );
    expect(bad({ ...TINYLLAMA, intermediate_size: 5632.5 })).toThrow(
      /intermediate_size must be a positive integer \(got 5632.5\)/,
    );
    expect(bad({ ...TINYLLAMA, rms_norm_eps: 0 })).toThrow(/rms_norm_eps must be a positive number \(got 0\)/);
    expect(bad({ ...TINYLLAMA, eos_token_id: 'x' })).toThrow(
      /eos_token_id must be a token id or a list of token ids \(got "x"\)/,
    );
    expect(bad({ ...TINYLLAMA, tie_word_embeddings: 'yes' })).toThrow(
      /tie_word_embeddings must be true or false \(got "yes"\)/,
    );
    expect(() => parseHfConfig('{"model_type": "llama",')).toThrow(/config.json: is not valid JSON/);
    expect(() => parseHfConfig('[]')).toThrow('config.json: must be a JSON object');
  });
  it('architecture features the engine does not implement', () => {
    expect(bad({ ...TINYLLAMA, rope_scaling: { type: 'yarn', factor: 4 } })).toThrow(
      'config.json: rope_scaling.rope_type "yarn" is not supported (supported: default, llama3)',
    );
    expect(
      bad({
        ...LLAMA_32_1B_INSTRUCT,
        rope_scaling: { ...LLAMA_32_1B_INSTRUCT.rope_scaling, low_freq_factor: undefined },
      }),
    ).toThrow(/rope_scaling.low_freq_factor must be a positive number for llama3 rope scaling \(got nothing\)/);
    expect(bad({ ...TINYLLAMA, hidden_act: 'gelu' })).toThrow(/hidden_act "gelu" is not supported/);
    expect(bad({ ...TINYLLAMA, mlp_bias: true })).toThrow(/mlp_bias true is not supported/);
    expect(bad({ ...TINYLLAMA, num_key_value_heads: 5 })).toThrow(
      /num_attention_heads 32 is not a multiple of num_key_value_heads 5/,
    );
    expect(bad({ ...TINYLLAMA, hidden_size: 2050 })).toThrow(
      /hidden_size 2050 is not divisible by num_attention_heads 32/,
    );
    expect(bad({ ...TINYLLAMA, partial_rotary_factor: 0.5 })).toThrow(/partial_rotary_factor 0.5 is not supported/);
  });
  it('uses the file name it is given', () => {
    expect(() => parseHfConfig({ ...TINYLLAMA, vocab_size: 0 }, 'TinyLlama/config.json')).toThrow(
      /^TinyLlama\/config.json: vocab_size/,
    );
  });
});

describe('looksLikeRepoId', () => {
  it('tells repo ids from paths', () => {
    expect(looksLikeRepoId('TinyLlama/TinyLlama-1.1B-Chat-v1.0')).toBe(true);
    expect(looksLikeRepoId('Qwen/Qwen2.5-0.5B-Instruct')).toBe(true);
    for (const p of [
      '/home/me/models/llama',
      './llama',
      '~/llama/x',
      'C:\\models\\llama',
      'a/b/c',
      '../x/y',
      'llama',
    ]) {
      expect(looksLikeRepoId(p), p).toBe(false);
    }
  });
});

// The published config.json files of Qwen3-0.6B and SmolLM3-3B (src/io/fixtures/configs/).
const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures/configs', name), 'utf8');

describe('parseHfConfig: Qwen3 and SmolLM3', () => {
  it('Qwen3-0.6B: q/k norms, head_dim 128 with hidden 1024 / 16 heads, no bias, tied', () => {
    const { model, torchDtype } = parseHfConfig(fixture('Qwen3-0.6B.config.json'));
    expect(model).toEqual({
      modelType: 'qwen3',
      hiddenSize: 1024,
      numLayers: 28,
      numHeads: 16,
      numKvHeads: 8,
      headDim: 128,
      intermediateSize: 3072,
      vocabSize: 151936,
      rmsNormEps: 1e-6,
      ropeTheta: 1000000,
      ropeScaling: null,
      tieWordEmbeddings: true,
      attentionBias: false,
      maxPositionEmbeddings: 40960,
      bosTokenId: 151643,
      eosTokenIds: [151645],
      slidingWindow: null,
      qkNorm: true,
    });
    expect(torchDtype).toBe('bfloat16');
    const names = expectedWeights(model).map((w) => w.name);
    expect(names).toContain('model.layers.27.self_attn.q_norm.weight');
    expect(expectedWeights(model).find((w) => w.name === 'model.layers.0.self_attn.k_norm.weight')?.shape).toEqual([
      128,
    ]);
    expect(names.filter((n) => n.endsWith('_norm.weight') && n.includes('self_attn'))).toHaveLength(2 * 28);
    expect(names).not.toContain('model.layers.0.self_attn.q_proj.bias');
    expect(names).not.toContain('lm_head.weight');
  });

  it('Qwen3-1.7B as transformers v5 writes it (rope_parameters, layer_types, dtype): 1,720,574,976 parameters', () => {
    const v5 = {
      architectures: ['Qwen3ForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 151643,
      dtype: 'bfloat16',
      eos_token_id: 151645,
      head_dim: 128,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 6144,
      layer_types: Array.from({ length: 28 }, () => 'full_attention'),
      max_position_embeddings: 40960,
      max_window_layers: 28,
      model_type: 'qwen3',
      num_attention_heads: 16,
      num_hidden_layers: 28,
      num_key_value_heads: 8,
      pad_token_id: null,
      rms_norm_eps: 1e-6,
      rope_parameters: { rope_theta: 1000000, rope_type: 'default' },
      sliding_window: null,
      tie_word_embeddings: true,
      transformers_version: '5.17.0',
      use_cache: true,
      use_sliding_window: false,
      vocab_size: 151936,
    };
    const { model, torchDtype } = parseHfConfig(v5);
    expect(model).toMatchObject({
      ropeTheta: 1e6,
      ropeScaling: null,
      headDim: 128,
      qkNorm: true,
      tieWordEmbeddings: true,
    });
    expect(torchDtype).toBe('bfloat16');
    expect(baseParamCount(model)).toBe(1_720_574_976);
  });

  it('Qwen3Config defaults: head_dim 128 (not hidden/heads), 32 kv heads, untied; attention_bias refused', () => {
    const minimal = {
      model_type: 'qwen3',
      hidden_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 32,
      intermediate_size: 128,
      vocab_size: 100,
    };
    expect(parseHfConfig(minimal).model).toMatchObject({
      headDim: 128,
      numKvHeads: 32,
      tieWordEmbeddings: false,
      ropeTheta: 10000,
      qkNorm: true,
      bosTokenId: null,
    });
    expect(parseHfConfig({ ...minimal, architectures: ['Qwen3ForCausalLM'] }).model.modelType).toBe('qwen3');
    expect(() => parseHfConfig({ ...minimal, attention_bias: true })).toThrow(
      'config.json: attention_bias true is not supported for qwen3 (o_proj would carry a bias)',
    );
    expect(() => parseHfConfig({ ...minimal, architectures: ['Qwen2ForCausalLM'] })).toThrow(
      /model_type "qwen3" disagrees with architectures/,
    );
  });

  it('SmolLM3-3B: every fourth layer without RoPE (no_rope_layers 0), tied by default (no key), rope_theta 5e6', () => {
    const { model } = parseHfConfig(fixture('SmolLM3-3B.config.json'));
    expect(model).toMatchObject({
      modelType: 'smollm3',
      hiddenSize: 2048,
      numLayers: 36,
      numHeads: 16,
      numKvHeads: 4,
      headDim: 128,
      intermediateSize: 11008,
      vocabSize: 128256,
      ropeTheta: 5e6,
      tieWordEmbeddings: true,
      attentionBias: false,
      maxPositionEmbeddings: 65536,
      bosTokenId: 128000,
      eosTokenIds: [128012],
      slidingWindow: null,
    });
    expect(model.qkNorm).toBeUndefined();
    const nope = Array.from({ length: 36 }, (_, l) => l).filter((l) => !usesRope(model, l));
    expect(nope).toEqual([3, 7, 11, 15, 19, 23, 27, 31, 35]);
    expect(expectedWeights(model).some((w) => w.name.includes('q_norm'))).toBe(false);
  });

  it('SmolLM3Config defaults: no_rope_layers from no_rope_layer_interval, tied, rope_theta 2e6, 4 kv heads', () => {
    const minimal = {
      model_type: 'smollm3',
      hidden_size: 64,
      num_hidden_layers: 7,
      num_attention_heads: 8,
      intermediate_size: 128,
      vocab_size: 100,
    };
    const m = parseHfConfig(minimal).model;
    expect(m).toMatchObject({ tieWordEmbeddings: true, ropeTheta: 2e6, numKvHeads: 4, headDim: 8 });
    expect(m.ropeLayers).toEqual([true, true, true, false, true, true, true]);
    expect(parseHfConfig({ ...minimal, no_rope_layer_interval: 3 }).model.ropeLayers).toEqual([
      true,
      true,
      false,
      true,
      true,
      false,
      true,
    ]);
    // a longer list is allowed (transformers reads the first num_hidden_layers entries)
    expect(parseHfConfig({ ...minimal, no_rope_layers: [0, 1, 1, 1, 1, 1, 1, 0] }).model.ropeLayers?.[0]).toBe(false);
    expect(() => parseHfConfig({ ...minimal, no_rope_layers: [1, 1, 0] })).toThrow(
      'config.json: no_rope_layers has 3 entries, fewer than num_hidden_layers 7',
    );
    expect(() => parseHfConfig({ ...minimal, no_rope_layers: [1, 2, 1, 1, 1, 1, 1] })).toThrow(
      /no_rope_layers\.1 must be a list of 0 \(no RoPE\) and 1 \(RoPE\) \(got 2\)/,
    );
    expect(parseHfConfig({ ...minimal, use_sliding_window: true, sliding_window: 512 }).model.slidingWindow).toBe(512);
  });
});
