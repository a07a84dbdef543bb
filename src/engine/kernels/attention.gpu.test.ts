import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { nodeGpu } from '../node/webgpu';
import { attentionBackwardRef, attentionForwardRef } from '../reference/attention';
import { expectClose, testContext } from '../testing/gpu';
import { Rng } from '../../util/rng';
import { type AttentionOptions, attentionBackward, attentionForward } from './attention';

// Workgroups own 32 rows and tiles hold 32 (hd <= 64) or 16 (hd = 128) rows: T = 1, 7, 37, 70 are
// not multiples of either, and 70 spans three workgroups. The workgroup-memory variant runs on
// fewer shapes: SwiftShader takes seconds to compile each of its pipelines (hd 16: tiles of 32
// rows, hd 128: tiles of 16); its arithmetic is the same, in the same order, as the other's.
// Largest absolute errors seen over all 36 shapes (B = 2) on both variants: out 2.2e-6, lse 1.3e-6,
// dq 2.9e-6, dk 5.0e-6, dv 4.5e-6 (scores of a few units, values and dout ~ N(0, 1)).
const TOL_FWD = { atol: 1e-5, rtol: 1e-5 };
const TOL_BWD = { atol: 2e-5, rtol: 1e-5 };

let cpu: GpuContext; // SwiftShader as detected: barrier-free variant (STAGE = false)
let staged: GpuContext; // the same adapter made to run the GPU variant (tiles in workgroup memory)
beforeAll(async () => {
  cpu = await testContext();
  staged = await GpuContext.create(nodeGpu(), { forceCpuVariants: false });
});
afterAll(() => staged.destroy());

function randn(rng: Rng, n: number, s: number): Float32Array {
  return Float32Array.from({ length: n }, () => s * rng.normal());
}

/** Example starts of packed rows from per-row example lengths (summing to T). */
function segStarts(rows: number[][], T: number): Uint32Array {
  const seg = new Uint32Array(rows.length * T);
  rows.forEach((lens, b) => {
    let start = 0;
    for (const n of lens) {
      seg.fill(start, b * T + start, b * T + start + n);
      start += n;
    }
    expect(start).toBe(T);
  });
  return seg;
}

async function check(
  ctx: GpuContext,
  B: number,
  T: number,
  nH: number,
  nKV: number,
  hd: number,
  packed: number[][] | null = null,
  o: AttentionOptions = {},
) {
  const rng = new Rng(((B * 131 + T) * 17 + nH * 5 + nKV) * 257 + hd);
  const nq = B * T * nH * hd;
  const nkv = B * T * nKV * hd;
  // Scores of a few units: a peaked softmax, so rescaling in the online softmax matters.
  const q = randn(rng, nq, 1.5);
  const k = randn(rng, nkv, 1.5);
  const v = randn(rng, nkv, 1);
  const dout = randn(rng, nq, 1);
  const Q = ctx.tensor([B * T, nH * hd], 'f32', 'q', q);
  const K = ctx.tensor([B * T, nKV * hd], 'f32', 'k', k);
  const V = ctx.tensor([B * T, nKV * hd], 'f32', 'v', v);
  const dO = ctx.tensor([B * T, nH * hd], 'f32', 'dout', dout);
  const O = ctx.tensor([B * T, nH * hd], 'f32', 'out', new Float32Array(nq).fill(NaN));
  const L = ctx.tensor([B * nH * T], 'f32', 'lse', new Float32Array(B * nH * T).fill(NaN));
  const D = ctx.tensor([B * nH * T], 'f32', 'delta');
  // Gradients are assigned: start them with garbage.
  const dQ = ctx.tensor([B * T, nH * hd], 'f32', 'dq', new Float32Array(nq).fill(7));
  const dK = ctx.tensor([B * T, nKV * hd], 'f32', 'dk', new Float32Array(nkv).fill(NaN));
  const dV = ctx.tensor([B * T, nKV * hd], 'f32', 'dv', new Float32Array(nkv).fill(-3));
  const seg = packed ? segStarts(packed, T) : null;
  const S = ctx.tensor([B * T], 'u32', 'seg', seg ?? new Uint32Array(B * T));
  const p = new Program(ctx, 'attention test');
  attentionForward(p, O, L, Q, K, V, S, B, T, nH, nKV, hd, o);
  attentionBackward(p, dQ, dK, dV, dO, Q, K, V, O, L, D, S, B, T, nH, nKV, hd, o);
  await p.run();

  const out = new Float64Array(nq);
  const lse = new Float64Array(B * nH * T);
  attentionForwardRef(out, lse, q, k, v, B, T, nH, nKV, hd, seg, o);
  const dq = new Float64Array(nq);
  const dk = new Float64Array(nkv);
  const dv = new Float64Array(nkv);
  attentionBackwardRef(dq, dk, dv, dout, q, k, v, out, lse, B, T, nH, nKV, hd, seg, o);
  const errs = {
    out: expectClose(await ctx.readF32(O), out, TOL_FWD, 'out').maxAbs,
    lse: expectClose(await ctx.readF32(L), lse, TOL_FWD, 'lse').maxAbs,
    dq: expectClose(await ctx.readF32(dQ), dq, TOL_BWD, 'dq').maxAbs,
    dk: expectClose(await ctx.readF32(dK), dk, TOL_BWD, 'dk').maxAbs,
    dv: expectClose(await ctx.readF32(dV), dv, TOL_BWD, 'dv').maxAbs,
  };
  p.destroy();
  for (const t of [Q, K, V, dO, O, L, D, dQ, dK, dV, S]) ctx.release(t.buffer);
  return errs;
}

