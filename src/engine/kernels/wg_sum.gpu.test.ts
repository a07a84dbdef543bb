// The reductions (rmsnorm, gradnorm, the loss sum ce_loss_sum) through each workgroup-sum path this machine can
// run: subgroups with the workgroup one subgroup (CPU kind: WG = SG = 4 on SwiftShader),
// subgroups in two levels (GPU kind: WG = 256 over subgroups of 4), and the workgroup-memory
// tree of either width with subgroups turned off. Each against the float64 CPU reference.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { gradNormRef } from '../reference/gradnorm';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../reference/rmsnorm';
import { ceLossSumRef } from '../reference/lm_head';
import { expectClose, testContext } from '../testing/gpu';
import { noSubgroupsContext, otherVariantContext } from '../testing/variants';
import { Rng } from '../../util/rng';
import { gradNorm, gradNormPartials } from './gradnorm';
import { reduceSum } from './launch';
import { rmsnormBackward, rmsnormForward } from './rmsnorm';
import { ceLossSum } from './lm_head';

async function contexts(): Promise<{ name: string; ctx: GpuContext }[]> {
  const a = await testContext();
  const b = await otherVariantContext();
  const [cpu, gpu] = a.caps.isCpu ? [a, b] : [b, a];
  return [
    { name: 'CPU kind (WG 4), default', ctx: cpu },
    { name: 'GPU kind (WG 256), default', ctx: gpu },
    { name: 'CPU kind (WG 4), no subgroups', ctx: await noSubgroupsContext(true) },
    { name: 'GPU kind (WG 256), no subgroups', ctx: await noSubgroupsContext(false) },
  ];
}

describe('workgroup sums', () => {
  it('use subgroups exactly where the device has them and the probe accepted them', async () => {
    for (const { name, ctx } of await contexts()) {
      const r = reduceSum(ctx);
      const sub = ctx.caps.subgroupSize !== null;
      expect(r.source.startsWith('enable subgroups;'), name).toBe(sub);
      if (/no subgroups/.test(name)) expect(sub, name).toBe(false);
      if (sub) expect(r.overrides).toEqual({ WG: ctx.caps.isCpu ? 4 : 256, SG: ctx.caps.subgroupSize });
    }
    const ctx = await testContext();
    if (ctx.caps.description.includes('SwiftShader')) expect(ctx.caps.subgroupSize).toBe(4); // seen here
  });

  it('rmsnorm forward and backward, ceLossSum and gradNorm on every path', async () => {
    const rng = new Rng(5);
    const [N, C] = [5, 301];
    const x = rng.uniformArray(N * C, -2, 2);
    const w = rng.uniformArray(C, 0.5, 1.5);
    const dout = rng.uniformArray(N * C);
    const g = rng.uniformArray(70001);
    const out = new Float64Array(N * C);
    const rstd = new Float64Array(N);
    rmsnormForwardRef(out, rstd, x, w, N, C, 1e-5);
    const dinp = new Float64Array(N * C);
    rmsnormBackwardRef(dinp, dout, x, w, rstd, N, C);
    const sum = new Float64Array(1);
    ceLossSumRef(sum, g, 5001);
    const [norm, coef] = gradNormRef(g, g.length, 1.0);
    for (const { name, ctx } of await contexts()) {
      const T = (shape: number[], data?: Float32Array) => ctx.tensor(shape, 'f32', name, data);
      const [O, R, DI, S, ST] = [T([N, C]), T([N]), T([N, C]), T([1]), T([4])];
      const G = T([g.length], g);
      const p = new Program(ctx, name);
      rmsnormForward(p, O, R, T([N, C], x), ctx.tensor([C], 'f32', 'w', w), N, C, 1e-5);
      rmsnormBackward(p, DI, T([N, C], dout), T([N, C], x), ctx.tensor([C], 'f32', 'w', w), R, N, C);
      ceLossSum(p, S, G, 5001);
      gradNorm(p, ST, T([gradNormPartials(g.length)]), G, g.length, 1.0);
      await p.run();
      expectClose(await ctx.readF32(R), rstd, { atol: 1e-6, rtol: 1e-6 }, `${name}: rstd`);
      expectClose(await ctx.readF32(O), out, { atol: 1e-6, rtol: 1e-6 }, `${name}: out`);
      expectClose(await ctx.readF32(DI), dinp, { atol: 1e-6, rtol: 1e-6 }, `${name}: dinp`);
      expect(Math.abs((await ctx.readF32(S))[0] - sum[0]) / sum[0], name).toBeLessThan(1e-6);
      const st = await ctx.readF32(ST);
      expect(Math.abs(st[0] - norm) / norm, name).toBeLessThan(1e-6);
      expect(Math.abs(st[1] - coef) / coef, name).toBeLessThan(1e-6);
    }
  });
});
