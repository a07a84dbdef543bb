import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import type { Tensor } from '../gpu/tensor';
import { ceLossSumRef, lmHeadLossBackwardRef, lmHeadLossRef, lmLogitsRef } from '../reference/lm_head';
import { expectClose, testContext } from '../testing/gpu';
import { otherVariantContext } from '../testing/variants';
import { Rng } from '../../util/rng';
import { packHalf, unpackHalf } from '../../util/half';
import { IGNORE_INDEX, LmHeadLoss, type LmHeadShard, ceLossSum, checkTargets } from './lm_head';

// N = 45 rows and C = 37 are not multiples of the 4x4 register blocks or 32x32 workgroup tiles;
// V = 1003 in shards of 500 and 503 rows with chunks of 256 gives chunks of 256, 244, 256, 247.
const TOL_FWD = { atol: 1e-5, rtol: 1e-5 };
const TOL_BWD = { atol: 1e-6, rtol: 1e-4 };

let ctx: GpuContext;
const owned: Tensor[] = [];
beforeAll(async () => {
  ctx = await testContext();
});
afterAll(() => {
  for (const t of owned) ctx.release(t.buffer);
});

function tensor(shape: number[], dtype: Tensor['dtype'], label: string, data?: ArrayBufferView): Tensor {
  const t = ctx.tensor(shape, dtype, label, data);
  owned.push(t);
  return t;
}

interface Case {
  N: number;
  C: number;
  V: number;
  dtype: 'f32' | 'f16' | 'bf16';
  shardRows: number[];
  chunk?: number;
}

/** Weights as the GPU sees them (rounded to dtype) and their shard tensors. */
function weights(rng: Rng, c: Case): { w: Float32Array; shards: LmHeadShard[] } {
  const raw = Float32Array.from({ length: c.V * c.C }, () => 0.5 * rng.normal());
  const w = c.dtype === 'f32' ? raw : unpackHalf(packHalf(raw, c.dtype), c.dtype, raw.length);
  const shards: LmHeadShard[] = [];
  let rowStart = 0;
  for (const rows of c.shardRows) {
    const part = raw.subarray(rowStart * c.C, (rowStart + rows) * c.C);
    const data = c.dtype === 'f32' ? part : packHalf(part, c.dtype);
    shards.push({ weight: tensor([rows, c.C], c.dtype, `lm_head.${shards.length}`, data), rowStart, rows });
    rowStart += rows;
  }
  return { w, shards };
}

function makeTargets(rng: Rng, N: number, V: number): Int32Array {
  // Ignored rows, the first and last ids of every shard boundary region, and random ids.
  const special = [IGNORE_INDEX, V - 1, 0, 499, 500, 255, 256, IGNORE_INDEX, V - 2].filter((t) => t < V);
  return Int32Array.from({ length: N }, (_, i) =>
    i < special.length ? special[i] : i % 7 === 3 ? IGNORE_INDEX : rng.int(V),
  );
}

async function lossCase(c: Case) {
  const rng = new Rng(c.N * 7 + c.C * 3 + c.V + c.dtype.length);
  const { w, shards } = weights(rng, c);
  const h = Float32Array.from({ length: c.N * c.C }, () => rng.normal());
  const targets = makeTargets(rng, c.N, c.V);
  checkTargets(targets, c.V, 'test');
  const counted = targets.filter((t) => t >= 0).length;
  const scale = 1 / counted;
  const head = new LmHeadLoss(ctx, { N: c.N, C: c.C, V: c.V, chunk: c.chunk, shards });
  const H = tensor([c.N, c.C], 'f32', 'h', h);
  const Tg = tensor([c.N], 'i32', 'targets', targets);
  const S = tensor([1], 'f32', 'scale', new Float32Array([scale]));
  const rowLoss = tensor([c.N], 'f32', 'rowLoss', new Float32Array(c.N).fill(NaN));
  const lse = tensor([c.N], 'f32', 'lse');
  const dh = tensor([c.N, c.C], 'f32', 'dh', new Float32Array(c.N * c.C).fill(NaN));
  const acc = tensor([1], 'f32', 'acc', new Float32Array([1.5]));
  const p = new Program(ctx, 'lm head loss');
  head.forward(p, rowLoss, lse, H, Tg, S);
  head.lossSum(p, acc, rowLoss);
  head.backward(p, dh, H, Tg, lse, S);
  await p.run();

  const refLoss = new Float64Array(c.N);
  const refLse = new Float64Array(c.N);
  lmHeadLossRef(refLoss, refLse, h, w, targets, c.N, c.C, c.V, scale);
  const refDh = new Float64Array(c.N * c.C);
  lmHeadLossBackwardRef(refDh, h, w, targets, refLse, c.N, c.C, c.V, scale);
  const gotLoss = await ctx.readF32(rowLoss);
  const errs = {
    lse: expectClose(await ctx.readF32(lse), refLse, TOL_FWD, 'lse').maxAbs,
    rowLoss: expectClose(gotLoss, refLoss, TOL_FWD, 'rowLoss').maxAbs,
    dh: expectClose(await ctx.readF32(dh), refDh, TOL_BWD, 'dh').maxAbs,
  };
  for (let n = 0; n < c.N; n++) {
    if (targets[n] === IGNORE_INDEX) expect(gotLoss[n]).toBe(0);
  }
  const sum = refLoss.reduce((a, b) => a + b, 0);
  expectClose(await ctx.readF32(acc), [1.5 + sum], TOL_FWD, 'acc');
  p.destroy();
  head.destroy();
  return { errs, head, p };
}

