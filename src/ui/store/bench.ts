// The benchmark page: one configuration of `npm run bench` at a time, run on this browser's
// adapter, and the results of this visit (not persisted: figures belong to the machine they ran on).

import type { BenchEstimate, BenchRequest, BenchResult } from '../../worker/api';
import type { SliceCreator } from './types';

export interface BenchSlice {
  bench: {
    request: BenchRequest;
    /** For `request`; null while it is computed. */
    estimate: BenchEstimate | null;
    running: boolean;
    /** Progress lines of the configuration in progress (the CLI's stderr). */
    log: string[];
    results: BenchResult[];
    error: string | null;
  };
  setBenchRequest: (p: Partial<BenchRequest>) => void;
}

/** `npm run bench`'s defaults for one configuration (the baseline script's case). */
export const DEFAULT_BENCH: BenchRequest = {
  shape: 'tiny',
  targets: ['q_proj', 'v_proj'],
  r: 8,
  batch: 8,
  seq: 256,
  steps: 20,
  warmup: 5,
  dtype: 'BF16',
  nf4: false,
  checkpointing: false,
  profile: true,
};

/** Fewer steps on a CPU adapter, where one tiny step takes seconds (as the CLI does). */
export const CPU_BENCH: Partial<BenchRequest> = { steps: 3, warmup: 1 };

export const createBenchSlice: SliceCreator<BenchSlice> = (set) => ({
  bench: { request: DEFAULT_BENCH, estimate: null, running: false, log: [], results: [], error: null },
  setBenchRequest: (p) =>
    set((s) => ({ bench: { ...s.bench, request: { ...s.bench.request, ...p }, estimate: null } })),
});
