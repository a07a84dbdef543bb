// config.json -> ModelConfig, with transformers' defaults per model type (LlamaConfig,
// MistralConfig, Qwen2Config, v4 and v5 layouts) and a message naming the field for anything the
// engine cannot run. What transformers does and this file mirrors:
//   - num_key_value_heads: null -> num_attention_heads; absent -> the class default
//     (Llama: heads, Mistral: 8, Qwen2: 32). head_dim absent/null -> hidden_size / heads.
//   - attention_bias: Llama reads config.attention_bias (default false); Mistral has no bias;
//     Qwen2Attention builds q/k/v with bias=True unconditionally (o_proj without).
//   - tie_word_embeddings defaults to false for all three classes.
//   - RoPE: v4 writes rope_theta (default 10000) and rope_scaling; v5 writes rope_parameters
//     {rope_type, rope_theta, ...}. "type" is the legacy spelling of "rope_type".
//   - sliding window: Mistral's sliding_window (default 4096, null = full attention); Qwen2's only
//     when use_sliding_window is true (never in released Qwen2/2.5 checkpoints).
//   - torch_dtype was renamed dtype in v5.
//   - Qwen3 (Qwen3Config): head_dim defaults to 128 (not hidden/heads), num_key_value_heads to 32;
//     q_norm/k_norm on every layer; q/k/v/o biases only with attention_bias (refused: o_proj has
//     no bias here); sliding window as Qwen2's.
//   - SmolLM3 (SmolLM3Config): tie_word_embeddings defaults to TRUE, rope_theta to 2e6,
//     num_key_value_heads to 4; no_rope_layers[l] = 1 means layer l uses RoPE, 0 that it has none
//     (absent: every no_rope_layer_interval-th layer, default 4, has none); sliding window only
//     with use_sliding_window (treated as a global window, as Qwen2's).
//   - phi3 (Phi3Config): fused qkv_proj / gate_up_proj, rms_norm_eps 1e-5, bos 1, eos 32000,
//     max_position_embeddings 4096; partial_rotary_factor (rotary dim = int(head_dim * factor));
//     rope_scaling "longrope" (legacy "su", "yarn") as _compute_longrope_parameters reads it:
//     short/long factors of length rotary_dim/2, original_max_position_embeddings (top level,
//     default 4096), factor = max_position_embeddings / original when rope_scaling has none,
//     attention_factor default sqrt(1 + ln(factor) / ln(original)) (1 when factor <= 1).
//     sliding_window as written (null: full attention).
//   - gemma3_text (Gemma3TextConfig): head_dim defaults to 256, num_key_value_heads to 4,
//     tie_word_embeddings to true, rope_theta to 1e6; q_norm/k_norm on every layer (as Qwen3's, weights as 1 + w);
//     the activation is hidden_activation (gelu_pytorch_tanh);
//     layer_types absent -> every _sliding_window_pattern-th layer (default 6) is full attention;
//     sliding layers use rope_local_base_freq (default 10000), or v5's
//     rope_parameters.sliding_attention. Soft-capping, bidirectional attention and biases are refused.

import { z } from 'zod';
import {
  type Gemma3Options,
  MODEL_FAMILIES,
  type ModelConfig,
  type ModelType,
  type RopeScaling,
  SUPPORTED_MODEL_TYPES,
} from '../engine/model/config';
import { IoError } from './source';

export { SUPPORTED_MODEL_TYPES };
const ARCHITECTURES: Record<string, ModelType> = Object.fromEntries(
  Object.entries(MODEL_FAMILIES).map(([t, f]) => [f.architecture, t as ModelType]),
);

/** The config class defaults that differ by family (headDim absent: hidden / heads). */
interface FamilyDefaults {
  numKvHeads: number | 'heads';
  maxPos: number;
  bos: number | null;
  eos: number | null;
  headDim?: number;
  tie?: boolean;
  ropeTheta?: number;
}

const DEFAULTS: Record<ModelType, FamilyDefaults> = {
  llama: { numKvHeads: 'heads', maxPos: 2048, bos: 1, eos: 2 },
  mistral: { numKvHeads: 8, maxPos: 4096 * 32, bos: 1, eos: 2 },
  qwen2: { numKvHeads: 32, maxPos: 32768, bos: null, eos: null },
  qwen3: { numKvHeads: 32, maxPos: 32768, bos: null, eos: null, headDim: 128 },
  smollm3: { numKvHeads: 4, maxPos: 32768, bos: 128000, eos: 128001, tie: true, ropeTheta: 2000000 },
  phi3: { numKvHeads: 'heads', maxPos: 4096, bos: 1, eos: 32000 },
  gemma3_text: { numKvHeads: 4, maxPos: 131072, bos: 2, eos: 1, headDim: 256, tie: true, ropeTheta: 1000000 },
};

