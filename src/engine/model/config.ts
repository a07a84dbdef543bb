// The architecture of a Llama-family decoder as the engine needs it, independent of file formats.
// src/io/hf-config.ts builds it from a Hugging Face config.json (one of SUPPORTED_MODEL_TYPES).
// Phi-3 differs from Llama in its fused projections (self_attn.qkv_proj = [q; k; v] rows,
// mlp.gate_up_proj = [gate; up] rows: the engine runs each as one linear layer whose output is
// split, so a LoRA adapter sits on the fused output as PEFT puts it), partial rotary embeddings
// and LongRoPE frequency scaling.

/**
 * The families the engine runs, keyed by config.json's model_type: the name the studio shows and
 * the transformers class of config.json's `architectures`. A new family is one entry here, its
 * defaults in src/io/hf-config.ts, and its differences from Llama as ModelConfig fields.
 */
export const MODEL_FAMILIES = {
  llama: { name: 'Llama', architecture: 'LlamaForCausalLM' },
  mistral: { name: 'Mistral', architecture: 'MistralForCausalLM' },
  qwen2: { name: 'Qwen2', architecture: 'Qwen2ForCausalLM' },
  qwen3: { name: 'Qwen3', architecture: 'Qwen3ForCausalLM' },
  smollm3: { name: 'SmolLM3', architecture: 'SmolLM3ForCausalLM' },
  phi3: { name: 'Phi-3', architecture: 'Phi3ForCausalLM' },
  gemma3_text: { name: 'Gemma 3', architecture: 'Gemma3ForCausalLM' },
} as const satisfies Record<string, { name: string; architecture: string }>;

export type ModelType = keyof typeof MODEL_FAMILIES;

/** config.json model_types the engine accepts; anything else is refused with this list. */
export const SUPPORTED_MODEL_TYPES = Object.keys(MODEL_FAMILIES) as ModelType[];

/** "Qwen3 (qwen3)": how the studio and the CLI name a recognised family. */
export function familyLabel(t: ModelType): string {
  return `${MODEL_FAMILIES[t].name} (${t})`;
}

/**
 * What a Gemma 3 text decoder (transformers' Gemma3TextModel) adds to the Llama block: RMSNorm
 * weights applied as (1 + w) (normOffset), embeddings times sqrt(hidden_size), GELU-tanh gated MLP,
 * q/k norms per head before RoPE (qkNorm, as Qwen3's), post-attention and pre/post feed-forward
 * norms, attention scale query_pre_attn_scalar^-0.5, and sliding-window attention with its own
 * RoPE base on the layers whose layer_types entry is "sliding_attention".
 */
export interface Gemma3Options {
  queryPreAttnScalar: number;
  /** Keys visible to a query on a sliding layer: j > t - slidingWindow (transformers' mask). */
  slidingWindow: number;
  /** Per layer: true for "sliding_attention", false for "full_attention". */
  slidingLayers: boolean[];
  /** RoPE base of the sliding layers (rope_local_base_freq); full layers use ropeTheta. */
  ropeLocalTheta: number;
}

export type RopeScaling = Llama3RopeScaling | LongRopeScaling;

/** Llama 3.1/3.2's "llama3" frequency scaling. */
export interface Llama3RopeScaling {
  ropeType: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/**
 * Phi-3's "longrope" (legacy spellings "su", "yarn"): inv_freq[i] = 1 / (factor[i] * theta^(2i/d)),
 * with the short factors for sequences up to originalMaxPositionEmbeddings and the long ones past
 * it (kernels/rope.ts longRopeFactors), and cos/sin multiplied by attentionFactor.
 */
export interface LongRopeScaling {
  ropeType: 'longrope';
  /** max_position_embeddings / original_max_position_embeddings (or rope_scaling.factor). */
  factor: number;
  shortFactor: number[];
  longFactor: number[];
  originalMaxPositionEmbeddings: number;
  attentionFactor: number;
}

export interface ModelConfig {
  modelType: ModelType;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2). */
  attentionBias: boolean;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /**
   * Attention sees at most this many previous tokens (Mistral v0.1; Qwen2 with use_sliding_window).
   * null or absent: full causal attention. The trainer refuses a max_seq_length beyond it.
   */
  slidingWindow?: number | null;
  /**
   * An RMSNorm over each head of q and of k (weights self_attn.q_norm / k_norm, [headDim], eps
   * rmsNormEps, weight applied as normOffset + w), after the projection and before RoPE: Qwen3
   * and Gemma 3. Absent: false.
   */
  qkNorm?: boolean;
  /**
   * Per layer, whether q and k get RoPE (SmolLM3's no_rope_layers: 1 = RoPE, 0 = none, "NoPE").
   * Absent or null: every layer uses RoPE.
   */
  ropeLayers?: boolean[] | null;
  /**
   * Leading dimensions of each head that RoPE rotates (int(head_dim * partial_rotary_factor),
   * Phi-4-mini: 96 of 128); absent: the whole head. See rotaryDim().
   */
  ropeDim?: number;
  /** Set for model_type gemma3_text only. */
  gemma3?: Gemma3Options | null;
}

