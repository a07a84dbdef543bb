import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng';
import { dot, f64Array, finiteDiff } from '../testing/finite-diff';
import { expectClose } from '../testing/gpu';
import { rmsnormBackwardRef, rmsnormForwardRef } from './rmsnorm';

describe('rmsnorm CPU reference', () => {
  it('forward: x / sqrt(mean(x^2) + eps) * weight on a hand-checked row', () => {
    const out = new Float64Array(2);
    const rstd = new Float64Array(1);
    rmsnormForwardRef(out, rstd, [3, 4], [1, 2], 1, 2, 0.5); // mean(x^2) = 12.5, + eps = 13
    expect(rstd[0]).toBeCloseTo(1 / Math.sqrt(13), 15);
    expect(out[0]).toBeCloseTo(3 / Math.sqrt(13), 15);
    expect(out[1]).toBeCloseTo(8 / Math.sqrt(13), 15);
  });

  it('offset 1 (Gemma3RMSNorm): weight w acts as 1 + w, and the backward matches finite differences', () => {
    const out = new Float64Array(2);
    const rstd = new Float64Array(1);
    rmsnormForwardRef(out, rstd, [3, 4], [0, 1], 1, 2, 0.5, 1);
    expect(out[0]).toBeCloseTo(3 / Math.sqrt(13), 15);
    expect(out[1]).toBeCloseTo(8 / Math.sqrt(13), 15);
    const rng = new Rng(77);
    const [N, C] = [3, 7];
    const x = f64Array(rng, N * C);
    const weight = f64Array(rng, C, -0.5, 0.5);
    const dout = f64Array(rng, N * C);
    const o = new Float64Array(N * C);
    const r = new Float64Array(N);
    const fd = finiteDiff((v) => (rmsnormForwardRef(o, r, v, weight, N, C, 1e-6, 1), dot(dout, o)), x);
    rmsnormForwardRef(o, r, x, weight, N, C, 1e-6, 1);
    const dinp = new Float64Array(N * C);
    rmsnormBackwardRef(dinp, dout, x, weight, r, N, C, 1);
    expectClose(dinp, fd, { atol: 1e-8, rtol: 1e-6 }, 'dinp');
  });

  for (const [N, C] of [
    [1, 1],
    [3, 7],
    [2, 16],
  ]) {
    it(`backward matches central finite differences and accumulates (N=${N} C=${C})`, () => {
      const rng = new Rng(N * 100 + C);
      const x = f64Array(rng, N * C);
      const weight = f64Array(rng, C, 0.5, 1.5);
      const dout = f64Array(rng, N * C);
      const eps = 1e-5;
      const out = new Float64Array(N * C);
      const rstd = new Float64Array(N);
      const f = (v: Float64Array) => {
        rmsnormForwardRef(out, rstd, v, weight, N, C, eps);
        return dot(dout, out);
      };
      const fd = finiteDiff(f, x);
      rmsnormForwardRef(out, rstd, x, weight, N, C, eps);
      const prior = f64Array(rng, N * C);
      const dinp = Float64Array.from(prior);
      rmsnormBackwardRef(dinp, dout, x, weight, rstd, N, C);
      const expected = fd.map((g, i) => g + prior[i]);
      expectClose(dinp, expected, { atol: 1e-8, rtol: 1e-6 }, 'dinp');
    });
  }
});
