// What the engine allocates, as data: every GPU tensor of a training run is first a Spec (shape,
// dtype, label) in a plan object, and the allocators (uploadWeights, LlamaModel.allocate, the
// Trainer) turn a plan into tensors with `materialize`, while model/memory.ts sums the same plans
// with the same packing rule (gpu/arena.ts packArena). So the estimate cannot drift from what is
// allocated: there is one list, read twice. The structure of each plan is the structure the
// model code indexes (plan.layers[l].q, plan.res[l]).

import { type DType, storageBytes, numel } from '../gpu/tensor';
import type { Tensor } from '../gpu/tensor';
import { type ModelConfig, type LinearModule, linearModules, linearPrefix, linearShape, rotaryDim } from './config';

/** One tensor to allocate. `source` says which checkpoint bytes fill it (weights only). */
export class Spec {
  constructor(
    readonly shape: number[],
    readonly dtype: DType,
    readonly label: string,
    readonly source?: { name: string; byteStart: number; byteLength: number },
  ) {}
  get bytes(): number {
    return storageBytes(numel(this.shape), this.dtype);
  }
}

/** A plan with every Spec replaced by a Tensor. */
export type Materialized<T> = T extends Spec
  ? Tensor
  : T extends readonly (infer U)[]
    ? Materialized<U>[]
    : T extends object
      ? { [K in keyof T]: Materialized<T[K]> }
      : T;

function walk(x: unknown, visit: (s: Spec) => unknown, memo: Map<Spec, unknown>): unknown {
  if (x instanceof Spec) {
    if (!memo.has(x)) memo.set(x, visit(x));
    return memo.get(x);
  }
  if (Array.isArray(x)) return x.map((y) => walk(y, visit, memo));
  if (x && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) out[k] = walk(v, visit, memo);
    return out;
  }
  return x;
}

/**
 * The plan's tensors made by `make`, called once per distinct Spec in a fixed order (object keys
 * in insertion order, arrays by index); a Spec that appears twice (shared scratch) is one tensor.
 */
export function materialize<T>(plan: T, make: (s: Spec) => Tensor): Materialized<T> {
  return walk(plan, make, new Map()) as Materialized<T>;
}

/** The distinct Specs of a plan in materialize's order. */
export function specList(plan: unknown): Spec[] {
  const out: Spec[] = [];
  walk(plan, (s) => out.push(s), new Map());
  return out;
}

// ---- activations --------------------------------------------------------------------------------

export interface ActivationPlanInput {
  config: ModelConfig;
  maxBatch: number;
  maxSeq: number;
  /** The adapter's rank, targets and dropout; null: the base model alone (no LoRA buffers). */
  lora: {
    r: number;
    targets: readonly LinearModule[];
    dropout: number;
    /** Which layers have which module adapted, at what rank (default: every layer, rank r). */
    slots?: readonly { layer: number; module: LinearModule; r: number }[];
    /** DoRA: each adapted site's row norms, and the z / gdy scratch. */
    dora?: boolean;
  } | null;
  /** Store only each layer's input and recompute the layer in the backward. */
  checkpointing: boolean;
}

export interface LayerPlan {
  xn1: Spec; // [N, C] input_layernorm(x)
  rstd1: Spec; // [N]
  q: Spec; // [N, nH*hd] after RoPE
  k: Spec; // [N, nKV*hd] after RoPE
  v: Spec; // [N, nKV*hd]
  att: Spec; // [N, nH*hd]
  lse: Spec; // [nH*N]
  mid: Spec; // [N, C] x + o_proj(att)
  xn2: Spec; // [N, C]
  rstd2: Spec; // [N]
  gate: Spec; // [N, I]
  up: Spec; // [N, I]
  h: Spec; // [N, I] silu(gate) * up
  /** qkNorm (Qwen3, Gemma 3): q, k before their per-head norm, and the norms' rstd [N*nH], [N*nKV] */
  qk?: { qRaw: Spec; kRaw: Spec; rstdQ: Spec; rstdK: Spec };
  /** dropout(x) A^T [N, r] of each LoRA site, saved for the backward */
  t: Partial<Record<LinearModule, Spec>>;
  /** DoRA: ||W + s B A||_row [out] of each site, written by the forward, read by the backward */
  norm?: Partial<Record<LinearModule, Spec>>;
  /** Gemma 3's output norms (null for the Llama block). */
  gemma: GemmaLayerPlan | null;
}

