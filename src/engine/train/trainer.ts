// One LoRA fine-tuning run on the GPU: optimizer steps with gradient accumulation, global-norm
// clipping and AdamW all recorded as GPU programs (no read-back but the logged scalars), the LR
// schedule, evaluation, early stopping with the best adapter kept, a NaN guard, and the state a
// checkpoint needs to resume the same trajectory.
//
// Loss normalization, as recent transformers does with num_items_in_batch: the step's loss is the
// sum of token losses over ALL its micro-batches divided by the number of targeted tokens in all
// of them (written to the GPU as lossScale before the step), not a mean of per-batch means.

import type { GpuContext } from '../gpu/context';
import { Arena } from '../gpu/arena';
import { Program } from '../gpu/program';
import type { Tensor } from '../gpu/tensor';
import { adamw, adamwHyper } from '../kernels/adamw';
import { gradNorm, gradNormPartials } from '../kernels/gradnorm';
import type { Batch } from '../../data/types';
import type { TrainingHparams } from '../../config/hparams';
import { LlamaModel, type StepBuffers } from '../model/llama';
import type { GpuWeights } from '../model/gpu-weights';
import type { ModelConfig } from '../model/config';
import { LoraLayout, type LoraSpec } from '../model/lora';
import { type MemoryInput, fitProblem } from '../model/memory';
import { type CheckpointDType, materialize, rollbackPlan, trainerStatePlan } from '../model/plan';
import { applyPissa, mutatesBase } from '../model/pissa';
import { learningRate, warmupSteps } from './schedule';
import { EarlyStopping } from './early-stopping';

/** Where micro-batches come from (src/data's BatchSampler implements it). */
export interface BatchSource {
  /** Micro-batches of the next optimizer step (up to gradient_accumulation_steps), or null at the end. */
  nextStep(): Batch[] | null;
  /** Fractional epoch reached so far. */
  readonly epoch: number;
  state(): unknown;
  restore(state: unknown): void;
}

export interface StepMetrics {
  step: number; // 1-based, completed optimizer steps
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokens: number; // tokens processed in this step (padding excluded)
  tokensPerSecond: number;
  stepMs: number;
  evalLoss?: number;
}

export interface TrainerState {
  step: number;
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  sampler: unknown;
  early: ReturnType<EarlyStopping['state']>;
  best: { step: number; evalLoss: number; params: Float32Array } | null;
}

export type StopReason =
  | { kind: 'completed' }
  | { kind: 'early_stopping'; step: number; bestStep: number; bestEvalLoss: number }
  | { kind: 'non_finite'; step: number; what: 'loss' | 'gradient norm'; keptStep: number };

export interface TrainerOptions {
  config: ModelConfig;
  weights: GpuWeights;
  lora: LoraSpec;
  training: TrainingHparams;
  train: BatchSource;
  totalSteps: number;
  /** Evaluation micro-batches (empty: no validation). */
  evalBatches: Batch[];
  /** Largest micro-batch shape the run will see. */
  maxBatch: number;
  maxSeq: number;
  /** Start from these LoRA weights (an imported adapter) instead of PEFT's init. */
  initialParams?: Float32Array;
  /** Recompute each layer's forward in the backward instead of storing its activations. */
  gradientCheckpointing?: boolean;
  /** Refuse (with what to change) a configuration whose estimated GPU memory exceeds this. */
  memoryBudgetBytes?: number;
}

export class Trainer {
  readonly layout: LoraLayout;
  readonly model: LlamaModel;
  readonly totalSteps: number;
  readonly warmup: number;
  step = 0;
  stopReason: StopReason | null = null;
  best: TrainerState['best'] = null;
  private readonly early: EarlyStopping;
  private readonly arena: Arena;
  private readonly params: Tensor;
  private readonly grads: Tensor;
  private readonly m: Tensor;
  private readonly v: Tensor;
  /** params at the start of the current step, and of the last step whose loss was finite */
  private readonly candidate: Tensor;
  private readonly good: Tensor;
  private goodStep = 0;
  private readonly hyper: Tensor;
  private readonly stats: Tensor;
  private readonly stepBuffers: StepBuffers;
  private readonly optim: Program;
  private readonly staging: GPUBuffer;
  /** PiSSA: the init (A0, B0) once the base weights hold their residuals; null before (or without PiSSA). */
  pissaInitial: Float32Array | null = null;
  private pissaPending: boolean;
  private restored = false;

