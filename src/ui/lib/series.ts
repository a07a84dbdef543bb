// Chart series from training metrics, maintained one step at a time: an exponential moving
// average debiased as TensorBoard's scalar dashboard does it, and min/max decimation so a chart
// never hands recharts more than about two points per pixel column, whatever the number of steps
// (spikes survive: each bucket keeps its lowest and highest point).

export interface Point {
  x: number;
  y: number;
  /** A second value carried along with the point (the smoothed loss beside the raw one). */
  s?: number;
}

/**
 * TensorBoard's smoothing, one value at a time: last = last * w + (1 - w) * y, divided by
 * 1 - w^k (k finite points so far) so the first points are not pulled towards 0. Non-finite
 * values pass through unsmoothed and do not disturb the average. weight 0: no smoothing.
 */
export class Ema {
  private last = 0;
  private k = 0;
  constructor(readonly weight: number) {
    if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothing weight must be in [0, 1), not ${weight}`);
  }

  push(y: number): number {
    if (!Number.isFinite(y)) return y;
    const w = this.weight;
    this.last = this.last * w + (1 - w) * y;
    this.k++;
    return w === 0 ? y : this.last / (1 - w ** this.k);
  }
}

/** emaSmooth over a whole series (see Ema). */
export function emaSmooth(ys: readonly number[], weight: number): number[] {
  const ema = new Ema(weight);
  return ys.map((y) => ema.push(y));
}

/**
 * Min/max decimation of a series that only grows, in O(1) per point: the x-range from the first
 * point is cut into at most `buckets` buckets of equal width, each keeping its lowest and
 * highest point; when a point falls past the last bucket, neighbouring buckets merge pairwise and
 * the width doubles (O(buckets), once per doubling of the run). points() hands a chart at most
 * 2 * buckets + 2 points, whatever the number of steps; spikes survive, and the first and last
 * point always stay. Points whose y is not finite are dropped (a chart cannot draw them). x grows.
 */
export class Decimator {
  private x0 = 0;
  private width = 1;
  private mins: (Point | undefined)[] = [];
  private maxs: (Point | undefined)[] = [];
  private first: Point | null = null;
  private last: Point | null = null;
  /** Points read and bucket entries merged, for the tests that count the work per step. */
  work = 0;

  constructor(readonly buckets: number) {
    if (!(buckets >= 2)) throw new RangeError(`a decimator needs at least 2 buckets, not ${buckets}`);
  }

  /** Adds (x, y); `s` travels with the point if it is kept (decimation looks at y only). */
  push(x: number, y: number, s?: number): void {
    this.work++;
    if (!Number.isFinite(y)) return;
    const p: Point = s === undefined ? { x, y } : { x, y, s };
    if (!this.first) {
      this.first = p;
      this.x0 = x;
    }
    this.last = p;
    let b = Math.floor((x - this.x0) / this.width);
    while (b >= this.buckets) {
      this.merge();
      b = Math.floor((x - this.x0) / this.width);
    }
    const lo = this.mins[b];
    const hi = this.maxs[b];
    if (!lo || y < lo.y) this.mins[b] = p;
    if (!hi || y > hi.y) this.maxs[b] = p;
  }

  private merge(): void {
    const n = this.mins.length;
    const mins: (Point | undefined)[] = [];
    const maxs: (Point | undefined)[] = [];
    for (let i = 0; i < n; i += 2) {
      const [a, b] = [this.mins[i], this.mins[i + 1]];
      const [c, d] = [this.maxs[i], this.maxs[i + 1]];
      mins.push(!a ? b : !b ? a : b.y < a.y ? b : a);
      maxs.push(!c ? d : !d ? c : d.y > c.y ? d : c);
    }
    this.work += n;
    this.mins = mins;
    this.maxs = maxs;
    this.width *= 2;
  }

  /** The kept points in x order. */
  points(): Point[] {
    if (!this.first || !this.last) return [];
    const out: Point[] = [this.first];
    const add = (p: Point | undefined) => {
      if (p && p.x > out[out.length - 1].x && p.x < this.last!.x) out.push(p);
    };
    for (let b = 0; b < this.mins.length; b++) {
      const lo = this.mins[b];
      const hi = this.maxs[b];
      if (lo && hi && hi.x < lo.x) {
        add(hi);
        add(lo);
      } else {
        add(lo);
        add(hi);
      }
    }
    if (this.last !== this.first) out.push(this.last);
    this.work += out.length;
    return out;
  }
}

/** The extent of the finite y values of rows (over the given keys), or null when there are none. */
export function extent(rows: readonly Record<string, number>[], keys: readonly string[]): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    for (const k of keys) {
      const v = r[k];
      if (v === undefined || !Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}
