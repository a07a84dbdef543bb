// The studio's one store. Slices keep their state and synchronous actions together; the actions
// that talk to the worker are module-level (*.actions.ts) and write through useStudio.setState,
// which is also how worker callbacks (progress, training events) reach the page. Hyperparameters,
// the Hub endpoint and chart settings persist in localStorage (versioned); nothing else does.

import { create } from 'zustand';
import { createJSONStorage, persist, type PersistStorage } from 'zustand/middleware';
import { createGpuSlice } from './gpu';
import { createModelSlice, DEFAULT_ENDPOINT } from './model';
import { createDatasetSlice } from './dataset';
import { createHparamsSlice, issuesOf, restoreHparams } from './hparams';
import { createTrainingSlice } from './training';
import { createSamplesSlice } from './samples';
import { createUiSlice } from './ui';
import { createBenchSlice } from './bench';
import type { Studio } from './types';

export const PERSIST_KEY = 'lora-studio';
export const PERSIST_VERSION = 1;

interface Persisted {
  hparams: unknown;
  endpoint: string;
  logScale: boolean;
  smoothing: number;
}

/**
 * Writes only when a persisted field changed (compared by identity: the slices replace what they
 * change). zustand's persist writes on every setState, and during a run every optimizer step is
 * one: a JSON.stringify of the hyperparameters and a synchronous localStorage write per step.
 */
export function changedOnly<S extends object>(inner: PersistStorage<S> | undefined): PersistStorage<S> | undefined {
  if (!inner) return inner;
  let last: S | null = null;
  return {
    getItem: (name) => inner.getItem(name),
    removeItem: (name) => inner.removeItem(name),
    setItem: (name, value) => {
      const s = value.state;
      const prev = last;
      if (prev && (Object.keys(s) as (keyof S)[]).every((k) => Object.is(s[k], prev[k]))) return;
      last = s;
      return inner.setItem(name, value);
    },
  };
}

export const useStudio = create<Studio>()(
  persist(
    (...a) => ({
      ...createGpuSlice(...a),
      ...createModelSlice(...a),
      ...createDatasetSlice(...a),
      ...createHparamsSlice(...a),
      ...createTrainingSlice(...a),
      ...createSamplesSlice(...a),
      ...createUiSlice(...a),
      ...createBenchSlice(...a),
    }),
    {
      name: PERSIST_KEY,
      version: PERSIST_VERSION,
      storage: changedOnly(createJSONStorage<Persisted>(() => localStorage)),
      partialize: (s): Persisted => ({
        hparams: s.hparams,
        endpoint: s.hub.endpoint,
        logScale: s.ui.logScale,
        smoothing: s.ui.smoothing,
      }),
      // An older or unknown version keeps nothing but what still validates.
      migrate: (old) => old as Persisted,
      merge: (saved, current) => {
        const p = (saved ?? {}) as Partial<Persisted>;
        const hparams = restoreHparams(p.hparams);
        return {
          ...current,
          hparams,
          hparamIssues: issuesOf(hparams),
          hub: {
            ...current.hub,
            endpoint: typeof p.endpoint === 'string' && p.endpoint ? p.endpoint : DEFAULT_ENDPOINT,
          },
          ui: {
            ...current.ui,
            logScale: p.logScale === true,
            smoothing:
              typeof p.smoothing === 'number' && p.smoothing >= 0 && p.smoothing < 1
                ? p.smoothing
                : current.ui.smoothing,
          },
        };
      },
    },
  ),
);
