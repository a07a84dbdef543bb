// What the training panel derives from the run's history, maintained incrementally so the work
// per optimizer step does not grow with the run: each chart's series object reads only the steps
// it has not seen yet (the history is append-only, see store/history.ts) into decimators, and
// hands recharts at most about MAX_POINTS rows per series. The step log reads back from the end.
// A new run, or another smoothing or scale, starts a series over (once, not per step).

import type { StepMetrics } from '../../engine/train/trainer';
import type { History } from '../store/history';
import type { Studio } from '../store/types';
import { Decimator, Ema } from '../lib/series';

/**
 * What a chart reads from the store: a new object only when one of its values changes (a new step
 * changes `history`), so each chart updates once per step at most, and useStaggered delivers it
 * later, in its own task (it compares the selection by identity).
 */
export function runView(s: Studio): RunView {
  const t = s.training;
  if (lastView && lastView.history === t.history && lastView.totalSteps === t.totalSteps && lastView.best === t.best)
    return lastView;
  return (lastView = { history: t.history, totalSteps: t.totalSteps, best: t.best });
}
export type RunView = Pick<Studio['training'], 'history' | 'totalSteps' | 'best'>;
let lastView: RunView | null = null;

/**
 * Min and max of every four or so pixel columns of the wide loss chart, about one point per column
 * of the small ones: what recharts draws per update is bounded by this, not by the run (at 400,
 * one redraw of the four charts took 100-170 ms on a 4x-throttled CPU; docs/performance.md).
 */
export const MAX_POINTS = 200;

export type Row = Record<string, number>;

/**
 * Counters of the derivation work, for the test that checks it stays flat over a long run and
 * for the responsiveness measurement: rows rebuilt (one per chart update) and elements touched
 * (steps read, bucket entries merged, points and rows produced).
 */
export const chartWork = { rebuilds: 0, elements: 0 };

/** Steps of the history this series has not read yet, resetting when the history is another run's. */
abstract class IncrementalSeries {
  private seen: History | null = null;

  protected abstract reset(): void;
  protected abstract read(m: StepMetrics): void;
  protected abstract build(): Row[];

  rows(h: History): Row[] {
    let from = 0;
    if (this.seen && h.extends(this.seen)) from = this.seen.length;
    else this.reset();
    for (let i = from; i < h.length; i++) this.read(h.at(i)!);
    this.seen = h;
    const rows = this.build();
    chartWork.rebuilds++;
    chartWork.elements += h.length - from + rows.length;
    return rows;
  }

  protected static decimator(): Decimator {
    return new Decimator(MAX_POINTS / 2);
  }

  /** Work done inside decimators since the last call (merges and points), added to chartWork. */
  protected static count(...ds: Decimator[]): void {
    for (const d of ds) {
      chartWork.elements += d.work;
      d.work = 0;
    }
  }
}

/**
 * The loss chart: raw and smoothed training loss and the validation loss. The smoothed value
 * travels with each raw point, so both lines share their steps (one row each, not two).
 */
export class LossSeries extends IncrementalSeries {
  private raw = IncrementalSeries.decimator();
  private evals = IncrementalSeries.decimator();
  private ema: Ema;

  constructor(
    readonly smoothing: number,
    readonly log: boolean,
  ) {
    super();
    this.ema = new Ema(smoothing);
  }

  protected reset(): void {
    this.raw = IncrementalSeries.decimator();
    this.evals = IncrementalSeries.decimator();
    this.ema = new Ema(this.smoothing);
  }

  protected read(m: StepMetrics): void {
    const s = this.ema.push(m.loss);
    // a log axis cannot draw values at or below 0: they become gaps
    const ok = (y: number) => !this.log || y > 0;
    if (ok(m.loss)) this.raw.push(m.step, m.loss, ok(s) ? s : undefined);
    if (m.evalLoss !== undefined && ok(m.evalLoss)) this.evals.push(m.step, m.evalLoss);
  }

  protected build(): Row[] {
    const rows: Row[] = [];
    for (const p of this.raw.points()) {
      const row: Row = { x: p.x, loss: p.y };
      if (p.s !== undefined && Number.isFinite(p.s)) row.smoothed = p.s;
      rows.push(row);
    }
    const evals = this.evals.points();
    // eval steps are few: put each on its row (or a row of its own, in step order)
    let i = 0;
    const out: Row[] = [];
    for (const e of evals) {
      for (; i < rows.length && rows[i].x < e.x; i++) out.push(rows[i]);
      if (i < rows.length && rows[i].x === e.x) out.push({ ...rows[i++], eval: e.y });
      else out.push({ x: e.x, eval: e.y });
    }
    for (; i < rows.length; i++) out.push(rows[i]);
    IncrementalSeries.count(this.raw, this.evals);
    return out;
  }
}

/** A one-line chart of f(metrics) (learning rate, gradient norm, throughput), as rows { x, y }. */
export class MetricSeries extends IncrementalSeries {
  private d = IncrementalSeries.decimator();

  constructor(
    readonly f: (m: StepMetrics) => number,
    readonly log: boolean,
  ) {
    super();
  }

  protected reset(): void {
    this.d = IncrementalSeries.decimator();
  }

  protected read(m: StepMetrics): void {
    const y = this.f(m);
    if (!this.log || y > 0) this.d.push(m.step, y);
  }

  protected build(): Row[] {
    const rows = this.d.points().map((p) => ({ x: p.x, y: p.y }));
    IncrementalSeries.count(this.d);
    return rows;
  }
}

export interface LogRow {
  step: number;
  loss: number;
  evalLoss?: number;
  lr: number;
  gradNorm: number;
  tps: number;
  epoch: number;
}

/**
 * The step log's newest `count` rows, newest first, as Hugging Face logs them: the mean training
 * loss over each logging_steps window, and every evaluation. Read back from the end of the
 * history: O(count * every), whatever the length of the run.
 */
export function logRows(h: History, every: number, count: number): LogRow[] {
  const rows: LogRow[] = [];
  const boundary = (m: StepMetrics) => m.step % every === 0 || m.evalLoss !== undefined;
  let read = 0;
  for (let i = h.length - 1; i >= 0 && rows.length < count;) {
    const m = h.at(i)!;
    let sum = m.loss;
    let n = 1;
    let j = i - 1;
    for (; j >= 0 && !boundary(h.at(j)!); j--) {
      sum += h.at(j)!.loss;
      n++;
    }
    read += n;
    rows.push({
      step: m.step,
      loss: sum / n,
      evalLoss: m.evalLoss,
      lr: m.lr,
      gradNorm: m.gradNorm,
      tps: m.tokensPerSecond,
      epoch: m.epoch,
    });
    i = j;
  }
  chartWork.rebuilds++;
  chartWork.elements += read + rows.length;
  return rows;
}