/**
 * Gemma 3's block: mid = x + norm(o_proj(att)); out = mid + norm(down(...)). What the extra
 * norms' backward reads (the q/k norms are `qk`, shared with Qwen3).
 */
export interface GemmaLayerPlan {
  ao: Spec; // [N, C] o_proj output (post_attention_layernorm input)
  rstdA: Spec; // [N]
  mo: Spec; // [N, C] down_proj output (post_feedforward_layernorm input)
  rstdM: Spec; // [N]
}

export interface ActivationPlan {
  ids: Spec; // [N] i32
  targets: Spec; // [N] i32, shifted labels (IGNORE_INDEX: no loss)
  seg: Spec; // [N] u32, where each token's example starts in its row (packing; zeros otherwise)
  res: Spec[]; // L+1 x [N, C]: res[l] is the input of layer l, res[L] the last output
  layers: LayerPlan[];
  xnF: Spec; // [N, C] final norm
  rstdF: Spec; // [N]
  rowLoss: Spec; // [N]
  lseF: Spec; // [N]
  // backward scratch, shared by all layers
  dres: Spec; // [N, C]
  dxn: Spec; // [N, C]
  dq: Spec;
  dk: Spec;
  dv: Spec;
  datt: Spec;
  delta: Spec; // [nH*N]
  dh: Spec; // [N, I]
  dgate: Spec;
  dup: Spec;
  /** LoRA scratch: dropout(x) and the masked input gradient [N, max in] (dropout only), dt [N, r] */
  xd: Spec;
  dt: Spec;
  dxd: Spec;
  /** DoRA scratch (use_dora only): z = xl W^T + s t B^T and g * dy [N, max out of the sites] */
  doraZ?: Spec;
  doraGdy?: Spec;
  cos: Spec; // [Tmax, rot/2] (rot: rotary dim, = hd unless partial)
  sin: Spec;
  /**
   * Phi-3 only: [N, max(nH*hd + 2*nKV*hd, 2I)], the output of a fused projection (qkv_proj,
   * gate_up_proj) before it is split, and its gradient gathered from the parts in the backward.
   */
  fused?: Spec;
  /** Gemma 3: the sliding layers' RoPE tables and the extra backward scratch; null otherwise. */
  gemma: {
    cosLocal: Spec; // [Tmax, hd/2]
    sinLocal: Spec;
    dao: Spec; // [N, C] d(o_proj output), then d(down_proj output)
  } | null;
}

/**
 * The activations of micro-batches up to maxBatch x maxSeq. A layer's tensor is stored per layer
 * only if the backward reads it: xn1 only when q/k/v have LoRA (their dA needs the input), xn2
 * when gate/up do, h when down does; otherwise one tensor serves every layer's forward. With
 * checkpointing, one set of layer tensors serves all layers (recomputed before each backward)
 * and only the residual stream res[0..L] is kept.
 */