/** Layer l rotates q and k (false only on SmolLM3's NoPE layers). */
export function usesRope(c: ModelConfig, l: number): boolean {
  return c.ropeLayers ? c.ropeLayers[l] : true;
}

/** Dimensions of each head that RoPE rotates (the rest pass through). */
export function rotaryDim(c: Pick<ModelConfig, 'headDim' | 'ropeDim'>): number {
  return c.ropeDim ?? c.headDim;
}

/** What every RMSNorm adds to its weight: 1 for Gemma3RMSNorm's (1 + w), 0 for LlamaRMSNorm's w. */
export function normOffset(c: ModelConfig): 0 | 1 {
  return c.gemma3 ? 1 : 0;
}

export const LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
/** Phi-3's decoder linear modules, as PEFT names them (qkv_proj and gate_up_proj are fused). */
export const PHI3_LINEAR_MODULES = ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'] as const;
/** Every module name any supported family has (Llama's first). */
export const ALL_LINEAR_MODULES = [...LINEAR_MODULES, 'qkv_proj', 'gate_up_proj'] as const;
export type LinearModule = (typeof ALL_LINEAR_MODULES)[number];

/** The decoder linear modules of this family, in forward order (what "all-linear" means for it). */
export function linearModules(c: Pick<ModelConfig, 'modelType'>): readonly LinearModule[] {
  return c.modelType === 'phi3' ? PHI3_LINEAR_MODULES : LINEAR_MODULES;
}

/** A fused module's parts as [name, first output row, rows]; null for an unfused module. */
export function fusedParts(c: ModelConfig, m: LinearModule): [string, number, number][] | null {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  if (m === 'qkv_proj') {
    return [
      ['q', 0, q],
      ['k', q, kv],
      ['v', q + kv, kv],
    ];
  }
  if (m === 'gate_up_proj') {
    return [
      ['gate', 0, c.intermediateSize],
      ['up', c.intermediateSize, c.intermediateSize],
    ];
  }
  return null;
}

/** [out_features, in_features] of a decoder layer's linear module (the nn.Linear weight shape). */
export function linearShape(c: ModelConfig, m: LinearModule): [number, number] {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  switch (m) {
    case 'q_proj':
      return [q, c.hiddenSize];
    case 'k_proj':
    case 'v_proj':
      return [kv, c.hiddenSize];
    case 'o_proj':
      return [c.hiddenSize, q];
    case 'gate_proj':
    case 'up_proj':
      return [c.intermediateSize, c.hiddenSize];
    case 'down_proj':
      return [c.hiddenSize, c.intermediateSize];
    case 'qkv_proj':
      return [q + 2 * kv, c.hiddenSize];
    case 'gate_up_proj':
      return [2 * c.intermediateSize, c.hiddenSize];
  }
}

export function linearPrefix(m: LinearModule): 'self_attn' | 'mlp' {
  return m === 'gate_proj' || m === 'up_proj' || m === 'down_proj' || m === 'gate_up_proj' ? 'mlp' : 'self_attn';
}

/** Every tensor a checkpoint of this architecture must have, with its Hugging Face name and shape. */
export function expectedWeights(c: ModelConfig): { name: string; shape: number[] }[] {
  const out: { name: string; shape: number[] }[] = [
    { name: 'model.embed_tokens.weight', shape: [c.vocabSize, c.hiddenSize] },
  ];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [c.hiddenSize] });
    for (const m of linearModules(c)) {
      out.push({ name: `${p}.${linearPrefix(m)}.${m}.weight`, shape: linearShape(c, m) });
      if (c.attentionBias && (m === 'q_proj' || m === 'k_proj' || m === 'v_proj')) {
        out.push({ name: `${p}.self_attn.${m}.bias`, shape: [linearShape(c, m)[0]] });
      }
    }
    if (c.qkNorm) {
      out.push({ name: `${p}.self_attn.q_norm.weight`, shape: [c.headDim] });
      out.push({ name: `${p}.self_attn.k_norm.weight`, shape: [c.headDim] });
    }
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [c.hiddenSize] });
    if (c.gemma3) {
      out.push({ name: `${p}.pre_feedforward_layernorm.weight`, shape: [c.hiddenSize] });
      out.push({ name: `${p}.post_feedforward_layernorm.weight`, shape: [c.hiddenSize] });
    }
  }
  out.push({ name: 'model.norm.weight', shape: [c.hiddenSize] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, c.hiddenSize] });
  return out;
}

/** Parameter count of the base model (embedding counted once when tied). */
export function baseParamCount(c: ModelConfig): number {
  return expectedWeights(c).reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
}
