import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../reference/rmsnorm';
import { withWorkgroupLimit } from '../testing/fold';
import { expectClose, testContext } from '../testing/gpu';
import { otherVariantContext } from '../testing/variants';
import { Rng } from '../../util/rng';
import { packHalf, unpackHalf } from '../../util/half';
import { rmsnormBackward, rmsnormForward } from './rmsnorm';

let defaultCtx: GpuContext;
beforeAll(async () => {
  defaultCtx = await testContext();
});

const FWD = { atol: 1e-6, rtol: 1e-6 };
const BWD = { atol: 1e-6, rtol: 1e-6 };

// C = 1 and 7 are below one workgroup, 300 strides over 5 (64 on CPU drivers) or 2 (256) passes.
const SHAPES: [number, number, 'f32' | 'f16' | 'bf16'][] = [
  [1, 1, 'f32'],
  [3, 7, 'f32'],
  [5, 300, 'f32'],
  [4, 37, 'f16'],
  [2, 300, 'bf16'],
  // Qwen3's q/k norms: one row per token and head, C = head_dim (12 as tiny-qwen3, 128 as Qwen3-0.6B)
  [7 * 4, 12, 'bf16'],
  [3 * 16, 128, 'bf16'],
];

async function check(
  N: number,
  C: number,
  dtype: 'f32' | 'f16' | 'bf16',
  limit?: number,
  ctx = defaultCtx,
  offset = 0,
): Promise<void> {
  const rng = new Rng(N * 1000 + C);
  const x = rng.uniformArray(N * C, -2, 2);
  const w32 = rng.uniformArray(C, 0.5 - offset, 1.5 - offset);
  const wq = dtype === 'f32' ? w32 : packHalf(w32, dtype);
  const w = dtype === 'f32' ? w32 : unpackHalf(wq as Uint16Array, dtype, C);
  const dout = rng.uniformArray(N * C);
  const prior = rng.uniformArray(N * C);
  const eps = 1e-5;
  const X = ctx.tensor([N, C], 'f32', 'x', x);
  const W = ctx.tensor([C], dtype, 'weight', wq);
  const O = ctx.tensor([N, C], 'f32', 'out');
  const R = ctx.tensor([N], 'f32', 'rstd');
  const DO = ctx.tensor([N, C], 'f32', 'dout', dout);
  const DI = ctx.tensor([N, C], 'f32', 'dinp', prior);
  const p = new Program(ctx, 'rmsnorm');
  const record = async () => {
    rmsnormForward(p, O, R, X, W, N, C, eps, offset);
    rmsnormBackward(p, DI, DO, X, W, R, N, C, offset);
    await p.run();
  };
  await (limit ? withWorkgroupLimit(ctx, limit, record) : record());
  const out = new Float64Array(N * C);
  const rstd = new Float64Array(N);
  rmsnormForwardRef(out, rstd, x, w, N, C, eps, offset);
  const dinp = Float64Array.from(prior);
  rmsnormBackwardRef(dinp, dout, x, w, rstd, N, C, offset);
  expectClose(await ctx.readF32(R), rstd, FWD, 'rstd');
  expectClose(await ctx.readF32(O), out, FWD, 'out');
  expectClose(await ctx.readF32(DI), dinp, BWD, 'dinp (accumulated)');
}

describe('rmsnorm (GPU) against the float64 CPU reference', () => {
  for (const [N, C, dtype] of SHAPES) it(`N=${N} C=${C} weight ${dtype}`, () => check(N, C, dtype));
  it('Gemma3RMSNorm: weight applied as (1 + w), f32 and bf16 weights, C=300 and C=37', async () => {
    await check(5, 300, 'f32', undefined, defaultCtx, 1);
    await check(4, 37, 'bf16', undefined, defaultCtx, 1);
  });
  it('folds rows into y (N=7 under a limit of 3 workgroups per dimension)', () => check(7, 45, 'f32', 3));
  it("the other device kind's workgroup size (4 on CPU drivers, 256 on GPUs), C=300 and C=7", async () => {
    const other = await otherVariantContext();
    await check(5, 300, 'f32', undefined, other);
    await check(3, 7, 'bf16', undefined, other);
  });
  it('rejects a weight of the wrong length at record time', () => {
    const ctx = defaultCtx;
    const t = ctx.tensor([6], 'f32', 't');
    const r = ctx.tensor([2], 'f32', 'r');
    const w = ctx.tensor([2], 'bf16', 'w');
    expect(() => rmsnormForward(new Program(ctx, 'x'), t, r, ctx.tensor([6], 'f32', 'i'), w, 2, 3, 1e-5)).toThrow(
      /w has 2 elements, needs 3/,
    );
  });
});
