import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { packNf4 } from '../model/nf4';
import {
  type DoraLayerRef,
  doraBackwardRef,
  doraForwardRef,
  doraLinearBackwardRef,
  doraLinearRef,
  doraNormRef,
} from '../reference/dora';
import { dropoutMaskRef } from '../reference/dropout';
import { dequantizeNf4Ref, quantizeNf4Ref } from '../reference/nf4';
import { expectClose, testContext } from '../testing/gpu';
import { Linear, type LinearScratch } from '../model/linear';
import { packHalf, unpackHalf } from '../../util/half';
import { Rng } from '../../util/rng';
import { doraBackward, doraForward, doraNorm } from './dora';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

// f32 sums of a few hundred O(1) products, in a different order from the float64 reference.
const TOL = { atol: 2e-5, rtol: 2e-5 };

// Shapes that are multiples of no tile: 64x64 matmul tiles, 4x4 blocks, 64/256-wide workgroups.
const [N, IN, OUT, R] = [19, 53, 37, 3];
const S = 2.5;

describe('dora kernels (GPU) against the float64 CPU reference', () => {
  for (const dtype of ['f32', 'bf16', 'nf4'] as const) {
    it(`dora_norm: row norms of W + s B A, W ${dtype}`, async () => {
      const rng = new Rng(40);
      const raw = Float32Array.from(rng.uniformArray(OUT * IN), (v) => 0.2 * v);
      let w: Float32Array;
      let W;
      if (dtype === 'f32') {
        w = raw;
        W = ctx.tensor([OUT, IN], 'f32', 'W', w);
      } else if (dtype === 'bf16') {
        const q = packHalf(raw, 'bf16');
        w = unpackHalf(q, 'bf16', OUT * IN);
        W = ctx.tensor([OUT, IN], 'bf16', 'W', q);
      } else {
        const ref = quantizeNf4Ref(raw);
        w = dequantizeNf4Ref(ref.codes, ref.absmax);
        W = ctx.tensor([OUT * IN], 'nf4', 'W', packNf4(raw));
      }
      const a = rng.uniformArray(R * IN);
      const b = rng.uniformArray(OUT * R);
      const norm = ctx.tensor([OUT], 'f32', 'norm');
      const p = new Program(ctx, 'dora norm');
      doraNorm(p, norm, W, ctx.tensor([R, IN], 'f32', 'A', a), ctx.tensor([OUT, R], 'f32', 'B', b), OUT, IN, R, S);
      await p.run();
      const ref = new Float64Array(OUT);
      doraNormRef(ref, w, a, b, OUT, IN, R, S);
      expectClose(await ctx.readF32(norm), ref, TOL, 'norm');
    });
  }

  it('dora_forward and dora_backward: y += (m/norm - 1) z; gdy = (m/norm) dy, dm += sum dy z / norm', async () => {
    const rng = new Rng(41);
    const y0 = rng.uniformArray(N * OUT);
    const z = rng.uniformArray(N * OUT);
    const dy = rng.uniformArray(N * OUT);
    const m = rng.uniformArray(OUT, 0.5, 2);
    const nrm = rng.uniformArray(OUT, 0.5, 2);
    const dm0 = rng.uniformArray(OUT);
    const Y = ctx.tensor([N, OUT], 'f32', 'y', y0);
    const Z = ctx.tensor([N, OUT], 'f32', 'z', z);
    const DY = ctx.tensor([N, OUT], 'f32', 'dy', dy);
    const M = ctx.tensor([OUT], 'f32', 'm', m);
    const NR = ctx.tensor([OUT], 'f32', 'norm', nrm);
    const DM = ctx.tensor([OUT], 'f32', 'dm', dm0);
    const GDY = ctx.tensor([N, OUT], 'f32', 'gdy', new Float32Array(N * OUT).fill(7));
    const p = new Program(ctx, 'dora fb');
    doraForward(p, Y, Z, M, NR, N, OUT);
    doraBackward(p, GDY, DM, DY, Z, M, NR, N, OUT);
    await p.run();
    const y = Float64Array.from(y0);
    doraForwardRef(y, z, m, nrm, N, OUT);
    const gdy = new Float64Array(N * OUT);
    const dm = Float64Array.from(dm0);
    doraBackwardRef(gdy, dm, dy, z, m, nrm, N, OUT);
    expectClose(await ctx.readF32(Y), y, TOL, 'y');
    expectClose(await ctx.readF32(GDY), gdy, TOL, 'gdy');
    expectClose(await ctx.readF32(DM), dm, TOL, 'dm (accumulated)');
  });

  it('rejects a W of the wrong dtype and tensors too small, naming them', () => {
    const p = new Program(ctx, 'x');
    const t = ctx.tensor([4], 'f32', 't');
    expect(() => doraNorm(p, t, ctx.tensor([4], 'i32', 'Wi'), t, t, 2, 2, 1, 1)).toThrow(/W \(Wi\) is i32/);
    expect(() => doraForward(p, ctx.tensor([4], 'f32', 'y'), ctx.tensor([3], 'f32', 'zz'), t, t, 2, 2)).toThrow(/zz/);
  });
});

