// What a run will be, worked out before it starts and used unchanged when it does: the LoRA spec
// from the hyperparameters, the sampler (hence the step count), the padded sequence length, the
// trainable-parameter line, and the GPU memory estimate (packing and group_by_length change the
// first two: packed rows are fewer than examples and as long as max_seq_length allows), which is the engine's own allocation
// plan (engine/model/memory.ts) fed exactly what the Trainer is fed, so the panels show the
// figure the trainer checks, and refuse what it would refuse. The studio's Model and
// Hyperparameters panels and `npm run train` read these; TrainingRun builds its Trainer from them.

import type { GpuWeights } from '../engine/model/gpu-weights';
import { CHECKPOINT_DTYPES } from '../engine/model/gpu-weights';
import { LoraLayout, type LoraSpec } from '../engine/model/lora';
import {
  type MemoryEstimate,
  type MemoryInput,
  type MemoryLimits,
  describeEstimate,
  estimateMemory,
  fitProblem,
  memorySuggestions,
} from '../engine/model/memory';
import type { CheckpointDType } from '../engine/model/plan';
import { type ModelConfig, linearModules } from '../engine/model/config';
import { warmupSteps } from '../engine/train/schedule';
import { BatchSampler, type SamplerOptions } from '../data/batches';
import { type Hparams, resolveTargets, targetRegex } from '../config/hparams';
import type { LoadedModel } from './model';
import { paddedSeqLength, type PreparedData } from './data';
import { quantOptions } from './quant';

/**
 * The one place hyperparameters become the engine's LoRA spec ("all-linear" is the family's
 * modules: `config`'s, Llama's when absent).
 */
export function loraSpec(h: Hparams, config?: ModelConfig): LoraSpec {
  const l = h.lora;
  const spec: LoraSpec = {
    r: l.r,
    lora_alpha: l.lora_alpha,
    lora_dropout: l.lora_dropout,
    target_modules: resolveTargets(l.target_modules, config ? linearModules(config) : undefined),
    use_rslora: l.use_rslora,
    use_dora: l.use_dora,
  };
  // PEFT's targeting, init and LoRA+ (absent from older saved settings: the defaults)
  const regex = targetRegex(l.target_modules);
  if (regex !== null) spec.target_regex = regex;
  if (l.layers_to_transform != null) spec.layers_to_transform = l.layers_to_transform;
  if (l.rank_pattern && Object.keys(l.rank_pattern).length) spec.rank_pattern = l.rank_pattern;
  if (l.alpha_pattern && Object.keys(l.alpha_pattern).length) spec.alpha_pattern = l.alpha_pattern;
  if (l.init_lora_weights !== undefined && l.init_lora_weights !== true)
    spec.init_lora_weights = l.init_lora_weights as LoraSpec['init_lora_weights'];
  if (l.loraplus_lr_ratio !== undefined && l.loraplus_lr_ratio !== 1) spec.loraplus_lr_ratio = l.loraplus_lr_ratio;
  return spec;
}

export function samplerOptions(model: LoadedModel, h: Hparams): SamplerOptions {
  const t = h.training;
  return {
    batchSize: t.per_device_train_batch_size,
    gradientAccumulationSteps: t.gradient_accumulation_steps,
    maxSeqLength: t.max_seq_length,
    padTokenId: model.tokenizer.padId,
    seed: t.seed,
    packing: t.packing,
    groupByLength: t.group_by_length,
  };
}

/**
 * The sequence length a run's buffers are sized for: the longest example (train or validation)
 * rounded up to a multiple of 16, at most max_seq_length; with packing, the longest packed row
 * counts too (`sampler`: the run's, so the rows are those it hands out).
 */
export function runSeqLength(data: Pick<PreparedData, 'train' | 'val'>, h: Hparams, sampler?: BatchSampler): number {
  const t = h.training;
  const unpacked = paddedSeqLength(data, t.max_seq_length);
  if (!t.packing || !sampler) return unpacked;
  return Math.max(unpacked, Math.min(t.max_seq_length, Math.ceil(sampler.longestUnit / 16) * 16));
}

