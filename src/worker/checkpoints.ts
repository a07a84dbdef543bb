// Checkpoints in the origin-private file system, so that a reload or a crash costs at most
// save_steps steps. Each run is a folder holding what it needs to start again without the user:
//   runs/{runId}/run.json                 configuration, model source and fingerprint, dataset name
//   runs/{runId}/dataset.bin              the dataset file as it was loaded
//   runs/{runId}/checkpoint-{step}/       like Hugging Face's checkpoint-N folders:
//       adapter_model.safetensors, adapter_config.json   the PEFT adapter at that step
//       state.bin                         LoRA params | AdamW m | AdamW v | best params (f32)
//       meta.json                         step, sampler and early-stopping state, best step, the
//                                         metrics so far; written LAST, so a checkpoint without it
//                                         (a crash mid-write) is ignored
// The two newest complete checkpoints of a run are kept (older ones are removed after a save).

import type { TrainerState } from '../engine/train/trainer';
import type { StepMetrics } from '../engine/train/trainer';
import type { Hparams } from '../config/hparams';
import type { DatasetFormat } from '../data/formats';
import type { CheckpointInfo, ModelSource, RunEnd } from './api';
import type { Dir } from './storage';

export const KEEP_CHECKPOINTS = 2;
const RUN_VERSION = 1;

export interface RunRecord {
  version: number;
  runId: string;
  createdAt: number;
  hparams: Hparams;
  model: ModelSource;
  modelName: string;
  modelFingerprint: string;
  dataset: { name: string; bytes: number; format: DatasetFormat | null };
  totalSteps: number;
  fromImportedAdapter: boolean;
  finished: RunEnd | null;
}

interface CheckpointMeta {
  step: number;
  sampler: unknown;
  early: TrainerState['early'];
  best: { step: number; evalLoss: number } | null;
  lengths: { params: number; m: number; v: number; best: number };
  history: StepMetrics[];
  activeMs: number;
  savedAt: number;
}

export interface SavedCheckpoint {
  run: RunRecord;
  state: TrainerState;
  history: StepMetrics[];
  activeMs: number;
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

export function newRunId(now = Date.now()): string {
  return `run-${new Date(now).toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${Math.random().toString(36).slice(2, 6)}`;
}

export class CheckpointStore {
  constructor(private readonly root: Dir) {}

  private async runs(create = false): Promise<Dir | null> {
    return this.root.subdir('runs', create);
  }

  private async runDir(runId: string): Promise<Dir> {
    const d = await (await this.runs())?.subdir(runId, false);
    if (!d) throw new Error(`checkpoint run ${runId} does not exist (was it deleted?)`);
    return d;
  }

  /** Creates the run's folder with its configuration and a copy of the dataset. */
  async createRun(run: Omit<RunRecord, 'version' | 'finished'>, dataset: Blob): Promise<void> {
    const dir = await (await this.runs(true))!.subdir(run.runId, true);
    await dir!.write('dataset.bin', new Uint8Array(await dataset.arrayBuffer()));
    await dir!.write('run.json', json({ ...run, version: RUN_VERSION, finished: null }));
  }

  async readRun(runId: string): Promise<RunRecord> {
    const b = await (await this.runDir(runId)).read('run.json');
    if (!b) throw new Error(`checkpoint run ${runId}: run.json is missing`);
    return parse<RunRecord>(b);
  }

  async dataset(runId: string): Promise<Blob> {
    const b = await (await this.runDir(runId)).blob('dataset.bin');
    if (!b) throw new Error(`checkpoint run ${runId}: the saved copy of the dataset is missing`);
    return b;
  }

  async save(
    runId: string,
    state: TrainerState,
    adapter: { safetensors: Uint8Array; config: string },
    history: StepMetrics[],
    activeMs: number,
  ): Promise<void> {
    const run = await this.runDir(runId);
    const name = `checkpoint-${state.step}`;
    await run.remove(name);
    const dir = (await run.subdir(name, true))!;
    const { bytes, lengths } = encodeState(state);
    await dir.write('adapter_model.safetensors', adapter.safetensors);
    await dir.write('adapter_config.json', adapter.config);
    await dir.write('state.bin', bytes);
    const meta: CheckpointMeta = {
      step: state.step,
      sampler: state.sampler,
      early: state.early,
      best: state.best ? { step: state.best.step, evalLoss: state.best.evalLoss } : null,
      lengths,
      history: history.filter((m) => m.step <= state.step),
      activeMs,
      savedAt: Date.now(),
    };
    await dir.write('meta.json', json(meta));
    const steps = await this.completeSteps(run);
    for (const s of steps.slice(0, Math.max(0, steps.length - KEEP_CHECKPOINTS))) await run.remove(`checkpoint-${s}`);
  }

  /** Steps of the run's complete checkpoints, ascending. */
  private async completeSteps(run: Dir): Promise<number[]> {
    const steps: number[] = [];
    for (const e of await run.entries()) {
      const m = /^checkpoint-(\d+)$/.exec(e.name);
      if (!m || e.kind !== 'directory') continue;
      const d = await run.subdir(e.name, false);
      if (d && (await d.read('meta.json'))) steps.push(Number(m[1]));
    }
    return steps.sort((a, b) => a - b);
  }

  async load(runId: string, step?: number): Promise<SavedCheckpoint> {
    const run = await this.runDir(runId);
    const record = await this.readRun(runId);
    const steps = await this.completeSteps(run);
    const s = step ?? steps.at(-1);
    if (s === undefined || !steps.includes(s))
      throw new Error(`run ${runId} has no complete checkpoint${step ? ` at step ${step}` : ''}`);
    const dir = (await run.subdir(`checkpoint-${s}`, false))!;
    const meta = parse<CheckpointMeta>((await dir.read('meta.json'))!);
    const bytes = await dir.read('state.bin');
    if (!bytes) throw new Error(`checkpoint-${s} of ${runId}: state.bin is missing`);
    return { run: record, state: decodeState(bytes, meta), history: meta.history, activeMs: meta.activeMs };
  }

  async markFinished(runId: string, end: RunEnd): Promise<void> {
    const run = await this.runDir(runId);
    const record = await this.readRun(runId);
    await run.write('run.json', json({ ...record, finished: end }));
  }

  /** Every run with at least one complete checkpoint, newest first. */
  async list(): Promise<CheckpointInfo[]> {
    const runs = await this.runs();
    if (!runs) return [];
    const out: CheckpointInfo[] = [];
    for (const e of await runs.entries()) {
      if (e.kind !== 'directory') continue;
      const dir = (await runs.subdir(e.name, false))!;
      let record: RunRecord;
      try {
        record = parse<RunRecord>((await dir.read('run.json')) ?? enc.encode('null'));
      } catch {
        continue;
      }
      if (!record || record.version !== RUN_VERSION) continue;
      const steps = await this.completeSteps(dir);
      if (steps.length === 0) continue;
      const step = steps.at(-1)!;
      const meta = parse<CheckpointMeta>((await (await dir.subdir(`checkpoint-${step}`, false))!.read('meta.json'))!);
      out.push({
        runId: record.runId,
        createdAt: record.createdAt,
        step,
        totalSteps: record.totalSteps,
        savedAt: meta.savedAt,
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
