import { describe, expect, it } from 'vitest';
import { logTicks, MIN_GAP, niceTicks, nextYAxis, tickLabels, xTicks, yAxis, yFraction, type Axis } from './ticks';

/** What every axis must be: the properties whose failure showed as React key errors and overlapping labels. */
function expectSound(a: Axis, lo: number, hi: number, log: boolean) {
  const pos = (v: number) =>
    log
      ? Math.log10(v / a.domain[0]) / Math.log10(a.domain[1] / a.domain[0])
      : (v - a.domain[0]) / (a.domain[1] - a.domain[0]);
  expect(a.domain[1]).toBeGreaterThan(a.domain[0]);
  if (log) expect(a.domain[0]).toBeGreaterThan(0);
  expect(a.ticks.length).toBeGreaterThanOrEqual(2);
  expect(a.ticks.length).toBeLessThanOrEqual(10);
  expect(a.labels).toHaveLength(a.ticks.length);
  expect(new Set(a.ticks).size).toBe(a.ticks.length);
  expect(new Set(a.labels).size).toBe(a.labels.length);
  for (let i = 0; i < a.ticks.length; i++) {
    expect(a.ticks[i]).toBeGreaterThanOrEqual(a.domain[0]);
    expect(a.ticks[i]).toBeLessThanOrEqual(a.domain[1]);
    if (i > 0) expect(pos(a.ticks[i]) - pos(a.ticks[i - 1])).toBeGreaterThanOrEqual(MIN_GAP - 1e-9);
  }
  // the data stays on the chart
  expect(a.domain[0]).toBeLessThanOrEqual(lo);
  expect(a.domain[1]).toBeGreaterThanOrEqual(hi);
}

// The ranges live charts meet: a first step (one value), raw and smoothed loss one rounding
// apart (the "tick-label-10.684258461" key error), a constant learning rate, zeros, tiny and huge
// magnitudes, negative values, and spans from a hair to many decades.
const RANGES: [number, number][] = [
  [10.684258461, 10.684258461],
  [10.684258461, 10.684258461000002],
  [10.684258461, 10.6842585],
  [2.3101, 2.3149],
  [2e-4, 2e-4],
  [2e-4, 2.0000000000000001e-4],
  [0, 0],
  [0, 1e-12],
  [-1e-300, 1e-300],
  [5e-324, 5e-324],
  [1e300, 1.0000001e300],
  [-3, -3],
  [-7.5, 2.25],
  [0.13, 2.57],
  [0, 0.003],
  [1, 6],
  [1.2, 11.9],
  [0.98, 1.02],
  [1e-5, 3e2],
  [1e-12, 1e12],
  [812.4, 815.9],
  [12_000, 12_004],
  [3.3, 2.1],
];

