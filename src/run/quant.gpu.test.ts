// What the studio worker does with load_in_4bit, through the run layer, on the demo model: the
// model is uploaded in its checkpoint dtype at load; a 4-bit run swaps in NF4 weights (the 16-bit
// ones are freed first), trains on them with checkpointing, and sampling reads the same NF4 base;
// a later 16-bit run swaps back. A failed upload leaves the previous weights in place.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../engine/gpu/context';
import { testContext } from '../engine/testing/gpu';
import { REPO_ROOT } from '../engine/testing/cases.node';
import { arenaBytes, estimateMemory, weightSpecs } from '../engine/model/memory';
import type { GpuWeights } from '../engine/model/gpu-weights';
import { Generator } from '../engine/sample/generator';
import { DEFAULT_HPARAMS, type Hparams } from '../config/hparams';
import { fileSetFromDir } from '../io/source.node';
import { parseDataset } from '../data/parse';
import { openModel, uploadModel, type LoadedModel } from './model';
import { prepareData } from './data';
import { TrainingRun } from './run';
import { useWeights } from './quant';
import { memoryInput } from './plan';

let ctx: GpuContext;
let model: LoadedModel;

beforeAll(async () => {
  ctx = await testContext();
  model = await openModel(await fileSetFromDir(join(REPO_ROOT, 'public/demo/model')));
});

const hp = (qlora: boolean): Hparams => ({
  lora: { ...DEFAULT_HPARAMS.lora, lora_dropout: 0, target_modules: 'all-linear' },
  training: {
    ...DEFAULT_HPARAMS.training,
    learning_rate: 3e-3,
    warmup_ratio: 0,
    per_device_train_batch_size: 4,
    max_seq_length: 128,
    max_steps: 2,
    eval_steps: 0,
    val_split_fraction: 0.25,
    gradient_checkpointing: qlora,
  },
  quantization: { load_in_4bit: qlora, bnb_4bit_quant_type: 'nf4' },
});

/** Greedy ids and log-probabilities of the base model (no adapter) for a fixed prompt. */
async function greedy(weights: GpuWeights): Promise<{ ids: number[]; logprobs: number[] }> {
  const gen = new Generator(ctx, model.checkpoint.config, weights, null, 64);
  const prompt = model.tokenizer.encode('How many orders are there?', { addSpecialTokens: true });
  const r = await gen.generate(prompt, {
    maxNewTokens: 6,
    temperature: 0,
    topP: 1,
    seed: 0,
    stopIds: [],
    withAdapter: false,
  });
  gen.destroy();
  return { ids: r.ids, logprobs: r.logprobs };
}

describe('useWeights: the base in the form the run trains on', () => {
  it('a 4-bit run gets NF4 weights (16-bit freed), trains and samples on them; a 16-bit run gets them back', async () => {
    const limits = ctx.caps;
    const dtype = 'bf16' as const;
    const bytesOf = (nf4: boolean) =>
      arenaBytes(weightSpecs({ config: model.checkpoint.config, weightDtype: dtype, nf4, limits }), limits);
    expect(model.checkpoint.dtype).toBe('BF16');
    const held0 = ctx.allocatedBytes;
    const m = { weights: await uploadModel(ctx, model) };
    expect(ctx.allocatedBytes - held0).toBe(bytesOf(false));
    const half = m.weights;
    const base16 = await greedy(half);

    const data = prepareData(
      parseDataset(readFileSync(join(REPO_ROOT, 'public/demo/sql-demo.json')), { name: 'sql-demo.json' }).records.slice(
        0,
        32,
      ),
      model,
      hp(true).training,
    );
    // The run refuses weights that are not the form its hyperparameters ask for.
    expect(() => new TrainingRun(ctx, model, m.weights, data, hp(true))).toThrow(
      'the base weights on the GPU are not 4-bit but load_in_4bit is true',
    );

    const q = await useWeights(ctx, model, m, true);
    expect(q).toBe(m.weights);
    expect(q.nf4).toBe(true);
    expect(ctx.allocatedBytes - held0).toBe(bytesOf(true)); // the 16-bit arena is gone
    expect(bytesOf(true)).toBeLessThan(bytesOf(false));
    expect(await useWeights(ctx, model, m, true)).toBe(q); // already NF4: nothing uploaded

    const run = new TrainingRun(ctx, model, m.weights, data, hp(true));
    const input = run.trainer.memoryInput();
    expect(input).toMatchObject({ nf4: true, checkpointing: true });
    // The studio's estimate for these hyperparameters is the trainer's own plan.
    expect(estimateMemory(memoryInput(model, hp(true), input.maxSeq, limits, m.weights))).toEqual(
      estimateMemory(input),
    );
    expect(ctx.allocatedBytes - held0).toBe(estimateMemory(input).total);
    const losses: number[] = [];
    while (!run.done) losses.push((await run.step()).loss);
    expect(losses).toHaveLength(2);
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    run.destroy();

    // Sampling reads the NF4 base: close to the 16-bit model's, not the same numbers.
    const baseQ = await greedy(m.weights);
    expect(baseQ.logprobs).toHaveLength(6);
    expect(baseQ.logprobs).not.toEqual(base16.logprobs);
    if (baseQ.ids[0] === base16.ids[0]) expect(Math.abs(baseQ.logprobs[0] - base16.logprobs[0])).toBeLessThan(0.5);

    // Back to 16-bit for a run without load_in_4bit: the same numbers as the first upload.
    await useWeights(ctx, model, m, false);
    expect(m.weights.nf4).toBe(false);
    expect(ctx.allocatedBytes - held0).toBe(bytesOf(false));
    expect(await greedy(m.weights)).toEqual(base16);
    m.weights.arena.destroy();
    expect(ctx.allocatedBytes).toBe(held0);
  });

  it('a failed upload leaves the previous weights uploaded and nothing else allocated', async () => {
    const held0 = ctx.allocatedBytes;
    const m = { weights: await uploadModel(ctx, model) };
    let reads = 0;
    const source = model.checkpoint;
    // The first read fails, whole tensor or slice (the upload reads 16 MiB slices where it can).
    const fail = () => reads++ === 0;
    const flaky = {
      ...model,
      checkpoint: Object.assign(Object.create(source) as typeof source, {
        read: (name: string) => (fail() ? Promise.reject(new Error('disk gone')) : source.read(name)),
        readRange: (name: string, offset: number, length: number) =>
          fail() ? Promise.reject(new Error('disk gone')) : source.readRange!(name, offset, length),
      }),
    };
    await expect(useWeights(ctx, flaky, m, true)).rejects.toThrow('disk gone');
    expect(m.weights.nf4).toBe(false);
    expect(ctx.allocatedBytes - held0).toBe(m.weights.bytes);
    m.weights.arena.destroy();
    expect(ctx.allocatedBytes).toBe(held0);
  });
});
