// A training run as both front doors drive it: the step loop with pause, resume and stop, an event
// after every optimizer step, and checkpoints by the save rule (save-rule.ts) so a reload, a crash
// or Ctrl-C costs little. The studio's worker passes its GPU queue, so that samples and evaluations
// asked for mid-run slip in between two steps, and its checkpoint store in the browser; the CLI
// passes its --out folder on the disk.

import type { StepMetrics } from '../engine/train/trainer';
import { writeAdapter } from '../io/peft';
import { describeStop, type TrainingRun } from './run';
import type { CheckpointData } from './checkpoints';
import { AUTOSAVE_INTERVAL_MS, shouldSave, type SavePoint } from './save-rule';

export type StopKind = 'completed' | 'early_stopping' | 'non_finite' | 'user';

export interface RunEnd {
  kind: StopKind;
  /** The step training ended at. */
  step: number;
  /** describeStop's sentence, or the user's stop. */
  message: string;
}

export interface BestInfo {
  step: number;
  evalLoss: number;
}

/** What a session reports, in order: steps, checkpoints, pauses, then `done` once. */
export type SessionEvent =
  | { status: 'step'; metrics: StepMetrics; activeMs: number; gpuBytes: number; best: BestInfo | null }
  | { status: 'checkpoint'; step: number }
  | { status: 'paused'; step: number }
  | { status: 'resumed'; step: number }
  | { status: 'done'; end: RunEnd; best: BestInfo | null; activeMs: number }
  /** fatal: the run ended with it; otherwise training goes on (a checkpoint that failed). */
  | { status: 'error'; message: string; step: number; fatal: boolean };

/** Where a session's checkpoints go (RunCheckpoints, or one run of the studio's store). */
export interface CheckpointSink {
  save(c: CheckpointData): Promise<void>;
  /** Called once when the run ends other than by an error (the studio stops offering it). */
  finished?(end: RunEnd): Promise<void>;
}

/** Turns on the GPU: the worker's queue, or none (the CLI does one thing at a time). */
export interface GpuTurns {
  run<T>(fn: () => Promise<T> | T): Promise<T>;
}

const direct: GpuTurns = { run: async (fn) => fn() };

export interface SessionOptions {
  /** null: no checkpoints. */
  checkpoints?: CheckpointSink | null;
  queue?: GpuTurns;
  /** The save rule's interval of active training when save_steps is 0 (AUTOSAVE_INTERVAL_MS). */
  saveIntervalMs?: number;
  /** A run continued from a checkpoint: the metrics and active time it had then. */
  resumed?: { history: StepMetrics[]; activeMs: number };
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class TrainingSession {
  readonly history: StepMetrics[] = [];
  /** Milliseconds spent in steps and checkpoints (not paused, not waiting). */
  activeMs = 0;
  end: RunEnd | null = null;
  private paused = false;
  private stopRequested = false;
  private wake: (() => void) | null = null;
  private loopDone: Promise<void> | null = null;
  private lastSave: SavePoint['last'] = null;
  private readonly queue: GpuTurns;
  private readonly sink: CheckpointSink | null;

  constructor(
    readonly runId: string,
    readonly run: TrainingRun,
    private readonly emit: (e: SessionEvent) => void,
    private readonly opts: SessionOptions = {},
  ) {
    this.queue = opts.queue ?? direct;
    this.sink = opts.checkpoints ?? null;
    if (opts.resumed) {
      this.history.push(...opts.resumed.history);
      this.activeMs = opts.resumed.activeMs;
      // The checkpoint it resumed from counts as saved: the time rule runs from there.
      this.lastSave = { step: this.step, activeMs: this.activeMs };
    }
  }

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

  /** Starts the loop (once); resolves when the run has ended. */
  start(): Promise<RunEnd> {
    this.loopDone ??= this.loop();
    return this.loopDone.then(() => this.end!);
  }

  pause(): void {
    if (this.running) this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  /** Ends the run after the step in progress (and its checkpoint); resolves when it has ended. */
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
        await this.maybeCheckpoint('pause');
        while (this.paused) await new Promise<void>((r) => (this.wake = r));
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
        error = errorText(e);
        break;
      }
      this.history.push(m);
      this.emit({
        status: 'step',
        metrics: m,
        activeMs: this.activeMs,
        gpuBytes: this.run.ctx.allocatedBytes,
        best: this.best(),
      });
      // The last step's checkpoint is the end's (below), after the run has settled.
      if (!this.run.done) await this.maybeCheckpoint('step');
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
    // A non-finite loss restored older weights than the step says: nothing worth continuing.
    if (error === null && this.end.kind !== 'non_finite') await this.maybeCheckpoint('end');
    // A run that ended on purpose is not offered for resumption; one that broke is.
    if (this.sink?.finished && error === null) await this.sink.finished(this.end).catch(() => undefined);
    this.emit({ status: 'done', end: this.end, best: this.best(), activeMs: this.activeMs });
  }

  private async maybeCheckpoint(event: SavePoint['event']): Promise<void> {
    if (!this.sink) return;
    const rule = {
      saveSteps: this.run.hparams.training.save_steps,
      intervalMs: this.opts.saveIntervalMs ?? AUTOSAVE_INTERVAL_MS,
    };
    const step = this.step;
    if (!shouldSave(rule, { step, activeMs: this.activeMs, last: this.lastSave, event })) return;
    try {
      await this.checkpoint();
      this.lastSave = { step, activeMs: this.activeMs };
      this.emit({ status: 'checkpoint', step });
    } catch (e) {
      this.emit({
        status: 'error',
        message: `checkpoint at step ${step} could not be saved (training goes on): ${errorText(e)}`,
        step,
        fatal: false,
      });
    }
  }

  /** Saves the trainer's state and the adapter (the GPU read-back takes a turn of the queue). */
  private async checkpoint(): Promise<void> {
    const t0 = performance.now();
    const state = await this.queue.run(() => this.run.state());
    const layout = this.run.trainer.layout;
    const adapter = writeAdapter(layout, state.params.subarray(0, layout.size), {
      baseModelNameOrPath: this.run.model.info.baseModelNameOrPath,
      pissaInitial: this.run.trainer.pissaInitial,
    });
    await this.sink!.save({
      state,
      adapter,
      history: this.history,
      activeMs: this.activeMs,
      hparams: this.run.hparams,
      totalSteps: this.run.totalSteps,
    });
    this.activeMs += performance.now() - t0;
  }

  destroy(): void {
    this.run.destroy();
  }
}
