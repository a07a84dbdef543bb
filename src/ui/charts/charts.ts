// Chart data from the run's history, recomputed per step in O(steps): the raw and smoothed
// training loss, validation loss, learning rate, gradient norm and throughput, each decimated to
// at most MAX_POINTS so the charts stay responsive over thousands of steps.

import type { StepMetrics } from '../../engine/train/trainer';
import { decimateMinMax, emaSmooth, mergeSeries, positiveOnly, type Point } from '../lib/series';

/** About two points per pixel column of a wide chart. */
export const MAX_POINTS = 600;

function pts(history: readonly StepMetrics[], f: (m: StepMetrics) => number | undefined): Point[] {
  const out: Point[] = [];
  for (const m of history) {
    const y = f(m);
    if (y !== undefined) out.push({ x: m.step, y });
  }
  return out;
}

function prepare(points: Point[], log: boolean): Point[] {
  return decimateMinMax(log ? positiveOnly(points) : points, MAX_POINTS);
}

export function lossRows(history: readonly StepMetrics[], smoothing: number, log: boolean): Record<string, number>[] {
  const raw = pts(history, (m) => m.loss);
  const smooth = emaSmooth(
    raw.map((p) => p.y),
    smoothing,
  ).map((y, i) => ({ x: raw[i].x, y }));
  return mergeSeries({
    loss: prepare(raw, log),
    smoothed: prepare(smooth, log),
    eval: prepare(
      pts(history, (m) => m.evalLoss),
      log,
    ),
  });
}

export function seriesRows(
  history: readonly StepMetrics[],
  f: (m: StepMetrics) => number,
  log: boolean,
): Record<string, number>[] {
  return mergeSeries({ y: prepare(pts(history, f), log) });
}
