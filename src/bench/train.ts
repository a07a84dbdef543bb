// The training benchmark: LoRA fine-tuning steps of a random-weight model on random tokens, timed
// on whatever GPUDevice the caller opened (Dawn in Node, or a browser). The case is
// scripts/peft_baseline.py's: labels = inputs, LoRA dropout 0, AdamW lr 2e-4, one micro-batch
// per optimizer step, the median of N timed steps after warm-up. It runs the real Trainer, so a
// step is what a user's step is: upload of the batch, one command buffer per micro-batch, the
// optimizer, and the read-back of the logged scalars.

import type { GpuContext } from '../engine/gpu/context';
import { profilePrograms, type KernelTime } from '../engine/gpu/profiler';
import { baseParamCount, type ModelConfig } from '../engine/model/config';
import { uploadWeights } from '../engine/model/gpu-weights';
import type { LinearModule } from '../engine/model/config';
import {
  type MemoryInput,
  type MemoryLimits,
  describeEstimate,
  estimateMemory,
  fitProblem,
} from '../engine/model/memory';
import type { WeightDType } from '../engine/model/weights';
import { Trainer, type BatchSource } from '../engine/train/trainer';
import type { Batch } from '../data/types';
import { DEFAULT_HPARAMS, type TrainingHparams } from '../config/hparams';
import { Rng } from '../util/rng';
import { RandomWeightSource } from './random-weights';
import { SHAPES, type ShapeName } from './shapes';

