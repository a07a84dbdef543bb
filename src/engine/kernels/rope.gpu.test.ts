import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { ropeBackwardRef, ropeForwardRef } from '../reference/rope';
import { withWorkgroupLimit } from '../testing/fold';
import { expectClose, testContext } from '../testing/gpu';
import { Rng } from '../../util/rng';
import { ropeBackward, ropeForward, ropeTables } from './rope';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

// Two products and a sum in f32: a few ulps of |x| (inputs in [-1, 1)).
const TOL = { atol: 2e-7, rtol: 1e-6 };

async function check(
  B: number,
  T: number,
  nH: number,
  hd: number,
  limit?: number,
  seg: Uint32Array | null = null,
  rot = hd,
): Promise<void> {
  const n = B * T * nH * hd;
  const rng = new Rng(B * 1000 + T * 100 + nH * 10 + hd);
  const x = rng.uniformArray(n);
  const dy = rng.uniformArray(n);
  const { cos, sin } = ropeTables(T, rot, 10000, null);
  const X = ctx.tensor([B * T, nH, hd], 'f32', 'x', x);
  const DX = ctx.tensor([B * T, nH, hd], 'f32', 'dx', dy);
  const COS = ctx.tensor([T, rot / 2], 'f32', 'cos', cos);
  const SIN = ctx.tensor([T, rot / 2], 'f32', 'sin', sin);
  const SEG = ctx.tensor([B * T], 'u32', 'seg', seg ?? new Uint32Array(B * T));
  const p = new Program(ctx, 'rope');
  const record = async () => {
    ropeForward(p, X, COS, SIN, SEG, B, T, nH, hd, rot);
    ropeBackward(p, DX, COS, SIN, SEG, B, T, nH, hd, rot);
    await p.run();
  };
  await (limit ? withWorkgroupLimit(ctx, limit, record) : record());
  const y = Float64Array.from(x);
  ropeForwardRef(y, cos, sin, B, T, nH, hd, seg, rot);
  const dx = Float64Array.from(dy);
  ropeBackwardRef(dx, cos, sin, B, T, nH, hd, seg, rot);
  if (rot < hd) {
    // the pass-through dimensions are bit-identical to the input
    const yGpu = await ctx.readF32(X);
    for (let h = 0; h < B * T * nH; h++) {
      for (let d = rot; d < hd; d++) expect(yGpu[h * hd + d]).toBe(x[h * hd + d]);
    }
  }
  expectClose(await ctx.readF32(X), y, TOL, 'y');
  expectClose(await ctx.readF32(DX), dx, TOL, 'dx');
}

describe('rope (GPU) against the float64 CPU reference', () => {
  it('B=1 T=1 nH=1 hd=2', () => check(1, 1, 1, 2));
  it('B=2 T=3 nH=5 hd=6', () => check(2, 3, 5, 6));
  it('B=3 T=7 nH=3 hd=64 (2016 pairs: 8 workgroups)', () => check(3, 7, 3, 64));
  it('folds the grid into y (B=3 T=7 nH=3 hd=64 under a limit of 3)', () => check(3, 7, 3, 64, 3));
  it('packed rows: positions restart at 0 for each example (B=2 T=7 nH=3 hd=8)', () =>
    check(2, 7, 3, 8, undefined, Uint32Array.from([0, 0, 0, 3, 3, 5, 6, 0, 1, 1, 1, 1, 1, 1])));
  it('partial rotary: the first 6 of 10 dims rotate (B=2 T=5 nH=3 hd=10 rot=6)', () =>
    check(2, 5, 3, 10, undefined, null, 6));
  it('partial rotary, packed rows, 96 of 128 as Phi-4-mini (B=1 T=7 nH=3 hd=128 rot=96)', () =>
    check(1, 7, 3, 128, undefined, Uint32Array.from([0, 0, 0, 3, 3, 3, 3]), 96));
  it('backward after forward restores x (rotation by -theta)', async () => {
    const [B, T, nH, hd] = [2, 5, 3, 8];
    const x = new Rng(3).uniformArray(B * T * nH * hd);
    const { cos, sin } = ropeTables(T, hd, 500000, null);
    const X = ctx.tensor([B * T * nH * hd], 'f32', 'x', x);
    const COS = ctx.tensor([T * 4], 'f32', 'cos', cos);
    const SIN = ctx.tensor([T * 4], 'f32', 'sin', sin);
    const SEG = ctx.tensor([B * T], 'u32', 'seg', Uint32Array.from([0, 0, 2, 2, 2, 0, 0, 0, 0, 4]));
    const p = new Program(ctx, 'rope roundtrip');
    ropeForward(p, X, COS, SIN, SEG, B, T, nH, hd);
    ropeBackward(p, X, COS, SIN, SEG, B, T, nH, hd);
    await p.run();
    expectClose(await ctx.readF32(X), x, { atol: 3e-7, rtol: 0 }, 'x');
  });
  it('rejects an odd head_dim and short tables', () => {
    const p = new Program(ctx, 'x');
    const x = ctx.tensor([12], 'f32', 'x');
    const t = ctx.tensor([3], 'f32', 't');
    const sg = ctx.tensor([3], 'u32', 'seg');
    expect(() => ropeForward(p, x, t, t, sg, 1, 2, 2, 3)).toThrow(/odd/);
    expect(() => ropeForward(p, x, t, ctx.tensor([6], 'f32', 's'), sg, 1, 3, 1, 4)).toThrow(
      /t has 3 elements, needs 6/,
    );
    expect(() => ropeForward(p, x, ctx.tensor([6], 'f32', 'c'), ctx.tensor([6], 'f32', 's'), t, 1, 3, 1, 4)).toThrow(
      /t is f32, expected u32/,
    );
  });
});
