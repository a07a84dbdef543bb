// The engine's speed and memory options against the plain path on the golden cases: gradient
// checkpointing (bit-identical gradients), vocabulary shards forced small (same training), the
// GPU kernel variants run here on SwiftShader (same step-0 numbers as the PyTorch reference),
// NF4 base weights (loss within a stated tolerance of 16-bit), and the memory estimate against
// what the engine really allocates (GpuContext.peakBytes).

import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { relNormError, testContext } from '../testing/gpu';
import { otherVariantContext } from '../testing/variants';
import { ListBatchSource, type ReferenceCase, loadCase } from '../testing/cases.node';
import { CHECKPOINT_DTYPES, type UploadOptions, uploadWeights } from '../model/gpu-weights';
import { widenToF32 } from '../model/nf4';
import type { WeightSource } from '../model/weights';
import { dequantizeNf4Ref, quantizeNf4Ref } from '../reference/nf4';
import { estimateMemory } from '../model/memory';
import type { LoraSpec } from '../model/lora';
import { DEFAULT_HPARAMS, type TrainingHparams } from '../../config/hparams';
import { Trainer } from './trainer';

const cases = new Map<string, ReferenceCase>();
async function getCase(name: string): Promise<ReferenceCase> {
  if (!cases.has(name)) cases.set(name, await loadCase(name));
  return cases.get(name)!;
}

interface Run {
  losses: number[];
  grads0: Float32Array;
  trainer: Trainer;
  release: () => void;
}

/** `steps` optimizer steps of a golden case with the given options; grads of step 0 kept. */
async function run(
  ctx: GpuContext,
  name: string,
  steps: number,
  o: {
    upload?: UploadOptions;
    checkpointing?: boolean;
    lora?: Partial<LoraSpec>;
    budget?: number;
    source?: WeightSource;
  } = {},
  keep = false,
): Promise<Run> {
  const c = await getCase(name);
  const weights = await uploadWeights(ctx, c.checkpoint.config, o.source ?? c.checkpoint, undefined, o.upload);
  const training: TrainingHparams = { ...DEFAULT_HPARAMS.training, warmup_ratio: 0, eval_steps: 0, ...c.training };
  const all = [...c.microBatches, ...c.evalBatches];
  let trainer: Trainer;
  try {
    trainer = new Trainer(ctx, {
      config: c.checkpoint.config,
      weights,
      lora: { ...c.lora, ...o.lora },
      training,
      train: new ListBatchSource(c.microBatches, training.gradient_accumulation_steps),
      totalSteps: training.max_steps,
      evalBatches: c.evalBatches,
      maxBatch: Math.max(...all.map((b) => b.batchSize)),
      maxSeq: Math.max(...all.map((b) => b.seqLen)),
      initialParams: c.initial,
      gradientCheckpointing: o.checkpointing,
      memoryBudgetBytes: o.budget,
    });
  } catch (e) {
    weights.arena.destroy();
    throw e;
  }
  const losses: number[] = [];
  let grads0: Float32Array = new Float32Array();
  for (let s = 0; s < steps; s++) {
    losses.push((await trainer.trainStep()).loss);
    if (s === 0) grads0 = await trainer.gradients();
  }
  const release = () => {
    trainer.destroy();
    weights.arena.destroy();
  };
  if (!keep) release();
  return { losses, grads0, trainer, release };
}

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

// The plain run of each case, computed once (3 steps) and compared with by every option.
const plainRuns = new Map<string, Promise<Run>>();
function plain(name: string): Promise<Run> {
  if (!plainRuns.has(name)) plainRuns.set(name, run(ctx, name, 3));
  return plainRuns.get(name)!;
}

