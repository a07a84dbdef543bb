// The architecture of a Llama-family decoder as the engine needs it, independent of file formats.
// src/io/hf-config.ts builds it from a Hugging Face config.json (one of SUPPORTED_MODEL_TYPES).

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

export interface RopeScaling {
  /** Only Llama 3.1/3.2's "llama3" frequency scaling is supported. */
  ropeType: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
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
  /** Set for model_type gemma3_text only. */
  gemma3?: Gemma3Options | null;
}

/** Layer l rotates q and k (false only on SmolLM3's NoPE layers). */
export function usesRope(c: ModelConfig, l: number): boolean {
  return c.ropeLayers ? c.ropeLayers[l] : true;
}

/** What every RMSNorm adds to its weight: 1 for Gemma3RMSNorm's (1 + w), 0 for LlamaRMSNorm's w. */
export function normOffset(c: ModelConfig): 0 | 1 {
  return c.gemma3 ? 1 : 0;
}

export const LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LinearModule = (typeof LINEAR_MODULES)[number];

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
  }
}

export function linearPrefix(m: LinearModule): 'self_attn' | 'mlp' {
  return m === 'gate_proj' || m === 'up_proj' || m === 'down_proj' ? 'mlp' : 'self_attn';
}

/** Every tensor a checkpoint of this architecture must have, with its Hugging Face name and shape. */
export function expectedWeights(c: ModelConfig): { name: string; shape: number[] }[] {
  const out: { name: string; shape: number[] }[] = [
    { name: 'model.embed_tokens.weight', shape: [c.vocabSize, c.hiddenSize] },
  ];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [c.hiddenSize] });
    for (const m of LINEAR_MODULES) {
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
