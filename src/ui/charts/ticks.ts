// Axis ticks and their labels, computed here so the chart library never searches for "nice"
// ticks itself on every update. Every axis this returns has a domain of positive width, ticks that
// are unique (recharts keys a tick by its value, and two equal values are a React key error),
// inside the domain, at least MIN_GAP of the axis apart, and labels that are unique and exact.
// The degenerate ranges matter most: one point, a constant learning rate, or a loss whose raw and
// smoothed values differ by one float rounding (10.684258461 and 10.684258461000002).

export interface Axis {
  domain: [number, number];
  ticks: number[];
  labels: string[];
}

/** Closest two ticks may be, as a fraction of the axis (13 px on the 130 px of a small chart). */
export const MIN_GAP = 0.1;
/** A span below this fraction of the values' magnitude is drawn as a flat line around them. */
const FLAT = 1e-3;

/** The smallest precision (significant digits) at which every tick prints as its exact value. */
function precisionOf(ticks: readonly number[]): number {
  for (let p = 1; p < 15; p++) {
    if (ticks.every((v) => v === 0 || Math.abs(Number(v.toPrecision(p)) - v) <= Math.abs(v) * 1e-9)) return p;
  }
  return 15;
}

function formatAt(v: number, p: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e3 && a < 1e6) return `${+(v / 1e3).toPrecision(Math.max(1, p))}k`;
  if (a < 0.01 || a >= 1e6) {
    const [m, e] = v.toExponential(Math.max(0, p - 1)).split('e');
    return `${+m}e${e.replace('+', '')}`;
  }
  return String(+v.toPrecision(p));
}

/** Labels for sorted, unique ticks: as short as the ticks allow, never two alike. */
export function tickLabels(ticks: readonly number[]): string[] {
  for (let p = precisionOf(ticks); p <= 15; p++) {
    const labels = ticks.map((v) => formatAt(v, p));
    if (new Set(labels).size === labels.length) return labels;
  }
  return ticks.map((v) => String(v));
}

/** Drops ticks closer than MIN_GAP (in axis position 0..1) to the one kept before them. */
function thin(ticks: number[], pos: (v: number) => number): number[] {
  const out: number[] = [];
  for (const v of ticks) {
    if (out.length && pos(v) - pos(out[out.length - 1]) < MIN_GAP) continue;
    out.push(v);
  }
  return out;
}

function axis(domain: [number, number], ticks: number[]): Axis {
  return { domain, ticks, labels: tickLabels(ticks) };
}

const UNIT: Axis = { domain: [0, 1], ticks: [0, 0.5, 1], labels: ['0', '0.5', '1'] };

/**
 * A linear axis with ticks at 1, 2 or 5 times a power of ten, about `count` intervals, covering
 * [lo, hi]. A flat or nearly flat range gets ±10% around its middle (±1 around 0).
 */
export function niceTicks(lo: number, hi: number, count = 4): Axis {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return UNIT;
  if (lo > hi) [lo, hi] = [hi, lo];
  const mag = Math.max(Math.abs(lo), Math.abs(hi));
  if (!(hi - lo > mag * FLAT)) {
    const mid = lo / 2 + hi / 2;
    const pad = Math.abs(mid) * 0.1 || 1;
    [lo, hi] = [mid - pad, mid + pad];
  }
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw * (1 - 1e-9))!;
  const i0 = Math.floor(lo / step + 1e-9);
  const i1 = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  // 12 significant digits remove the float noise of i * step; consecutive ticks differ by at
  // least 2.5e-4 of their magnitude (FLAT / count), so the rounding never makes two alike.
  for (let i = i0; i <= i1; i++) ticks.push(Number((i * step).toPrecision(12)) || 0);
  return axis([ticks[0], ticks[ticks.length - 1]], ticks);
}

/**
 * A log axis over [lo, hi] (lo > 0): within half a decade, linear 1-2-5 ticks; over a few decades,
 * 1, 2 and 5 times the powers of ten; over more, the powers of ten (every k-th one when many).
 */
