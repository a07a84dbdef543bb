// The benchmark page's worker calls: the estimate of a configuration (no GPU work) and its run.

import type { BenchRequest } from '../../worker/api';
import { callback, errorMessage, studioWorker } from '../../worker/client';
import { downloadText } from '../lib/download';
import { useStudio } from './store';

const get = useStudio.getState;
const set = useStudio.setState;
const MAX_LOG = 200;

function patch(p: Partial<ReturnType<typeof get>['bench']>): void {
  set((s) => ({ bench: { ...s.bench, ...p } }));
}

/** Estimates `request`; a stale answer (the form changed meanwhile) is dropped. */
export async function refreshBenchEstimate(request: BenchRequest): Promise<void> {
  try {
    const estimate = await studioWorker().benchEstimate(request);
    if (get().bench.request === request) patch({ estimate });
  } catch (e) {
    if (get().bench.request === request) patch({ estimate: null, error: errorMessage(e) });
  }
}

export async function runBench(): Promise<void> {
  const { request, running } = get().bench;
  if (running) return;
  patch({ running: true, log: [], error: null });
  try {
    const result = await studioWorker().bench(
      request,
      callback((line: string) => set((s) => ({ bench: { ...s.bench, log: [...s.bench.log, line].slice(-MAX_LOG) } }))),
    );
    set((s) => ({ bench: { ...s.bench, results: [...s.bench.results, result] } }));
  } catch (e) {
    patch({ error: errorMessage(e) });
  } finally {
    patch({ running: false });
  }
}

export function clearBenchResults(): void {
  patch({ results: [], log: [], error: null });
}

/** The results as `npm run bench` prints them: one JSON object per line. */
export function benchJsonLines(): string {
  return get()
    .bench.results.map((r) => JSON.stringify(r))
    .join('\n');
}

export function downloadBenchResults(): void {
  downloadText(benchJsonLines() + '\n', 'lora-studio-bench.jsonl', 'application/x-ndjson');
}
