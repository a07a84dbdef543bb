// The CLI's checkpoints on the disk: the same store as the studio's, over nodeDir.

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeDir } from './dir.node';
import { RunCheckpoints, readCheckpoint, type CheckpointData } from './checkpoints';
import { DEFAULT_HPARAMS } from '../config/hparams';
import type { TrainerState } from '../engine/train/trainer';

const root = mkdtempSync(join(tmpdir(), 'dir-node-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function state(step: number): TrainerState {
  const f = (k: number) => Float32Array.from({ length: 6 }, (_, i) => step + k / 10 + i / 100);
  return {
    step,
    params: f(1),
    m: f(2),
    v: f(3),
    sampler: { epoch: 0, microBatch: step, step, numExamples: 24, seed: 7 },
    early: { best: null, bad: 0 },
    best: null,
  };
}

const data = (step: number): CheckpointData => ({
  state: state(step),
  adapter: { safetensors: new Uint8Array([step, 1, 2]), config: `{"r": ${step}}` },
  history: [],
  activeMs: step * 1000,
  hparams: { ...DEFAULT_HPARAMS, training: { ...DEFAULT_HPARAMS.training, learning_rate: 3e-3 } },
  totalSteps: 9,
});

describe('nodeDir', () => {
  it('writes, reads, lists and removes files and folders; a missing one is null', async () => {
    const d = nodeDir(join(root, 'a'));
    expect(await d.entries()).toEqual([]);
    expect(await d.read('x.json')).toBeNull();
    expect(await d.subdir('sub', false)).toBeNull();
    await d.write('x.json', '{"a": 1}');
    await d.write('b.bin', new Uint8Array([1, 2, 3]));
    await d.write('b.bin', new Uint8Array([4, 5]));
    expect(readFileSync(join(root, 'a', 'x.json'), 'utf8')).toBe('{"a": 1}');
    expect([...(await d.read('b.bin'))!]).toEqual([4, 5]);
    expect([...new Uint8Array(await (await d.blob('b.bin'))!.arrayBuffer())]).toEqual([4, 5]);
    const sub = (await d.subdir('sub', true))!;
    await sub.write('c.txt', 'c');
    writeFileSync(join(root, 'a', '.half.123.tmp'), 'left by a crash');
    expect(await d.entries()).toEqual([
      { name: 'b.bin', kind: 'file' },
      { name: 'sub', kind: 'directory' },
      { name: 'x.json', kind: 'file' },
    ]);
    await d.remove('sub');
    await d.remove('nothing-there');
    expect(existsSync(join(root, 'a', 'sub'))).toBe(false);
  });

  it('holds a run folder of checkpoint-N folders: the two newest kept, PEFT files beside the state', async () => {
    const out = join(root, 'out');
    const cps = new RunCheckpoints(nodeDir(out));
    for (const s of [3, 6, 9]) await cps.save(data(s));
    expect(readdirSync(out).sort()).toEqual(['checkpoint-6', 'checkpoint-9']);
    expect(readdirSync(join(out, 'checkpoint-9')).sort()).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
      'meta.json',
      'state.bin',
    ]);
    expect(readFileSync(join(out, 'checkpoint-9', 'adapter_config.json'), 'utf8')).toBe('{"r": 9}');
    const newest = await cps.load();
    expect(newest.state).toEqual(state(9));
    expect(newest.activeMs).toBe(9000);
    expect(newest.hparams?.training.learning_rate).toBe(3e-3);
    expect(newest.totalSteps).toBe(9);
    const six = await readCheckpoint(nodeDir(join(out, 'checkpoint-6')), join(out, 'checkpoint-6'));
    expect(six.state).toEqual(state(6));
  });

  it('refuses a folder that is not a complete checkpoint, naming it', async () => {
    const half = join(root, 'out', 'checkpoint-12');
    const d = nodeDir(half);
    await d.write('state.bin', new Uint8Array(8));
    await expect(readCheckpoint(d, half)).rejects.toThrow(`${half} is not a complete checkpoint (meta.json is missing`);
    // the incomplete one is not the newest
    expect((await new RunCheckpoints(nodeDir(join(root, 'out'))).load()).state.step).toBe(9);
    await expect(new RunCheckpoints(nodeDir(join(root, 'empty'))).load(undefined, 'empty')).rejects.toThrow(
      'empty has no complete checkpoint',
    );
  });
});