const POS_INT = 'a positive integer';
const posInt = z.number({ error: POS_INT }).int({ error: POS_INT }).positive({ error: POS_INT });
const tokenId = z
  .number({ error: 'a token id (integer >= 0)' })
  .int({ error: 'a token id (integer >= 0)' })
  .min(0, { error: 'a token id (integer >= 0)' });
const posNum = z.number({ error: 'a positive number' }).positive({ error: 'a positive number' });
const bool = z.boolean({ error: 'true or false' });
const ropeDict = z.looseObject({}).nullish();

const hfConfigSchema = z.looseObject({
  model_type: z.string({ error: 'a string' }).optional(),
  architectures: z.array(z.string({ error: 'a list of class names' }), { error: 'a list of class names' }).nullish(),
  hidden_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt.nullish(),
  head_dim: posInt.nullish(),
  intermediate_size: posInt,
  vocab_size: posInt,
  rms_norm_eps: posNum.optional(),
  rope_theta: posNum.nullish(),
  rope_scaling: ropeDict,
  rope_parameters: ropeDict,
  partial_rotary_factor: posNum.nullish(),
  tie_word_embeddings: bool.optional(),
  attention_bias: bool.optional(),
  mlp_bias: bool.optional(),
  hidden_act: z.string({ error: 'a string' }).optional(),
  max_position_embeddings: posInt.optional(),
  bos_token_id: tokenId.nullish(),
  eos_token_id: z.union([tokenId, z.array(tokenId)], { error: 'a token id or a list of token ids' }).nullish(),
  torch_dtype: z.string({ error: 'a string' }).nullish(),
  dtype: z.string({ error: 'a string' }).nullish(),
  sliding_window: posInt.nullish(),
  use_sliding_window: bool.optional(),
  no_rope_layers: z
    .array(z.union([z.literal(0), z.literal(1)], { error: 'a list of 0 (no RoPE) and 1 (RoPE)' }), {
      error: 'a list of 0 (no RoPE) and 1 (RoPE)',
    })
    .nullish(),
  no_rope_layer_interval: posInt.optional(),
  original_max_position_embeddings: posInt.optional(),
  _name_or_path: z.string({ error: 'a string' }).optional(),
  // gemma3_text
  hidden_activation: z.string({ error: 'a string' }).nullish(),
  query_pre_attn_scalar: posNum.optional(),
  rope_local_base_freq: posNum.optional(),
  layer_types: z.array(z.string({ error: 'a string' }), { error: 'a list of layer types' }).nullish(),
  _sliding_window_pattern: posInt.optional(),
  sliding_window_pattern: posInt.optional(),
  attn_logit_softcapping: z.number({ error: 'a number or null' }).nullish(),
  final_logit_softcapping: z.number({ error: 'a number or null' }).nullish(),
  use_bidirectional_attention: bool.nullish(),
});

export interface HfConfig {
  model: ModelConfig;
  /** torch_dtype (v4) or dtype (v5) as written, e.g. "bfloat16"; null when absent. */
  torchDtype: string | null;
  /** `_name_or_path` as written (a repo id or a path on someone's disk); null when absent. */
  nameOrPath: string | null;
}

