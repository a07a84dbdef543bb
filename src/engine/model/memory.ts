// How much GPU memory a training configuration takes, before anything is allocated, and whether
// it fits: the frozen weights (by dtype, NF4 included), the LoRA parameters, gradients and AdamW
// moments, the activations of a maxBatch x maxSeq micro-batch (with or without gradient
// checkpointing), and the LM head's scratch. It sums model/plan.ts's plans, the same lists the
// allocators materialize, packed by the same rule (gpu/arena.ts packArena), so the estimate is
// the engine's own allocation byte for byte (tested against GpuContext.peakBytes). Outside it:
// the uniform buffers of recorded programs (256 bytes per dispatch) and read-back staging.

import { packArena } from '../gpu/arena';
import { fmtBytes } from '../gpu/context';
import { gradNormPartials } from '../kernels/gradnorm';
import type { ModelConfig } from './config';
import { LoraLayout, type LoraSpec } from './lora';
import {
  type CheckpointDType,
  type Spec,
  activationPlan,
  lmHeadScratch,
  specList,
  trainerStatePlan,
  rollbackPlan,
  weightPlan,
} from './plan';

/** The device limits the estimate depends on (GpuCaps has them). */
export interface MemoryLimits {
  minStorageBufferOffsetAlignment: number;
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

export interface MemoryInput {
  config: ModelConfig;
  /** The checkpoint's dtype (every tensor), for the weights. */
  weightDtype: CheckpointDType;
  /** Decoder linear weights as NF4. */
  nf4?: boolean;
  lora: LoraSpec;
  maxBatch: number;
  maxSeq: number;
  checkpointing?: boolean;
  limits: MemoryLimits;
  /** Rows per vocabulary shard cap (as uploadWeights' option). */
  maxShardRows?: number;
}

export interface MemoryEstimate {
  weights: number;
  /** LoRA parameters, gradients, AdamW m and v, and the optimizer's scalars. */
  loraState: number;
  activations: number;
  /** The LM head's logits chunk and softmax statistics. */
  lmHead: number;
  total: number;
  /** The largest single tensor (one storage binding) and its size. */
  largest: { label: string; bytes: number };
}

/** Bytes GpuContext.buffer allocates for a request of n bytes (at least 16, a multiple of 16). */
function bufferBytes(n: number): number {
  return Math.ceil(Math.max(16, n) / 16) * 16;
}

/** Bytes of the buffers an Arena creates for these tensors. */
export function arenaBytes(specs: readonly Spec[], limits: MemoryLimits): number {
  const sizes = specs.map((s) => s.bytes);
  const { buffers } = packArena(sizes, limits.minStorageBufferOffsetAlignment, limits.maxBufferSize);
  return buffers.reduce((s, b) => s + bufferBytes(b), 0);
}

function largest(specs: readonly Spec[]): { label: string; bytes: number } {
  let best = { label: '', bytes: 0 };
  for (const s of specs) if (s.bytes > best.bytes) best = { label: s.label, bytes: s.bytes };
  return best;
}

/** The weights arena of uploadWeights for this model, dtype and NF4 choice. */
export function weightSpecs(
  i: Pick<MemoryInput, 'config' | 'weightDtype' | 'nf4' | 'limits' | 'maxShardRows'>,
): Spec[] {
  return specList(
    weightPlan(i.config, () => i.weightDtype, {
      maxBinding: i.limits.maxStorageBufferBindingSize,
      maxShardRows: i.maxShardRows,
      nf4: i.nf4,
    }),
  );
}

/** Everything but the weights: what a Trainer allocates. */
export function trainingSpecs(i: Omit<MemoryInput, 'weightDtype' | 'nf4'>): {
  loraState: Spec[];
  /** Separate buffers (the NaN guard's copies of the parameters). */
  rollback: Spec[];
  activations: Spec[];
  lmHead: Spec[];
} {
  const layout = new LoraLayout(i.config, i.lora);
  const N = i.maxBatch * i.maxSeq;
  return {
    loraState: specList(trainerStatePlan(layout.size, gradNormPartials(layout.size))),
    rollback: specList(rollbackPlan(layout.size)),
    activations: specList(
      activationPlan({
        config: i.config,
        maxBatch: i.maxBatch,
        maxSeq: i.maxSeq,
        lora: {
          r: layout.maxR,
          targets: layout.modules,
          dropout: i.lora.lora_dropout,
          slots: layout.slots,
          dora: !!i.lora.use_dora,
        },
        checkpointing: !!i.checkpointing,
      }),
    ),
    lmHead: lmHeadScratch(N, i.config.vocabSize),
  };
}

/** The estimate of everything but the weights, plus `weightBytes` (already uploaded, or estimated). */
export function estimateTraining(
  i: Omit<MemoryInput, 'weightDtype' | 'nf4'>,
  weightBytes: number,
  weightLargest = { label: '', bytes: 0 },
): MemoryEstimate {
  const s = trainingSpecs(i);
  const loraState = arenaBytes(s.loraState, i.limits) + s.rollback.reduce((sum, x) => sum + bufferBytes(x.bytes), 0);
  const activations = arenaBytes(s.activations, i.limits);
  const lmHead = s.lmHead.reduce((sum, x) => sum + bufferBytes(x.bytes), 0);
  const big = [largest(s.loraState), largest(s.activations), largest(s.lmHead), weightLargest].reduce((a, b) =>
    b.bytes > a.bytes ? b : a,
  );
  return {
    weights: weightBytes,
    loraState,
    activations,
    lmHead,
    total: weightBytes + loraState + activations + lmHead,
    largest: big,
  };
}

/** The whole run's GPU memory: weights, LoRA state, activations and the LM head's scratch. */
export function estimateMemory(i: MemoryInput): MemoryEstimate {
  const w = weightSpecs(i);
  return estimateTraining(i, arenaBytes(w, i.limits), largest(w));
}

/** One line: "3.12 GiB (weights 0.92 GiB, activations 2.1 GiB, LoRA state 8.3 MiB, LM head 64.0 MiB)". */
export function describeEstimate(e: MemoryEstimate): string {
  return (
    `${fmtBytes(e.total)} (weights ${fmtBytes(e.weights)}, activations ${fmtBytes(e.activations)}, ` +
    `LoRA state ${fmtBytes(e.loraState)}, LM head ${fmtBytes(e.lmHead)})`
  );
}

/** A change that lowers the estimate, with the exact plan's total before and after it. */
export interface MemorySuggestion {
  /** The hyperparameter to change. */
  option: 'gradient_checkpointing' | 'load_in_4bit' | 'per_device_train_batch_size' | 'max_seq_length';
  /** "turn on gradient checkpointing: 3.85 GiB -> 1.46 GiB" */
  text: string;
  before: number;
  after: number;
}

/**
 * The memory options this configuration has not turned on (gradient checkpointing, a 4-bit base),
 * each estimated from the exact plan with only that option flipped, and with `shrink` also halving
 * the micro-batch and the sequence length. Only changes that lower the total are listed.
 */
export function memorySuggestions(i: MemoryInput, shrink = false): MemorySuggestion[] {
  const before = estimateMemory(i).total;
  const out: MemorySuggestion[] = [];
  const tryWith = (option: MemorySuggestion['option'], what: string, change: Partial<MemoryInput>) => {
    const after = estimateMemory({ ...i, ...change }).total;
    if (after < before) out.push({ option, text: `${what}: ${fmtBytes(before)} -> ${fmtBytes(after)}`, before, after });
  };
  if (!i.checkpointing) tryWith('gradient_checkpointing', 'turn on gradient checkpointing', { checkpointing: true });
  if (!i.nf4) tryWith('load_in_4bit', 'load the base in 4-bit (NF4)', { nf4: true });
  if (shrink && i.maxBatch > 1) {
    const b = Math.max(1, Math.floor(i.maxBatch / 2));
    tryWith(
      'per_device_train_batch_size',
      `per_device_train_batch_size ${b} (raise gradient_accumulation_steps to keep the batch)`,
      { maxBatch: b },
    );
  }
  if (shrink && i.maxSeq > 8) {
    const t = Math.max(8, Math.floor(i.maxSeq / 2));
    tryWith('max_seq_length', `max_seq_length ${t}`, { maxSeq: t });
  }
  return out;
}

/**
 * null if the configuration fits the device's binding limit and the memory budget; otherwise a
 * message that says what does not fit and what to change, with the estimate after each change.
 */
export function fitProblem(i: MemoryInput, budgetBytes?: number): string | null {
  const e = estimateMemory(i);
  const binding = i.limits.maxStorageBufferBindingSize;
  if (e.largest.bytes > binding) {
    return (
      `The tensor ${e.largest.label} needs ${fmtBytes(e.largest.bytes)}, more than this GPU can bind at once ` +
      `(maxStorageBufferBindingSize ${fmtBytes(binding)}). Lower per_device_train_batch_size (now ${i.maxBatch}) ` +
      `or max_seq_length (now ${i.maxSeq}).`
    );
  }
  if (budgetBytes === undefined || e.total <= budgetBytes) return null;
  const options = memorySuggestions(i, true).map((s) => s.text);
  return (
    `This configuration needs ${describeEstimate(e)} of GPU memory, more than the budget of ${fmtBytes(budgetBytes)}.` +
    (options.length ? ` To fit: ${options.join('; ')}.` : '')
  );
}
