import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { adamwRef } from '../reference/adamw';
import { gradNormRef } from '../reference/gradnorm';
import { expectClose, testContext } from '../testing/gpu';
import { Rng } from '../../util/rng';
import { adamw, adamwHyper } from './adamw';
import { gradNorm, gradNormPartials } from './gradnorm';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

/** gradNorm then adamw in one recorded program, replayed once per step with new grads and hyper. */
function optimizer(n: number, p0: Float32Array, maxNorm: number, scale?: Float32Array) {
  const params = ctx.tensor([n], 'f32', 'params', p0);
  const grads = ctx.tensor([n], 'f32', 'grads');
  const m = ctx.tensor([n], 'f32', 'm');
  const v = ctx.tensor([n], 'f32', 'v');
  const hyper = ctx.tensor([8], 'f32', 'hyper');
  const stats = ctx.tensor([4], 'f32', 'stats');
  const partials = ctx.tensor([gradNormPartials(n)], 'f32', 'partials');
  const blocks = Math.ceil(n / 64);
  const lrScale = ctx.tensor([blocks], 'f32', 'lrScale', scale ?? new Float32Array(blocks).fill(1));
  const p = new Program(ctx, 'optimizer step');
  gradNorm(p, stats, partials, grads, n, maxNorm);
  adamw(p, params, grads, m, v, hyper, stats, lrScale, n);
  return { params, grads, m, v, hyper, stats, p };
}

// torch 1.13 float32 (/usr/bin/python3): parameters a [3], b [2, 2] flattened, initial 0.1 * (i - 3);
// before step s = 1..3 the gradient is cos(0.7 i + 1.3 s) * (3 if s == 2 else 1), then
// torch.nn.utils.clip_grad_norm_([a, b], 2.0) and torch.optim.AdamW([a, b], lr=0.01,
// betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1).step(). Step 2 is clipped.
const TORCH_F32 = {
  norms: [1.6843606233596802, 6.193588733673096, 1.6901323795318604],
  params: [
    [
      -0.30970001220703125, -0.18979999423027039, -0.08990000188350677, 0.009999998845160007, 0.10989999771118164,
      0.18979999423027039, 0.2897000312805176,
    ],
    [
      -0.304361492395401, -0.18011419475078583, -0.08005229383707047, 0.016782479360699654, 0.10892780870199203,
      0.1815873682498932, 0.2794024646282196,
    ],
    [
      -0.2969819903373718, -0.1719525158405304, -0.07610204815864563, 0.015985852107405663, 0.1036660298705101,
      0.17310543358325958, 0.2729509174823761,
    ],
  ],
  m: [
    -0.1256353259086609, -0.13101845979690552, -0.07478157430887222, 0.01662624254822731, 0.10021449625492096,
    0.1366702914237976, 0.10884791612625122,
  ],
  v: [
    0.0012867763871327043, 0.0010996066266670823, 0.0015236013568937778, 0.0018549012020230293, 0.0015435268869623542,
    0.0011063800193369389, 0.001269153319299221,
  ],
};

