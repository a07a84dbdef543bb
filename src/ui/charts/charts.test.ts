import { describe, expect, it } from 'vitest';
import { shallow } from 'zustand/shallow';
import { chartWork, logRows, LossSeries, MAX_POINTS, MetricSeries, runView } from './charts';
import { useStudio } from '../store/store';
import { onTrainEvent } from '../store/training.actions';
import { History } from '../store/history';
import { IDLE } from '../store/training';
import { emaSmooth, extent, type Point } from '../lib/series';
import { nextYAxis, type Axis } from './ticks';
import { DEFAULT_HPARAMS } from '../../config/hparams';
import type { StepMetrics } from '../../engine/train/trainer';
import type { Studio } from '../store/types';

const metrics = (step: number, total: number): StepMetrics => ({
  step,
  totalSteps: total,
  epoch: step / 171,
  loss: 2 + Math.sin(step / 7) / 2 - step / (4 * total),
  lr: 2e-4 * (1 - step / (total + 1)),
  gradNorm: 1 + ((step * 7919) % 13) / 13,
  tokens: 64,
  tokensPerSecond: 400 + (step % 17),
  stepMs: 160,
  ...(step % 25 === 0 ? { evalLoss: 1.9 - step / (8 * total) } : {}),
});

const lrOf = (m: StepMetrics) => m.lr;

/** Named series joined into rows by step, as recharts takes them: the reference for the charts' rows. */
function mergeSeries(series: Record<string, readonly Point[]>): Record<string, number>[] {
  const rows = new Map<number, Record<string, number>>();
  for (const [key, pts] of Object.entries(series))
    for (const p of pts) {
      if (!rows.has(p.x)) rows.set(p.x, { x: p.x });
      rows.get(p.x)![key] = p.y;
    }
  return [...rows.values()].sort((a, b) => a.x - b.x);
}

describe('chart series', () => {
  it('read step by step, equal the series computed from the whole history (no decimation yet)', () => {
    const n = MAX_POINTS - 10;
    const all = Array.from({ length: n }, (_, i) => metrics(i + 1, n));
    const loss = new LossSeries(0.6, false);
    const lr = new MetricSeries(lrOf, false);
    let h = History.EMPTY;
    for (const m of all) {
      h = h.append(m);
      if (m.step % 13 === 0 || m.step === n) {
        loss.rows(h);
        lr.rows(h);
      }
    }
    const smooth = emaSmooth(
      all.map((m) => m.loss),
      0.6,
    );
    expect(loss.rows(h)).toEqual(
      mergeSeries({
        loss: all.map((m) => ({ x: m.step, y: m.loss })),
        smoothed: all.map((m, i) => ({ x: m.step, y: smooth[i] })),
        eval: all.filter((m) => m.evalLoss !== undefined).map((m) => ({ x: m.step, y: m.evalLoss! })),
      }),
    );
    expect(lr.rows(h)).toEqual(all.map((m) => ({ x: m.step, y: m.lr })));
  });

  it('start over for another run', () => {
    const loss = new LossSeries(0, false);
    const a = History.of([metrics(1, 3), metrics(2, 3)]);
    expect(loss.rows(a).map((r) => r.x)).toEqual([1, 2]);
    const b = History.of([metrics(1, 3)]);
    expect(loss.rows(b)).toEqual([{ x: 1, loss: metrics(1, 3).loss, smoothed: metrics(1, 3).loss }]);
  });

  it('the step log averages each logging_steps window, newest first', () => {
    const h = History.of([1, 2, 3, 4, 5].map((s) => ({ ...metrics(s, 5), loss: s })));
    const rows = logRows(h, 2, 50);
    expect(rows.map((r) => [r.step, r.loss])).toEqual([
      [5, 5],
      [4, 3.5],
      [2, 1.5],
    ]);
    expect(logRows(h, 2, 1).map((r) => r.step)).toEqual([5]);
  });
});

/**
 * The page's per-step work over a run of `steps` steps fed as worker events through the real store
 * (onTrainEvent, the reducer) to the real chart derivations. Each chart and the step log are
 * subscribers selecting runView as the components do (a change of the shallowly compared
 * selection is what re-renders a component); a changed selection runs the component's
 * derivation. In the page, useStaggered delivers a chart at most every 400 ms, so a long run's
 * derivations skip steps: before the measured window, every 100th step is delivered; in it, every
 * step. Each chart's y axis follows its rows as MetricChart's does (nextYAxis); a change is a
 * re-registration of the axis in recharts' store, counted over the window and over the run.
 * Returns the counts per step over the last `window` steps.
 */
