import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { swigluBackwardRef, swigluForwardRef } from '../reference/swiglu';
import { withWorkgroupLimit } from '../testing/fold';
import { expectClose, testContext } from '../testing/gpu';
import { Rng } from '../../util/rng';
import { type GateAct, swigluBackward, swigluForward } from './swiglu';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

// exp and division on the GPU are within a few ulps (WGSL allows 3 + 2|x| ulp for exp).
const FWD = { atol: 1e-7, rtol: 1e-6 };
const BWD = { atol: 1e-7, rtol: 2e-6 };

async function check(n: number, limit?: number, act: GateAct = 'silu'): Promise<void> {
  const rng = new Rng(1000 + n);
  const gate = rng.uniformArray(n, -8, 8);
  // Saturated and huge inputs: silu must not overflow to NaN.
  const extremes = [100, -100, 1e30, -1e30, 0];
  for (let i = 0; i < Math.min(n, extremes.length); i++) gate[(i * 7) % n] = extremes[i];
  const up = rng.uniformArray(n);
  const dout = rng.uniformArray(n);
  const G = ctx.tensor([n], 'f32', 'gate', gate);
  const U = ctx.tensor([n], 'f32', 'up', up);
  const DO = ctx.tensor([n], 'f32', 'dout', dout);
  const O = ctx.tensor([n], 'f32', 'out');
  const DG = ctx.tensor([n], 'f32', 'dgate', new Float32Array(n).fill(7)); // assigned, not accumulated
  const DU = ctx.tensor([n], 'f32', 'dup', new Float32Array(n).fill(7));
  const p = new Program(ctx, 'swiglu');
  const record = async () => {
    swigluForward(p, O, G, U, n, act);
    swigluBackward(p, DG, DU, DO, G, U, n, act);
    await p.run();
  };
  await (limit ? withWorkgroupLimit(ctx, limit, record) : record());
  const out = new Float64Array(n);
  const dgate = new Float64Array(n);
  const dup = new Float64Array(n);
  swigluForwardRef(out, gate, up, n, act);
  swigluBackwardRef(dgate, dup, dout, gate, up, n, act);
  expectClose(await ctx.readF32(O), out, FWD, 'out');
  expectClose(await ctx.readF32(DG), dgate, BWD, 'dgate');
  expectClose(await ctx.readF32(DU), dup, BWD, 'dup');
}

describe('swiglu (GPU) against the float64 CPU reference', () => {
  for (const n of [1, 7, 4099, 4096]) it(`forward and backward, n=${n}`, () => check(n));
  for (const n of [7, 4099]) it(`gelu_tanh (Gemma), n=${n}`, () => check(n, undefined, 'gelu_tanh'));
  it('folds the grid into y (n=4099 under a limit of 3 workgroups per dimension)', () => check(4099, 3));
  it('rejects in-place use', () => {
    const t = ctx.tensor([4], 'f32', 't');
    const u = ctx.tensor([4], 'f32', 'u');
    expect(() => swigluForward(new Program(ctx, 'x'), t, t, u, 4)).toThrow(/out and out|t and t/);
  });
});
