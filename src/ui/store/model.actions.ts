// Loading a base model through the worker: the demo, dropped or picked files, or a Hub repo.
// A failed load leaves the model that was loaded before in place (the worker keeps it too).

import type { LoadStatus, ModelSummary } from '../../worker/api';
import type { FileEntry } from '../../worker/studio';
import { callback, errorMessage, studioWorker } from '../../worker/client';
import { useStudio } from './store';
import { IDLE } from './training';
import { stillUsing } from '../lib/format';

const set = useStudio.setState;
const get = useStudio.getState;

/** Module-level: the worker reports loading progress here. */
export const onModelStatus = (p: LoadStatus) => set((s) => ({ model: { ...s.model, progress: p } }));

async function load(label: string, fn: () => Promise<ModelSummary>): Promise<boolean> {
  if (get().model.status === 'loading') return false;
  set((s) => ({ model: { ...s.model, status: 'loading', loading: label, progress: null, error: null } }));
  try {
    const summary = await fn();
    set((s) => ({
      model: { status: 'ready', loading: null, progress: null, summary, error: null },
      // The worker let go of the previous model's run and encoded data.
      training: s.training.status === 'done' ? IDLE : s.training,
      dataset: { ...s.dataset, prepared: null, prepareError: null },
      estimate: null,
    }));
    return true;
  } catch (e) {
    set((s) => ({
      model: {
        ...s.model,
        status: s.model.summary ? 'ready' : 'empty',
        loading: null,
        progress: null,
        error: stillUsing(errorMessage(e), s.model.summary?.name),
      },
    }));
    return false;
  }
}

export const loadDemoModel = () => load('demo model', () => studioWorker().loadDemoModel(callback(onModelStatus)));

export const loadModelFiles = (files: FileEntry[]) =>
  load(files[0]?.path.split('/')[0] || 'files', () => studioWorker().loadModelFiles(files, callback(onModelStatus)));

export const loadHubModel = () => {
  const { repo, revision, token, endpoint } = get().hub;
  if (!repo.trim()) {
    set((s) => ({ model: { ...s.model, error: 'type a Hub model id such as "HuggingFaceTB/SmolLM2-135M-Instruct"' } }));
    return Promise.resolve(false);
  }
  return load(repo.trim(), () =>
    studioWorker().loadHubModel({ repo, revision, accessToken: token, endpoint }, callback(onModelStatus)),
  );
};

export const cancelDownload = () => studioWorker().cancelDownload();
