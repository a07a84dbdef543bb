// The KV-cache kernels on a block of n tokens starting at a position read on the GPU, against the
// float64 references of the full-sequence ops: rope_decode rotates row r by position start + r
// (clamped to the table's last row past maxLen), kv_write puts the block's rows at start.. and
// writes nothing past maxLen, and attention_decode equals causal attention over the whole
// sequence for the block's rows. Block lengths 1, 7, 37 and starts 0, 5, 130 are not multiples of
// the kernels' workgroups (64 invocations, 128 per attention row); head_dim 12 and 10 are not
// multiples of 4 (attention_decode_rows takes multiples of 4: 8, 12, 16, 128). Both attention
// kernels (a workgroup per row, an invocation per row) are checked.

import { describe, expect, it } from 'vitest';
import { Program } from '../gpu/program';
import { attentionForwardRef } from '../reference/attention';
import { ropeForwardRef } from '../reference/rope';
import { expectClose, testContext } from '../testing/gpu';
import { Rng } from '../../util/rng';
import { attentionDecode, kvWrite, ropeDecode } from './decode';
import { ropeTables } from './rope';

const TOL = { atol: 1e-5, rtol: 1e-5 };

function randn(rng: Rng, n: number, s: number): Float32Array {
  return Float32Array.from({ length: n }, () => s * rng.normal());
}

describe('rope_decode', () => {
  for (const [n, start, maxLen, nH, hd, rot = hd] of [
    [1, 0, 16, 3, 12],
    [7, 5, 64, 2, 10],
    [37, 130, 400, 5, 16],
    [7, 35, 40, 2, 8], // rows 5 and 6 fall past maxLen: they read the last table row
    [7, 5, 64, 3, 16, 12], // partial rotary (Phi-3/4): 12 of 16 dims rotate, 4 pass through
  ]) {
    it(`n=${n} from position ${start} (maxLen ${maxLen}, ${nH} heads of ${hd}, ${rot} rotary)`, async () => {
      const ctx = await testContext();
      const rng = new Rng(n * 1000 + start);
      const x = randn(rng, n * nH * hd, 1);
      const { cos, sin } = ropeTables(maxLen, rot, 10000, null);
      const half = rot / 2;
      // The reference rotates row r with table row min(start + r, maxLen - 1).
      const rows = Array.from({ length: n }, (_, r) => Math.min(start + r, maxLen - 1));
      const cosB = new Float32Array(n * half);
      const sinB = new Float32Array(n * half);
      rows.forEach((t, r) => {
        cosB.set(cos.subarray(t * half, (t + 1) * half), r * half);
        sinB.set(sin.subarray(t * half, (t + 1) * half), r * half);
      });
      const ref = Float64Array.from(x);
      for (let r = 0; r < n; r++) {
        const one = ref.subarray(r * nH * hd, (r + 1) * nH * hd);
        ropeForwardRef(one, cosB.subarray(r * half), sinB.subarray(r * half), 1, 1, nH, hd, null, rot);
      }
      const X = ctx.tensor([n * nH * hd], 'f32', 'x', x);
      const Cos = ctx.tensor([maxLen * half], 'f32', 'cos', cos);
      const Sin = ctx.tensor([maxLen * half], 'f32', 'sin', sin);
      const Pos = ctx.tensor([1], 'u32', 'pos', new Uint32Array([start]));
      const p = new Program(ctx, 'rope decode test');
      ropeDecode(p, X, Cos, Sin, Pos, n, nH, hd, maxLen, rot);
      await p.run();
      expectClose(await ctx.readF32(X), ref, TOL, 'rotated block');
      p.destroy();
      for (const t of [X, Cos, Sin, Pos]) ctx.release(t.buffer);
    });
  }
});

