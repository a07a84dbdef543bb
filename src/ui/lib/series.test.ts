import { describe, expect, it } from 'vitest';
import { Decimator, emaSmooth, extent, type Point } from './series';

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

describe('Decimator', () => {
  const series = (n: number, f: (i: number) => number): Point[] =>
    Array.from({ length: n }, (_, i) => ({ x: i + 1, y: f(i) }));
  const decimate = (pts: Point[], buckets: number) => {
    const d = new Decimator(buckets);
    for (const p of pts) d.push(p.x, p.y);
    return d.points();
  };

  it('leaves short series alone (minus non-finite points)', () => {
    const pts = series(10, (i) => (i === 4 ? NaN : i));
    expect(decimate(pts, 50)).toEqual(pts.filter((p) => Number.isFinite(p.y)));
  });

  it('keeps at most 2 * buckets + 2 points from 10,000, the ends, the global extremes and a lone spike', () => {
    const pts = series(10_000, (i) => Math.sin(i / 50) + (i === 7_777 ? 40 : 0) - (i === 1_234 ? 30 : 0));
    const out = decimate(pts, 200);
    expect(out.length).toBeLessThanOrEqual(402);
    expect(out.length).toBeGreaterThan(150);
    expect(out[0]).toEqual(pts[0]);
    expect(out.at(-1)).toEqual(pts.at(-1));
    expect(out).toContainEqual(pts[7_777]);
    expect(out).toContainEqual(pts[1_234]);
    for (let i = 1; i < out.length; i++) expect(out[i].x).toBeGreaterThan(out[i - 1].x);
  });

  it('every bucket’s min and max over the input are kept', () => {
    const pts = series(1000, (i) => ((i * 7919) % 1000) / 1000);
    const out = decimate(pts, 50);
    // 1000 points into at most 50 buckets: the width doubled to 32 steps, buckets from x = 1
    const kept = new Set(out.map((p) => p.x));
    for (let b = 0; b * 32 < 1000; b++) {
      const inB = pts.filter((p) => p.x >= 1 + b * 32 && p.x < 1 + (b + 1) * 32);
      const min = inB.reduce((a, p) => (p.y < a.y ? p : a));
      const max = inB.reduce((a, p) => (p.y > a.y ? p : a));
      expect(kept.has(min.x)).toBe(true);
      expect(kept.has(max.x)).toBe(true);
    }
  });

  it('does the same work per point at 100 points and at 100,000 (merges included)', () => {
    const per = (n: number) => {
      const d = new Decimator(300);
      for (let i = 1; i <= n; i++) d.push(i, Math.sin(i));
      return d.work / n;
    };
    expect(per(100)).toBe(1);
    expect(per(100_000)).toBeLessThan(3);
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
