import { describe, expect, it } from 'vitest';
import { applyTrainEvent, bestOf, checkpointStat, IDLE, type TrainingState } from './training';
import { DEFAULT_HPARAMS } from '../../config/hparams';
import type { StepMetrics } from '../../engine/train/trainer';
import type { TrainEvent } from '../../worker/api';

const m = (step: number, evalLoss?: number): StepMetrics => ({
  step,
  totalSteps: 6,
  epoch: step / 100,
  loss: 2 - step / 10,
  lr: 1e-3,
  gradNorm: 1,
  tokens: 64,
  tokensPerSecond: 50,
  stepMs: 1000,
  ...(evalLoss !== undefined ? { evalLoss } : {}),
});

const started = (history: StepMetrics[] = [], resumedFrom: number | null = null): TrainEvent => ({
  status: 'started',
  runId: 'run-1',
  hparams: DEFAULT_HPARAMS,
  fromAdapter: null,
  totalSteps: 6,
  stepsPerEpoch: 171,
  trainableLine: 'trainable params: 37,376',
  train: 392,
  val: 8,
  history,
  resumedFrom,
  activeMs: 0,
  gpuBytes: 1000,
});

function run(events: TrainEvent[], from: TrainingState = { ...IDLE, status: 'starting' }): TrainingState {
  return events.reduce((t, e, i) => applyTrainEvent(t, e, i * 10), from);
}

describe('applyTrainEvent', () => {
  it('builds the run from started, step and done events', () => {
    const t = run([
      started(),
      { status: 'step', metrics: m(1), activeMs: 1000, gpuBytes: 2000, best: null },
      { status: 'step', metrics: m(2), activeMs: 2000, gpuBytes: 2000, best: null },
      { status: 'step', metrics: m(3, 1.5), activeMs: 3500, gpuBytes: 2000, best: { step: 3, evalLoss: 1.5 } },
      { status: 'checkpoint', step: 3 },
      {
        status: 'done',
        end: { kind: 'early_stopping', step: 3, message: 'stopped early at step 3' },
        best: { step: 3, evalLoss: 1.5 },
        activeMs: 3600,
      },
    ]);
    expect(t.status).toBe('done');
    expect(t.history.toArray().map((x) => x.step)).toEqual([1, 2, 3]);
    expect(t.best).toEqual({ step: 3, evalLoss: 1.5 });
    expect(t.lastCheckpoint).toBe(3);
    expect(t.end?.kind).toBe('early_stopping');
    expect(t.activeMs).toBe(3600);
    expect(t.hparams).toBe(DEFAULT_HPARAMS);
  });

  it('a resumed run starts with the saved history and its best step', () => {
    const t = run([started([m(1), m(2, 1.4), m(3), m(4, 1.2)], 4)]);
    expect(t.history).toHaveLength(4);
    expect(t.resumedFrom).toBe(4);
    expect(t.lastCheckpoint).toBe(4);
    expect(t.best).toEqual({ step: 4, evalLoss: 1.2 });
  });

  it('pause and resume do not override a stop in progress', () => {
    let t = run([started(), { status: 'paused', step: 0 }]);
    expect(t.status).toBe('paused');
    t = { ...t, status: 'stopping' };
    t = applyTrainEvent(t, { status: 'resumed', step: 0 }, 0);
    expect(t.status).toBe('stopping');
  });

  it('a failed checkpoint is a warning; a failed step is the run’s error', () => {
    let t = run([started()]);
    t = applyTrainEvent(
      t,
      { status: 'error', message: 'checkpoint at step 2 could not be saved', step: 2, fatal: false },
      0,
    );
    expect(t.warnings).toEqual(['checkpoint at step 2 could not be saved']);
    expect(t.error).toBeNull();
    t = applyTrainEvent(t, { status: 'error', message: 'GPU device was lost', step: 3, fatal: true }, 0);
    expect(t.error).toBe('GPU device was lost');
  });

  it('warnings sent before the run started are kept', () => {
    const t = run([{ status: 'error', message: 'checkpoints are off for this run', step: 0, fatal: false }, started()]);
    expect(t.warnings).toEqual(['checkpoints are off for this run']);
  });
});