describe('niceTicks', () => {
  it('covers a range with 1-2-5 steps', () => {
    expect(niceTicks(0.13, 2.57, 4)).toEqual({ domain: [0, 3], ticks: [0, 1, 2, 3], labels: ['0', '1', '2', '3'] });
    expect(niceTicks(0, 0.003, 4).ticks).toEqual([0, 0.001, 0.002, 0.003]);
    expect(niceTicks(1, 6, 5).ticks).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('gives one value, or two one rounding apart, a flat axis around it', () => {
    const a = niceTicks(10.684258461, 10.684258461000002);
    expect(a.domain[0]).toBeLessThan(10.684258461);
    expect(a.domain[1]).toBeGreaterThan(10.684258461);
    expect(a.ticks).toEqual([9, 10, 11, 12]);
    expect(niceTicks(0, 0).ticks).toEqual([-1, -0.5, 0, 0.5, 1]);
  });

  it('is sound on every degenerate and ordinary range', () => {
    for (const [lo, hi] of RANGES) expectSound(niceTicks(lo, hi), Math.min(lo, hi), Math.max(lo, hi), false);
  });
});

describe('logTicks', () => {
  it('brackets a wide range with 1-2-5 or powers of ten', () => {
    expect(logTicks(0.15, 2.6).ticks).toEqual([0.1, 0.2, 0.5, 1, 2, 5]);
    expect(logTicks(1e-5, 3e2).ticks).toEqual([1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100, 1000]);
  });

  it('uses linear steps within half a decade, and widens a flat range', () => {
    expect(logTicks(2.1, 2.9).ticks).toEqual([2, 2.2, 2.4, 2.6, 2.8, 3]);
    const flat = logTicks(1e-4, 1e-4);
    expect(flat.domain[0]).toBeLessThan(1e-4);
    expect(flat.domain[1]).toBeGreaterThan(1e-4);
  });

  it('is sound on every positive range', () => {
    for (const [lo, hi] of RANGES) {
      const [a, b] = [Math.min(lo, hi), Math.max(lo, hi)];
      if (a >= 1e-300) expectSound(logTicks(a, b), a, b, true);
    }
  });

  it('falls back to a linear axis when nothing is positive', () => {
    expect(logTicks(0, 1).ticks).toEqual(niceTicks(0, 1).ticks);
  });
});

describe('tickLabels', () => {
  it('prints each tick exactly and as short as it can', () => {
    expect(tickLabels([0, 0.5, 1])).toEqual(['0', '0.5', '1']);
    expect(tickLabels([2.31, 2.312, 2.314])).toEqual(['2.31', '2.312', '2.314']);
    expect(tickLabels([1000, 1500, 2000])).toEqual(['1k', '1.5k', '2k']);
    expect(tickLabels([1e-4, 2e-4, 5e-4])).toEqual(['1e-4', '2e-4', '5e-4']);
    expect(tickLabels([12000, 12001, 12002])).toEqual(['12k', '12.001k', '12.002k']);
  });
});

describe('yAxis', () => {
  it('has a unit axis for an empty chart', () => {
    expect(yAxis(null, false).ticks).toEqual([0, 0.5, 1]);
    expect(yAxis(null, true).domain).toEqual([0, 1]);
  });
});

describe('xTicks', () => {
  it('labels every step of a short run and round steps of a long one, always the first and last', () => {
    expect(xTicks(6)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(xTicks(225)).toEqual([1, 50, 100, 150, 200, 225]);
    expect(xTicks(1000)).toEqual([1, 200, 400, 600, 800, 1000]);
    expect(xTicks(0)).toEqual([1, 2]);
    for (const n of [13, 20_000, 19_999, 101]) expect(new Set(xTicks(n)).size).toBe(xTicks(n).length);
  });
});

describe('nextYAxis (the y axis a live chart keeps)', () => {
  it('holds while the values stay inside, makes room when they leave, tightens for a new range', () => {
    for (const log of [false, true]) {
      // values spreading out from one point, as a run's first steps do
      let a: Axis | null = null;
      let changes = 0;
      for (let n = 1; n <= 1000; n++) {
        const range: [number, number] = [1 / (1 + n / 100), 2 + n / 50];
        const next = nextYAxis(a, range, log);
        expectSound(next, range[0], range[1], log);
        if (a && next !== a) changes++;
        a = next;
      }
      // the span grew 20x over 1000 updates: a handful of changes, not one per update
      expect(changes).toBeLessThanOrEqual(6);
      // a new run in a range that uses a small part of the old axis gets an axis of its own
      const fresh = nextYAxis(a, [1.5, 1.6], log);
      expect(fresh).toEqual(yAxis([1.5, 1.6], log));
    }
  });

  it('keeps a linear axis from 0 for a learning rate, and on one side of 0 for values that stay there', () => {
    expect(nextYAxis(null, [1e-4, 2e-4], false, true).domain).toEqual([0, 2e-4]);
    const a = nextYAxis(nextYAxis(null, [0.5, 1], false), [0.01, 1], false);
    expect(a.domain[0]).toBe(0);
  });
});

describe('yFraction (where Lines draws a value and a tick)', () => {
  it('maps a linear domain onto 0..1, beyond it outside 0..1', () => {
    const f = yFraction({ domain: [1.5, 3.5], ticks: [1.5, 2.5, 3.5], labels: ['1.5', '2.5', '3.5'] }, false);
    expect([1.5, 2.5, 3.5, 1, 4].map(f)).toEqual([0, 0.5, 1, -0.25, 1.25]);
  });
  it('maps a log domain by decades, and has no place for 0 or a negative value', () => {
    const f = yFraction({ domain: [1e-5, 1e-3], ticks: [1e-5, 1e-4, 1e-3], labels: ['1e-5', '1e-4', '1e-3'] }, true);
    expect(f(1e-5)).toBeCloseTo(0, 12);
    expect(f(1e-4)).toBeCloseTo(0.5, 12);
    expect(f(1e-3)).toBeCloseTo(1, 12);
    expect(f(0)).toBeNaN();
    expect(f(-1)).toBeNaN();
  });
  it('puts the ticks of every axis nextYAxis keeps inside 0..1, at least MIN_GAP apart', () => {
    let axis: Axis | null = null;
    for (let step = 1; step <= 200; step++) {
      const v = 2 + Math.sin(step / 7) / 2 - step / 400;
      axis = nextYAxis(axis, [v - 0.1, v], false, false);
      const pos = axis.ticks.map(yFraction(axis, false));
      for (const p of pos) {
        expect(p).toBeGreaterThanOrEqual(-1e-9);
        expect(p).toBeLessThanOrEqual(1 + 1e-9);
      }
      for (let i = 1; i < pos.length; i++) expect(pos[i] - pos[i - 1]).toBeGreaterThanOrEqual(MIN_GAP - 1e-9);
    }
  });
});
