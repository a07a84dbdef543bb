// Trainer behaviour beyond the golden numbers: the NaN guard keeps the last adapter whose loss was
// finite; gradient accumulation normalizes over all micro-batches (two micro-batches of one row
// equal one micro-batch of two rows); dropout is seeded and deterministic; PEFT's parameter line.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { relNormError, testContext } from '../testing/gpu';
import { ListBatchSource, type ReferenceCase, loadCase } from '../testing/cases.node';
import { uploadWeights, type GpuWeights } from '../model/gpu-weights';
import { baseParamCount } from '../model/config';
import { IGNORE_INDEX, type Batch } from '../../data/types';
import { DEFAULT_HPARAMS, type TrainingHparams } from '../../config/hparams';
import { Trainer } from './trainer';
import type { LoraSpec } from '../model/lora';

let ctx: GpuContext;
let c: ReferenceCase;
let weights: GpuWeights;

beforeAll(async () => {
  ctx = await testContext();
  c = await loadCase('tiny-llama3');
  weights = await uploadWeights(ctx, c.checkpoint.config, c.checkpoint);
});
afterAll(() => weights?.arena.destroy());

function makeTrainer(
  batches: Batch[],
  G: number,
  over: Partial<TrainingHparams> = {},
  lora: Partial<LoraSpec> = {},
  steps = 3,
  initialParams: Float32Array | null = c.initial, // null: the trainer's own seeded init
): Trainer {
  const training: TrainingHparams = {
    ...DEFAULT_HPARAMS.training,
    warmup_ratio: 0,
    eval_steps: 0,
    gradient_accumulation_steps: G,
    ...over,
  };
  return new Trainer(ctx, {
    config: c.checkpoint.config,
    weights,
    lora: { ...c.lora, ...lora },
    training,
    train: new ListBatchSource(batches, G),
    totalSteps: steps,
    evalBatches: [],
    maxBatch: Math.max(...batches.map((b) => b.batchSize)),
    maxSeq: Math.max(...batches.map((b) => b.seqLen)),
    initialParams: initialParams ?? undefined,
  });
}

/** Splits a [B, T] micro-batch into B micro-batches of one row. */
function rows(b: Batch): Batch[] {
  return Array.from({ length: b.batchSize }, (_, r) => {
    const labels = b.labels.slice(r * b.seqLen, (r + 1) * b.seqLen);
    let numTargets = 0;
    for (let t = 1; t < b.seqLen; t++) if (labels[t] !== IGNORE_INDEX) numTargets++;
    return {
      inputIds: b.inputIds.slice(r * b.seqLen, (r + 1) * b.seqLen),
      labels,
      batchSize: 1,
      seqLen: b.seqLen,
      numTargets,
      numTokens: b.seqLen,
    };
  });
}