describe('adamw + gradNorm (GPU)', () => {
  it('matches torch.optim.AdamW with clip_grad_norm_ over 3 steps (float32 numbers from torch)', async () => {
    const n = 7;
    const o = optimizer(
      n,
      Float32Array.from({ length: n }, (_, i) => 0.1 * (i - 3)),
      2.0,
    );
    for (let s = 1; s <= 3; s++) {
      ctx.upload(
        o.grads,
        Float32Array.from({ length: n }, (_, i) => Math.cos(0.7 * i + 1.3 * s) * (s === 2 ? 3 : 1)),
      );
      ctx.upload(o.hyper, adamwHyper(s, 0.01, 0.9, 0.999, 1e-8, 0.1));
      await o.p.run();
      expect(Math.abs((await ctx.readF32(o.stats))[0] - TORCH_F32.norms[s - 1])).toBeLessThan(1e-6);
      expectClose(await ctx.readF32(o.params), TORCH_F32.params[s - 1], { atol: 1e-7, rtol: 1e-6 }, `params step ${s}`);
    }
    expectClose(await ctx.readF32(o.m), TORCH_F32.m, { atol: 1e-7, rtol: 1e-6 }, 'exp_avg');
    expectClose(await ctx.readF32(o.v), TORCH_F32.v, { atol: 1e-10, rtol: 1e-6 }, 'exp_avg_sq');
  });

  // The n = 1 case writes 0 in hyper's last slot, the layout's reserved value: the kernel then
  // forms 1 - beta2 itself.
  for (const [n, maxNorm] of [
    [1, 1],
    [4103, 0.5],
    [4096, 0],
  ]) {
    it(`5 steps against the float64 reference, n=${n}, max_grad_norm ${maxNorm}`, async () => {
      const rng = new Rng(n);
      const p0 = rng.uniformArray(n, -0.1, 0.1);
      const o = optimizer(n, p0, maxNorm);
      const params = Float64Array.from(p0);
      const m = new Float64Array(n);
      const v = new Float64Array(n);
      for (let s = 1; s <= 5; s++) {
        const g = rng.uniformArray(n, -0.05, 0.05);
        const hyper = adamwHyper(s, 2e-3, 0.9, 0.999, 1e-8, 0.01);
        if (n === 1) hyper[7] = 0;
        ctx.upload(o.grads, g);
        ctx.upload(o.hyper, hyper);
        await o.p.run();
        adamwRef(params, g, m, v, hyper, gradNormRef(g, n, maxNorm), n);
      }
      // Adam's update is ~lr per element whatever the gradient's scale, so errors are relative to lr.
      expectClose(await ctx.readF32(o.params), params, { atol: 2e-8, rtol: 1e-6 }, 'params');
      expectClose(await ctx.readF32(o.m), m, { atol: 1e-9, rtol: 1e-6 }, 'm');
      expectClose(await ctx.readF32(o.v), v, { atol: 1e-12, rtol: 1e-6 }, 'v');
    });
  }

  // LoRA+: B blocks at lr * loraplus_lr_ratio, their decoupled weight decay at that lr too.
  it('per-block learning-rate multipliers (LoRA+), n=4103 (65 blocks, the last partial)', async () => {
    const n = 4103;
    const rng = new Rng(7);
    const scale = Float32Array.from({ length: Math.ceil(n / 64) }, (_, b) => (b % 3 === 1 ? 16 : 1));
    const p0 = rng.uniformArray(n, -0.1, 0.1);
    const o = optimizer(n, p0, 1, scale);
    const params = Float64Array.from(p0);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    for (let s = 1; s <= 4; s++) {
      const g = rng.uniformArray(n, -0.05, 0.05);
      const hyper = adamwHyper(s, 2e-3, 0.9, 0.999, 1e-8, 0.05);
      ctx.upload(o.grads, g);
      ctx.upload(o.hyper, hyper);
      await o.p.run();
      adamwRef(params, g, m, v, hyper, gradNormRef(g, n, 1), n, scale);
    }
    const got = await ctx.readF32(o.params);
    expectClose(got, params, { atol: 3e-7, rtol: 1e-6 }, 'params');
    // the scaled blocks really moved 16x further than the plain ones
    const moved = (b: number) => Math.abs(got[b * 64 + 5] - p0[b * 64 + 5]);
    expect(moved(1) / moved(0)).toBeGreaterThan(8);
  });

  it('a NaN gradient skips the step: params, m and v keep their values', async () => {
    const n = 9;
    const p0 = new Rng(1).uniformArray(n);
    const o = optimizer(n, p0, 1);
    ctx.upload(o.hyper, adamwHyper(1, 0.01, 0.9, 0.999, 1e-8, 0.1));
    ctx.upload(
      o.grads,
      Float32Array.from({ length: n }, (_, i) => (i === 4 ? NaN : 0.1)),
    );
    await o.p.run();
    expect(Number.isFinite((await ctx.readF32(o.stats))[0])).toBe(false);
    expect(Array.from(await ctx.readF32(o.params))).toEqual(Array.from(p0));
    expect(Array.from(await ctx.readF32(o.m))).toEqual(new Array(n).fill(0));
    expect(Array.from(await ctx.readF32(o.v))).toEqual(new Array(n).fill(0));
  });
});
