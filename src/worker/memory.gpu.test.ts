import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { testContext } from '../engine/testing/gpu';
import { fileSetFromDir } from '../io/source.node';
import { parseDataset } from '../data/parse';
import { DEFAULT_HPARAMS, resolveTargets, type Hparams } from '../config/hparams';
import { openModel, uploadModel } from '../run/model';
import { prepareData } from '../run/data';
import { TrainingRun } from '../run/run';
import { estimateRunMemory } from './memory';

// The interim estimate against what a real run allocates on the demo model: it must not claim
// less than 95% or more than 105% of the storage the engine actually holds after one step.
describe('estimateRunMemory', () => {
  it('is within 5% of the GPU storage a demo run holds', async () => {
    const ctx = await testContext();
    const model = await openModel(await fileSetFromDir('public/demo/model'));
    const parsed = parseDataset(readFileSync('public/demo/sql-demo.json'), { name: 'sql-demo.json' });
    const hparams: Hparams = {
      lora: { ...DEFAULT_HPARAMS.lora, target_modules: 'all-linear' },
      training: {
        ...DEFAULT_HPARAMS.training,
        max_steps: 1,
        per_device_train_batch_size: 2,
        max_seq_length: 64,
        val_split_fraction: 0.02,
      },
      quantization: DEFAULT_HPARAMS.quantization,
    };
    const data = prepareData(parsed, model, hparams.training);
    const before = ctx.allocatedBytes;
    const weights = await uploadModel(ctx, model);
    const run = new TrainingRun(ctx, model, weights, data, hparams);
    await run.step();
    const held = ctx.allocatedBytes - before;
    const longest = Math.max(...[...data.train, ...data.val].map((e) => e.inputIds.length));
    const est = estimateRunMemory({
      config: model.checkpoint.config,
      weightBytes: weights.arena.allocatedBytes,
      lora: { ...hparams.lora, target_modules: resolveTargets('all-linear') },
      maxBatch: 2,
      maxSeq: Math.min(64, Math.ceil(longest / 16) * 16),
    });
    run.destroy();
    weights.arena.destroy();
    console.log(`estimate ${est.total} B, held ${held} B, ratio ${(est.total / held).toFixed(3)}`);
    expect(est.total / held).toBeGreaterThan(0.95);
    expect(est.total / held).toBeLessThan(1.05);
  });
});
