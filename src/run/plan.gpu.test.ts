// The figures the Model and Hyperparameters panels and `npm run train` show before a run are the
// run's: the memory estimate is the GPU storage the run then holds at its peak, to the byte, and
// the step counts and PEFT's trainable line are those TrainingRun reports.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testContext } from '../engine/testing/gpu';
import { REPO_ROOT } from '../engine/testing/cases.node';
import { fileSetFromDir } from '../io/source.node';
import { parseDataset } from '../data/parse';
import { DEFAULT_HPARAMS, type Hparams } from '../config/hparams';
import { openModel, uploadModel } from './model';
import { prepareData } from './data';
import { estimateRun } from './plan';
import { TrainingRun } from './run';

describe('estimateRun', () => {
  it('equals the peak GPU storage of the run, and its steps and trainable line', async () => {
    const ctx = await testContext();
    const model = await openModel(await fileSetFromDir(join(REPO_ROOT, 'public/demo/model')));
    const parsed = parseDataset(readFileSync(join(REPO_ROOT, 'public/demo/sql-demo.json')), { name: 'sql-demo.json' });
    const h: Hparams = {
      lora: { ...DEFAULT_HPARAMS.lora, target_modules: 'all-linear', r: 4 },
      quantization: { ...DEFAULT_HPARAMS.quantization },
      training: {
        ...DEFAULT_HPARAMS.training,
        num_train_epochs: 2,
        per_device_train_batch_size: 3,
        gradient_accumulation_steps: 2,
        max_seq_length: 96,
        val_split_fraction: 0.05,
        eval_steps: 0,
      },
    };
    const data = prepareData(parsed.records.slice(0, 40), model, h.training);
    const est = estimateRun(model, h, ctx.caps, data);
    const held = ctx.allocatedBytes;
    ctx.resetPeak();
    const weights = await uploadModel(ctx, model);
    const run = new TrainingRun(ctx, model, weights, data, h);
    await run.step();
    const peak = ctx.peakBytes - held;
    run.destroy();
    weights.arena.destroy();
    console.log(`estimate ${est.memory.text}; peak ${peak} B`);
    expect(est.memory.total).toBe(peak);
    expect(est.memory.problem).toBeNull();
    expect([est.totalSteps, est.stepsPerEpoch]).toEqual([run.totalSteps, run.sampler.stepsPerEpoch]);
    // 38 training examples, micro-batches of 3, 2 per step: 7 steps an epoch, 2 epochs.
    expect([est.train, est.val, est.stepsPerEpoch, est.totalSteps]).toEqual([38, 2, 7, 14]);
    expect(est.trainableLine).toBe(run.trainableLine());
    expect(est.trainableLine).toMatch(/^trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}$/);
  }, 600_000);

  it('with packing: fewer steps (packed rows), the estimate still the peak of the run', async () => {
    const ctx = await testContext();
    const model = await openModel(await fileSetFromDir(join(REPO_ROOT, 'public/demo/model')));
    const parsed = parseDataset(readFileSync(join(REPO_ROOT, 'public/demo/sql-demo.json')), { name: 'sql-demo.json' });
    const h: Hparams = {
      lora: { ...DEFAULT_HPARAMS.lora, r: 4 },
      quantization: { ...DEFAULT_HPARAMS.quantization },
      training: {
        ...DEFAULT_HPARAMS.training,
        num_train_epochs: 2,
        per_device_train_batch_size: 3,
        gradient_accumulation_steps: 2,
        max_seq_length: 256,
        val_split_fraction: 0.05,
        eval_steps: 0,
        packing: true,
      },
    };
    const data = prepareData(parsed.records.slice(0, 40), model, h.training);
    const est = estimateRun(model, h, ctx.caps, data);
    const unpacked = estimateRun(model, { ...h, training: { ...h.training, packing: false } }, ctx.caps, data);
    const held = ctx.allocatedBytes;
    ctx.resetPeak();
    const weights = await uploadModel(ctx, model);
    const run = new TrainingRun(ctx, model, weights, data, h);
    await run.step();
    const peak = ctx.peakBytes - held;
    run.destroy();
    weights.arena.destroy();
    expect(est.memory.total).toBe(peak);
    expect([est.totalSteps, est.stepsPerEpoch]).toEqual([run.totalSteps, run.sampler.stepsPerEpoch]);
    expect(run.sampler.stepsPerEpoch).toBe(Math.ceil(Math.ceil(run.sampler.units.length / 3) / 2));
    expect(est.stepsPerEpoch!).toBeLessThan(unpacked.stepsPerEpoch!);
    console.log(`packing: ${est.stepsPerEpoch} steps an epoch (unpacked ${unpacked.stepsPerEpoch}); peak ${peak} B`);
  }, 600_000);
});