/** Parses a config.json's text or already-parsed JSON. Errors name `file` and the field. */
export function parseHfConfig(input: string | unknown, file = 'config.json'): HfConfig {
  const fail = (msg: string) => new IoError(`${file}: ${msg}`, file);
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      throw fail(`is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail('must be a JSON object');
  const obj = raw as Record<string, unknown>;

  const modelType = resolveModelType(obj, fail);
  const parsed = hfConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path.join('.');
    const value = issue.path.reduce<unknown>(
      (v, k) => (v as Record<string | number, unknown> | undefined)?.[k as string],
      obj,
    );
    throw fail(
      value === undefined
        ? `${path} is missing (it must be ${issue.message})`
        : `${path} must be ${issue.message} (got ${show(value)})`,
    );
  }
  const c = parsed.data;
  const d = DEFAULTS[modelType];

  const gemma = modelType === 'gemma3_text';
  if (!gemma && c.hidden_act !== undefined && c.hidden_act !== 'silu') {
    throw fail(`hidden_act "${c.hidden_act}" is not supported (the engine implements SwiGLU with "silu")`);
  }
  if (c.mlp_bias) throw fail('mlp_bias true is not supported (the MLP projections must have no bias)');

  const numHeads = c.num_attention_heads;
  const numKvHeads =
    c.num_key_value_heads === null
      ? numHeads
      : (c.num_key_value_heads ?? (d.numKvHeads === 'heads' ? numHeads : d.numKvHeads));
  if (numHeads % numKvHeads !== 0) {
    throw fail(`num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  let headDim = c.head_dim ?? d.headDim ?? null;
  if (headDim === null) {
    if (c.hidden_size % numHeads !== 0) {
      throw fail(
        `hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${numHeads} and head_dim is not given`,
      );
    }
    headDim = c.hidden_size / numHeads;
  }
  if (headDim % 2 !== 0) throw fail(`head_dim ${headDim} must be even for rotary embeddings`);

  const { ropeTheta, ropeScaling, partial } = parseRope(c, fail, modelType, headDim, d.ropeTheta);
  let ropeDim: number | undefined;
  if (partial !== 1) {
    ropeDim = Math.trunc(headDim * partial);
    if (!(ropeDim >= 2 && ropeDim <= headDim && ropeDim % 2 === 0)) {
      throw fail(
        `partial_rotary_factor ${partial} gives a rotary dimension of ${ropeDim} for head_dim ${headDim} (it must be even, 2 to head_dim)`,
      );
    }
  }

  let attentionBias = false;
  if (modelType === 'llama') attentionBias = c.attention_bias ?? false;
  if (modelType === 'qwen2') attentionBias = true;
  if ((modelType === 'qwen3' || modelType === 'smollm3') && c.attention_bias) {
    throw fail(`attention_bias true is not supported for ${modelType} (o_proj would carry a bias)`);
  }

  let slidingWindow: number | null = null;
  if (modelType === 'mistral') slidingWindow = c.sliding_window === undefined ? 4096 : c.sliding_window;
  if (modelType === 'qwen2' && c.use_sliding_window) slidingWindow = c.sliding_window ?? 4096;
  if (modelType === 'qwen3' && c.use_sliding_window) slidingWindow = c.sliding_window ?? 4096;
  if (modelType === 'smollm3' && c.use_sliding_window) slidingWindow = c.sliding_window ?? null;

  let ropeLayers: boolean[] | null = null;
  if (modelType === 'smollm3') {
    const L = c.num_hidden_layers;
    const given = c.no_rope_layers ?? null;
    if (given && given.length < L) {
      throw fail(`no_rope_layers has ${given.length} entries, fewer than num_hidden_layers ${L}`);
    }
    const interval = c.no_rope_layer_interval ?? 4;
    ropeLayers = Array.from({ length: L }, (_, l) => (given ? given[l] === 1 : (l + 1) % interval !== 0));
  }
  if (modelType === 'phi3') slidingWindow = c.sliding_window ?? null;

  const gemma3 = gemma ? parseGemma3(c, obj, fail) : null;

  const eos = c.eos_token_id === undefined ? d.eos : c.eos_token_id;
  const model: ModelConfig = {
    modelType,
    hiddenSize: c.hidden_size,
    numLayers: c.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: c.intermediate_size,
    vocabSize: c.vocab_size,
    rmsNormEps: c.rms_norm_eps ?? (modelType === 'phi3' ? 1e-5 : 1e-6),
    ropeTheta,
    ropeScaling,
    tieWordEmbeddings: c.tie_word_embeddings ?? d.tie ?? false,
    attentionBias,
    maxPositionEmbeddings: c.max_position_embeddings ?? d.maxPos,
    bosTokenId: c.bos_token_id === undefined ? d.bos : c.bos_token_id,
    eosTokenIds: eos === null ? [] : Array.isArray(eos) ? eos : [eos],
    slidingWindow,
    ...(ropeDim !== undefined ? { ropeDim } : {}),
    ...(gemma3 ? { gemma3 } : {}),
  };
  if (modelType === 'qwen3' || gemma) model.qkNorm = true;
  if (ropeLayers) model.ropeLayers = ropeLayers;
  return { model, torchDtype: c.dtype ?? c.torch_dtype ?? null, nameOrPath: c._name_or_path ?? null };
}

function resolveModelType(obj: Record<string, unknown>, fail: (m: string) => Error): ModelType {
  const supported = `supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`;
  const mt = obj.model_type;
  const archs = obj.architectures;
  if (mt !== undefined && typeof mt !== 'string') throw fail(`model_type must be a string (got ${show(mt)})`);
  if (mt !== undefined && !(SUPPORTED_MODEL_TYPES as readonly string[]).includes(mt)) {
    throw fail(`model_type "${mt}" is not supported (${supported})`);
  }
  let fromArch: ModelType | null = null;
  if (Array.isArray(archs) && archs.length > 0) {
    const known = archs.filter((a): a is string => typeof a === 'string' && a in ARCHITECTURES);
    if (known.length === 0) {
      throw fail(`architectures ${show(archs)} is not supported (supported: ${Object.keys(ARCHITECTURES).join(', ')})`);
    }
    fromArch = ARCHITECTURES[known[0]];
  }
  if (mt === undefined) {
    if (!fromArch) throw fail(`model_type is missing (${supported})`);
    return fromArch;
  }
  if (fromArch && fromArch !== mt) {
    throw fail(`model_type "${mt}" disagrees with architectures ${show(archs)}`);
  }
  return mt as ModelType;
}

function parseRope(
  c: z.infer<typeof hfConfigSchema>,
  fail: (m: string) => Error,
  modelType: ModelType,
  headDim: number,
  defaultTheta = 10000,
): { ropeTheta: number; ropeScaling: RopeScaling | null; partial: number } {
  // v5 keeps everything in rope_parameters; v4 splits rope_theta and rope_scaling.
  const field = c.rope_parameters ? 'rope_parameters' : 'rope_scaling';
  let p = (c.rope_parameters ?? c.rope_scaling ?? {}) as Record<string, unknown>;
  // v5 may key the parameters by layer type; these models only have full attention layers.
  if (typeof p.full_attention === 'object' && p.full_attention !== null)
    p = p.full_attention as Record<string, unknown>;
  const thetaRaw = p.rope_theta ?? c.rope_theta ?? defaultTheta;
  if (typeof thetaRaw !== 'number' || !(thetaRaw > 0))
    throw fail(`${field}.rope_theta must be a positive number (got ${show(thetaRaw)})`);
  const partial = p.partial_rotary_factor ?? c.partial_rotary_factor ?? 1;
  if (partial !== 1 && modelType !== 'phi3')
    throw fail(`partial_rotary_factor ${show(partial)} is not supported (rotary embeddings cover the whole head)`);
  if (typeof partial !== 'number' || !(partial > 0 && partial <= 1))
    throw fail(`partial_rotary_factor must be a number in (0, 1] (got ${show(partial)})`);
  let type = p.rope_type ?? p.type ?? 'default';
  // Phi3Config renames the legacy "su" and "yarn" to longrope.
  if (modelType === 'phi3' && (type === 'su' || type === 'yarn')) type = 'longrope';
  if (type === 'default') return { ropeTheta: thetaRaw, ropeScaling: null, partial };
  if (type === 'longrope' && modelType === 'phi3') {
    const ropeScaling = parseLongRope(p, c, field, Math.trunc(headDim * partial), fail);
    return { ropeTheta: thetaRaw, ropeScaling, partial };
  }
  if (type !== 'llama3') {
    const supported = modelType === 'phi3' ? 'default, longrope' : 'default, llama3';
    throw fail(`${field}.rope_type ${show(type)} is not supported (supported: ${supported})`);
  }
  const num = (k: string, int = false) => {
    const v = p[k];
    if (typeof v !== 'number' || !(v > 0) || (int && !Number.isInteger(v))) {
      throw fail(
        `${field}.${k} must be ${int ? 'a positive integer' : 'a positive number'} for llama3 rope scaling (got ${show(v)})`,
      );
    }
    return v;
  };
  const ropeScaling: RopeScaling = {
    ropeType: 'llama3',
    factor: num('factor'),
    lowFreqFactor: num('low_freq_factor'),
    highFreqFactor: num('high_freq_factor'),
    originalMaxPositionEmbeddings: num('original_max_position_embeddings', true),
  };
  if (ropeScaling.highFreqFactor <= ropeScaling.lowFreqFactor) {
    throw fail(
      `${field}.high_freq_factor (${ropeScaling.highFreqFactor}) must be larger than low_freq_factor (${ropeScaling.lowFreqFactor})`,
    );
  }
  return { ropeTheta: thetaRaw, ropeScaling, partial };
}

/** Phi-3's longrope parameters, as transformers' _compute_longrope_parameters reads them. */
function parseLongRope(
  p: Record<string, unknown>,
  c: z.infer<typeof hfConfigSchema>,
  field: string,
  rotDim: number,
  fail: (m: string) => Error,
): RopeScaling {
  const factors = (k: string) => {
    const v = p[k];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !(x > 0)))
      throw fail(`${field}.${k} must be a list of positive numbers for longrope scaling (got ${show(v)})`);
    if (v.length !== rotDim / 2)
      throw fail(`${field}.${k} has ${v.length} entries, but the rotary dimension ${rotDim} needs ${rotDim / 2}`);
    return v as number[];
  };
  const shortFactor = factors('short_factor');
  const longFactor = factors('long_factor');
  const origRaw = p.original_max_position_embeddings ?? c.original_max_position_embeddings ?? 4096;
  if (typeof origRaw !== 'number' || !Number.isInteger(origRaw) || origRaw < 1)
    throw fail(`original_max_position_embeddings must be a positive integer (got ${show(origRaw)})`);
  const maxPos = c.max_position_embeddings ?? 4096;
  const factorRaw = p.factor ?? maxPos / origRaw;
  if (typeof factorRaw !== 'number' || !(factorRaw > 0))
    throw fail(`${field}.factor must be a positive number (got ${show(factorRaw)})`);
  const attRaw = p.attention_factor ?? (factorRaw <= 1 ? 1 : Math.sqrt(1 + Math.log(factorRaw) / Math.log(origRaw)));
  if (typeof attRaw !== 'number' || !(attRaw > 0))
    throw fail(`${field}.attention_factor must be a positive number (got ${show(attRaw)})`);
  return {
    ropeType: 'longrope',
    factor: factorRaw,
    shortFactor,
    longFactor,
    originalMaxPositionEmbeddings: origRaw,
    attentionFactor: attRaw,
  };
}

