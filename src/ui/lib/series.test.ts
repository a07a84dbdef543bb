import { describe, expect, it } from 'vitest';
import {
  decimateMinMax,
  emaSmooth,
  extent,
  mergeSeries,
  positiveOnly,
  type Point,
} from './series';

describe('emaSmooth', () => {
  it('matches TensorBoard’s debiased EMA computed by hand', () => {
    const w = 0.6;
    const ys = [4, 2, 3];
    // last: 1.6, 1.76, 2.256 ; debias: 0.4, 0.64, 0.784
    const got = emaSmooth(ys, w);
    expect(got[0]).toBeCloseTo(4, 12); // the first point is its own value, not pulled to 0
    expect(got[1]).toBeCloseTo(1.76 / 0.64, 12);
    expect(got[2]).toBeCloseTo(2.256 / 0.784, 12);
  });

  it('weight 0 is the identity; a constant series stays constant at any weight', () => {
    expect(emaSmooth([3, 1, 2], 0)).toEqual([3, 1, 2]);
    for (const v of emaSmooth(Array(50).fill(2.5), 0.99)) expect(v).toBeCloseTo(2.5, 10);
  });

  it('passes non-finite values through without poisoning the average', () => {
    const got = emaSmooth([1, NaN, 1, Infinity, 1], 0.9);
    expect(got[1]).toBeNaN();
    expect(got[3]).toBe(Infinity);
    expect(got[4]).toBeCloseTo(1, 12);
  });

  it('rejects a weight outside [0, 1)', () => {
    expect(() => emaSmooth([1], 1)).toThrow('smoothing weight');
  });
});

describe('decimateMinMax', () => {
  const series = (n: number, f: (i: number) => number): Point[] =>
    Array.from({ length: n }, (_, i) => ({ x: i + 1, y: f(i) }));

  it('leaves short series alone (minus non-finite points)', () => {
    const pts = series(10, (i) => (i === 4 ? NaN : i));
    expect(decimateMinMax(pts, 100)).toEqual(pts.filter((p) => Number.isFinite(p.y)));
  });

  it('keeps at most about maxPoints points from 10,000, the ends, the global extremes and a lone spike', () => {
    const pts = series(10_000, (i) => Math.sin(i / 50) + (i === 7_777 ? 40 : 0) - (i === 1_234 ? 30 : 0));
    const out = decimateMinMax(pts, 400);
    expect(out.length).toBeLessThanOrEqual(402);
    expect(out.length).toBeGreaterThan(300);
    expect(out[0]).toBe(pts[0]);
    expect(out.at(-1)).toBe(pts.at(-1));
    expect(out).toContain(pts[7_777]);
    expect(out).toContain(pts[1_234]);
    for (let i = 1; i < out.length; i++) expect(out[i].x).toBeGreaterThan(out[i - 1].x);
  });

  it('every bucket’s min and max over the input are kept', () => {
    const pts = series(1000, (i) => ((i * 7919) % 1000) / 1000);
    const out = decimateMinMax(pts, 100);
    const kept = new Set(out);
    // 50 buckets of equal x-width over [1, 1000]
    const span = 999 / 50;
    for (let b = 0; b < 50; b++) {
      const inB = pts.slice(1, -1).filter((p) => p.x >= 1 + b * span && p.x < 1 + (b + 1) * span);
      if (!inB.length) continue;
      const min = inB.reduce((a, p) => (p.y < a.y ? p : a));
      const max = inB.reduce((a, p) => (p.y > a.y ? p : a));
      expect(kept.has(min)).toBe(true);
      expect(kept.has(max)).toBe(true);
    }
  });
});

describe('mergeSeries / positiveOnly', () => {
  it('joins series by step, leaving gaps where one has no value', () => {
    const rows = mergeSeries({
      loss: [
        { x: 1, y: 2 },
        { x: 2, y: 1.5 },
        { x: 3, y: 1.2 },
      ],
      eval: [{ x: 3, y: 1.4 }],
    });
    expect(rows).toEqual([
      { x: 1, loss: 2 },
      { x: 2, loss: 1.5 },
      { x: 3, loss: 1.2, eval: 1.4 },
    ]);
  });

  it('drops zero and negative values for a log axis', () => {
    expect(
      positiveOnly([
        { x: 1, y: 0 },
        { x: 2, y: 1e-4 },
        { x: 3, y: -1 },
      ]),
    ).toEqual([{ x: 2, y: 1e-4 }]);
  });
});

describe('extent', () => {
  it('extent ignores missing and non-finite values', () => {
    expect(
      extent(
        [
          { x: 1, a: 2 },
          { x: 2, a: NaN, b: 5 },
          { x: 3, b: -1 },
        ],
        ['a', 'b'],
      ),
    ).toEqual([-1, 5]);
    expect(extent([{ x: 1 }], ['a'])).toBeNull();
  });
});