export function logTicks(lo: number, hi: number): Axis {
  if (lo > hi) [lo, hi] = [hi, lo];
  // (denormal values have no log axis worth drawing)
  if (!(lo >= 1e-300) || !(hi <= 1e300)) return niceTicks(lo, hi);
  if (!(hi / lo > 1 + FLAT)) [lo, hi] = [lo / 1.25, hi * 1.25];
  const decades = Math.log10(hi / lo);
  if (decades < 0.5) {
    const lin = niceTicks(lo, hi, 4);
    const ticks = lin.ticks.filter((t) => t > 0);
    const domain: [number, number] = [ticks[0] <= lo ? ticks[0] : lo, ticks[ticks.length - 1]];
    const span = Math.log10(domain[1] / domain[0]);
    return axis(
      domain,
      thin(ticks, (v) => Math.log10(v / domain[0]) / span),
    );
  }
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  const mults = decades <= 2 ? [1, 2, 5] : [1];
  const every = Math.max(1, Math.ceil((b - a) / 8));
  const candidates: number[] = [];
  for (let e = a; e <= b + 1; e++) {
    if ((e - a) % every) continue;
    for (const m of mults) candidates.push(Number((m * 10 ** e).toPrecision(12)));
  }
  const below = candidates.filter((t) => t <= lo).at(-1) ?? candidates[0];
  const above = candidates.find((t) => t >= hi) ?? candidates[candidates.length - 1];
  const domain: [number, number] = [below, above];
  const span = Math.log10(above / below);
  const ticks = candidates.filter((t) => t >= below && t <= above);
  return axis(
    domain,
    thin(ticks, (v) => Math.log10(v / below) / span),
  );
}

/** The y axis for values in [lo, hi], or for no values at all (null). */
export function yAxis(range: [number, number] | null, log: boolean): Axis {
  if (!range) return UNIT;
  return log ? logTicks(range[0], range[1]) : niceTicks(range[0], range[1], 4);
}

/** Step ticks: every step up to 12, else round steps (and the first and last step). */
export function xTicks(total: number): number[] {
  const max = Math.max(2, Math.round(total));
  if (max <= 12) return Array.from({ length: max }, (_, i) => i + 1);
  const { ticks } = niceTicks(0, max, 5);
  const step = ticks[1] - ticks[0];
  const inner = ticks.filter((v) => v > step / 4 && v < max - step / 4);
  return [1, ...inner, max];
}

/**
 * How much room a y axis makes when the values leave it: the span of the values again, on the
 * side they left by. The axis then changes a few times over a run (each change re-registers the
 * axis in recharts' store, a task of its own), not every time a new value crosses a tick.
 */
const GROW = 1;
/** An axis is tightened again when the values use less than this part of it (a new run). */
const LOOSE = 0.1;

/**
 * The y axis after `prev` for values in `range`: `prev` itself while the values lie inside it
 * and use at least LOOSE of it; otherwise an axis over the values with GROW room on the side they
 * left by (never across 0 for values that do not cross it). `zero`: the axis starts at 0 (a
 * learning rate, whose schedule goes to 0).
 */
export function nextYAxis(prev: Axis | null, range: [number, number] | null, log: boolean, zero = false): Axis {
  if (!range) return yAxis(null, log);
  let [lo, hi] = range;
  if (zero && !log) [lo, hi] = [Math.min(0, lo), Math.max(0, hi)];
  if (!prev) return yAxis([lo, hi], log);
  const [a, b] = prev.domain;
  const inside = lo >= a && hi <= b;
  const used = log ? Math.log(hi / lo) / Math.log(b / a) : (hi - lo) / (b - a);
  if (inside && used >= LOOSE) return prev;
  if (inside) return yAxis([lo, hi], log);
  if (log) {
    const f = Math.max(hi / lo, 1.25) ** GROW;
    return yAxis([lo < a ? lo / f : lo, hi > b ? hi * f : hi], log);
  }
  const room = (hi - lo) * GROW;
  const down = lo < a ? lo - room : lo;
  const up = hi > b ? hi + room : hi;
  return yAxis([lo >= 0 ? Math.max(0, down) : down, hi <= 0 ? Math.min(0, up) : up], log);
}

/** Where a value sits on the y axis: 0 at the bottom of the domain, 1 at the top (NaN off a log axis). */
export function yFraction(axis: Axis, log: boolean): (v: number) => number {
  const [lo, hi] = axis.domain;
  if (log) {
    const a = Math.log10(lo);
    const span = Math.log10(hi) - a;
    return (v) => (v > 0 ? (Math.log10(v) - a) / span : NaN);
  }
  return (v) => (v - lo) / (hi - lo);
}