export function activationPlan(i: ActivationPlanInput): ActivationPlan {
  const c = i.config;
  const N = i.maxBatch * i.maxSeq;
  const C = c.hiddenSize;
  const qd = c.numHeads * c.headDim;
  const kvd = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const f = (shape: number[], label: string) => new Spec(shape, 'f32', label);
  const targets = new Set(i.lora?.targets ?? []);
  const has = (...ms: LinearModule[]) => ms.some((m) => targets.has(m));
  // the rank of layer l's module m (0: no adapter); l null: the largest over the layers (checkpointing's shared set)
  const slotRank = (l: number | null, m: LinearModule): number => {
    if (!i.lora || !targets.has(m)) return 0;
    const slots = i.lora.slots;
    if (!slots) return i.lora.r;
    return Math.max(0, ...slots.filter((s) => s.module === m && (l === null || s.layer === l)).map((s) => s.r));
  };
  const layer = (l: number | null, shared: Partial<LayerPlan>): LayerPlan => {
    const n = l === null ? 'L*' : `L${l}`;
    const t: LayerPlan['t'] = {};
    for (const m of linearModules(c)) {
      const r = slotRank(l, m);
      if (r > 0) t[m] = f([N, r], `${n}.${m}.t`);
    }
    const dora: Partial<LayerPlan> = {};
    if (i.lora?.dora) {
      const norm: LayerPlan['t'] = {};
      for (const m of linearModules(c)) if (slotRank(l, m) > 0) norm[m] = f([linearShape(c, m)[0]], `${n}.${m}.norm`);
      dora.norm = norm;
    }
    return {
      ...dora,
      xn1: shared.xn1 ?? f([N, C], `${n}.xn1`),
      rstd1: f([N], `${n}.rstd1`),
      q: f([N, qd], `${n}.q`),
      k: f([N, kvd], `${n}.k`),
      v: f([N, kvd], `${n}.v`),
      att: f([N, qd], `${n}.att`),
      lse: f([c.numHeads * N], `${n}.lse`),
      mid: f([N, C], `${n}.mid`),
      xn2: shared.xn2 ?? f([N, C], `${n}.xn2`),
      rstd2: f([N], `${n}.rstd2`),
      gate: f([N, I], `${n}.gate`),
      up: f([N, I], `${n}.up`),
      h: shared.h ?? f([N, I], `${n}.h`),
      t,
      ...(c.qkNorm
        ? {
            qk: {
              qRaw: f([N, qd], `${n}.q raw`),
              kRaw: f([N, kvd], `${n}.k raw`),
              rstdQ: f([N * c.numHeads], `${n}.rstd q`),
              rstdK: f([N * c.numKvHeads], `${n}.rstd k`),
            },
          }
        : {}),
      gemma: c.gemma3
        ? {
            ao: f([N, C], `${n}.ao`),
            rstdA: f([N], `${n}.rstdA`),
            mo: f([N, C], `${n}.mo`),
            rstdM: f([N], `${n}.rstdM`),
          }
        : null,
    };
  };
  let layers: LayerPlan[];
  if (i.checkpointing) {
    const one = layer(null, {});
    layers = Array.from({ length: c.numLayers }, () => one);
  } else {
    const shared: Partial<LayerPlan> = {};
    if (!has('q_proj', 'k_proj', 'v_proj', 'qkv_proj')) shared.xn1 = f([N, C], 'L*.xn1');
    if (!has('gate_proj', 'up_proj', 'gate_up_proj')) shared.xn2 = f([N, C], 'L*.xn2');
    if (!has('down_proj')) shared.h = f([N, I], 'L*.h');
    layers = Array.from({ length: c.numLayers }, (_, l) => layer(l, shared));
  }
  const maxIn = Math.max(1, ...[...targets].map((m) => linearShape(c, m)[1]));
  const dropout = (i.lora?.dropout ?? 0) > 0;
  const maxOut = Math.max(1, ...[...targets].map((m) => linearShape(c, m)[0]));
  const dora = i.lora?.dora ? { doraZ: f([N, maxOut], 'dora z'), doraGdy: f([N, maxOut], 'dora gdy') } : {};
  const rot = rotaryDim(c);
  const plan: ActivationPlan = {
    ...dora,
    ids: new Spec([N], 'i32', 'ids'),
    targets: new Spec([N], 'i32', 'targets'),
    seg: new Spec([N], 'u32', 'segment starts'),
    res: Array.from({ length: c.numLayers + 1 }, (_, l) => f([N, C], `res${l}`)),
    layers,
    xnF: f([N, C], 'xnF'),
    rstdF: f([N], 'rstdF'),
    rowLoss: f([N], 'rowLoss'),
    lseF: f([N], 'lseF'),
    dres: f([N, C], 'dres'),
    dxn: f([N, C], 'dxn'),
    dq: f([N, qd], 'dq'),
    dk: f([N, kvd], 'dk'),
    dv: f([N, kvd], 'dv'),
    datt: f([N, qd], 'datt'),
    delta: f([c.numHeads * N], 'delta'),
    dh: f([N, I], 'dh'),
    dgate: f([N, I], 'dgate'),
    dup: f([N, I], 'dup'),
    xd: f(dropout ? [N, maxIn] : [1], 'lora xd'),
    dt: f([N, i.lora?.r ?? 1], 'lora dt'),
    dxd: f(dropout ? [N, maxIn] : [1], 'lora dxd'),
    cos: f([i.maxSeq, rot / 2], 'rope cos'),
    sin: f([i.maxSeq, rot / 2], 'rope sin'),
    gemma: c.gemma3
      ? {
          cosLocal: f([i.maxSeq, rot / 2], 'rope cos (local)'),
          sinLocal: f([i.maxSeq, rot / 2], 'rope sin (local)'),
          dao: f([N, C], 'dao'),
        }
      : null,
  };
  if (c.modelType === 'phi3') plan.fused = f([N, Math.max(qd + 2 * kvd, 2 * I)], 'fused projection');
  return plan;
}