describe('LmHeadLoss (GPU) against the float64 CPU reference', () => {
  for (const dtype of ['f32', 'bf16', 'f16'] as const) {
    it(`V=1003 in shards of 500 + 503, chunks of 256, ${dtype} weights`, async () => {
      await lossCase({ N: 45, C: 37, V: 1003, dtype, shardRows: [500, 503], chunk: 256 });
    });
  }

  it('one shard, default chunk (the whole vocabulary: first and last chunk at once)', async () => {
    await lossCase({ N: 13, C: 20, V: 300, dtype: 'bf16', shardRows: [300] });
  });

  it('three shards of 4, 4 and 1 rows, chunks of 1', async () => {
    await lossCase({ N: 9, C: 5, V: 9, dtype: 'f32', shardRows: [4, 4, 1], chunk: 1 });
  });

  it('reads scale on the GPU at run time: a replay after writing a new scale scales the loss', async () => {
    const [N, C, V] = [10, 8, 70];
    const rng = new Rng(77);
    const { shards } = weights(rng, { N, C, V, dtype: 'f32', shardRows: [70] });
    const head = new LmHeadLoss(ctx, { N, C, V, chunk: 32, shards });
    const H = tensor(
      [N, C],
      'f32',
      'h',
      Float32Array.from({ length: N * C }, () => rng.normal()),
    );
    const Tg = tensor([N], 'i32', 'targets', makeTargets(rng, N, V));
    const S = tensor([1], 'f32', 'scale', new Float32Array([1]));
    const rowLoss = tensor([N], 'f32', 'rowLoss');
    const lse = tensor([N], 'f32', 'lse');
    const dh = tensor([N, C], 'f32', 'dh');
    const p = new Program(ctx, 'scale replay');
    head.forward(p, rowLoss, lse, H, Tg, S);
    head.backward(p, dh, H, Tg, lse, S);
    await p.run();
    const loss1 = await ctx.readF32(rowLoss);
    const dh1 = await ctx.readF32(dh);
    ctx.upload(S, new Float32Array([0.25]));
    await p.run();
    const loss2 = await ctx.readF32(rowLoss);
    const dh2 = await ctx.readF32(dh);
    expect(loss1.some((x) => x > 0)).toBe(true);
    expectClose(
      loss2,
      Array.from(loss1, (x) => x * 0.25),
      { atol: 0, rtol: 1e-6 },
      'rowLoss',
    );
    expectClose(
      dh2,
      Array.from(dh1, (x) => x * 0.25),
      { atol: 1e-7, rtol: 1e-6 },
      'dh',
    );
    p.destroy();
    head.destroy();
  });

  for (const dtype of ['f32', 'bf16'] as const) {
    it(`logits() for a few rows, contiguous and gathered by row id (${dtype})`, async () => {
      const [C, V] = [37, 1003];
      const rng = new Rng(11);
      const { w, shards } = weights(rng, { N: 1, C, V, dtype, shardRows: [500, 503] });
      const head = new LmHeadLoss(ctx, { N: 45, C, V, chunk: 256, shards });
      const M = 6;
      const h = Float32Array.from({ length: M * C }, () => rng.normal());
      const H = tensor([M, C], 'f32', 'h', h);
      const ids = new Uint32Array([5, 0, 3]);
      const Ids = tensor([3], 'u32', 'rowIds', ids);
      const out1 = tensor([2, V], 'f32', 'logits2');
      const out2 = tensor([3, V], 'f32', 'logits3');
      const p = new Program(ctx, 'lm head logits');
      head.logits(p, out1, H, 2);
      head.logits(p, out2, H, 3, Ids);
      await p.run();
      const ref1 = new Float64Array(2 * V);
      lmLogitsRef(ref1, h, w, 2, C, V);
      expectClose(await ctx.readF32(out1), ref1, TOL_FWD, 'logits');
      const hg = new Float64Array(3 * C);
      ids.forEach((r, i) => hg.set(h.subarray(r * C, (r + 1) * C), i * C));
      const ref2 = new Float64Array(3 * V);
      lmLogitsRef(ref2, hg, w, 3, C, V);
      expectClose(await ctx.readF32(out2), ref2, TOL_FWD, 'gathered logits');
      p.destroy();
      head.destroy();
    });
  }

  it('rejects bad shards, chunks, tensors and targets with a message', () => {
    const w = tensor([10, 4], 'f32', 'W');
    const wi = tensor([10, 4], 'i32', 'Wi');
    const mk = (o: Partial<ConstructorParameters<typeof LmHeadLoss>[1]>) => () =>
      new LmHeadLoss(ctx, { N: 2, C: 4, V: 10, shards: [{ weight: w, rowStart: 0, rows: 10 }], ...o });
    expect(mk({ V: 12 })).toThrow(/the shards cover 10 vocabulary rows, expected 12/);
    expect(mk({ shards: [{ weight: w, rowStart: 1, rows: 9 }], V: 9 })).toThrow(/shard 0 \(W\) starts at row 1/);
    expect(mk({ shards: [{ weight: wi, rowStart: 0, rows: 10 }] })).toThrow(/dtype i32/);
    expect(mk({ C: 5 })).toThrow(/shape \[10,4\], expected \[\*, 5\]/);
    expect(mk({ chunk: 0 })).toThrow(/chunk = 0/);
    const huge = { ...w, size: ctx.caps.maxStorageBufferBindingSize + 4 }; // never bound: checked first
    expect(mk({ shards: [{ weight: huge, rowStart: 0, rows: 10 }] })).toThrow(/split the head weight into more shards/);
    expect(mk({ N: 1 << 25, chunk: 10 })).toThrow(/exceeds this GPU's maxStorageBufferBindingSize/);
    const head = mk({})();
    const p = new Program(ctx, 'bad');
    const f = tensor([2], 'f32', 'f');
    const i = tensor([2], 'i32', 'i');
    expect(() => head.forward(p, f, f, f, i, f)).toThrow(/forward: f has 2 elements, needs 8/);
    expect(() => head.forward(p, f, f, tensor([2, 4], 'f32', 'h'), f, f)).toThrow(/forward: f must be i32, is f32/);
    expect(() => head.logits(p, tensor([10], 'f32', 'o'), f, 1, f)).toThrow(/logits: f must be u32 or i32, is f32/);
    head.destroy();
    expect(() => checkTargets([1, IGNORE_INDEX, 10], 10, 'batch 3')).toThrow(/batch 3: target 2 is 10/);
    expect(() => checkTargets([-1], 10, 'b')).toThrow(/target 0 is -1/);
    expect(() => checkTargets([0, 9, IGNORE_INDEX], 10, 'b')).not.toThrow();
  });
});

describe('ceLossSum (ce_loss_sum) against the float64 CPU reference', () => {
  for (const n of [1, 7, 333, 5001]) {
    it(`n=${n}: acc += sum of row losses, accumulating over two replays (micro-batches)`, async () => {
      const x = new Rng(n).uniformArray(n, 0, 4); // positive, like per-token losses
      const acc = tensor([1], 'f32', 'acc', Float32Array.of(0.25));
      const p = new Program(ctx, 'loss sum');
      ceLossSum(p, acc, tensor([n], 'f32', 'rowLoss', x), n);
      await p.run();
      await p.run();
      const ref = Float64Array.of(0.25);
      ceLossSumRef(ref, x, n);
      ceLossSumRef(ref, x, n);
      expect(Math.abs((await ctx.readF32(acc))[0] - ref[0]) / ref[0]).toBeLessThan(1e-6);
      p.destroy();
    });
  }

  it("the other device kind's reduction (4 on CPU drivers, 256 on GPUs), n=5001; rows past n ignored", async () => {
    const other = await otherVariantContext();
    const x = new Rng(9).uniformArray(5003, 0, 4);
    x[5001] = x[5002] = 1e6;
    const acc = other.tensor([1], 'f32', 'acc');
    const p = new Program(other, 'loss sum other');
    ceLossSum(p, acc, other.tensor([5003], 'f32', 'rowLoss', x), 5001);
    await p.run();
    const ref = new Float64Array(1);
    ceLossSumRef(ref, x, 5001);
    expect(Math.abs((await other.readF32(acc))[0] - ref[0]) / ref[0]).toBeLessThan(1e-6);
  });

  it('refuses a row count its tensors cannot hold, naming them', () => {
    const p = new Program(ctx, 'bad loss sum');
    const acc = tensor([1], 'f32', 'acc');
    expect(() => ceLossSum(p, acc, tensor([4], 'f32', 'rowLoss'), 5)).toThrow(
      'ceLossSum: rowLoss must be f32 with at least 5 elements',
    );
    expect(() => ceLossSum(p, acc, tensor([4], 'f32', 'rowLoss'), 0)).toThrow('ceLossSum: n = 0 is not a row count');
  });
});
