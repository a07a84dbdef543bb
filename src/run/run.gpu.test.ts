// The whole studio pipeline in Node on the built-in demo (public/demo): dataset -> template ->
// labels -> batches -> engine. Fine-tuning lowers the validation loss by a stated margin in a
// fixed number of steps; early stopping (issue 8) stops at the step transformers'
// EarlyStoppingCallback rule predicts from the recorded validation losses, and the exported best
// adapter reproduces the best validation loss.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../engine/gpu/context';
import type { GpuWeights } from '../engine/model/gpu-weights';
import { testContext } from '../engine/testing/gpu';
import { REPO_ROOT } from '../engine/testing/cases.node';
import { fileSetFromDir } from '../io/source.node';
import { FileSet, bytesSource } from '../io/source';
import { readAdapter } from '../io/peft';
import { parseDataset, type ParsedDataset } from '../data/parse';
import { DEFAULT_HPARAMS, type Hparams } from '../config/hparams';
import { openModel, uploadModel, type LoadedModel } from './model';
import { prepareData } from './data';
import { TrainingRun } from './run';

let ctx: GpuContext;
let model: LoadedModel;
let weights: GpuWeights;
let dataset: ParsedDataset;

beforeAll(async () => {
  ctx = await testContext();
  model = await openModel(await fileSetFromDir(join(REPO_ROOT, 'public/demo/model')));
  weights = await uploadModel(ctx, model);
  dataset = parseDataset(readFileSync(join(REPO_ROOT, 'public/demo/sql-demo.json')), { name: 'sql-demo.json' });
});
afterAll(() => weights?.arena.destroy());

function hp(training: Partial<Hparams['training']>, lora: Partial<Hparams['lora']> = {}): Hparams {
  return {
    lora: { ...DEFAULT_HPARAMS.lora, lora_dropout: 0, target_modules: 'all-linear', ...lora },
    training: { ...DEFAULT_HPARAMS.training, ...training },
    quantization: DEFAULT_HPARAMS.quantization,
  };
}

describe('the demo, end to end on the engine', () => {
  it('fine-tuning lowers the validation loss by at least 20% in 8 steps', async () => {
    const h = hp({
      learning_rate: 3e-3,
      per_device_train_batch_size: 8,
      max_seq_length: 256,
      max_steps: 8,
      warmup_ratio: 0,
      eval_steps: 0,
      val_split_fraction: 0.05,
    });
    const data = prepareData(dataset, model, h.training);
    expect(data.val.length).toBe(20);
    const run = new TrainingRun(ctx, model, weights, data, h);
    const before = await run.trainer.evaluate();
    const t0 = performance.now();
    let last = NaN;
    while (!run.done) last = (await run.step()).evalLoss ?? last;
    const ms = performance.now() - t0;
    console.log(
      `demo: validation loss ${before.toFixed(4)} -> ${last.toFixed(4)} in 8 steps (${(ms / 1000).toFixed(1)} s)`,
    );
    expect(run.stopReason?.kind).toBe('completed');
    expect(last).toBeLessThan(0.8 * before);
    run.destroy();
  });

  it('early stopping stops where the EarlyStoppingCallback rule says, and the best adapter reproduces the best loss', async () => {
    const patience = 2;
    const threshold = 0.001;
    // A deliberately high learning rate on a small slice: validation loss improves for a couple of
    // evaluations, then turns up (seen: 1.035 0.766 0.735 0.890 0.815 ... -> stop at step 5).
    const h = hp({
      learning_rate: 0.01,
      lr_scheduler_type: 'constant',
      warmup_ratio: 0,
      per_device_train_batch_size: 4,
      max_seq_length: 128,
      max_steps: 14,
      eval_steps: 1,
      val_split_fraction: 0.25,
      early_stopping_patience: patience,
      early_stopping_threshold: threshold,
    });
    const data = prepareData(dataset.records.slice(0, 32), model, h.training);
    const run = new TrainingRun(ctx, model, weights, data, h);
    const evals: { step: number; loss: number }[] = [];
    while (!run.done) {
      const m = await run.step();
      if (m.evalLoss !== undefined) evals.push({ step: m.step, loss: m.evalLoss });
    }
    // The rule, written out again here (transformers' check_metric_value + _determine_best_metric).
    let best: number | null = null;
    let bad = 0;
    let predicted = -1;
    for (const e of evals) {
      bad = best === null || (e.loss < best && best - e.loss > threshold) ? 0 : bad + 1;
      if (best === null || e.loss < best) best = e.loss;
      if (bad >= patience) {
        predicted = e.step;
        break;
      }
    }
    console.log(
      `early stopping: eval losses ${evals.map((e) => e.loss.toFixed(3)).join(' ')}; stopped at ${run.stopReason && 'step' in run.stopReason ? run.stopReason.step : '-'}`,
    );
    expect(predicted).toBeGreaterThan(0);
    expect(predicted).toBeLessThan(14);
    expect(run.stopReason).toMatchObject({ kind: 'early_stopping', step: predicted });
    const bestEval = Math.min(...evals.map((e) => e.loss));
    const bestStep = evals.find((e) => e.loss === bestEval)!.step;
    expect(run.stopReason).toMatchObject({ bestStep, bestEvalLoss: bestEval });
    expect(bestStep).toBeGreaterThan(1); // it did learn before it stopped

    // Export the best adapter in PEFT's layout, read it back, and evaluate it.
    const exported = await run.exportAdapter('best');
    expect(exported.step).toBe(bestStep);
    const files = new FileSet(
      new Map([
        ['adapter_model.safetensors', bytesSource(exported.safetensors, 'adapter_model.safetensors')],
        ['adapter_config.json', bytesSource(new TextEncoder().encode(exported.config), 'adapter_config.json')],
      ]),
      'best',
    );
    const adapter = await readAdapter(files, model.checkpoint.config);
    run.trainer.setAdapterParams(adapter.flat);
    const again = await run.trainer.evaluate();
    expect(Math.abs(again - bestEval) / bestEval).toBeLessThan(1e-6);
    // ...and it is not the last adapter.
    const lastExport = await run.exportAdapter('last');
    expect(lastExport.step).toBe(predicted);
    run.destroy();
  });
});