/** The Gemma 3 fields of a gemma3_text config.json (transformers' Gemma3TextConfig defaults). */
function parseGemma3(
  c: z.infer<typeof hfConfigSchema>,
  obj: Record<string, unknown>,
  fail: (m: string) => Error,
): Gemma3Options {
  const act = c.hidden_activation ?? 'gelu_pytorch_tanh';
  if (act !== 'gelu_pytorch_tanh') {
    throw fail(`hidden_activation "${act}" is not supported (the engine implements gelu_pytorch_tanh)`);
  }
  for (const k of ['attn_logit_softcapping', 'final_logit_softcapping'] as const) {
    if (c[k] !== undefined && c[k] !== null) throw fail(`${k} ${show(c[k])} is not supported (only null)`);
  }
  if (c.use_bidirectional_attention) throw fail('use_bidirectional_attention true is not supported');
  if (c.attention_bias) throw fail('attention_bias true is not supported for gemma3_text');
  const L = c.num_hidden_layers;
  const pattern = c._sliding_window_pattern ?? c.sliding_window_pattern ?? 6;
  const types =
    c.layer_types ?? Array.from({ length: L }, (_, i) => ((i + 1) % pattern ? 'sliding_attention' : 'full_attention'));
  if (types.length !== L) throw fail(`layer_types has ${types.length} entries, but num_hidden_layers is ${L}`);
  types.forEach((t, i) => {
    if (t !== 'sliding_attention' && t !== 'full_attention') {
      throw fail(`layer_types[${i}] ${show(t)} is not supported (sliding_attention or full_attention)`);
    }
  });
  // v5 keys RoPE by layer type; the full-attention entry was read by parseRope.
  const rp = obj.rope_parameters as Record<string, unknown> | null | undefined;
  const local = (rp && typeof rp.sliding_attention === 'object' ? rp.sliding_attention : null) as Record<
    string,
    unknown
  > | null;
  if (local && (local.rope_type ?? 'default') !== 'default') {
    throw fail(`rope_parameters.sliding_attention.rope_type ${show(local.rope_type)} is not supported (default)`);
  }
  const localTheta = local?.rope_theta ?? c.rope_local_base_freq ?? 10000;
  if (typeof localTheta !== 'number' || !(localTheta > 0)) {
    throw fail(`rope_parameters.sliding_attention.rope_theta must be a positive number (got ${show(localTheta)})`);
  }
  return {
    queryPreAttnScalar: c.query_pre_attn_scalar ?? 256,
    slidingWindow: c.sliding_window ?? 4096,
    slidingLayers: types.map((t) => t === 'sliding_attention'),
    ropeLocalTheta: localTheta,
  };
}

function show(v: unknown): string {
  const s = v === undefined ? 'nothing' : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** A Hub repo id ("org/name", or a legacy bare name), as opposed to a filesystem path. */
export function looksLikeRepoId(s: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(s) && !s.includes('..') && !s.endsWith('.');
}