describe('bestOf', () => {
  it('takes the lowest finite validation loss, the first on ties', () => {
    expect(bestOf([m(1), m(2, 1.3), m(3, NaN), m(4, 1.1), m(5, 1.1)])).toEqual({ step: 4, evalLoss: 1.1 });
    expect(bestOf([m(1)])).toBeNull();
  });
});

describe('History', () => {
  it('appends without copying, and an older state still reads what it held', () => {
    const t0 = run([started()]);
    const t1 = applyTrainEvent(t0, { status: 'step', metrics: m(1), activeMs: 1, gpuBytes: 1, best: null }, 0);
    const t2 = applyTrainEvent(t1, { status: 'step', metrics: m(2, 1.4), activeMs: 2, gpuBytes: 1, best: null }, 0);
    expect(t2.history.extends(t1.history)).toBe(true);
    expect(t1.history.toArray().map((x) => x.step)).toEqual([1]);
    expect(t2.history.last()?.step).toBe(2);
    expect(t2.history.lastEval?.step).toBe(2);
    expect(t1.history.lastEval).toBeUndefined();
    // replaying an event on the older state branches off instead of overwriting step 2
    const branch = applyTrainEvent(t1, { status: 'step', metrics: m(3), activeMs: 3, gpuBytes: 1, best: null }, 0);
    expect(branch.history.toArray().map((x) => x.step)).toEqual([1, 3]);
    expect(t2.history.toArray().map((x) => x.step)).toEqual([1, 2]);
    expect(branch.history.extends(t1.history)).toBe(false);
  });
});

describe('checkpointStat', () => {
  const step = (n: number): TrainEvent => ({ status: 'step', metrics: m(n), activeMs: n, gpuBytes: 1, best: null });
  const done: TrainEvent = {
    status: 'done',
    end: { kind: 'completed', step: 6, message: 'completed 6 steps' },
    best: null,
    activeMs: 6,
  };
  const withSaves = (every: number): TrainingState => ({
    ...IDLE,
    status: 'starting',
    hparams: { ...DEFAULT_HPARAMS, training: { ...DEFAULT_HPARAMS.training, save_steps: every } },
  });
  const startedWith = (every: number): TrainEvent => ({
    ...(started() as Extract<TrainEvent, { status: 'started' }>),
    hparams: { ...DEFAULT_HPARAMS, training: { ...DEFAULT_HPARAMS.training, save_steps: every } },
  });

  it('reports the newest checkpoint the run saved, and a run that ended after it', () => {
    let t = run([startedWith(2), step(1), step(2), { status: 'checkpoint', step: 2 }, step(3), step(4)], withSaves(2));
    t = applyTrainEvent(t, { status: 'checkpoint', step: 4 }, 0);
    expect(checkpointStat(t)).toEqual({ value: 'step 4', hint: 'every 2 steps' });
    t = run([step(5), step(6), done], t);
    // the last step was not saved: the page says so instead of a bare "step 4"
    expect(checkpointStat(t)).toEqual({ value: 'step 4', hint: 'the run ended later, at step 6' });
    // a session that saves at the end reports it, and the page shows that step
    t = run([step(5), step(6), { status: 'checkpoint', step: 6 }, done], applyTrainEvent(t, startedWith(2), 0));
    expect(checkpointStat(t)).toEqual({ value: 'step 6', hint: 'the end of the run' });
  });

  it('says the default time rule when save_steps is 0, or that none was saved yet', () => {
    expect(checkpointStat(run([startedWith(0), step(1)], withSaves(0)))).toEqual({
      value: 'none yet',
      hint: 'after step 1, then every 2 minutes of training',
    });
    expect(checkpointStat(run([startedWith(1)], withSaves(1)))).toEqual({ value: 'none yet', hint: 'every step' });
  });
});
