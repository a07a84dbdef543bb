// Packing changes where examples sit, not what is learned: a step on packed rows (several
// examples per row, positions restarting at 0, block-diagonal causal attention, the first label
// of each example masked) gives the loss and every LoRA gradient of the same examples padded one
// per row, on the tiny reference models (Llama with GQA, Qwen2 with q/k/v biases, Llama 3 RoPE
// scaling). Without the mask (the same packed rows, no position ids) the loss is different.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { relNormError, testContext } from '../testing/gpu';
import { ListBatchSource, type ReferenceCase, loadCase } from '../testing/cases.node';
import { uploadWeights, type GpuWeights } from '../model/gpu-weights';
import { DEFAULT_HPARAMS, type TrainingHparams } from '../../config/hparams';
import { collate, collatePacked, packRows } from '../../data/batches';
import { IGNORE_INDEX, type Batch, type Example } from '../../data/types';
import { Rng } from '../../util/rng';
import { Trainer } from './trainer';

const TOL_REL = 1e-5;
const MAX_SEQ = 40;
// Lengths that make rows of several examples, one ending exactly at a row's end (13 + 27 = 40),
// a 1-token example and examples crossing the kernels' 32-row tiles.
const LENGTHS = [13, 27, 5, 1, 30, 9, 17, 2, 11];

function examples(V: number): Example[] {
  const rng = new Rng(2024);
  return LENGTHS.map((n, record) => {
    const inputIds = Int32Array.from({ length: n }, () => 1 + Math.floor(rng.uniform(0, 1) * (V - 1)));
    const prompt = Math.floor(n / 3); // a masked prompt, then the trained completion
    const labels = Int32Array.from(inputIds, (id, t) => (t < prompt ? IGNORE_INDEX : id));
    return { inputIds, labels, record, truncated: false };
  });
}

/**
 * Seeded LoRA weights, A and B both nonzero and large enough that the adapted q/k/v make the
 * attention matter (the tiny models' own attention barely moves their loss, and PEFT's B = 0
 * would leave every A gradient zero).
 */
function loraInit(n: number): Float32Array {
  const rng = new Rng(7);
  return Float32Array.from({ length: n }, () => 0.3 * rng.normal());
}

async function step(ctx: GpuContext, c: ReferenceCase, weights: GpuWeights, batch: Batch) {
  const training: TrainingHparams = {
    ...DEFAULT_HPARAMS.training,
    ...c.training,
    warmup_ratio: 0,
    eval_steps: 0,
    gradient_accumulation_steps: 1,
    max_steps: 1,
  };
  const trainer = new Trainer(ctx, {
    config: c.checkpoint.config,
    weights,
    lora: { ...c.lora, lora_dropout: 0 }, // dropout masks hash token positions, which packing moves
    training,
    train: new ListBatchSource([batch], 1),
    totalSteps: 1,
    evalBatches: [],
    maxBatch: batch.batchSize,
    maxSeq: batch.seqLen,
    initialParams: loraInit(c.initial.length),
  });
  try {
    const m = await trainer.trainStep();
    const grads = trainer.layout.toTensors(await trainer.gradients());
    return { loss: m.loss, grads };
  } finally {
    trainer.destroy();
  }
}

for (const name of ['demo', 'tiny-qwen2', 'tiny-llama3']) {
  describe(`packing: ${name}`, () => {
    let ctx: GpuContext;
    let c: ReferenceCase;
    let weights: GpuWeights;
    beforeAll(async () => {
      ctx = await testContext();
      c = await loadCase(name);
      weights = await uploadWeights(ctx, c.checkpoint.config, c.checkpoint);
    });
    afterAll(() => weights?.arena.destroy());

    it('a packed step has the loss and every LoRA gradient of the same examples unpacked', async () => {
      const ex = examples(c.checkpoint.config.vocabSize);
      const padded = collate(ex, MAX_SEQ, 0);
      const rows = packRows(
        ex.map((e) => e.inputIds.length),
        MAX_SEQ,
      ).map((r) => r.map((i) => ex[i]));
      const packed = collatePacked(rows, MAX_SEQ, 0);
      expect(rows.map((r) => r.map((e) => e.inputIds.length))).toEqual([
        [13, 27],
        [5, 1, 30],
        [9, 17, 2, 11],
      ]);
      expect([padded.batchSize, padded.seqLen, packed.batchSize, packed.seqLen]).toEqual([9, 32, 3, 40]);
      expect(packed.numTargets).toBe(padded.numTargets);

      const a = await step(ctx, c, weights, padded);
      const b = await step(ctx, c, weights, packed);
      const lossRel = Math.abs(b.loss - a.loss) / a.loss;
      expect(lossRel).toBeLessThan(TOL_REL);
      let worst = 0;
      expect(b.grads.size).toBe(a.grads.size);
      for (const [key, g] of a.grads) {
        const err = relNormError(b.grads.get(key)!.data, g.data);
        worst = Math.max(worst, err);
        expect(err, key).toBeLessThan(TOL_REL);
      }
      // The rows really attend across examples without the mask: the check can fail.
      const leaky = await step(ctx, c, weights, { ...packed, positionIds: undefined });
      const leakRel = Math.abs(leaky.loss - a.loss) / a.loss;
      expect(leakRel).toBeGreaterThan(1e-4);
      console.log(
        `${name}: packed vs unpacked loss ${b.loss} vs ${a.loss} (rel ${lossRel.toExponential(2)}), ` +
          `worst grad rel-norm err ${worst.toExponential(2)} over ${a.grads.size} tensors; without the mask rel ${leakRel.toExponential(2)}`,
      );
    });
  });
}