/** Vocabulary ids per LM-head chunk: the largest whose [N, chunk] f32 scratch fits 64 MiB. */
export function lmHeadChunk(N: number, V: number): number {
  const fit = Math.max(1, Math.floor((64 << 20) / (4 * N)));
  const c = Math.min(V, fit);
  return c > 32 ? c - (c % 32) : c;
}

/** The LM head's two scratch tensors (kernels/lm_head.ts allocates them with ctx.tensor). */
export function lmHeadScratch(N: number, V: number): Spec[] {
  return [new Spec([N, lmHeadChunk(N, V)], 'f32', 'lm_head logits chunk'), new Spec([N, 3], 'f32', 'lm_head stats')];
}

// ---- weights ------------------------------------------------------------------------------------

export type CheckpointDType = 'f32' | 'f16' | 'bf16';

export interface VocabShardPlan {
  weight: Spec; // [rows, C]
  rowStart: number;
  rows: number;
}

export interface WeightPlan {
  embed: VocabShardPlan[];
  /** The embedding's shards when the head is tied. */
  lmHead: VocabShardPlan[];
  layers: {
    inputNorm: Spec;
    postNorm: Spec;
    linear: Record<LinearModule, Spec>;
    bias: Partial<Record<'q_proj' | 'k_proj' | 'v_proj', Spec>>;
    /** qkNorm (Qwen3, Gemma 3): self_attn.q_norm / k_norm [hd] */
    qkNorm?: { q: Spec; k: Spec };
    /** Gemma 3's feed-forward norms [C]; null for the Llama block. */
    gemma: { preFfNorm: Spec; postFfNorm: Spec } | null;
  }[];
  norm: Spec;
}

export interface WeightPlanOptions {
  /** The device's maxStorageBufferBindingSize: vocabulary matrices are split in shards below it. */
  maxBinding: number;
  /** Cap on rows per vocabulary shard (tests force small shards with it). */
  maxShardRows?: number;
  /** Store the decoder's linear weights as NF4 (QLoRA); norms, biases and vocabulary stay. */
  nf4?: boolean;
}

const BYTES: Record<CheckpointDType, number> = { f32: 4, f16: 2, bf16: 2 };

/**
 * Rows per vocabulary shard so that one shard fits one storage binding. A multiple of 64, so
 * that f32 outputs indexed by vocabulary row (logits) start on 256-byte boundaries per shard.
 */
export function vocabShardRows(maxBinding: number, V: number, C: number, bytesPerElem: number): number {
  const maxRows = Math.floor(maxBinding / (C * bytesPerElem));
  return Math.min(V, Math.max(64, maxRows - (maxRows % 64)));
}