describe('gradient checkpointing', () => {
  for (const name of [
    'tiny-llama3',
    'tiny-qwen2',
    'tiny-qwen3',
    'tiny-smollm3',
    'tiny-phi3',
    'tiny-phi3-dora',
    'tiny-gemma3',
    'tiny-phi3-longrope',
  ]) {
    it(`${name}: step-0 gradients bit-identical, 3 steps of identical losses, golden step-0 loss`, async () => {
      const ref = await plain(name);
      const ckpt = await run(ctx, name, 3, { checkpointing: true });
      expect(ckpt.losses).toEqual(ref.losses);
      expect(ckpt.grads0).toEqual(ref.grads0);
      const c = await getCase(name);
      expect(Math.abs(ckpt.losses[0] - c.golden.step0_loss) / c.golden.step0_loss).toBeLessThan(1e-5);
    });
  }

  it('with LoRA dropout: the recomputed forward regenerates the same masks (identical gradients)', async () => {
    const lora = { lora_dropout: 0.3 };
    const ref = await run(ctx, 'tiny-llama3', 1, { lora });
    const ckpt = await run(ctx, 'tiny-llama3', 1, { lora, checkpointing: true });
    expect(ckpt.grads0).toEqual(ref.grads0);
    expect(ckpt.losses).toEqual(ref.losses);
    expect(ckpt.grads0).not.toEqual((await plain('tiny-llama3')).grads0); // the masks did apply
  });

  it('DoRA with LoRA dropout: the recomputed norms, z and masks give identical gradients and losses', async () => {
    const lora = { lora_dropout: 0.3 };
    const ref = await run(ctx, 'tiny-llama3-dora', 2, { lora });
    const ckpt = await run(ctx, 'tiny-llama3-dora', 2, { lora, checkpointing: true });
    expect(ckpt.grads0).toEqual(ref.grads0);
    expect(ckpt.losses).toEqual(ref.losses);
    const noDropout = await run(ctx, 'tiny-llama3-dora', 1);
    expect(ckpt.grads0).not.toEqual(noDropout.grads0); // the masks did apply
    const c = await getCase('tiny-llama3-dora');
    expect(Math.abs(noDropout.losses[0] - c.golden.step0_loss) / c.golden.step0_loss).toBeLessThan(1e-5);
  });
});

describe('vocabulary shards', () => {
  for (const name of ['tiny-llama3', 'tiny-qwen2']) {
    it(`${name}: embedding and LM head in shards of 64 rows, uploaded in 1,028-byte slices, train as the single-shard run`, async () => {
      const one = await plain(name);
      // Slices that split rows and end mid-shard: each shard is filled piece by piece from the file.
      const sharded = await run(ctx, name, 3, { upload: { maxShardRows: 64, sliceBytes: 1028 } }, true);
      const w = sharded.trainer.opts.weights;
      expect(w.embed.length).toBeGreaterThanOrEqual(4);
      expect(w.lmHead.length).toBeGreaterThanOrEqual(4);
      sharded.release();
      // The logsumexp sees the vocabulary in other chunks: equal up to f32 summation order.
      for (let s = 0; s < 3; s++)
        expect(Math.abs(sharded.losses[s] - one.losses[s]) / one.losses[s]).toBeLessThan(1e-6);
      expect(relNormError(sharded.grads0, one.grads0)).toBeLessThan(1e-5);
    });
  }
});

describe('GPU kernel variants (tiled matmul, 256-wide reductions, staged attention) on this device', () => {
  let other: GpuContext;
  beforeAll(async () => {
    other = await otherVariantContext();
  });
  it('tiny-qwen2: step-0 loss and every gradient match the PyTorch reference', async () => {
    expect(other.caps.isCpu).toBe(!ctx.caps.isCpu);
    const c = await getCase('tiny-qwen2');
    const r = await run(other, 'tiny-qwen2', 1, {}, true);
    expect(Math.abs(r.losses[0] - c.golden.step0_loss) / c.golden.step0_loss).toBeLessThan(1e-5);
    const grads = r.trainer.layout.toTensors(r.grads0);
    for (const [key, g] of grads)
      expect(relNormError(g.data, await c.tensor(`step0.grad.${key}`)), key).toBeLessThan(1e-4);
    r.release();
  });
});

