// Checkpoints of training runs, in Hugging Face's checkpoint-N layout, over a Dir (the browser's
// origin-private file system in the studio, the disk in the CLI, memory in tests). One run's
// folder (RunCheckpoints) holds:
//   checkpoint-{step}/
//       adapter_model.safetensors, adapter_config.json   the PEFT adapter at that step
//       state.bin                         LoRA params | AdamW m | AdamW v | best params (f32)
//       meta.json                         step, sampler and early-stopping state, best step, the
//                                         hyperparameters, the metrics so far; written LAST, so a
//                                         checkpoint without it (a crash mid-write) is ignored
// The two newest complete checkpoints are kept (older ones are removed after a save), like
// TrainingArguments' save_total_limit=2. The CLI's run folder is its --out folder. The studio
// keeps many runs (CheckpointStore), each able to start again without the user:
//   runs/{runId}/run.json                 configuration, model source and fingerprint, dataset name
//   runs/{runId}/dataset.bin              the dataset file as it was loaded
//   runs/{runId}/checkpoint-{step}/       as above

import type { StepMetrics, TrainerState } from '../engine/train/trainer';
import type { Hparams } from '../config/hparams';
import type { DatasetFormat } from '../data/formats';
import type { Dir } from './dir';
import type { RunEnd } from './session';

export const KEEP_CHECKPOINTS = 2;
const RUN_VERSION = 1;

export interface CheckpointMeta {
  step: number;
  sampler: unknown;
  early: TrainerState['early'];
  best: { step: number; evalLoss: number } | null;
  lengths: { params: number; m: number; v: number; best: number };
  history: StepMetrics[];
  activeMs: number;
  savedAt: number;
  /** The run's hyperparameters and length (absent in checkpoints of older studio versions). */
  hparams?: Hparams;
  totalSteps?: number;
}

/** What a run hands over to be saved. */
export interface CheckpointData {
  state: TrainerState;
  adapter: { safetensors: Uint8Array; config: string };
  /** Metrics of every step so far (those after state.step are left out). */
  history: StepMetrics[];
  activeMs: number;
  hparams: Hparams;
  totalSteps: number;
}

