// How numbers read on screen: sizes in binary units, counts with separators, durations as h:mm:ss.

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}

// One formatter each, made on first use: `toLocaleString` with a locale builds a new ICU formatter
// on every call, and these run in every render of a live run's figures (docs/performance.md).
let counts: Intl.NumberFormat | null = null;
let dateTimes: Intl.DateTimeFormat | null = null;

/** 1234567 -> "1,234,567" (as `n.toLocaleString('en-US')`). */
export function fmtCount(n: number): string {
  return (counts ??= new Intl.NumberFormat('en-US')).format(n);
}

/** A time stamp in the user's locale, as `new Date(ms).toLocaleString()` writes it. */
export function fmtDateTime(ms: number): string {
  dateTimes ??= new Intl.DateTimeFormat(undefined, {
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  return dateTimes.format(ms);
}

/**
 * An error that left what was loaded before in use says so: "model.safetensors: … — still using
 * lora-studio-demo-sql" (nothing to add when nothing was loaded).
 */
export function stillUsing(message: string, inUse: string | null | undefined): string {
  return inUse ? `${message} — still using ${inUse}` : message;
}

/** 1 -> "1 record", 1200 -> "1,200 records": a count and its noun, singular or plural. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${fmtCount(n)} ${n === 1 ? one : many}`;
}

/** 250,432 -> "250K", 1.24e9 -> "1.24B". */
export function fmtParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e8 ? 0 : 1)}M`;
  if (n >= 1e3) return `${Math.round(n / 1e3)}K`;
  return String(n);
}

export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (x: number) => String(x).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}

/** Loss-like values: 4 decimals, or the non-finite word. */
export function fmtLoss(x: number | null | undefined): string {
  if (x === null || x === undefined) return '—';
  return Number.isFinite(x) ? x.toFixed(4) : String(x);
}

/** Learning rates and other small numbers: 2 significant digits in exponent form. */
export function fmtSci(x: number): string {
  if (x === 0) return '0';
  return Number.isFinite(x) ? x.toExponential(2) : String(x);
}

/**
 * Time left at the pace so far: the active time per step of this session (evaluation and
 * checkpoint time included, pauses excluded) times the steps to go. null until a step is done.
 */
export function remainingMs(activeMs: number, step: number, totalSteps: number): number | null {
  if (step <= 0 || activeMs <= 0) return null;
  return (activeMs / step) * Math.max(0, totalSteps - step);
}