function perStepWork(steps: number, window = 100) {
  useStudio.setState({ training: { ...IDLE, status: 'starting' } });
  onTrainEvent({
    status: 'started',
    runId: `run-${steps}`,
    hparams: DEFAULT_HPARAMS,
    fromAdapter: null,
    totalSteps: steps,
    stepsPerEpoch: 171,
    trainableLine: 'trainable params: 37,376',
    train: 392,
    val: 8,
    history: [],
    resumedFrom: null,
    activeMs: 0,
    gpuBytes: 1000,
  });
  const loss = new LossSeries(0.6, false);
  const charts = [
    new MetricSeries(lrOf, false),
    new MetricSeries((m) => m.gradNorm, true),
    new MetricSeries((m) => m.tokensPerSecond, true),
  ];
  const views = Array.from({ length: 5 }, () => runView(useStudio.getState()));
  const keys = [['loss', 'smoothed', 'eval'], ['y'], ['y'], ['y']];
  const axes: (Axis | null)[] = [null, null, null, null];
  const axisChanges = { window: 0, run: 0 };
  const follow = (c: number, r: Record<string, number>[]) => {
    const next = nextYAxis(axes[c], extent(r, keys[c]), false, c === 1);
    if (axes[c] && JSON.stringify(next) !== JSON.stringify(axes[c])) {
      axisChanges.run++;
      if (measuring) axisChanges.window++;
    }
    axes[c] = next;
  };
  let renders = 0;
  let measuring = false;
  const rows = { loss: 0, log: 0, last: undefined as StepMetrics | undefined };
  const unsubscribe = useStudio.subscribe((s: Studio) => {
    const step = s.training.history.length;
    if (!measuring && step % 100 !== 0) return;
    for (let c = 0; c < views.length; c++) {
      const next = runView(s);
      if (shallow(next, views[c])) continue;
      views[c] = next;
      if (measuring) renders++;
      if (c === 0) {
        const r = loss.rows(next.history);
        rows.loss = r.length;
        follow(0, r);
      } else if (c < 4) follow(c, charts[c - 1].rows(next.history));
      else {
        rows.log = logRows(next.history, 1, 50).length;
        rows.last = next.history.last();
      }
    }
  });
  let before = { ...chartWork };
  for (let step = 1; step <= steps; step++) {
    if (step === steps - window + 1) {
      measuring = true;
      before = { ...chartWork };
    }
    onTrainEvent({ status: 'step', metrics: metrics(step, steps), activeMs: step * 160, gpuBytes: 1000, best: null });
  }
  unsubscribe();
  return {
    renders: renders / window,
    rebuilds: (chartWork.rebuilds - before.rebuilds) / window,
    elements: (chartWork.elements - before.elements) / window,
    axisChanges,
    rows,
  };
}

describe('the per-step work of the training panel', () => {
  it('is the same at step 20,000 as at step 100: renders and rebuilds per step, bounded elements', () => {
    const short = perStepWork(100);
    const mid = perStepWork(10_000);
    const long = perStepWork(20_000);
    const line = (n: number, w: typeof long) =>
      `${n} steps: ${w.renders} renders, ${w.rebuilds} rebuilds, ${w.elements} elements, ${w.rows.loss} loss rows, ` +
      `${w.axisChanges.window} y axis changes in the window (${w.axisChanges.run} in the run)`;
    console.log(
      `per step over the last 100 steps of a run of ${[line(100, short), line(10_000, mid), line(20_000, long)].join('; ')}`,
    );
    // four charts and the step log: each re-renders and rebuilds its rows once per step
    expect(short.renders).toBe(5);
    expect(long.renders).toBe(short.renders);
    expect(short.rebuilds).toBe(5);
    expect(long.rebuilds).toBe(short.rebuilds);
    // the y axes (each change a re-registration in recharts' store, a task of its own) change a
    // few times while a run's values spread, not per step: none in the last 100 steps of a long
    // run, and a handful over all of it
    expect(long.axisChanges.window).toBe(0);
    expect(long.axisChanges.window).toBeLessThanOrEqual(short.axisChanges.window);
    expect(short.axisChanges.run).toBeLessThanOrEqual(10);
    expect(long.axisChanges.run).toBeLessThanOrEqual(10);
    // the elements touched are bounded by the charts' point budget, not by the run: once the
    // series are decimated (past MAX_POINTS / 2 buckets) they stay within a few percent...
    expect(Math.abs(long.elements - mid.elements) / mid.elements).toBeLessThan(0.1);
    // ...and within the budget: 6 series of at most MAX_POINTS + 2 points, each point counted when
    // built and once more as a row, plus the step log's 50 rows (the old copy of the history
    // alone was 20,000 elements per step)
    expect(long.elements).toBeLessThan(2 * 6 * (MAX_POINTS + 2) + 200);
    // what the user sees: every chart row budget respected, the step log shows the newest step first
    expect(long.rows.loss).toBeLessThanOrEqual(3 * (MAX_POINTS + 2));
    expect(long.rows.log).toBe(50);
    expect(long.rows.last?.step).toBe(20_000);
    expect(useStudio.getState().training.history.length).toBe(20_000);
  }, 300_000);
});
