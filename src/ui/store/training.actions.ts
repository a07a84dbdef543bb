// Starting, pausing, resuming and stopping a run, and resuming a saved one. The worker reports
// every optimizer step to onTrainEvent (module-level, so any component sees the same run).

import type { CheckpointInfo, TrainEvent } from '../../worker/api';
import type { FileEntry } from '../../worker/studio';
import { callback, errorMessage, studioWorker } from '../../worker/client';
import { useStudio } from './store';
import { applyTrainEvent, IDLE } from './training';
import { datasetUsable } from './dataset';
import { issuesOf } from './hparams';
import { withAdapterLora } from '../../config/hparams';
import { loadDemoModel } from './model.actions';
import { whenChartsMounted } from '../charts/useStaggered';
import { stillUsing } from '../lib/format';

const set = useStudio.setState;
const get = useStudio.getState;

/** Module-level: the worker calls this once per optimizer step and on every change of state. */
export const onTrainEvent = (e: TrainEvent) => {
  set((s) => ({ training: applyTrainEvent(s.training, e, performance.now()) }));
  if (e.status === 'done' || e.status === 'checkpoint') void refreshCheckpoints();
};

/** Why the run cannot start yet, or null. */
export function startBlocker(s = get()): string | null {
  if (s.gpu.status !== 'ready') return 'WebGPU is not ready';
  if (s.model.status !== 'ready') return 'load a base model first';
  if (!s.dataset.summary) return 'load a dataset first';
  if (!datasetUsable(s.dataset))
    return 'the dataset has bad records: review them and choose to continue with the good ones';
  if (s.dataset.prepareError) return s.dataset.prepareError;
  const issues = Object.entries(s.hparamIssues);
  if (issues.length) return `fix ${issues[0][0].split('.')[1]}: ${issues[0][1]}`;
  if (['starting', 'running', 'paused', 'stopping'].includes(s.training.status)) return 'a run is in progress';
  return null;
}

export async function startTraining(): Promise<void> {
  const blocker = startBlocker();
  if (blocker) {
    set((s) => ({ training: { ...s.training, error: blocker } }));
    return;
  }
  const s = get();
  const fromAdapter = s.adapter.use && s.adapter.imported ? s.adapter.imported.name : null;
  set((x) => ({
    training: { ...IDLE, status: 'starting', fromAdapter, hparams: s.hparams },
    ui: { ...x.ui, tab: 'training' },
  }));
  await whenChartsMounted('[data-testid="panel-training"]');
  try {
    await studioWorker().start(
      { hparams: s.hparams, fromImportedAdapter: fromAdapter !== null },
      callback(onTrainEvent),
    );
  } catch (e) {
    set((x) => ({ training: { ...x.training, status: 'idle', error: errorMessage(e) } }));
  }
}

export function pauseTraining(): void {
  void studioWorker().pause();
}

export function resumeTraining(): void {
  void studioWorker().resume();
}

export async function stopTraining(): Promise<void> {
  set((s) => ({ training: { ...s.training, status: 'stopping' } }));
  try {
    await studioWorker().stop();
  } catch (e) {
    set((s) => ({ training: { ...s.training, error: errorMessage(e) } }));
  }
}

export async function refreshCheckpoints(): Promise<void> {
  try {
    const list = await studioWorker().listCheckpoints();
    set((s) => ({ checkpoints: { ...s.checkpoints, list, error: null } }));
  } catch (e) {
    set((s) => ({ checkpoints: { ...s.checkpoints, error: errorMessage(e) } }));
  }
}

/**
 * Continues a saved run from its newest checkpoint: loads the demo model itself when the run used
 * it; for other models the user loads the same model first.
 */
export async function resumeSavedRun(c: CheckpointInfo): Promise<void> {
  set((s) => ({ checkpoints: { ...s.checkpoints, busy: c.runId, error: null } }));
  try {
    const s = get();
    if (s.model.summary?.fingerprint !== c.modelFingerprint) {
      if (c.model.kind !== 'demo') {
        throw new Error(
          c.model.kind === 'hub'
            ? `load ${c.model.repo} (revision ${c.model.revision}) from the Hub first, then resume`
            : `load the model folder "${c.modelName}" first, then resume`,
        );
      }
      if (!(await loadDemoModel())) throw new Error(get().model.error ?? 'the demo model could not be loaded');
    }
    set((x) => ({ training: { ...IDLE, status: 'starting' }, ui: { ...x.ui, tab: 'training' } }));
    await whenChartsMounted('[data-testid="panel-training"]');
    const { dataset, hparams } = await studioWorker().resumeRun(c.runId, callback(onTrainEvent));
    set((x) => ({
      hparams,
      hparamIssues: issuesOf(hparams),
      dataset: {
        ...x.dataset,
        status: 'ready',
        summary: dataset,
        accepted: true,
        format: null,
        prepared: null,
        error: null,
      },
    }));
  } catch (e) {
    set((x) => ({
      training: x.training.status === 'starting' ? { ...x.training, status: 'idle' } : x.training,
      checkpoints: { ...x.checkpoints, error: errorMessage(e) },
    }));
  } finally {
    set((x) => ({ checkpoints: { ...x.checkpoints, busy: null } }));
  }
}

export async function deleteSavedRun(runId: string): Promise<void> {
  try {
    await studioWorker().deleteCheckpoint(runId);
  } catch (e) {
    set((s) => ({ checkpoints: { ...s.checkpoints, error: errorMessage(e) } }));
  }
  await refreshCheckpoints();
}

/** Reads a PEFT adapter folder; its r, alpha and target modules replace the form's. */
export async function importAdapter(files: FileEntry[]): Promise<void> {
  set((s) => ({ adapter: { ...s.adapter, busy: true, error: null } }));
  try {
    const imported = await studioWorker().importAdapter(files);
    set((s) => {
      const hparams = withAdapterLora(s.hparams, imported.lora);
      return { adapter: { imported, use: true, busy: false, error: null }, hparams, hparamIssues: issuesOf(hparams) };
    });
  } catch (e) {
    set((s) => ({
      adapter: { ...s.adapter, busy: false, error: stillUsing(errorMessage(e), s.adapter.imported?.name) },
    }));
  }
}

export function setUseImportedAdapter(use: boolean): void {
  set((s) => ({ adapter: { ...s.adapter, use: use && s.adapter.imported !== null } }));
}

export async function clearImportedAdapter(): Promise<void> {
  await studioWorker().clearImportedAdapter();
  set({ adapter: { imported: null, use: false, busy: false, error: null } });
}

/** Validation loss of the run's current adapter, now (between two steps when training). */
export async function evaluateNow(): Promise<void> {
  set((s) => ({ training: { ...s.training, evaluating: true, evaluated: null } }));
  try {
    const loss = await studioWorker().evaluate();
    set((s) => ({
      training: { ...s.training, evaluating: false, evaluated: { step: s.training.history.last()?.step ?? 0, loss } },
    }));
  } catch (e) {
    set((s) => ({
      training: { ...s.training, evaluating: false, warnings: [...s.training.warnings, errorMessage(e)] },
    }));
  }
}
