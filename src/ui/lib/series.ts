// Chart series from training metrics, cheap enough to recompute on every optimizer step: an
// exponential moving average debiased as TensorBoard's scalar dashboard does it, and min/max
// decimation so a chart never hands recharts more than about two points per pixel column,
// whatever the number of steps (spikes survive: each bucket keeps its lowest and highest point).

export interface Point {
  x: number;
  y: number;
}

/**
 * TensorBoard's smoothing: last = last * w + (1 - w) * y, divided by 1 - w^k (k finite points so
 * far) so the first points are not pulled towards 0. Non-finite values pass through unsmoothed
 * and do not disturb the average. weight 0: no smoothing.
 */
export function emaSmooth(ys: readonly number[], weight: number): number[] {
  if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothing weight must be in [0, 1), not ${weight}`);
  const out = new Array<number>(ys.length);
  let last = 0;
  let k = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (!Number.isFinite(y)) {
      out[i] = y;
      continue;
    }
    last = last * weight + (1 - weight) * y;
    k++;
    out[i] = weight === 0 ? y : last / (1 - weight ** k);
  }
  return out;
}

/**
 * At most about `maxPoints` points: the x-range is cut into maxPoints / 2 buckets of equal width
 * and each keeps its minimum and maximum (in x order); the first and last points always stay.
 * Points whose y is not finite are dropped (a chart cannot draw them). Input sorted by x.
 */
export function decimateMinMax(points: readonly Point[], maxPoints: number): Point[] {
  const finite = points.filter((p) => Number.isFinite(p.y));
  if (finite.length <= maxPoints || maxPoints < 4) return finite;
  const buckets = Math.floor(maxPoints / 2);
  const x0 = finite[0].x;
  const span = finite[finite.length - 1].x - x0 || 1;
  const out: Point[] = [finite[0]];
  let i = 1;
  const last = finite.length - 1;
  for (let b = 0; b < buckets && i < last; b++) {
    const hi = x0 + (span * (b + 1)) / buckets;
    let min: Point | null = null;
    let max: Point | null = null;
    for (; i < last && (finite[i].x < hi || b === buckets - 1); i++) {
      const p = finite[i];
      if (!min || p.y < min.y) min = p;
      if (!max || p.y > max.y) max = p;
    }
    if (min && max) {
      if (min === max) out.push(min);
      else if (min.x < max.x) out.push(min, max);
      else out.push(max, min);
    }
  }
  out.push(finite[last]);
  return out;
}

/** Merges named series into rows keyed by x, as recharts wants them (missing values undefined). */
export function mergeSeries(series: Record<string, readonly Point[]>): Record<string, number>[] {
  const rows = new Map<number, Record<string, number>>();
  for (const [key, pts] of Object.entries(series)) {
    for (const p of pts) {
      let row = rows.get(p.x);
      if (!row) rows.set(p.x, (row = { x: p.x }));
      row[key] = p.y;
    }
  }
  return [...rows.values()].sort((a, b) => a.x - b.x);
}

/** For a log-scale axis: values that are not strictly positive become gaps. */
export function positiveOnly(points: readonly Point[]): Point[] {
  return points.filter((p) => p.y > 0);
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
