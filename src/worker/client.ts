// The page's handle on the studio worker: one worker per tab, reached through Comlink. Tests of
// store actions put a fake in its place with setStudioWorker.

import * as Comlink from 'comlink';
import type { StudioApi } from './studio.worker';

export type StudioRemote = Comlink.Remote<StudioApi>;

let remote: StudioRemote | null = null;

export function studioWorker(): StudioRemote {
  if (!remote) {
    const worker = new Worker(new URL('./studio.worker.ts', import.meta.url), { type: 'module', name: 'studio' });
    remote = Comlink.wrap<StudioApi>(worker);
  }
  return remote;
}

export function setStudioWorker(fake: StudioRemote | null): void {
  remote = fake;
}

/** Wraps a callback so the worker can call it (progress, training events, streamed text). */
export const callback = <T extends (...args: never[]) => unknown>(fn: T): T => Comlink.proxy(fn) as unknown as T;

/** The message of whatever a worker call rejected with. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : typeof e === 'string' ? e : String(e);
}
