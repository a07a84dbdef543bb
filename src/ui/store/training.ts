// The training run as the page sees it, rebuilt from the worker's events (applyTrainEvent, a pure
// reducer, so the page's view of a run is testable without a worker), and the saved runs that can
// be resumed.

import { AUTOSAVE_INTERVAL_MS } from '../../run/save-rule';
import type { StepMetrics } from '../../engine/train/trainer';
import type { BestInfo, CheckpointInfo, RunEnd, TrainEvent } from '../../worker/api';
import type { Hparams } from '../../config/hparams';
import type { SliceCreator } from './types';
import { History } from './history';
import { plural } from '../lib/format';

export type RunStatus = 'idle' | 'starting' | 'running' | 'paused' | 'stopping' | 'done';

export interface TrainingState {
  status: RunStatus;
  runId: string | null;
  /** The run's hyperparameters (the form may have changed since it started). */
  hparams: Hparams | null;
  totalSteps: number;
  stepsPerEpoch: number;
  trainableLine: string;
  train: number;
  val: number;
  /** One entry per optimizer step, appended in O(1) (see history.ts). */
  history: History;
  best: BestInfo | null;
  end: RunEnd | null;
  /** Active training time reported by the worker, and when (page clock) it was reported. */
  activeMs: number;
  reportedAt: number;
  gpuBytes: number;
  lastCheckpoint: number | null;
  resumedFrom: number | null;
  /** The adapter the run started from, when it continues an imported one. */
  fromAdapter: string | null;
  /** Problems during the run (a failed checkpoint) and the error that ended it. */
  warnings: string[];
  error: string | null;
  /** "Evaluate now": in progress, and the last result with the step it was taken at. */
  evaluating: boolean;
  evaluated: { step: number; loss: number } | null;
}

export const IDLE: TrainingState = {
  status: 'idle',
  runId: null,
  hparams: null,
  totalSteps: 0,
  stepsPerEpoch: 0,
  trainableLine: '',
  train: 0,
  val: 0,
  history: History.EMPTY,
  best: null,
  end: null,
  activeMs: 0,
  reportedAt: 0,
  gpuBytes: 0,
  lastCheckpoint: null,
  resumedFrom: null,
  fromAdapter: null,
  warnings: [],
  error: null,
  evaluating: false,
  evaluated: null,
};

export function applyTrainEvent(t: TrainingState, e: TrainEvent, now: number): TrainingState {
  switch (e.status) {
    case 'started':
      return {
        ...IDLE,
        status: 'running',
        runId: e.runId,
        hparams: e.hparams,
        fromAdapter: e.fromAdapter,
        totalSteps: e.totalSteps,
        stepsPerEpoch: e.stepsPerEpoch,
        trainableLine: e.trainableLine,
        train: e.train,
        val: e.val,
        history: History.of(e.history),
        best: bestOf(e.history),
        activeMs: e.activeMs,
        reportedAt: now,
        gpuBytes: e.gpuBytes,
        resumedFrom: e.resumedFrom,
        lastCheckpoint: e.resumedFrom,
        warnings: t.status === 'starting' ? t.warnings : [],
      };
    case 'step':
      return {
        ...t,
        status: t.status === 'stopping' || t.status === 'paused' ? t.status : 'running',
        history: t.history.append(e.metrics),
        best: e.best,
        activeMs: e.activeMs,
        reportedAt: now,
        gpuBytes: e.gpuBytes,
      };
    case 'checkpoint':
      return { ...t, lastCheckpoint: e.step };
    case 'paused':
      return { ...t, status: t.status === 'stopping' ? t.status : 'paused' };
    case 'resumed':
      return { ...t, status: t.status === 'stopping' ? t.status : 'running', reportedAt: now };
    case 'done':
      return { ...t, status: 'done', end: e.end, best: e.best, activeMs: e.activeMs, reportedAt: now };
    case 'error':
      return e.fatal ? { ...t, error: e.message } : { ...t, warnings: [...t.warnings, e.message] };
  }
}

/** The lowest validation loss in a history (the first such step on ties), as the trainer keeps it. */
export function bestOf(history: Iterable<StepMetrics>): BestInfo | null {
  let best: BestInfo | null = null;
  for (const m of history) {
    if (m.evalLoss !== undefined && Number.isFinite(m.evalLoss) && (best === null || m.evalLoss < best.evalLoss)) {
      best = { step: m.step, evalLoss: m.evalLoss };
    }
  }
  return best;
}

/**
 * The "last checkpoint" figure and its hint, from the checkpoint events the run sent: the step of
 * the newest saved checkpoint, and, once the run has ended past it, that the steps after it are
 * not in it (a finished run is not offered for resumption; the adapter is exported from the page).
 */
export function checkpointStat(t: TrainingState): { value: string; hint: string } {
  // The session's rule (run/save-rule.ts): every save_steps steps when set, else by elapsed time.
  const every = t.hparams?.training.save_steps ?? 0;
  const cadence =
    every === 1
      ? 'every step'
      : every > 1
        ? `every ${plural(every, 'step')}`
        : `after step 1, then every ${AUTOSAVE_INTERVAL_MS / 60_000} minutes of training`;
  const ended = t.status === 'done';
  const lastStep = t.history.last()?.step ?? 0;
  if (t.lastCheckpoint === null) return { value: ended ? 'none' : 'none yet', hint: cadence };
  const value = `step ${t.lastCheckpoint}`;
  if (ended && lastStep > t.lastCheckpoint) return { value, hint: `the run ended later, at step ${lastStep}` };
  if (ended) return { value, hint: 'the end of the run' };
  return { value, hint: cadence };
}

export interface TrainingSlice {
  training: TrainingState;
  checkpoints: { list: CheckpointInfo[]; busy: string | null; error: string | null };
}

export const createTrainingSlice: SliceCreator<TrainingSlice> = () => ({
  training: IDLE,
  checkpoints: { list: [], busy: null, error: null },
});