describe('Linear with DoRA (GPU) against the float64 layer reference', () => {
  for (const dropout of [0, 0.25]) {
    it(`forward and backward (bias, lora_dropout ${dropout}, bf16 W)`, async () => {
      const rng = new Rng(dropout ? 52 : 51);
      const wq = packHalf(
        Float32Array.from(rng.uniformArray(OUT * IN), (v) => 0.3 * v),
        'bf16',
      );
      const w = unpackHalf(wq, 'bf16', OUT * IN);
      const bias = rng.uniformArray(OUT);
      const a = rng.uniformArray(R * IN);
      const b = rng.uniformArray(OUT * R, -0.5, 0.5);
      const nrm = new Float64Array(OUT);
      doraNormRef(nrm, w, a, b, OUT, IN, R, S);
      const m = Float32Array.from(nrm, (v) => v * rng.uniform(0.6, 1.4));
      const x = rng.uniformArray(N * IN);
      const dy = rng.uniformArray(N * OUT);
      const [seed, salt] = [1234, 5];
      const keep = dropoutMaskRef(seed, salt, dropout, N * IN);
      const L: DoraLayerRef = {
        N,
        inF: IN,
        outF: OUT,
        r: R,
        s: S,
        W: w,
        bias,
        A: a,
        B: b,
        m,
        norm: nrm,
        keepScale: dropout ? Float64Array.from(keep, (k) => k / (1 - dropout)) : null,
      };
      const f = (shape: number[], label: string, data?: Float32Array) => ctx.tensor(shape, 'f32', label, data);
      const dA = f([R, IN], 'dA');
      const dB = f([OUT, R], 'dB');
      const dm = f([OUT], 'dm');
      const lin = new Linear('L0.q_proj', ctx.tensor([OUT, IN], 'bf16', 'W', wq), OUT, IN, f([OUT], 'bias', bias), {
        A: f([R, IN], 'A', a),
        B: f([OUT, R], 'B', b),
        dA,
        dB,
        r: R,
        scaling: S,
        dropout,
        salt,
        t: f([N, R], 't'),
        dora: { m: f([OUT], 'm', m), dm, norm: f([OUT], 'norm') },
      });
      const s: LinearScratch = {
        xd: f([N, IN], 'xd'),
        dt: f([N, R], 'dt'),
        dxd: f([N, IN], 'dxd'),
        seed: ctx.tensor([1], 'u32', 'seed', new Uint32Array([seed])),
        doraZ: f([N, OUT], 'z'),
        doraGdy: f([N, OUT], 'gdy'),
      };
      const X = f([N, IN], 'x', x);
      const Y = f([N, OUT], 'y');
      const DX = f([N, IN], 'dx');
      const p = new Program(ctx, 'dora linear');
      lin.forward(p, Y, X, N, s, true);
      lin.backward(p, DX, f([N, OUT], 'dy', dy), X, N, s, false);
      await p.run();
      const g = doraLinearBackwardRef(L, x, dy);
      expectClose(await ctx.readF32(Y), doraLinearRef(L, x), TOL, 'y');
      expectClose(await ctx.readF32(DX), g.dx, TOL, 'dx');
      expectClose(await ctx.readF32(dA), g.dA, TOL, 'dA');
      expectClose(await ctx.readF32(dB), g.dB, TOL, 'dB');
      expectClose(await ctx.readF32(dm), g.dm, TOL, 'dm');
      expectClose(await ctx.readF32(lin.lora!.dora!.norm), nrm, TOL, 'norm');
    });
  }
});
