// `--resume_from_checkpoint [DIR]` as TrainingArguments reads it: a checkpoint-N folder, a run's
// folder (its newest complete checkpoint), or no value / `true` for the newest in --out.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RunCheckpoints, readCheckpoint, type LoadedCheckpoint } from '../run/checkpoints';
import { nodeDir } from '../run/dir.node';

export interface Resume {
  /** The checkpoint-N folder. */
  path: string;
  checkpoint: LoadedCheckpoint;
}

async function newestIn(dir: string, what: string): Promise<Resume> {
  const cps = new RunCheckpoints(nodeDir(dir));
  const step = (await cps.steps()).at(-1);
  if (step === undefined) {
    throw new Error(`--resume_from_checkpoint: ${what} has no complete checkpoint-N folder to resume from`);
  }
  return { path: join(dir, `checkpoint-${step}`), checkpoint: await cps.load(step, dir) };
}

export async function findCheckpoint(flag: string | true | undefined, outDir: string): Promise<Resume | null> {
  if (flag === undefined || flag === 'false') return null;
  if (flag === true || flag === 'true') return newestIn(outDir, `--out ${outDir}`);
  if (!existsSync(flag) || !statSync(flag).isDirectory()) {
    throw new Error(`--resume_from_checkpoint ${flag}: no such folder`);
  }
  if (existsSync(join(flag, 'meta.json')) || /checkpoint-\d+\/?$/.test(flag)) {
    return { path: flag, checkpoint: await readCheckpoint(nodeDir(flag), flag) };
  }
  return newestIn(flag, flag);
}
