import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng';
import { dot, f64Array, finiteDiff } from '../testing/finite-diff';
import { expectClose } from '../testing/gpu';
import { type DoraLayerRef, doraLinearBackwardRef, doraLinearRef, doraNormRef } from './dora';

const TOL = { atol: 1e-8, rtol: 1e-6 };

function layer(rng: Rng, dropout: boolean): { L: DoraLayerRef; x: Float64Array; dy: Float64Array } {
  const N = 3;
  const inF = 5;
  const outF = 4;
  const r = 2;
  const s = 1.5;
  const W = f64Array(rng, outF * inF);
  const A = f64Array(rng, r * inF);
  const B = f64Array(rng, outF * r, -0.5, 0.5);
  const norm = new Float64Array(outF);
  doraNormRef(norm, W, A, B, outF, inF, r, s);
  const m = Float64Array.from(norm, (v) => v * rng.uniform(0.5, 1.5));
  const keepScale = dropout
    ? Float64Array.from({ length: N * inF }, () => (rng.uniform(0, 1) < 0.3 ? 0 : 1 / 0.7))
    : null;
  const L: DoraLayerRef = { N, inF, outF, r, s, W, bias: f64Array(rng, outF), A, B, m, norm, keepScale };
  return { L, x: f64Array(rng, N * inF), dy: f64Array(rng, N * outF) };
}

describe('DoRA linear CPU reference', () => {
  it('the norm is the row L2 norm of W + s B A (PEFT get_weight_norm)', () => {
    // W = [[3, 0], [0, 0]], B A = [[0, 0], [0, 2]] (r = 1), s = 2: rows [3, 0] and [0, 4].
    const norm = new Float64Array(2);
    doraNormRef(norm, [3, 0, 0, 0], [0, 1], [0, 2], 2, 2, 1, 2);
    expect(Array.from(norm)).toEqual([3, 4]);
  });

  it('with m = ||W + s B A|| the layer is the plain LoRA layer x W^T + b + s x A^T B^T', () => {
    const { L, x } = layer(new Rng(3), false);
    const plain = doraLinearRef({ ...L, m: L.norm }, x);
    const { N, inF, outF, r, s } = L;
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < outF; j++) {
        let v = L.bias![j];
        for (let k = 0; k < inF; k++) {
          let ba = 0;
          for (let q = 0; q < r; q++) ba += L.B[j * r + q] * L.A[q * inF + k];
          v += x[n * inF + k] * (L.W[j * inF + k] + s * ba);
        }
        expect(plain[n * outF + j]).toBeCloseTo(v, 12);
      }
    }
  });

  for (const dropout of [false, true]) {
    it(`backward matches finite differences with the norm detached (dropout ${dropout})`, () => {
      const { L, x, dy } = layer(new Rng(dropout ? 17 : 7), dropout);
      const g = doraLinearBackwardRef(L, x, dy);
      const f = (patch: (p: Float64Array) => DoraLayerRef, v: Float64Array) =>
        finiteDiff((p) => dot(dy, doraLinearRef(patch(p), x)), v);
      expectClose(
        g.dx,
        finiteDiff((p) => dot(dy, doraLinearRef(L, p)), Float64Array.from(x)),
        TOL,
        'dx',
      );
      expectClose(
        g.dA,
        f((p) => ({ ...L, A: p }), Float64Array.from(L.A)),
        TOL,
        'dA',
      );
      expectClose(
        g.dB,
        f((p) => ({ ...L, B: p }), Float64Array.from(L.B)),
        TOL,
        'dB',
      );
      expectClose(
        g.dm,
        f((p) => ({ ...L, m: p }), Float64Array.from(L.m)),
        TOL,
        'dm',
      );
    });
  }

  it('the detached gradient differs from the gradient through the norm (the detach matters)', () => {
    const { L, x, dy } = layer(new Rng(5), false);
    const g = doraLinearBackwardRef(L, x, dy);
    const withNorm = (B: Float64Array) => {
      const norm = new Float64Array(L.outF);
      doraNormRef(norm, L.W, L.A, B, L.outF, L.inF, L.r, L.s);
      return dot(dy, doraLinearRef({ ...L, B, norm }, x));
    };
    const full = finiteDiff(withNorm, Float64Array.from(L.B));
    const diff = Math.max(...full.map((v, i) => Math.abs(v - g.dB[i])));
    expect(diff).toBeGreaterThan(1e-3);
  });
});
