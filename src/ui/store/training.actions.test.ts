import { afterEach, describe, expect, it } from 'vitest';
import { setStudioWorker, type StudioRemote } from '../../worker/client';
import type { DatasetSummary, ModelSummary, StartOptions, TrainEvent } from '../../worker/api';
import { useStudio } from './store';
import { startBlocker, startTraining, stopTraining } from './training.actions';
import { IDLE } from './training';
import { DEFAULT_HPARAMS } from '../../config/hparams';

const summary = { name: 'demo', fingerprint: 'fp' } as ModelSummary;
const dataset = {
  name: 'd.jsonl',
  records: 5,
  totalRecords: 9,
  errorCount: 4,
  errors: [],
  revision: 1,
} as unknown as DatasetSummary;

function ready() {
  useStudio.setState((s) => ({
    gpu: { status: 'ready', info: null, error: null },
    model: { ...s.model, status: 'ready', summary },
    dataset: { ...s.dataset, status: 'ready', summary: dataset, accepted: false, prepareError: null },
    hparams: DEFAULT_HPARAMS,
    hparamIssues: {},
    training: IDLE,
  }));
}

afterEach(() => setStudioWorker(null));

describe('starting a run', () => {
  it('says why it cannot start, step by step, in the words of the panels', () => {
    ready();
    expect(startBlocker()).toBe('the dataset has bad records: review them and choose to continue with the good ones');
    useStudio.getState().acceptDatasetErrors();
    expect(startBlocker()).toBeNull();
    useStudio.getState().setTraining('max_steps', 0);
    expect(startBlocker()).toBe('fix max_steps: max_steps is -1 (use epochs) or at least 1');
  });

  it('sends the form to the worker and follows the run from its events', async () => {
    ready();
    useStudio.getState().acceptDatasetErrors();
    useStudio.getState().setTraining('max_steps', 2);
    const calls: StartOptions[] = [];
    let emit: ((e: TrainEvent) => void) | null = null;
    setStudioWorker({
      start: async (opts: StartOptions, e: (ev: TrainEvent) => void) => {
        calls.push(opts);
        emit = e;
        e({
          status: 'started',
          runId: 'run-x',
          hparams: opts.hparams,
          fromAdapter: null,
          totalSteps: 2,
          stepsPerEpoch: 3,
          trainableLine: 'trainable params: 1',
          train: 4,
          val: 1,
          history: [],
          resumedFrom: null,
          activeMs: 0,
          gpuBytes: 0,
        });
        return { runId: 'run-x' };
      },
      stop: async () => {
        emit!({
          status: 'done',
          end: { kind: 'user', step: 1, message: 'stopped by you at step 1 of 2' },
          best: null,
          activeMs: 5,
        });
      },
      listCheckpoints: async () => [],
    } as unknown as StudioRemote);
    await startTraining();
    expect(calls).toHaveLength(1);
    expect(calls[0].hparams.training.max_steps).toBe(2);
    expect(calls[0].fromImportedAdapter).toBe(false);
    const t = useStudio.getState().training;
    expect(t.status).toBe('running');
    expect(t.runId).toBe('run-x');
    expect(useStudio.getState().ui.tab).toBe('training');
    emit!({
      status: 'step',
      metrics: {
        step: 1,
        totalSteps: 2,
        epoch: 0.3,
        loss: 1.5,
        lr: 1e-4,
        gradNorm: 1,
        tokens: 10,
        tokensPerSecond: 5,
        stepMs: 2,
      },
      activeMs: 2,
      gpuBytes: 0,
      best: null,
    });
    expect(startBlocker()).toBe('a run is in progress');
    await stopTraining();
    expect(useStudio.getState().training.status).toBe('done');
    expect(useStudio.getState().training.end?.message).toBe('stopped by you at step 1 of 2');
    expect(
      useStudio
        .getState()
        .training.history.toArray()
        .map((m) => m.loss),
    ).toEqual([1.5]);
  });

  it('a worker rejection leaves the studio idle with the message', async () => {
    ready();
    useStudio.getState().acceptDatasetErrors();
    setStudioWorker({
      start: async () => {
        throw new Error('setting up the run: GPU out-of-memory error: buffer too large');
      },
    } as unknown as StudioRemote);
    await startTraining();
    expect(useStudio.getState().training.status).toBe('idle');
    expect(useStudio.getState().training.error).toBe('setting up the run: GPU out-of-memory error: buffer too large');
  });
});