export interface TrainBenchOptions {
  shape: ShapeName;
  targets: LinearModule[];
  r: number;
  batch: number;
  seq: number;
  steps: number;
  warmup: number;
  /** Checkpoint dtype of the random weights (the frozen weights stay in it on the GPU). */
  dtype: WeightDType;
  nf4: boolean;
  checkpointing: boolean;
  /** Per-kernel GPU times from timestamp queries (one profiled step after the timed ones). */
  profile: boolean;
  /** Refuse configurations whose estimate exceeds this many bytes. */
  budgetBytes?: number;
  seed?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

export interface TrainBenchResult {
  adapter: { vendor: string; architecture: string; description: string; isCpu: boolean };
  shape: ShapeName;
  dims: {
    hidden: number;
    layers: number;
    heads: number;
    kv_heads: number;
    head_dim: number;
    intermediate: number;
    vocab: number;
    params: number;
  };
  targets: string;
  r: number;
  batch: number;
  seq: number;
  dtype: string;
  nf4: boolean;
  gradient_checkpointing: boolean;
  warmup: number;
  steps: number;
  tokens_per_s: number;
  ms_per_step: number;
  ms_steps: number[];
  peak_bytes: number;
  estimate_bytes: number;
  final_loss: number;
  kernels?: KernelTime[];
}

/** Random token micro-batches, labels = inputs (every next token is a target), one per step. */
export class RandomBatches implements BatchSource {
  private step = 0;
  private readonly rng: Rng;
  constructor(
    readonly batch: number,
    readonly seq: number,
    readonly vocab: number,
    seed = 0,
  ) {
    this.rng = new Rng(seed);
  }
  get epoch(): number {
    return 0;
  }
  nextStep(): Batch[] {
    this.step++;
    const n = this.batch * this.seq;
    const inputIds = Int32Array.from({ length: n }, () => this.rng.int(this.vocab));
    return [
      {
        inputIds,
        labels: inputIds.slice(),
        batchSize: this.batch,
        seqLen: this.seq,
        numTargets: this.batch * (this.seq - 1),
        numTokens: n,
      },
    ];
  }
  state(): unknown {
    return this.step;
  }
  restore(): void {}
}

const CHECKPOINT_DTYPE = { F32: 'f32', F16: 'f16', BF16: 'bf16' } as const;

/** The memory the configuration needs on this device (the engine's own estimate). */
export function benchMemoryInput(limits: MemoryLimits, o: TrainBenchOptions): MemoryInput {
  return {
    config: SHAPES[o.shape],
    weightDtype: CHECKPOINT_DTYPE[o.dtype],
    nf4: o.nf4,
    lora: { r: o.r, lora_alpha: 2 * o.r, lora_dropout: 0, target_modules: o.targets, use_rslora: false },
    maxBatch: o.batch,
    maxSeq: o.seq,
    checkpointing: o.checkpointing,
    limits,
  };
}

/** The benchmark's schedule: constant learning rate, no warm-up, no evaluation, warm-up + timed steps. */
export function benchSchedule(o: Pick<TrainBenchOptions, 'warmup' | 'steps' | 'seed'>): TrainingHparams {
  return {
    ...DEFAULT_HPARAMS.training,
    learning_rate: 2e-4,
    lr_scheduler_type: 'constant',
    warmup_ratio: 0,
    max_steps: o.warmup + o.steps,
    eval_steps: 0,
    seed: o.seed ?? 0,
  };
}

/** Throws the engine's own "does not fit" message, or returns the estimate. */
export function checkBenchFits(ctx: GpuContext, o: TrainBenchOptions): number {
  const input = benchMemoryInput(ctx.caps, o);
  const problem = fitProblem(input, o.budgetBytes);
  if (problem) throw new Error(`${o.shape}: ${problem}`);
  return estimateMemory(input).total;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function benchTraining(ctx: GpuContext, o: TrainBenchOptions): Promise<TrainBenchResult> {
  const log = o.log ?? (() => {});
  const config: ModelConfig = SHAPES[o.shape];
  const estimate = checkBenchFits(ctx, o);
  log(`${o.shape}: estimate ${describeEstimate(estimateMemory(benchMemoryInput(ctx.caps, o)))}`);
  // Bytes already held (a studio's loaded model) are not this benchmark's.
  const held = ctx.allocatedBytes;
  ctx.resetPeak();
  const t0 = performance.now();
  const weights = await uploadWeights(ctx, config, new RandomWeightSource(config, o.dtype, o.seed ?? 0), undefined, {
    nf4: o.nf4,
  });
  log(`${o.shape}: weights uploaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const training = benchSchedule(o);
  let trainer: Trainer | null = null;
  try {
    trainer = new Trainer(ctx, {
      config,
      weights,
      lora: benchMemoryInput(ctx.caps, o).lora,
      training,
      train: new RandomBatches(o.batch, o.seq, config.vocabSize, o.seed ?? 0),
      totalSteps: o.warmup + o.steps,
      evalBatches: [],
      maxBatch: o.batch,
      maxSeq: o.seq,
      gradientCheckpointing: o.checkpointing,
    });
    const ms: number[] = [];
    let loss = NaN;
    for (let s = 0; s < o.warmup + o.steps; s++) {
      const m = await trainer.trainStep();
      loss = m.loss;
      if (!Number.isFinite(loss)) throw new Error(`${o.shape}: step ${s + 1} gave a non-finite loss`);
      if (s >= o.warmup) ms.push(m.stepMs);
      log(`${o.shape}: step ${s + 1}/${o.warmup + o.steps} ${m.stepMs.toFixed(1)} ms loss ${loss.toFixed(4)}`);
    }
    let kernels: KernelTime[] | undefined;
    if (o.profile && ctx.caps.timestamps) {
      kernels = await profilePrograms(ctx, [trainer.model.program(o.batch, o.seq, true)]);
      kernels = kernels.map((k) => ({ ...k, ms: Math.round(k.ms * 1000) / 1000 }));
    }
    const stepMs = median(ms);
    const c = config;
    return {
      adapter: {
        vendor: ctx.caps.vendor,
        architecture: ctx.caps.architecture,
        description: ctx.caps.description,
        isCpu: ctx.caps.isCpu,
      },
      shape: o.shape,
      dims: {
        hidden: c.hiddenSize,
        layers: c.numLayers,
        heads: c.numHeads,
        kv_heads: c.numKvHeads,
        head_dim: c.headDim,
        intermediate: c.intermediateSize,
        vocab: c.vocabSize,
        params: baseParamCount(c),
      },
      targets: o.targets.join(','),
      r: o.r,
      batch: o.batch,
      seq: o.seq,
      dtype: o.dtype.toLowerCase(),
      nf4: o.nf4,
      gradient_checkpointing: o.checkpointing,
      warmup: o.warmup,
      steps: o.steps,
      tokens_per_s: Math.round(((o.batch * o.seq) / (stepMs / 1000)) * 100) / 100,
      ms_per_step: Math.round(stepMs * 100) / 100,
      ms_steps: ms.map((x) => Math.round(x * 10) / 10),
      peak_bytes: ctx.peakBytes - held,
      estimate_bytes: estimate,
      final_loss: Math.round(loss * 1e4) / 1e4,
      kernels,
    };
  } finally {
    trainer?.destroy();
    weights.arena.destroy();
  }
}
