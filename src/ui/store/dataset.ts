// The dataset: the parsed file's summary (format, records, errors), whether the user chose to go
// on with the good records, and the preparation for the model (statistics, split sizes).

import type { DatasetFormat, DatasetSummary, LoadStatus, PreparedSummary } from '../../worker/api';
import type { SliceCreator } from './types';

export interface DatasetSlice {
  dataset: {
    status: 'empty' | 'loading' | 'ready';
    loading: string | null;
    progress: LoadStatus | null;
    summary: DatasetSummary | null;
    error: string | null;
    /** The user's override of the detected format (null: detected). */
    format: DatasetFormat | null;
    /** With bad records: the user agreed to train on the good ones. */
    accepted: boolean;
    prepared: PreparedSummary | null;
    preparing: boolean;
    prepareError: string | null;
  };
  acceptDatasetErrors: () => void;
}

export const createDatasetSlice: SliceCreator<DatasetSlice> = (set) => ({
  dataset: {
    status: 'empty',
    loading: null,
    progress: null,
    summary: null,
    error: null,
    format: null,
    accepted: false,
    prepared: null,
    preparing: false,
    prepareError: null,
  },
  acceptDatasetErrors: () => set((s) => ({ dataset: { ...s.dataset, accepted: true } })),
});

/** Training may use the dataset: it has records, and any bad ones were acknowledged. */
export function datasetUsable(d: DatasetSlice['dataset']): boolean {
  return !!d.summary && d.summary.records > 0 && (d.summary.errorCount === 0 || d.accepted);
}
