// The training session's loop on a stand-in run (no GPU): which steps it checkpoints by default,
// with save_steps, on pause and at the end; stop; a resumed session; a checkpoint that fails.

import { describe, expect, it } from 'vitest';
import { LoraLayout } from '../engine/model/lora';
import type { StepMetrics, StopReason, TrainerState } from '../engine/train/trainer';
import { DEFAULT_HPARAMS, type Hparams } from '../config/hparams';
import { parseHfConfig } from '../io/hf-config';
import { tinyHfConfig } from '../io/testing/tiny-checkpoint';
import { RunCheckpoints } from './checkpoints';
import type { TrainingRun } from './run';
import { TrainingSession, type CheckpointSink, type RunEnd, type SessionEvent } from './session';
import { MemoryDir } from './testing/memory-dir';

const layout = new LoraLayout(parseHfConfig(tinyHfConfig()).model, {
  r: 2,
  lora_alpha: 4,
  lora_dropout: 0,
  target_modules: ['q_proj'],
  use_rslora: false,
});

/** A run of `total` steps whose parameters are all equal to the step; `onStep` runs after each. */
class StandInRun {
  readonly trainer = { step: 0, layout, best: null };
  readonly ctx = { allocatedBytes: 1024 };
  readonly model = { info: { baseModelNameOrPath: 'tiny' } };
  readonly hparams: Hparams;
  stopReason: StopReason | null = null;
  onStep: (step: number) => void = () => undefined;

  constructor(
    readonly totalSteps: number,
    saveSteps = 0,
  ) {
    this.hparams = { ...DEFAULT_HPARAMS, training: { ...DEFAULT_HPARAMS.training, save_steps: saveSteps } };
  }
  get done() {
    return this.stopReason !== null;
  }
  async step(): Promise<StepMetrics> {
    const step = ++this.trainer.step;
    if (step === this.totalSteps) this.stopReason = { kind: 'completed' };
    this.onStep(step);
    const m = { step, totalSteps: this.totalSteps, epoch: 0, loss: 1 / step, lr: 1e-3, gradNorm: 1 };
    return { ...m, tokens: 10, tokensPerSecond: 100, stepMs: 100 };
  }
  async state(): Promise<TrainerState> {
    const f = () => new Float32Array(layout.size).fill(this.trainer.step);
    const s = this.trainer.step;
    return { step: s, params: f(), m: f(), v: f(), sampler: { step: s }, early: { best: null, bad: 0 }, best: null };
  }
  destroy() {}
}

function session(run: StandInRun, sink: CheckpointSink | null, resumed?: { history: StepMetrics[]; activeMs: number }) {
  const events: SessionEvent[] = [];
  const s = new TrainingSession('run-1', run as unknown as TrainingRun, (e) => events.push(e), {
    checkpoints: sink,
    saveIntervalMs: 3_600_000, // the time rule never fires within these tests
    resumed,
  });
  const saved = () => events.flatMap((e) => (e.status === 'checkpoint' ? [e.step] : []));
  return { s, events, saved };
}

describe('TrainingSession', () => {
  it('by default checkpoints after the first step and at the end; the newest two are kept', async () => {
    const dir = new MemoryDir();
    const { s, events, saved } = session(new StandInRun(5), new RunCheckpoints(dir));
    const end = await s.start();
    expect(end).toEqual({ kind: 'completed', step: 5, message: 'completed 5 steps' });
    expect(saved()).toEqual([1, 5]);
    expect(events.filter((e) => e.status === 'step')).toHaveLength(5);
    expect(events.at(-1)?.status).toBe('done');
    const cps = new RunCheckpoints(dir);
    expect(await cps.steps()).toEqual([1, 5]);
    const last = await cps.load();
    expect(last.state.params[0]).toBe(5);
    expect(last.history.map((m) => m.step)).toEqual([1, 2, 3, 4, 5]);
    expect(last.totalSteps).toBe(5);
  });

  it('with save_steps, every save_steps steps and the end', async () => {
    const { s, saved } = session(new StandInRun(7, 3), new RunCheckpoints(new MemoryDir()));
    await s.start();
    expect(saved()).toEqual([3, 6, 7]);
  });

  it('checkpoints when paused, waits, and goes on when resumed', async () => {
    const run = new StandInRun(6);
    const { s, events, saved } = session(run, new RunCheckpoints(new MemoryDir()));
    run.onStep = (step) => step === 3 && s.pause();
    const done = s.start();
    while (!saved().includes(3)) await new Promise((r) => setTimeout(r, 1));
    expect(events.filter((e) => e.status === 'paused')).toEqual([{ status: 'paused', step: 3 }]);
    expect(s.step).toBe(3);
    s.resume();
    await done;
    expect(saved()).toEqual([1, 3, 6]);
    expect(events.map((e) => e.status)).toContain('resumed');
  });

  it('stop ends the run after the current step with its checkpoint, and tells the sink', async () => {
    const run = new StandInRun(10);
    const ended: RunEnd[] = [];
    const cps = new RunCheckpoints(new MemoryDir());
    const { s, saved } = session(run, { save: (c) => cps.save(c), finished: async (e) => void ended.push(e) });
    run.onStep = (step) => step === 4 && void s.stop();
    const end = await s.start();
    expect(end).toEqual({ kind: 'user', step: 4, message: 'stopped by you at step 4 of 10' });
    expect(saved()).toEqual([1, 4]);
    expect(ended).toEqual([end]);
  });

  it('a resumed session counts its checkpoint as saved and keeps its history', async () => {
    const run = new StandInRun(6);
    run.trainer.step = 4;
    const history = (await Promise.all([1, 2, 3, 4].map(() => new StandInRun(6).step()))).map((m, i) => ({
      ...m,
      step: i + 1,
    }));
    const { s, saved } = session(run, new RunCheckpoints(new MemoryDir()), { history, activeMs: 5000 });
    await s.start();
    expect(saved()).toEqual([6]);
    expect(s.history.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.activeMs).toBeGreaterThanOrEqual(5000);
  });

  it('a checkpoint that cannot be written is reported and training goes on', async () => {
    const dir = new MemoryDir();
    dir.failNextWrite('state.bin');
    const { s, events, saved } = session(new StandInRun(3), new RunCheckpoints(dir));
    const end = await s.start();
    expect(end.kind).toBe('completed');
    expect(events.find((e) => e.status === 'error')).toMatchObject({
      message: 'checkpoint at step 1 could not be saved (training goes on): disk full while writing state.bin',
      fatal: false,
    });
    // step 1 failed, so step 2 is still the "first" checkpoint; then the end
    expect(saved()).toEqual([2, 3]);
  });
});