export interface LoadedCheckpoint {
  state: TrainerState;
  history: StepMetrics[];
  activeMs: number;
  hparams: Hparams | null;
  totalSteps: number | null;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const json = (x: unknown) =>
  JSON.stringify(x, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
const NONFINITE = new Set(['NaN', 'Infinity', '-Infinity']);
const parse = <T>(b: Uint8Array): T =>
  JSON.parse(dec.decode(b), (_, v) => (typeof v === 'string' && NONFINITE.has(v) ? Number(v) : v)) as T;

/** params, m, v and the best params as one little-endian f32 blob. */
export function encodeState(s: TrainerState): { bytes: Uint8Array; lengths: CheckpointMeta['lengths'] } {
  const best = s.best?.params ?? new Float32Array(0);
  const parts = [s.params, s.m, s.v, best];
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return {
    bytes: new Uint8Array(out.buffer),
    lengths: { params: s.params.length, m: s.m.length, v: s.v.length, best: best.length },
  };
}

export function decodeState(bytes: Uint8Array, meta: CheckpointMeta): TrainerState {
  const { params, m, v, best } = meta.lengths;
  const n = params + m + v + best;
  if (bytes.byteLength !== n * 4) {
    throw new Error(`checkpoint-${meta.step}/state.bin has ${bytes.byteLength} bytes, expected ${n * 4}`);
  }
  const all = new Float32Array(bytes.slice().buffer);
  let o = 0;
  const take = (k: number) => all.slice(o, (o += k));
  const p = take(params);
  const mm = take(m);
  const vv = take(v);
  const bp = take(best);
  return {
    step: meta.step,
    params: p,
    m: mm,
    v: vv,
    sampler: meta.sampler,
    early: meta.early,
    best: meta.best ? { ...meta.best, params: bp } : null,
  };
}

/**
 * One checkpoint-N folder, read back. `where` names it in messages (a path, or the run's id).
 * Rejects a folder that is not a complete checkpoint, saying what is missing.
 */
export async function readCheckpoint(dir: Dir, where = dir.name): Promise<LoadedCheckpoint> {
  const m = await dir.read('meta.json');
  if (!m) {
    throw new Error(
      `${where} is not a complete checkpoint (meta.json is missing: give a checkpoint-N folder, or the run's folder)`,
    );
  }
  const meta = parse<CheckpointMeta>(m);
  const bytes = await dir.read('state.bin');
  if (!bytes) throw new Error(`${where}: state.bin is missing`);
  return {
    state: decodeState(bytes, meta),
    history: meta.history,
    activeMs: meta.activeMs,
    hparams: meta.hparams ?? null,
    totalSteps: meta.totalSteps ?? null,
  };
}

/** The checkpoint-N folders of one run's folder. */
export class RunCheckpoints {
  constructor(
    readonly dir: Dir,
    private readonly keep = KEEP_CHECKPOINTS,
  ) {}

  /** Writes checkpoint-{step}, then removes all but the newest `keep` complete ones. */
  async save(c: CheckpointData): Promise<void> {
    const { state } = c;
    const name = `checkpoint-${state.step}`;
    await this.dir.remove(name);
    const dir = (await this.dir.subdir(name, true))!;
    const { bytes, lengths } = encodeState(state);
    await dir.write('adapter_model.safetensors', c.adapter.safetensors);
    await dir.write('adapter_config.json', c.adapter.config);
    await dir.write('state.bin', bytes);
    const meta: CheckpointMeta = {
      step: state.step,
      sampler: state.sampler,
      early: state.early,
      best: state.best ? { step: state.best.step, evalLoss: state.best.evalLoss } : null,
      lengths,
      history: c.history.filter((m) => m.step <= state.step),
      activeMs: c.activeMs,
      savedAt: Date.now(),
      hparams: c.hparams,
      totalSteps: c.totalSteps,
    };
    await dir.write('meta.json', json(meta));
    const steps = await this.steps();
    for (const s of steps.slice(0, Math.max(0, steps.length - this.keep))) await this.dir.remove(`checkpoint-${s}`);
  }

  /** Steps of the complete checkpoints, ascending. */
  async steps(): Promise<number[]> {
    const steps: number[] = [];
    for (const e of await this.dir.entries()) {
      const m = /^checkpoint-(\d+)$/.exec(e.name);
      if (!m || e.kind !== 'directory') continue;
      const d = await this.dir.subdir(e.name, false);
      if (d && (await d.read('meta.json'))) steps.push(Number(m[1]));
    }
    return steps.sort((a, b) => a - b);
  }

  /** The checkpoint at `step`, or the newest complete one. `where` names the run in messages. */
  async load(step?: number, where = this.dir.name): Promise<LoadedCheckpoint> {
    const steps = await this.steps();
    const s = step ?? steps.at(-1);
    if (s === undefined || !steps.includes(s))
      throw new Error(`${where} has no complete checkpoint${step ? ` at step ${step}` : ''}`);
    return readCheckpoint((await this.dir.subdir(`checkpoint-${s}`, false))!, `checkpoint-${s} of ${where}`);
  }

  async savedAt(step: number): Promise<number> {
    const b = await (await this.dir.subdir(`checkpoint-${step}`, false))?.read('meta.json');
    return b ? parse<CheckpointMeta>(b).savedAt : 0;
  }
}

/** The studio's description of a run, kept in runs/{runId}/run.json. `Source`: where its model came from. */
export interface RunRecord<Source = unknown> {
  version: number;
  runId: string;
  createdAt: number;
  hparams: Hparams;
  model: Source;
  modelName: string;
  modelFingerprint: string;
  dataset: { name: string; bytes: number; format: DatasetFormat | null };
  totalSteps: number;
  fromImportedAdapter: boolean;
  finished: RunEnd | null;
}

export interface SavedCheckpoint<Source = unknown> extends LoadedCheckpoint {
  run: RunRecord<Source>;
}

/** A run the studio keeps, as its list shows it. */
export interface SavedRun<Source = unknown> {
  runId: string;
  createdAt: number;
  /** Latest complete checkpoint. */
  step: number;
  totalSteps: number;
  savedAt: number;
  finished: boolean;
  model: Source;
  modelName: string;
  modelFingerprint: string;
  dataset: string;
  hparams: Hparams;
}

export function newRunId(now = Date.now()): string {
  return `run-${new Date(now).toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${Math.random().toString(36).slice(2, 6)}`;
}

/** The studio's runs: runs/{runId}/ with the run's record, its dataset and its checkpoints. */
export class CheckpointStore<Source = unknown> {
  constructor(private readonly root: Dir) {}

  private async runs(create = false): Promise<Dir | null> {
    return this.root.subdir('runs', create);
  }

  private async runDir(runId: string): Promise<Dir> {
    const d = await (await this.runs())?.subdir(runId, false);
    if (!d) throw new Error(`checkpoint run ${runId} does not exist (was it deleted?)`);
    return d;
  }

  /** The run's checkpoint folders. */
  async checkpoints(runId: string): Promise<RunCheckpoints> {
    return new RunCheckpoints(await this.runDir(runId));
  }

  /** Creates the run's folder with its configuration and a copy of the dataset. */
  async createRun(run: Omit<RunRecord<Source>, 'version' | 'finished'>, dataset: Blob): Promise<void> {
    const dir = await (await this.runs(true))!.subdir(run.runId, true);
    await dir!.write('dataset.bin', new Uint8Array(await dataset.arrayBuffer()));
    await dir!.write('run.json', json({ ...run, version: RUN_VERSION, finished: null }));
  }

  async readRun(runId: string): Promise<RunRecord<Source>> {
    const b = await (await this.runDir(runId)).read('run.json');
    if (!b) throw new Error(`checkpoint run ${runId}: run.json is missing`);
    return parse<RunRecord<Source>>(b);
  }

  async dataset(runId: string): Promise<Blob> {
    const b = await (await this.runDir(runId)).blob('dataset.bin');
    if (!b) throw new Error(`checkpoint run ${runId}: the saved copy of the dataset is missing`);
    return b;
  }

  async save(runId: string, c: CheckpointData): Promise<void> {
    await (await this.checkpoints(runId)).save(c);
  }

  async load(runId: string, step?: number): Promise<SavedCheckpoint<Source>> {
    const cps = await this.checkpoints(runId);
    const record = await this.readRun(runId);
    return { run: record, ...(await cps.load(step, `run ${runId}`)) };
  }

  async markFinished(runId: string, end: RunEnd): Promise<void> {
    const run = await this.runDir(runId);
    const record = await this.readRun(runId);
    await run.write('run.json', json({ ...record, finished: end }));
  }

  /** Every run with at least one complete checkpoint, newest first. */
  async list(): Promise<SavedRun<Source>[]> {
    const runs = await this.runs();
    if (!runs) return [];
    const out: SavedRun<Source>[] = [];
    for (const e of await runs.entries()) {
      if (e.kind !== 'directory') continue;
      const dir = (await runs.subdir(e.name, false))!;
      let record: RunRecord<Source>;
      try {
        record = parse<RunRecord<Source>>((await dir.read('run.json')) ?? enc.encode('null'));
      } catch {
        continue;
      }
      if (!record || record.version !== RUN_VERSION) continue;
      const cps = new RunCheckpoints(dir);
      const steps = await cps.steps();
      if (steps.length === 0) continue;
      const step = steps.at(-1)!;
      out.push({
        runId: record.runId,
        createdAt: record.createdAt,
        step,
        totalSteps: record.totalSteps,
        savedAt: await cps.savedAt(step),
        finished: record.finished !== null,
        model: record.model,
        modelName: record.modelName,
        modelFingerprint: record.modelFingerprint,
        dataset: record.dataset.name,
        hparams: record.hparams,
      });
    }
    return out.sort((a, b) => b.createdAt - a.createdAt);
  }

  async delete(runId: string): Promise<void> {
    await (await this.runs())?.remove(runId);
  }
}
