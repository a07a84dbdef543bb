// One training run inside the worker: the step loop with pause, resume and stop, a report to the
// page after every optimizer step, and a checkpoint every save_steps. Each step takes one turn of
// the GPU queue, so samples and evaluations asked for mid-run run between two steps.

import type { StepMetrics } from '../engine/train/trainer';
import type { GpuContext } from '../engine/gpu/context';
import { TrainingRun, describeStop } from '../run/run';
import { writeAdapter } from '../io/peft';
import type { BestInfo, RunEnd, TrainEvent } from './api';
import type { CheckpointStore } from './checkpoints';
import type { GpuQueue } from './gpu-queue';

export type Emit = (e: TrainEvent) => void;

export class TrainingSession {
  readonly history: StepMetrics[] = [];
  /** Milliseconds spent in steps and checkpoints (not paused, not waiting). */
  activeMs = 0;
  end: RunEnd | null = null;
  private paused = false;
  private stopRequested = false;
  private wake: (() => void) | null = null;
  private loopDone: Promise<void> | null = null;

  constructor(
    readonly runId: string,
    readonly run: TrainingRun,
    private readonly ctx: GpuContext,
    private readonly queue: GpuQueue,
    private readonly store: CheckpointStore | null,
    private readonly emit: Emit,
  ) {}

  get running(): boolean {
    return this.end === null;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  get step(): number {
    return this.run.trainer.step;
  }

  best(): BestInfo | null {
    const b = this.run.trainer.best;
    return b ? { step: b.step, evalLoss: b.evalLoss } : null;
  }

  start(): void {
    this.loopDone ??= this.loop();
  }

  pause(): void {
    if (this.running) this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  /** Ends the run after the step in progress; resolves when it has ended. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.resume();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    let error: string | null = null;
    while (!this.run.done && !this.stopRequested) {
      if (this.paused) {
        this.emit({ status: 'paused', step: this.step });
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
        if (this.stopRequested) break;
        this.emit({ status: 'resumed', step: this.step });
        continue;
      }
      let m: StepMetrics;
      try {
        m = await this.queue.run(async () => {
          const t0 = performance.now();
          const out = await this.run.step();
          this.activeMs += performance.now() - t0;
          return out;
        });
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
        break;
      }
      this.history.push(m);
      this.emit({
        status: 'step',
        metrics: m,
        activeMs: this.activeMs,
        gpuBytes: this.ctx.allocatedBytes,
        best: this.best(),
      });
      const every = this.run.hparams.training.save_steps;
      if (this.store && every > 0 && m.step % every === 0 && !this.run.done) {
        try {
          await this.checkpoint();
          this.emit({ status: 'checkpoint', step: m.step });
        } catch (e) {
          this.emit({
            status: 'error',
            message: `checkpoint at step ${m.step} could not be saved (training goes on): ${e instanceof Error ? e.message : String(e)}`,
            step: m.step,
            fatal: false,
          });
        }
      }
    }
    const step = this.step;
    if (error !== null) {
      this.end = { kind: 'user', step, message: `stopped at step ${step} by an error: ${error}` };
      this.emit({ status: 'error', message: error, step, fatal: true });
    } else if (this.run.stopReason) {
      const r = this.run.stopReason;
      this.end = {
        kind: r.kind,
        step: r.kind === 'completed' ? step : r.step,
        message: describeStop(r, this.run.totalSteps),
      };
    } else {
      this.end = { kind: 'user', step, message: `stopped by you at step ${step} of ${this.run.totalSteps}` };
    }
    // A run that ended on purpose is not offered for resumption; one that broke is.
    if (this.store && error === null) await this.store.markFinished(this.runId, this.end).catch(() => undefined);
    this.emit({ status: 'done', end: this.end, best: this.best(), activeMs: this.activeMs });
  }

  /** Saves the trainer's state and the adapter (the GPU read-back takes a turn of the queue). */
  private async checkpoint(): Promise<void> {
    const t0 = performance.now();
    const state = await this.queue.run(() => this.run.state());
    const layout = this.run.trainer.layout;
    const adapter = writeAdapter(layout, state.params.subarray(0, layout.size), {
      baseModelNameOrPath: this.run.model.info.baseModelNameOrPath,
    });
    await this.store!.save(this.runId, state, adapter, this.history, this.activeMs);
    this.activeMs += performance.now() - t0;
  }

  destroy(): void {
    this.run.destroy();
  }
}