/** The frozen weights' tensors, in upload order, each with the checkpoint bytes that fill it. */
export function weightPlan(
  config: ModelConfig,
  dtypeOf: (name: string) => CheckpointDType,
  o: WeightPlanOptions,
): WeightPlan {
  const C = config.hiddenSize;
  const V = config.vocabSize;
  const whole = (name: string, shape: number[], dtype: DType = dtypeOf(name)) =>
    new Spec(shape, dtype, name, { name, byteStart: 0, byteLength: numel(shape) * BYTES[dtypeOf(name)] });
  const vocabShards = (name: string): VocabShardPlan[] => {
    const bpe = BYTES[dtypeOf(name)];
    const per = Math.min(vocabShardRows(o.maxBinding, V, C, bpe), o.maxShardRows ?? Infinity);
    if (per < V && per % 64 !== 0) throw new Error(`vocabulary shard rows (${per}) must be a multiple of 64`);
    const shards: VocabShardPlan[] = [];
    for (let rowStart = 0; rowStart < V; rowStart += per) {
      const rows = Math.min(per, V - rowStart);
      const weight = new Spec([rows, C], dtypeOf(name), `${name}[${rowStart}:${rowStart + rows}]`, {
        name,
        byteStart: rowStart * C * bpe,
        byteLength: rows * C * bpe,
      });
      shards.push({ weight, rowStart, rows });
    }
    return shards;
  };
  const embed = vocabShards('model.embed_tokens.weight');
  const layers: WeightPlan['layers'] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}`;
    const linear = {} as Record<LinearModule, Spec>;
    const bias: WeightPlan['layers'][number]['bias'] = {};
    const inputNorm = whole(`${p}.input_layernorm.weight`, [C]);
    for (const m of linearModules(config)) {
      const name = `${p}.${linearPrefix(m)}.${m}.weight`;
      linear[m] = whole(name, linearShape(config, m), o.nf4 ? 'nf4' : dtypeOf(name));
      if (config.attentionBias && (m === 'q_proj' || m === 'k_proj' || m === 'v_proj')) {
        bias[m] = whole(`${p}.self_attn.${m}.bias`, [linearShape(config, m)[0]]);
      }
    }
    const qkNorm = config.qkNorm
      ? {
          q: whole(`${p}.self_attn.q_norm.weight`, [config.headDim]),
          k: whole(`${p}.self_attn.k_norm.weight`, [config.headDim]),
        }
      : undefined;
    const postNorm = whole(`${p}.post_attention_layernorm.weight`, [C]);
    const gemma = config.gemma3
      ? {
          preFfNorm: whole(`${p}.pre_feedforward_layernorm.weight`, [C]),
          postFfNorm: whole(`${p}.post_feedforward_layernorm.weight`, [C]),
        }
      : null;
    layers.push({ inputNorm, postNorm, linear, bias, gemma, ...(qkNorm ? { qkNorm } : {}) });
  }
  const norm = whole('model.norm.weight', [C]);
  const lmHead = config.tieWordEmbeddings ? embed : vocabShards('lm_head.weight');
  return { embed, layers, norm, lmHead };
}

/** The flat LoRA buffers and the optimizer's small tensors, n = LoraLayout.size. */
/**
 * The NaN guard's two copies of the LoRA parameters (at the start of the step, and of the last
 * step whose loss was finite). Separate buffers, not arena tensors: WebGPU cannot copy between two
 * ranges of one buffer.
 */
export function rollbackPlan(n: number) {
  return {
    candidate: new Spec([n], 'f32', 'lora params (step start)'),
    good: new Spec([n], 'f32', 'lora params (last finite loss)'),
  };
}

export function trainerStatePlan(n: number, partials: number) {
  const f = (len: number, label: string) => new Spec([len], 'f32', label);
  return {
    params: f(n, 'lora params'),
    grads: f(n, 'lora grads'),
    m: f(n, 'adam m'),
    v: f(n, 'adam v'),
    hyper: f(8, 'adam hyper'),
    lrScale: f(Math.ceil(n / 64), 'adam lr scale (LoRA+)'),
    stats: f(4, 'grad stats'),
    partials: f(partials, 'grad norm partials'),
    lossScale: f(1, 'loss scale'),
    lossAcc: f(1, 'loss acc'),
    seed: new Spec([1], 'u32', 'dropout seed'),
  };
}