const HEADS: [number, number][] = [
  [4, 2],
  [3, 1],
  [2, 2],
];

describe('attention (GPU) against the float64 CPU reference', () => {
  for (const hd of [16, 64]) {
    for (const T of [1, 7, 37, 70]) {
      for (const [nH, nKV] of HEADS) {
        const B = T === 70 ? 1 : 2;
        it(`B=${B} T=${T} nH=${nH} nKV=${nKV} hd=${hd}, barrier-free variant`, async () => {
          await check(cpu, B, T, nH, nKV, hd);
        });
      }
    }
  }

  for (const [B, T, nH, nKV, hd] of [
    [2, 7, 4, 2, 16],
    [2, 37, 3, 1, 16],
    [1, 70, 2, 2, 16],
    [1, 37, 2, 1, 128],
  ]) {
    it(`B=${B} T=${T} nH=${nH} nKV=${nKV} hd=${hd}, workgroup-memory variant`, async () => {
      await check(staged, B, T, nH, nKV, hd);
    });
  }

  // Packed rows (block-diagonal causal mask): examples that start and end inside tiles and
  // workgroups, cross their borders, and a 1-token example; T not a multiple of the tiles.
  const PACKED: [number, number, number, number, number[][]][] = [
    [70, 4, 2, 16, [[33, 1, 36]]],
    [
      37,
      3,
      1,
      64,
      [
        [5, 17, 15],
        [1, 1, 35],
      ],
    ],
    [7, 2, 2, 16, [[3, 4], [7]]],
  ];
  for (const [T, nH, nKV, hd, rows] of PACKED) {
    const tag = rows.map((r) => r.join('+')).join(' | ');
    it(`packed rows ${tag}: T=${T} nH=${nH} nKV=${nKV} hd=${hd}, barrier-free variant`, async () => {
      await check(cpu, rows.length, T, nH, nKV, hd, rows);
    });
  }
  it('packed rows 33+1+36 | 70: T=70 nH=2 nKV=1 hd=16, workgroup-memory variant', async () => {
    await check(staged, 2, 70, 2, 1, 16, [[33, 1, 36], [70]]);
  });

  it('head_dim 128 on the barrier-free variant', async () => {
    await check(cpu, 1, 37, 2, 1, 128);
  });

  // Gemma 3: head_dim 256 (tiles of 8 rows), sliding windows that end inside tiles and
  // workgroups (window 20 over T = 70; window 5 with packed rows), scale other than 1/sqrt(hd).
  it('head_dim 256 (Gemma 3), scale 1/16, both variants', async () => {
    await check(cpu, 1, 37, 2, 1, 256, null, { scale: 1 / 16 });
    await check(staged, 1, 19, 2, 1, 256);
  });
  it('sliding window 20, T=70, scale 0.3: barrier-free and workgroup-memory variants', async () => {
    await check(cpu, 1, 70, 4, 2, 16, null, { window: 20, scale: 0.3 });
    await check(staged, 1, 70, 2, 1, 16, null, { window: 20 });
  });
  it('sliding window 5 with packed rows 3+30+4 | 37: the tighter of the two bounds applies', async () => {
    await check(cpu, 2, 37, 3, 1, 16, [[3, 30, 4], [37]], { window: 5 });
  });
  it('a window of T or more is plain causal attention', async () => {
    await check(cpu, 2, 7, 2, 2, 16, null, { window: 7 });
  });

  it('rejects unsupported shapes at record time', () => {
    const p = new Program(cpu, 'bad');
    const x = cpu.tensor([4 * 260], 'f32', 'x');
    const sg = cpu.tensor([8], 'u32', 'seg');
    expect(() => attentionForward(p, x, x, x, x, x, sg, 1, 1, 4, 1, 260)).toThrow(/head_dim 260 is not supported/);
    expect(() => attentionForward(p, x, x, x, x, x, sg, 1, 1, 4, 1, 16, { window: -1 })).toThrow(/window -1/);
    expect(() => attentionForward(p, x, x, x, x, x, sg, 1, 1, 4, 1, 18)).toThrow(/head_dim 18 is not supported/);
    expect(() => attentionForward(p, x, x, x, x, x, sg, 1, 1, 3, 2, 16)).toThrow(/num_heads 3 is not a multiple/);
    expect(() => attentionForward(p, x, x, x, x, x, sg, 1, 5, 4, 1, 64)).toThrow(/x has 1040 elements, needs 1280/);
    expect(() => attentionForward(p, x, x, x, x, x, x, 1, 1, 4, 1, 16)).toThrow(/x must be u32/);
    expect(() => attentionForward(p, x, x, x, x, x, sg, 1, 9, 1, 1, 16)).toThrow(/seg has 8 elements, needs 9/);
    cpu.release(x.buffer);
    cpu.release(sg.buffer);
  });
});