/** PEFT's print_trainable_parameters line. */
export function trainableLine(trainable: number, baseParams: number): string {
  const all = baseParams + trainable;
  return `trainable params: ${trainable.toLocaleString('en-US')} || all params: ${all.toLocaleString('en-US')} || trainable%: ${((100 * trainable) / all).toFixed(4)}`;
}

/**
 * What engine/model/memory.ts needs for this model and these hyperparameters: the same values
 * TrainingRun gives its Trainer (the Trainer checks them with fitProblem before allocating).
 * Options that change memory (4-bit base weights, gradient checkpointing) are read from the
 * hyperparameters here, in this one place. `weights`: the uploaded weights, when they exist.
 */
export function memoryInput(
  model: LoadedModel,
  h: Hparams,
  maxSeq: number,
  limits: MemoryLimits,
  weights?: GpuWeights,
): MemoryInput {
  const dtype = (weights?.embed[0].weight.dtype as CheckpointDType | undefined) ?? checkpointDtype(model);
  const q = quantOptions(h);
  return {
    config: model.checkpoint.config,
    weightDtype: dtype,
    nf4: q.nf4,
    lora: loraSpec(h, model.checkpoint.config),
    maxBatch: h.training.per_device_train_batch_size,
    maxSeq,
    checkpointing: q.gradientCheckpointing,
    limits,
  };
}

function checkpointDtype(model: LoadedModel): CheckpointDType {
  const d = model.checkpoint.dtype;
  return CHECKPOINT_DTYPES[d];
}

export interface RunEstimate {
  trainableParams: number;
  trainableLine: string;
  targetModules: string[];
  /** null until the dataset is prepared for the model. */
  totalSteps: number | null;
  stepsPerEpoch: number | null;
  warmupSteps: number | null;
  train: number | null;
  val: number | null;
  memory: MemoryEstimate & {
    /** describeEstimate's line, as the CLI prints it. */
    text: string;
    /** Why the trainer would refuse this configuration on this GPU (what to change), or null. */
    problem: string | null;
    /** Memory options not yet on, with their effect: "turn on gradient checkpointing: 3.85 GiB -> 1.46 GiB". */
    suggestions: string[];
  };
}

/**
 * Trainable parameters, steps and GPU memory for these hyperparameters, without GPU work. With
 * the prepared data, the step count and the padded length are the run's; without, the memory is
 * for sequences of max_seq_length.
 */
export function estimateRun(
  model: LoadedModel,
  h: Hparams,
  limits: MemoryLimits,
  data: Pick<PreparedData, 'train' | 'val'> | null,
  weights?: GpuWeights,
): RunEstimate {
  const t = h.training;
  const spec = loraSpec(h, model.checkpoint.config);
  const layout = new LoraLayout(model.checkpoint.config, spec);
  const trainable = layout.paramCount;
  let totalSteps: number | null = null;
  let stepsPerEpoch: number | null = null;
  let sampler: BatchSampler | undefined;
  if (data && data.train.length > 0) {
    sampler = new BatchSampler(data.train, samplerOptions(model, h));
    stepsPerEpoch = sampler.stepsPerEpoch;
    totalSteps = sampler.totalSteps(t.num_train_epochs, t.max_steps);
  }
  const maxSeq = data ? runSeqLength(data, h, sampler) : t.max_seq_length;
  const input = memoryInput(model, h, maxSeq, limits, weights);
  const memory = estimateMemory(input);
  return {
    trainableParams: trainable,
    trainableLine: trainableLine(trainable, model.info.params),
    targetModules: layout.modules,
    totalSteps,
    stepsPerEpoch,
    warmupSteps: totalSteps === null ? null : warmupSteps(totalSteps, t.warmup_steps, t.warmup_ratio),
    train: data ? data.train.length : null,
    val: data ? data.val.length : null,
    memory: {
      ...memory,
      text: describeEstimate(memory),
      problem: fitProblem(input),
      suggestions: memorySuggestions(input).map((x) => x.text),
    },
  };
}
