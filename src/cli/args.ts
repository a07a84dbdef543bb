// Command-line flags for `npm run train` / `npm run sample`, named exactly as PEFT's LoraConfig,
// Hugging Face's TrainingArguments and BitsAndBytesConfig (`--lora_alpha 16 --learning_rate 2e-4
// --load_in_4bit`), validated by the same schema as the studio's form, so a bad value gets the
// form's one-line message.

import {
  DEFAULT_HPARAMS,
  type HparamGroup,
  type Hparams,
  loraSchema,
  quantizationSchema,
  trainingSchema,
  validateHparams,
} from '../config/hparams';

export class UsageError extends Error {}

export interface ParsedArgs {
  flags: Map<string, string | true>;
  positional: string[];
}

/**
 * `--name value`, `--name=value` and bare `--switch` (true). A flag in `optional` takes the next
 * argument as its value unless that is another flag (`--resume_from_checkpoint [DIR]`).
 */
export function parseArgv(
  argv: string[],
  booleans: ReadonlySet<string>,
  optional: ReadonlySet<string> = new Set(),
): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = (eq > 0 ? a.slice(2, eq) : a.slice(2)).replace(/-/g, '_');
    if (eq > 0) flags.set(name, a.slice(eq + 1));
    else if (
      booleans.has(name) &&
      (i + 1 >= argv.length || argv[i + 1].startsWith('--') || !/^(true|false)$/.test(argv[i + 1]))
    )
      flags.set(name, true);
    else if (optional.has(name) && (i + 1 >= argv.length || argv[i + 1].startsWith('--'))) flags.set(name, true);
    else if (i + 1 < argv.length) flags.set(name, argv[++i]);
    else throw new UsageError(`--${name} needs a value`);
  }
  return { flags, positional };
}

/** Each hyperparameter flag's group. */
const GROUP_OF = new Map<string, HparamGroup>([
  ...Object.keys(loraSchema.shape).map((k) => [k, 'lora'] as const),
  ...Object.keys(trainingSchema.shape).map((k) => [k, 'training'] as const),
  ...Object.keys(quantizationSchema.shape).map((k) => [k, 'quantization'] as const),
]);
export const HPARAM_FLAGS = new Set(GROUP_OF.keys());
/** The hyperparameters that are switches (`--use_rslora`, `--load_in_4bit`): no value needed. */
export const HPARAM_BOOLEANS = new Set(
  [...GROUP_OF]
    // init_lora_weights is true by default but takes names too (gaussian, pissa): it needs a value
    .filter(
      ([k, g]) => typeof (DEFAULT_HPARAMS[g] as Record<string, unknown>)[k] === 'boolean' && k !== 'init_lora_weights',
    )
    .map(([k]) => k),
);

function closest(name: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.max(2, name.length / 3) ? best : null;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

function coerce(name: string, raw: string | true, like: unknown): unknown {
  if (name === 'target_modules') {
    if (raw === true) throw new UsageError('--target_modules needs a value, e.g. q_proj,v_proj or all-linear');
    // PEFT: a list of names, or one string that is a regular expression matched against whole names
    if (/[^\w,\s-]/.test(raw)) return raw;
    return raw === 'all-linear'
      ? 'all-linear'
      : raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  }
  if (name === 'layers_to_transform') {
    if (raw === true || raw === 'null' || raw === 'none' || raw === '') return null;
    const ids = raw.split(',').map((s) => Number(s.trim()));
    if (ids.some((n) => !Number.isInteger(n)))
      throw new UsageError(`--layers_to_transform is a layer index or a comma list of them (got "${raw}")`);
    return ids.length === 1 && !raw.includes(',') ? ids[0] : ids;
  }
  if (name === 'rank_pattern' || name === 'alpha_pattern') {
    if (raw === true) throw new UsageError(`--${name} needs a value, e.g. down_proj=16 or '{"down_proj": 16}'`);
    if (raw.trim().startsWith('{')) {
      try {
        return JSON.parse(raw);
      } catch (e) {
        throw new UsageError(`--${name}: ${raw} is not a JSON object (${(e as Error).message})`, { cause: e });
      }
    }
    const out: Record<string, number> = {};
    for (const part of raw.split(',').filter((s) => s.trim())) {
      const eq = part.lastIndexOf('=');
      const v = Number(part.slice(eq + 1));
      if (eq <= 0 || !Number.isFinite(v))
        throw new UsageError(`--${name} is pattern=value[,pattern=value] (got "${part}")`);
      out[part.slice(0, eq).trim()] = v;
    }
    return out;
  }
  if (name === 'init_lora_weights') {
    if (raw === true || raw === 'true') return true;
    if (raw === 'false') return false;
    return raw;
  }
  if (typeof like === 'boolean') {
    if (raw === true || raw === 'true') return true;
    if (raw === 'false') return false;
    throw new UsageError(`--${name} is true or false (got "${raw}")`);
  }
  if (typeof like === 'number') {
    const n = raw === true ? NaN : Number(raw);
    if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got "${raw === true ? '' : raw}")`);
    return n;
  }
  return raw;
}

/**
 * Hyperparameters from flags over the defaults (and over `base`, e.g. an imported adapter's LoRA
 * settings). Flags outside `allowed` and the hyperparameter names are rejected with a suggestion.
 */
export function hparamsFromFlags(
  flags: Map<string, string | true>,
  allowed: ReadonlySet<string>,
  base: Hparams = DEFAULT_HPARAMS,
): Hparams {
  const h: Hparams = structuredClone(base);
  for (const [name, raw] of flags) {
    if (allowed.has(name)) continue;
    const group = GROUP_OF.get(name);
    if (group) {
      const like = (DEFAULT_HPARAMS[group] as Record<string, unknown>)[name];
      (h[group] as Record<string, unknown>)[name] = coerce(name, raw, like);
    } else {
      const hint = closest(name, [...HPARAM_FLAGS, ...allowed]);
      throw new UsageError(`unknown flag --${name}${hint ? ` (did you mean --${hint}?)` : ''}`);
    }
  }
  const issues = validateHparams(h);
  if (issues.length) throw new UsageError(issues.map((i) => `--${i.path.split('.').pop()}: ${i.message}`).join('\n'));
  return h;
}