describe('Trainer', () => {
  it('prints the trainable-parameter line as PEFT does', () => {
    const t = makeTrainer([c.microBatches[0]], 1);
    const base = baseParamCount(c.checkpoint.config);
    const trainable = t.layout.paramCount;
    // r=8 on q_proj [40 -> 40] and v_proj [40 -> 8] in 2 layers: (8*40 + 40*8) + (8*40 + 8*8) per layer
    expect(trainable).toBe(2 * (8 * 40 + 40 * 8 + 8 * 40 + 8 * 8));
    expect(t.trainableLine(base)).toBe(
      `trainable params: ${trainable.toLocaleString('en-US')} || all params: ${(base + trainable).toLocaleString('en-US')} || trainable%: ${((100 * trainable) / (base + trainable)).toFixed(4)}`,
    );
    t.destroy();
  });

  it('normalizes accumulated loss over all micro-batches: B x [1, T] equals 1 x [B, T]', async () => {
    const whole = c.microBatches[0];
    expect(whole.batchSize).toBeGreaterThan(1);
    const a = makeTrainer([whole], 1, {}, {}, 1);
    const b = makeTrainer(rows(whole), whole.batchSize, {}, {}, 1);
    const ma = await a.trainStep();
    const mb = await b.trainStep();
    expect(Math.abs(ma.loss - mb.loss) / ma.loss).toBeLessThan(1e-6);
    expect(relNormError(await b.gradients(), await a.gradients())).toBeLessThan(1e-5);
    expect(relNormError(await b.adapterParams(), await a.adapterParams())).toBeLessThan(1e-6);
    a.destroy();
    b.destroy();
  });

  it('stops on a non-finite loss and keeps the last adapter whose loss was finite', async () => {
    // lr 1e30 without clipping: step 1 is finite but leaves ~1e30 weights; step 2 overflows.
    const t = makeTrainer(c.microBatches.slice(0, 6), 2, { learning_rate: 1, max_grad_norm: 0 }, {}, 3);
    (t.opts.training as { learning_rate: number }).learning_rate = 1e30; // past the schema's bound, on purpose
    const m1 = await t.trainStep();
    expect(Number.isFinite(m1.loss)).toBe(true);
    const m2 = await t.trainStep();
    expect(Number.isFinite(m2.loss) && Number.isFinite(m2.gradNorm)).toBe(false);
    expect(t.stopReason).toMatchObject({ kind: 'non_finite', step: 2, keptStep: 0 });
    expect(t.step).toBe(1);
    expect(await t.adapterParams()).toEqual(c.initial);
    await expect(t.trainStep()).rejects.toThrow(/stopped/);
    t.destroy();
  });

  it('DoRA from a fresh init: m = ||W||_row on the GPU (B = 0), the same step-0 loss as LoRA, magnitudes counted', async () => {
    const batches = c.microBatches.slice(0, 2);
    const lora = makeTrainer(batches, 2, {}, {}, 1, null);
    const dora = makeTrainer(batches, 2, {}, { use_dora: true }, 1, null);
    const params = dora.layout.toTensors(await dora.adapterParams());
    for (const s of dora.layout.slots) {
      const w = await c.checkpoint.readAsF32(`model.layers.${s.layer}.self_attn.${s.module}.weight`);
      const want = Array.from({ length: s.outFeatures }, (_, o) =>
        Math.hypot(...w.subarray(o * s.inFeatures, (o + 1) * s.inFeatures)),
      );
      expect(relNormError(params.get(s.keyM!)!.data, want), s.keyM).toBeLessThan(1e-6);
    }
    // A and B are the seeded LoRA init, and with g = m / ||W|| = 1 the model is the base model
    expect(params.get(dora.layout.slots[0].keyA)!.data).toEqual(
      lora.layout.toTensors(await lora.adapterParams()).get(dora.layout.slots[0].keyA)!.data,
    );
    const [ml, md] = [await lora.trainStep(), await dora.trainStep()];
    expect(Math.abs(md.loss - ml.loss) / ml.loss).toBeLessThan(1e-6);
    expect(dora.layout.paramCount - lora.layout.paramCount).toBe(2 * (40 + 8)); // m of q_proj and v_proj
    lora.destroy();
    dora.destroy();
    // initial parameters of another layout (a plain LoRA adapter for a DoRA run) are refused by name
    expect(() => makeTrainer(batches, 2, {}, { use_dora: true }, 1)).toThrow(/initial LoRA parameters have \d+ values/);
  });

  it('applies seeded dropout: reproducible, and different from no dropout', async () => {
    const batches = c.microBatches.slice(0, 4);
    const run = async (dropout: number) => {
      const t = makeTrainer(batches, 2, {}, { lora_dropout: dropout }, 2);
      const losses = [(await t.trainStep()).loss, (await t.trainStep()).loss];
      const params = await t.adapterParams();
      t.destroy();
      return { losses, params };
    };
    const d1 = await run(0.3);
    const d2 = await run(0.3);
    const d0 = await run(0);
    expect(d2.losses).toEqual(d1.losses);
    expect(d2.params).toEqual(d1.params);
    expect(relNormError(d1.params, d0.params)).toBeGreaterThan(1e-6);
    expect(d1.losses.every(Number.isFinite)).toBe(true);
  });
});