describe('NF4 base weights (QLoRA)', () => {
  // Stated tolerance: with the decoder's linear weights in NF4, each of 3 losses within 5% of the
  // 16-bit run's (measured: up to 2.0e-2 over 5 steps on these random-weight tiny models; the
  // quantization changes the model, so they are not equal). And the NF4 run is the run of the
  // CPU reference's dequantized weights given as an f32 checkpoint, to f32 rounding.
  const NF4_LOSS_REL = 0.05;
  for (const name of ['tiny-llama3', 'tiny-qwen2', 'tiny-phi3']) {
    it(`${name}: losses = the CPU-dequantized f32 run's, within ${NF4_LOSS_REL * 100}% of the 16-bit run's`, async () => {
      const half = await plain(name);
      const nf4 = await run(ctx, name, 3, { upload: { nf4: true } });
      const deq = await run(ctx, name, 3, { source: dequantizedSource((await getCase(name)).checkpoint) });
      let worst = 0;
      for (let s = 0; s < 3; s++) {
        worst = Math.max(worst, Math.abs(nf4.losses[s] - half.losses[s]) / half.losses[s]);
        expect(Math.abs(nf4.losses[s] - deq.losses[s]) / deq.losses[s]).toBeLessThan(1e-6);
      }
      expect(relNormError(nf4.grads0, deq.grads0)).toBeLessThan(1e-5);
      console.log(`${name}: NF4 vs 16-bit losses, worst relative difference ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(NF4_LOSS_REL);
      expect(worst).toBeGreaterThan(1e-6);
    });
  }
});

/** The checkpoint with every decoder linear weight replaced by its reference NF4 round trip, as F32. */
function dequantizedSource(src: WeightSource): WeightSource {
  const linear = (name: string) => /\.(q|k|v|o|gate|up|down|qkv|gate_up)_proj\.weight$/.test(name);
  const infos = src.list().map((w) => (linear(w.name) ? { ...w, dtype: 'F32' as const } : w));
  return {
    list: () => infos,
    read: async (name) => {
      const bytes = await src.read(name);
      if (!linear(name)) return bytes;
      const dtype = CHECKPOINT_DTYPES[src.list().find((w) => w.name === name)!.dtype];
      const q = quantizeNf4Ref(widenToF32(bytes, dtype));
      return new Uint8Array(dequantizeNf4Ref(q.codes, q.absmax).buffer);
    },
  };
}

describe('memory estimate against the allocation', () => {
  // Every run above released what it allocated, so the context's counters see only this one.

  const configs = [
    { what: 'plain', o: {} },
    {
      what: 'checkpointing + NF4 + dropout',
      o: { checkpointing: true, upload: { nf4: true }, lora: { lora_dropout: 0.1 } },
    },
    { what: 'shards of 64 rows', o: { upload: { maxShardRows: 64 } } },
  ];
  // tiny-qwen3: the q/k norms' saved tensors and weights; DoRA: its norms and z/gdy scratch, with NF4
  // weights read by the norm kernel too; tiny-phi3: the fused-projection scratch (tiny-phi3-dora: with
  // DoRA over the fused rows and per-module ranks)
  for (const name of ['tiny-qwen2', 'tiny-llama3', 'tiny-qwen3', 'tiny-llama3-dora', 'tiny-phi3', 'tiny-phi3-dora']) {
    const mine =
      name === 'tiny-qwen2' || name === 'tiny-phi3'
        ? configs
        : name === 'tiny-llama3'
          ? configs.slice(0, 1)
          : configs.slice(0, 2);
    for (const { what, o } of mine) {
      it(`${name}, ${what}: estimate = GpuContext.peakBytes after a training step and an evaluation`, async () => {
        ctx.resetPeak();
        expect(ctx.allocatedBytes).toBe(0);
        const r = await run(ctx, name, 1, o, true);
        await r.trainer.evaluate();
        const est = estimateMemory({ ...r.trainer.memoryInput(), maxShardRows: o.upload?.maxShardRows });
        expect(est.weights).toBe(r.trainer.opts.weights.bytes);
        expect(est.activations).toBe(r.trainer.model.activationBytes);
        expect(est.total).toBe(ctx.peakBytes);
        r.release();
        expect(ctx.allocatedBytes).toBe(0);
      });
    }
  }

  it('checkpointing estimates fewer activation bytes on the golden case', async () => {
    const r = await run(ctx, 'tiny-qwen2', 0, {}, true);
    const input = r.trainer.memoryInput();
    r.release();
    expect(estimateMemory({ ...input, checkpointing: true }).activations).toBeLessThan(
      estimateMemory(input).activations,
    );
  });

  it('the Trainer refuses a configuration over its memory budget, before allocating, saying what to change', async () => {
    ctx.resetPeak();
    await expect(run(ctx, 'tiny-qwen2', 0, { budget: 64 * 1024 })).rejects.toThrow(
      /more than the budget of 64\.0 KiB\. To fit: turn on gradient checkpointing/,
    );
    expect(ctx.allocatedBytes).toBe(0);
  });
});