  constructor(
    readonly ctx: GpuContext,
    readonly opts: TrainerOptions,
  ) {
    this.layout = new LoraLayout(opts.config, opts.lora);
    this.totalSteps = opts.totalSteps;
    const t = opts.training;
    this.warmup = warmupSteps(this.totalSteps, t.warmup_steps, t.warmup_ratio);
    this.early = new EarlyStopping(t.early_stopping_patience, t.early_stopping_threshold);
    const n = this.layout.size;
    if (opts.initialParams && opts.initialParams.length !== n)
      throw new Error(
        `the initial LoRA parameters have ${opts.initialParams.length} values, but r, target_modules and use_dora need ${n}`,
      );
    const problem = fitProblem(this.memoryInput(), opts.memoryBudgetBytes);
    if (problem) throw new Error(problem);
    const a = new Arena(ctx, 'lora');
    const st = materialize(trainerStatePlan(n, gradNormPartials(n)), (s) => a.add(s.shape, s.dtype, s.label));
    this.params = st.params;
    this.grads = st.grads;
    this.m = st.m;
    this.v = st.v;
    this.hyper = st.hyper;
    this.stats = st.stats;
    const partials = st.partials;
    this.stepBuffers = { lossScale: st.lossScale, lossAcc: st.lossAcc, seed: st.seed };
    // Buffers of their own: WebGPU cannot copy between two ranges of one buffer.
    const rb = materialize(rollbackPlan(n), (s) => ctx.tensor(s.shape, s.dtype, s.label));
    this.candidate = rb.candidate;
    this.good = rb.good;
    a.allocate();
    this.arena = a;
    this.pissaPending = mutatesBase(opts.lora.init_lora_weights);
    if (this.pissaPending && opts.initialParams)
      throw new Error('init_lora_weights "pissa" starts from the base weights, not from an imported adapter');
    const initial = opts.initialParams ?? this.layout.init(t.seed);
    ctx.upload(this.params, initial);
    ctx.upload(st.lrScale, this.layout.lrScale(opts.lora.loraplus_lr_ratio ?? 1));
    ctx.upload(this.good, initial);
    this.model = new LlamaModel(
      ctx,
      opts.config,
      opts.weights,
      { layout: this.layout, params: this.params, grads: this.grads },
      opts.lora.lora_dropout,
      this.stepBuffers,
      opts.maxBatch,
      opts.maxSeq,
      { checkpointing: !!opts.gradientCheckpointing },
    );
    this.model.allocate();
    if (opts.lora.use_dora && !opts.initialParams) {
      // DoRA's magnitude starts at ||W + s B A||_row (PEFT's update_layer): it needs the frozen
      // weights, so it is computed here on the GPU; queue order puts it before any step.
      const init = new Program(ctx, 'DoRA magnitude init');
      this.model.initDoraMagnitudes(init);
      init.copy(this.params, this.good);
      const enc = ctx.device.createCommandEncoder({ label: init.label });
      init.encode(enc);
      ctx.device.queue.submit([enc.finish()]);
      init.destroy();
    }
    this.optim = new Program(ctx, 'optimizer');
    gradNorm(this.optim, this.stats, partials, this.grads, n, t.max_grad_norm);
    adamw(this.optim, this.params, this.grads, this.m, this.v, this.hyper, this.stats, st.lrScale, n);
    this.staging = ctx.device.createBuffer({
      label: 'step read-back',
      size: 32,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** What model/memory.ts needs to estimate this run (the weights' dtype read from the upload). */
  memoryInput(): MemoryInput {
    const o = this.opts;
    return {
      config: o.config,
      weightDtype: o.weights.embed[0].weight.dtype as CheckpointDType,
      nf4: o.weights.nf4,
      lora: o.lora,
      maxBatch: o.maxBatch,
      maxSeq: o.maxSeq,
      checkpointing: !!o.gradientCheckpointing,
      limits: this.ctx.caps,
    };
  }

  /** PEFT's print_trainable_parameters line. */
  trainableLine(baseParams: number): string {
    const trainable = this.layout.paramCount;
    const all = baseParams + trainable;
    return `trainable params: ${trainable.toLocaleString('en-US')} || all params: ${all.toLocaleString('en-US')} || trainable%: ${((100 * trainable) / all).toFixed(4)}`;
  }

  get done(): boolean {
    return this.stopReason !== null;
  }

  lr(step = this.step): number {
    const t = this.opts.training;
    return learningRate(t.lr_scheduler_type, t.learning_rate, step, this.warmup, this.totalSteps);
  }

  /**
   * PiSSA's init (model/pissa.ts): the SVD of every adapted weight on the CPU, the residuals
   * written over the base weights on the GPU, A and B uploaded (unless a checkpoint was restored:
   * the same seed gives the same residuals). Runs once, before the first step or evaluation.
   */
  async prepare(onSlot?: (done: number, total: number) => void): Promise<void> {
    if (!this.pissaPending) return;
    this.pissaPending = false;
    const initial = await applyPissa(this.ctx, this.opts.weights, this.layout, this.opts.training.seed, onSlot);
    this.pissaInitial = initial;
    if (!this.restored) {
      this.ctx.upload(this.params, initial);
      this.ctx.upload(this.good, initial);
    }
  }

  /** Runs one optimizer step (and an evaluation when eval_steps says so). */
  async trainStep(): Promise<StepMetrics> {
    if (this.done) throw new Error('training has stopped');
    await this.prepare();
    const t0 = performance.now();
    const batches = this.opts.train.nextStep();
    if (!batches || this.step >= this.totalSteps) {
      this.stopReason = { kind: 'completed' };
      throw new Error('no more training data');
    }
    const t = this.opts.training;
    const dev = this.ctx.device;
    const targets = batches.reduce((s, b) => s + b.numTargets, 0);
    const lr = this.lr();
    this.ctx.upload(this.stepBuffers.lossScale, new Float32Array([targets > 0 ? 1 / targets : 0]));
    this.ctx.upload(
      this.hyper,
      adamwHyper(this.step + 1, lr, t.adam_beta1, t.adam_beta2, t.adam_epsilon, t.weight_decay),
    );
    await this.ctx.checked(`optimizer step ${this.step + 1}`, async () => {
      const enc = dev.createCommandEncoder();
      enc.copyBufferToBuffer(
        this.params.buffer,
        this.params.offset,
        this.candidate.buffer,
        this.candidate.offset,
        this.params.size,
      );
      enc.clearBuffer(this.grads.buffer, this.grads.offset, this.grads.size);
      enc.clearBuffer(this.stepBuffers.lossAcc.buffer, this.stepBuffers.lossAcc.offset, 4);
      dev.queue.submit([enc.finish()]);
      batches.forEach((b, i) => {
        this.model.writeBatch(b.inputIds, b.labels, b.batchSize, b.seqLen, b.positionIds);
        const seed = (Math.imul(t.seed + 1, 0x9e3779b1) ^ Math.imul(this.step * 64 + i + 1, 0x85ebca77)) >>> 0;
        this.ctx.upload(this.stepBuffers.seed, new Uint32Array([seed]));
        const e = dev.createCommandEncoder();
        this.model.program(b.batchSize, b.seqLen, true).encode(e);
        dev.queue.submit([e.finish()]);
      });
      const e = dev.createCommandEncoder();
      this.optim.encode(e);
      e.copyBufferToBuffer(this.stepBuffers.lossAcc.buffer, this.stepBuffers.lossAcc.offset, this.staging, 0, 4);
      e.copyBufferToBuffer(this.stats.buffer, this.stats.offset, this.staging, 16, 16);
      dev.queue.submit([e.finish()]);
      await this.staging.mapAsync(GPUMapMode.READ);
    });
    const out = new Float32Array(this.staging.getMappedRange().slice(0));
    this.staging.unmap();
    this.ctx.assertAlive();
    const loss = out[0];
    const norm = out[4];
    const stepMs = performance.now() - t0;
    const tokens = batches.reduce((s, b) => s + b.numTokens, 0);
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      // Roll back to the last weights whose loss was finite: a finite step with a huge learning
      // rate can leave non-finite weights behind (AdamW itself skips non-finite gradients).
      this.copy(this.good, this.params);
      this.stopReason = {
        kind: 'non_finite',
        step: this.step + 1,
        what: Number.isFinite(loss) ? 'gradient norm' : 'loss',
        keptStep: this.goodStep,
      };
      return {
        step: this.step + 1,
        totalSteps: this.totalSteps,
        epoch: this.opts.train.epoch,
        loss,
        lr,
        gradNorm: norm,
        tokens,
        tokensPerSecond: 0,
        stepMs,
      };
    }
    // These weights gave a finite loss: they are the ones to keep if a later step diverges.
    this.copy(this.candidate, this.good);
    this.goodStep = this.step;
    this.step++;
    const metrics: StepMetrics = {
      step: this.step,
      totalSteps: this.totalSteps,
      epoch: this.opts.train.epoch,
      loss,
      lr,
      gradNorm: norm,
      tokens,
      tokensPerSecond: tokens / (stepMs / 1000),
      stepMs,
    };
    const last = this.step >= this.totalSteps;
    const evalDue = this.opts.evalBatches.length > 0 && ((t.eval_steps > 0 && this.step % t.eval_steps === 0) || last);
    if (evalDue) {
      metrics.evalLoss = await this.evaluate();
      await this.onEvaluated(metrics.evalLoss);
    }
    if (!this.stopReason && last) this.stopReason = { kind: 'completed' };
    return metrics;
  }

  private async onEvaluated(evalLoss: number): Promise<void> {
    if (this.best === null || evalLoss < this.best.evalLoss) {
      this.best = { step: this.step, evalLoss, params: await this.adapterParams() };
    }
    if (this.early.update(evalLoss) && this.best) {
      this.stopReason = {
        kind: 'early_stopping',
        step: this.step,
        bestStep: this.best.step,
        bestEvalLoss: this.best.evalLoss,
      };
    }
  }

  /** Mean token loss over the evaluation batches (no dropout). */
  async evaluate(batches: Batch[] = this.opts.evalBatches): Promise<number> {
    await this.prepare();
    const dev = this.ctx.device;
    const targets = batches.reduce((s, b) => s + b.numTargets, 0);
    if (targets === 0) return NaN;
    const acc = this.stepBuffers.lossAcc;
    this.ctx.upload(this.stepBuffers.lossScale, new Float32Array([1]));
    const enc = dev.createCommandEncoder();
    enc.clearBuffer(acc.buffer, acc.offset, 4);
    dev.queue.submit([enc.finish()]);
    for (const b of batches) {
      this.model.writeBatch(b.inputIds, b.labels, b.batchSize, b.seqLen, b.positionIds);
      const e = dev.createCommandEncoder();
      this.model.program(b.batchSize, b.seqLen, false).encode(e);
      dev.queue.submit([e.finish()]);
    }
    const sum = (await this.ctx.readF32(acc))[0];
    return sum / targets;
  }

  private copy(src: Tensor, dst: Tensor): void {
    const enc = this.ctx.device.createCommandEncoder();
    enc.copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, src.size);
    this.ctx.device.queue.submit([enc.finish()]);
  }

  /** The current LoRA weights (flat layout). */
  async adapterParams(): Promise<Float32Array> {
    return (await this.ctx.readF32(this.params)).slice(0, this.layout.size);
  }

  /** The gradients of the last optimizer step, before clipping (flat layout). */
  async gradients(): Promise<Float32Array> {
    return (await this.ctx.readF32(this.grads)).slice(0, this.layout.size);
  }

  /** Replaces the LoRA weights (e.g. to evaluate the best adapter). */
  setAdapterParams(flat: Float32Array): void {
    this.ctx.upload(this.params, flat);
  }

  async state(): Promise<TrainerState> {
    const [params, m, v] = await Promise.all([this.params, this.m, this.v].map((t) => this.ctx.readF32(t)));
    return {
      step: this.step,
      params,
      m,
      v,
      sampler: this.opts.train.state(),
      early: this.early.state(),
      best: this.best,
    };
  }

  restore(s: TrainerState): void {
    if (s.params.length !== this.layout.size) throw new Error('checkpoint does not match this LoRA configuration');
    this.ctx.upload(this.params, s.params);
    this.ctx.upload(this.m, s.m);
    this.ctx.upload(this.v, s.v);
    this.ctx.upload(this.good, s.params);
    this.restored = true;
    this.goodStep = s.step;
    this.step = s.step;
    this.opts.train.restore(s.sampler);
    this.early.restore(s.early);
    this.best = s.best;
  }

  destroy(): void {
    this.model.destroy();
    this.optim.destroy();
    this.arena.destroy();
    this.ctx.release(this.candidate.buffer);
    this.ctx.release(this.good.buffer);
    this.staging.destroy();
  }
}
