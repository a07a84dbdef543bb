// The base model: where it comes from (demo, files, Hub), its loading progress and its summary.

import type { LoadStatus, ModelSummary } from '../../worker/api';
import type { SliceCreator } from './types';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface ModelSlice {
  model: {
    status: 'empty' | 'loading' | 'ready';
    /** What is being loaded ("demo model", a repo id, a folder name). */
    loading: string | null;
    progress: LoadStatus | null;
    summary: ModelSummary | null;
    error: string | null;
  };
  /** The Hub form. The token is never persisted. */
  hub: { repo: string; revision: string; token: string; endpoint: string };
  setHub: (patch: Partial<ModelSlice['hub']>) => void;
}

export const createModelSlice: SliceCreator<ModelSlice> = (set) => ({
  model: { status: 'empty', loading: null, progress: null, summary: null, error: null },
  hub: { repo: '', revision: 'main', token: '', endpoint: DEFAULT_ENDPOINT },
  setHub: (patch) => set((s) => ({ hub: { ...s.hub, ...patch } })),
});
