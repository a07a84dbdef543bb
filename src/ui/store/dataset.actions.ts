// Loading and preparing the dataset through the worker. The file is parsed there (streamed, off
// the main thread); preparation tokenizes every record for the loaded model.

import type { DatasetFormat, DatasetSummary, LoadStatus } from '../../worker/api';
import { callback, errorMessage, studioWorker } from '../../worker/client';
import { useStudio } from './store';
import { stillUsing } from '../lib/format';

const set = useStudio.setState;
const get = useStudio.getState;

export const onDatasetStatus = (p: LoadStatus) => set((s) => ({ dataset: { ...s.dataset, progress: p } }));

async function load(label: string, fn: () => Promise<DatasetSummary>, format: DatasetFormat | null): Promise<boolean> {
  set((s) => ({ dataset: { ...s.dataset, status: 'loading', loading: label, progress: null, error: null } }));
  try {
    const summary = await fn();
    set((s) => ({
      dataset: {
        ...s.dataset,
        status: 'ready',
        loading: null,
        progress: null,
        summary,
        error: null,
        format,
        accepted: summary.errorCount === 0,
        prepared: null,
        prepareError: null,
      },
      samples: { ...s.samples, prompts: [], choice: 'custom' },
    }));
    return true;
  } catch (e) {
    set((s) => ({
      dataset: {
        ...s.dataset,
        status: s.dataset.summary ? 'ready' : 'empty',
        loading: null,
        progress: null,
        error: stillUsing(errorMessage(e), s.dataset.summary?.name),
      },
    }));
    return false;
  }
}

export const loadDatasetFile = (file: File) =>
  load(file.name, () => studioWorker().loadDataset(file, file.name, null, callback(onDatasetStatus)), null);

export const loadDemoDataset = () =>
  load('sql-demo.json', () => studioWorker().loadDemoDataset(callback(onDatasetStatus)), null);

export const setDatasetFormat = (format: DatasetFormat | null) =>
  load(
    get().dataset.summary?.name ?? 'dataset',
    () => studioWorker().setDatasetFormat(format, callback(onDatasetStatus)),
    format,
  );

let prepareSeq = 0;

/** Tokenizes the dataset for the model with the current max_seq_length, split and seed. */
export async function prepareDataset(): Promise<void> {
  const s = get();
  if (s.model.status !== 'ready' || !s.dataset.summary) return;
  const t = s.hparams.training;
  if (
    s.hparamIssues['training.max_seq_length'] ||
    s.hparamIssues['training.val_split_fraction'] ||
    s.hparamIssues['training.seed']
  )
    return;
  const seq = ++prepareSeq;
  set((x) => ({ dataset: { ...x.dataset, preparing: true, prepareError: null } }));
  try {
    const prepared = await studioWorker().prepare(
      {
        max_seq_length: t.max_seq_length,
        train_on_inputs: t.train_on_inputs,
        mask_history: t.mask_history,
        val_split_fraction: t.val_split_fraction,
        seed: t.seed,
      },
      callback(onDatasetStatus),
    );
    if (seq !== prepareSeq) return;
    set((x) => ({ dataset: { ...x.dataset, prepared, preparing: false, progress: null } }));
  } catch (e) {
    if (seq !== prepareSeq) return;
    set((x) => ({
      dataset: { ...x.dataset, prepared: null, preparing: false, progress: null, prepareError: errorMessage(e) },
    }));
  }
}

let estimateSeq = 0;

/** Trainable parameters, total steps and memory for the current form values. */
export async function refreshEstimate(): Promise<void> {
  const s = get();
  if (s.model.status !== 'ready' || Object.keys(s.hparamIssues).length > 0) return;
  const seq = ++estimateSeq;
  try {
    const estimate = await studioWorker().estimate(s.hparams);
    if (seq === estimateSeq) set({ estimate, estimateError: null });
  } catch (e) {
    if (seq === estimateSeq) set({ estimate: null, estimateError: errorMessage(e) });
  }
}
