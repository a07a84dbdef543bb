// One fine-tuning run from prepared data: the sampler in Hugging Face's order, the trainer, the
// evaluation batches, the number of steps, and export of the last or the best adapter in PEFT's
// layout. The worker and `npm run train` both drive a run through this class, step by step.

import type { GpuContext } from '../engine/gpu/context';
import type { GpuWeights } from '../engine/model/gpu-weights';
import type { LoraSpec } from '../engine/model/lora';
import {
  Trainer,
  type BatchSource,
  type StepMetrics,
  type StopReason,
  type TrainerState,
} from '../engine/train/trainer';
import { BatchSampler, evalBatches, type SamplerState } from '../data/batches';
import type { Batch } from '../data/types';
import type { Hparams } from '../config/hparams';
import { writeAdapter } from '../io/peft';
import type { LoadedModel } from './model';
import type { PreparedData } from './data';
import { memoryInput, runSeqLength, samplerOptions, trainableLine } from './plan';
import { assertWeightsMatch } from './quant';

/** The studio's run configuration: hyperparameters plus what they apply to. */
export interface RunConfig {
  hparams: Hparams;
  baseModelNameOrPath: string;
}

class SamplerSource implements BatchSource {
  constructor(private readonly sampler: BatchSampler) {}
  get epoch(): number {
    const s = this.sampler.state();
    return s.epoch + s.microBatch / this.sampler.microBatchesPerEpoch;
  }
  nextStep(): Batch[] | null {
    return this.sampler.nextStep().microBatches;
  }
  state(): unknown {
    return this.sampler.state();
  }
  restore(s: unknown): void {
    this.sampler.restore(s as SamplerState);
  }
}

export interface ExportedAdapter {
  safetensors: Uint8Array;
  config: string;
  /** Optimizer step and validation loss the weights come from (null: not evaluated). */
  step: number;
  evalLoss: number | null;
}

export class TrainingRun {
  readonly trainer: Trainer;
  readonly sampler: BatchSampler;
  readonly totalSteps: number;
  readonly lora: LoraSpec;
  readonly evalBatches: Batch[];
  private lastEval: number | null = null;

  constructor(
    readonly ctx: GpuContext,
    readonly model: LoadedModel,
    readonly weights: GpuWeights,
    readonly data: PreparedData,
    readonly hparams: Hparams,
    opts: { initialParams?: Float32Array } = {},
  ) {
    const t = hparams.training;
    const c = model.checkpoint.config;
    if (c.slidingWindow && t.max_seq_length > c.slidingWindow) {
      throw new Error(
        `max_seq_length ${t.max_seq_length} exceeds this model's sliding window (${c.slidingWindow}); lower it`,
      );
    }
    // LongRoPE's long factors stretch the positions up to max_position_embeddings, not past it.
    if (c.ropeScaling?.ropeType === 'longrope' && t.max_seq_length > c.maxPositionEmbeddings) {
      throw new Error(
        `max_seq_length ${t.max_seq_length} exceeds this model's max_position_embeddings (${c.maxPositionEmbeddings}); lower it`,
      );
    }
    if (data.train.length === 0) throw new Error('the training split is empty');
    assertWeightsMatch(weights, hparams);
    this.sampler = new BatchSampler(data.train, samplerOptions(model, hparams));
    this.totalSteps = this.sampler.totalSteps(t.num_train_epochs, t.max_steps);
    this.evalBatches = evalBatches(data.val, t.per_device_train_batch_size, t.max_seq_length, model.tokenizer.padId);
    // The memory estimate's input (plan.ts), so the Trainer checks and allocates what was estimated.
    const m = memoryInput(model, hparams, runSeqLength(data, hparams, this.sampler), ctx.caps, weights);
    this.lora = m.lora;
    this.trainer = new Trainer(ctx, {
      config: c,
      weights,
      lora: m.lora,
      training: t,
      train: new SamplerSource(this.sampler),
      totalSteps: this.totalSteps,
      evalBatches: this.evalBatches,
      maxBatch: m.maxBatch,
      maxSeq: m.maxSeq,
      gradientCheckpointing: m.checkpointing,
      initialParams: opts.initialParams,
    });
  }

  get done(): boolean {
    return this.trainer.done;
  }

  get stopReason(): StopReason | null {
    return this.trainer.stopReason;
  }

  async step(): Promise<StepMetrics> {
    const m = await this.trainer.trainStep();
    if (m.evalLoss !== undefined) this.lastEval = m.evalLoss;
    return m;
  }

  trainableLine(): string {
    return trainableLine(this.trainer.layout.paramCount, this.model.info.params);
  }

  /** The adapter as PEFT writes it: the current weights, or the best by validation loss. */
  async exportAdapter(which: 'last' | 'best' = 'last'): Promise<ExportedAdapter> {
    const best = this.trainer.best;
    if (which === 'best' && !best) throw new Error('no validation loss was computed, so there is no best adapter');
    const flat = which === 'best' ? best!.params : await this.trainer.adapterParams();
    await this.trainer.prepare();
    const { safetensors, config } = writeAdapter(this.trainer.layout, flat, {
      baseModelNameOrPath: this.model.info.baseModelNameOrPath,
      pissaInitial: this.trainer.pissaInitial,
    });
    return {
      safetensors,
      config,
      step: which === 'best' ? best!.step : this.trainer.step,
      evalLoss: which === 'best' ? best!.evalLoss : this.lastEval,
    };
  }

  async state(): Promise<TrainerState> {
    return this.trainer.state();
  }

  restore(s: TrainerState): void {
    this.trainer.restore(s);
  }

  destroy(): void {
    this.trainer.destroy();
  }
}

/** Human-readable reason a run ended. */
export function describeStop(r: StopReason | null, totalSteps: number): string {
  if (!r) return 'running';
  switch (r.kind) {
    case 'completed':
      return `completed ${totalSteps} step${totalSteps === 1 ? '' : 's'}`;
    case 'early_stopping':
      return `stopped early at step ${r.step}: validation loss did not improve; best was ${r.bestEvalLoss.toFixed(4)} at step ${r.bestStep}`;
    case 'non_finite':
      return `stopped at step ${r.step}: the ${r.what} became NaN or infinite; kept the adapter from step ${r.keptStep}, the last with a finite loss (try a lower learning_rate or max_grad_norm)`;
  }
}