describe('kv_write + attention_decode', () => {
  for (const [n, start, nH, nKV, hd, rows, window = 0] of [
    [1, 0, 4, 2, 16, 0],
    [1, 0, 4, 2, 16, 1],
    [1, 130, 6, 2, 12, 0],
    [1, 130, 6, 2, 12, 1],
    [7, 0, 3, 3, 10, 0],
    [7, 0, 3, 3, 8, 1],
    [7, 5, 5, 1, 16, 1],
    [37, 130, 6, 2, 12, 0],
    [37, 130, 6, 2, 12, 1],
    [3, 40, 2, 1, 128, 1],
    // Gemma 3: sliding windows (with scale 0.2) and head_dim 256
    [7, 5, 4, 2, 16, 0, 4],
    [7, 5, 4, 2, 16, 1, 4],
    [1, 130, 6, 2, 12, 0, 20],
    [1, 130, 6, 2, 12, 1, 20],
    [3, 40, 2, 1, 256, 1, 9],
    [3, 40, 2, 1, 256, 0, 9],
  ]) {
    const kind = rows ? 'attention_decode_rows' : 'attention_decode';
    const o = window ? { window, scale: 0.2 } : {};
    const tag = window ? `, window ${window}, scale 0.2` : '';
    it(`${kind}: a block of ${n} from position ${start} (${nH}/${nKV} heads of ${hd}${tag}) equals causal attention`, async () => {
      const ctx = await testContext();
      const rng = new Rng(n * 7919 + start * 31 + hd);
      const T = start + n;
      const maxLen = T + 3;
      const kvd = nKV * hd;
      const qd = nH * hd;
      // The whole sequence's keys and values; the prefix is in the cache already, the block is not.
      const kAll = randn(rng, T * kvd, 1.5);
      const vAll = randn(rng, T * kvd, 1);
      const qAll = randn(rng, T * qd, 1.5);
      const cacheInit = new Float32Array(maxLen * kvd).fill(NaN);
      cacheInit.set(kAll.subarray(0, start * kvd));
      const kc = ctx.tensor([maxLen * kvd], 'f32', 'kc', cacheInit);
      cacheInit.set(vAll.subarray(0, start * kvd));
      const vc = ctx.tensor([maxLen * kvd], 'f32', 'vc', cacheInit);
      const K = ctx.tensor([n * kvd], 'f32', 'k', kAll.subarray(start * kvd));
      const V = ctx.tensor([n * kvd], 'f32', 'v', vAll.subarray(start * kvd));
      const Q = ctx.tensor([n * qd], 'f32', 'q', qAll.subarray(start * qd));
      const O = ctx.tensor([n * qd], 'f32', 'out', new Float32Array(n * qd).fill(NaN));
      const Pos = ctx.tensor([1], 'u32', 'pos', new Uint32Array([start]));
      const p = new Program(ctx, 'attention decode test');
      kvWrite(p, kc, vc, K, V, Pos, n, kvd, maxLen);
      attentionDecode(p, O, Q, kc, vc, Pos, n, nH, nKV, hd, maxLen, rows === 1, o);
      await p.run();
      const out = new Float64Array(T * qd);
      attentionForwardRef(out, new Float64Array(nH * T), qAll, kAll, vAll, 1, T, nH, nKV, hd, null, o);
      expectClose(await ctx.readF32(O), out.subarray(start * qd), TOL, 'block attention');
      const kcOut = await ctx.readF32(kc);
      expect(Array.from(kcOut.subarray(0, T * kvd))).toEqual(Array.from(kAll));
      expect(kcOut.subarray(T * kvd).every((x) => Number.isNaN(x))).toBe(true);
      p.destroy();
      for (const t of [kc, vc, K, V, Q, O, Pos]) ctx.release(t.buffer);
    });
  }

  it('rows past maxLen (padding) write nothing outside the cache', async () => {
    const ctx = await testContext();
    const [n, start, maxLen, kvd] = [8, 10, 13, 6];
    const kc = ctx.tensor([maxLen * kvd + 64], 'f32', 'kc', new Float32Array(maxLen * kvd + 64).fill(-1));
    const vc = ctx.tensor([maxLen * kvd + 64], 'f32', 'vc', new Float32Array(maxLen * kvd + 64).fill(-1));
    const K = ctx.tensor(
      [n * kvd],
      'f32',
      'k',
      Float32Array.from({ length: n * kvd }, (_, i) => i),
    );
    const V = ctx.tensor(
      [n * kvd],
      'f32',
      'v',
      Float32Array.from({ length: n * kvd }, (_, i) => -i),
    );
    const Pos = ctx.tensor([1], 'u32', 'pos', new Uint32Array([start]));
    const p = new Program(ctx, 'kv write past the end');
    kvWrite(p, kc, vc, K, V, Pos, n, kvd, maxLen);
    await p.run();
    const got = await ctx.readF32(kc);
    const written = (maxLen - start) * kvd;
    expect(Array.from(got.subarray(start * kvd, maxLen * kvd))).toEqual(Array.from({ length: written }, (_, i) => i));
    expect(got.subarray(maxLen * kvd).every((x) => x === -1)).toBe(true);
    expect(got.subarray(0, start * kvd).every((x) => x === -1)).toBe(true);
    p.destroy();
    for (const t of [kc, vc, K, V, Pos]) ctx.release(t.buffer);
  });
});
