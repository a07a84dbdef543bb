import { describe, expect, it } from 'vitest';
import { CheckpointStore, KEEP_CHECKPOINTS, decodeState, encodeState, type CheckpointData } from './checkpoints';
import { MemoryDir } from './testing/memory-dir';
import { DEFAULT_HPARAMS } from '../config/hparams';
import type { StepMetrics, TrainerState } from '../engine/train/trainer';

function state(step: number, n = 5, withBest = true): TrainerState {
  const f = (k: number) => Float32Array.from({ length: n }, (_, i) => step * 100 + k * 10 + i + 0.25);
  return {
    step,
    params: f(1),
    m: f(2),
    v: f(3),
    sampler: { epoch: 0, microBatch: step * 2, step, numExamples: 40, seed: 42 },
    early: { best: 1.5, bad: 1 },
    best: withBest ? { step: step - 1, evalLoss: 1.25, params: f(4) } : null,
  };
}

const metrics = (step: number, evalLoss?: number): StepMetrics => ({
  step,
  totalSteps: 10,
  epoch: step / 10,
  loss: 2 - step / 10,
  lr: 1e-3,
  gradNorm: step === 3 ? NaN : 0.5,
  tokens: 100,
  tokensPerSecond: 50,
  stepMs: 2000,
  ...(evalLoss !== undefined ? { evalLoss } : {}),
});

const run = {
  runId: 'run-1',
  createdAt: 1000,
  hparams: DEFAULT_HPARAMS,
  model: { kind: 'demo' as const },
  modelName: 'demo',
  modelFingerprint: 'fp',
  dataset: { name: 'sql.json', bytes: 3, format: null },
  totalSteps: 10,
  fromImportedAdapter: false,
};
const adapter = { safetensors: new Uint8Array([1, 2, 3]), config: '{"r": 8}' };
const data = (s: TrainerState, history: StepMetrics[] = [], activeMs = 0): CheckpointData => ({
  state: s,
  adapter,
  history,
  activeMs,
  hparams: DEFAULT_HPARAMS,
  totalSteps: 10,
});

describe('TrainerState codec', () => {
  it('round-trips params, moments and the best params bit for bit', () => {
    const s = state(4, 7);
    const { bytes, lengths } = encodeState(s);
    expect(bytes.byteLength).toBe(7 * 4 * 4);
    const back = decodeState(bytes, {
      step: 4,
      sampler: s.sampler,
      early: s.early,
      best: { step: 3, evalLoss: 1.25 },
      lengths,
      history: [],
      activeMs: 0,
      savedAt: 0,
    });
    expect(back).toEqual(s);
  });

  it('refuses a state file of the wrong size, naming the checkpoint', () => {
    const { lengths } = encodeState(state(2));
    expect(() =>
      decodeState(new Uint8Array(8), {
        step: 2,
        sampler: null,
        early: { best: null, bad: 0 },
        best: null,
        lengths,
        history: [],
        activeMs: 0,
        savedAt: 0,
      }),
    ).toThrow('checkpoint-2/state.bin has 8 bytes');
  });
});

describe('CheckpointStore', () => {
  it('saves, lists and loads the newest checkpoint with its metrics (non-finite values kept)', async () => {
    const root = new MemoryDir();
    const store = new CheckpointStore(root);
    await store.createRun(run, new Blob(['abc']));
    const history = [1, 2, 3, 4, 5].map((s) => metrics(s, s === 4 ? 1.1 : undefined));
    await store.save('run-1', data(state(2), history, 4000));
    await store.save('run-1', data(state(4), history, 8000));
    const list = await store.list();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ runId: 'run-1', step: 4, totalSteps: 10, finished: false, dataset: 'sql.json' });
    const loaded = await store.load('run-1');
    expect(loaded.state).toEqual(state(4));
    expect(loaded.activeMs).toBe(8000);
    // metrics after the checkpoint's step are not part of it
    expect(loaded.history.map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(loaded.history[2].gradNorm).toBeNaN();
    expect(loaded.history[3].evalLoss).toBe(1.1);
    expect(new TextDecoder().decode(await (await store.dataset('run-1')).arrayBuffer())).toBe('abc');
    expect((await store.load('run-1', 2)).state.step).toBe(2);
  });

  it(`keeps the ${KEEP_CHECKPOINTS} newest checkpoints and ignores one whose meta.json was never written`, async () => {
    const root = new MemoryDir();
    const store = new CheckpointStore(root);
    await store.createRun(run, new Blob(['abc']));
    for (const s of [2, 4, 6]) await store.save('run-1', data(state(s)));
    const runDir = root.dirs.get('runs')!.dirs.get('run-1')!;
    expect([...runDir.dirs.keys()].sort()).toEqual(['checkpoint-4', 'checkpoint-6']);
    // a crash while writing checkpoint 8: everything but meta.json reached the disk
    root.failNextWrite('meta.json');
    await expect(store.save('run-1', data(state(8)))).rejects.toThrow('disk full while writing meta.json');
    expect(runDir.dirs.get('checkpoint-8')!.files.has('state.bin')).toBe(true);
    expect((await store.list())[0].step).toBe(6);
    expect((await store.load('run-1')).state).toEqual(state(6));
    await expect(store.load('run-1', 8)).rejects.toThrow('run run-1 has no complete checkpoint at step 8');
  });

  it('marks a run finished and deletes it', async () => {
    const store = new CheckpointStore(new MemoryDir());
    await store.createRun(run, new Blob(['abc']));
    await store.save('run-1', data(state(2)));
    await store.markFinished('run-1', { kind: 'completed', step: 10, message: 'completed 10 steps' });
    expect((await store.list())[0].finished).toBe(true);
    expect((await store.readRun('run-1')).finished?.message).toBe('completed 10 steps');
    await store.delete('run-1');
    expect(await store.list()).toEqual([]);
    await expect(store.load('run-1')).rejects.toThrow('checkpoint run run-1 does not exist');
  });

  it('lists nothing for runs without a complete checkpoint', async () => {
    const store = new CheckpointStore(new MemoryDir());
    await store.createRun(run, new Blob(['abc']));
    expect(await store.list()).toEqual([]);
  });
});
