import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng';
import { dot, f64Array, finiteDiff } from '../testing/finite-diff';
import { expectClose } from '../testing/gpu';
import { ropeBackwardRef, ropeForwardRef } from './rope';

describe('rope CPU reference', () => {
  it('pairs dimension d with d + hd/2 (rotate_half), not with d + 1', () => {
    // hd = 4, one head, T = 1: rotate (x0, x2) and (x1, x3) by the angles of cos/sin[0, 0..1].
    const x = Float64Array.from([1, 2, 3, 4]);
    const a = [0.3, -1.1];
    ropeForwardRef(x, a.map(Math.cos), a.map(Math.sin), 1, 1, 1, 4);
    const rot = (u: number, v: number, t: number) => [
      u * Math.cos(t) - v * Math.sin(t),
      v * Math.cos(t) + u * Math.sin(t),
    ];
    const [y0, y2] = rot(1, 3, a[0]);
    const [y1, y3] = rot(2, 4, a[1]);
    expectClose(x, [y0, y1, y2, y3], { atol: 1e-15, rtol: 0 }, 'y');
  });

  it('position is row % T across the batch', () => {
    const [B, T, nH, hd] = [2, 3, 1, 2];
    const ang = [0.1, 0.2, 0.3];
    const x = new Float64Array(B * T * hd).fill(0).map((_, i) => (i % 2 === 0 ? 1 : 0));
    ropeForwardRef(x, ang.map(Math.cos), ang.map(Math.sin), B, T, nH, hd);
    for (let row = 0; row < B * T; row++) expect(Math.atan2(x[2 * row + 1], x[2 * row])).toBeCloseTo(ang[row % T], 14);
  });

  it('backward matches central finite differences (B=2 T=3 nH=2 hd=6)', () => {
    const [B, T, nH, hd] = [2, 3, 2, 6];
    const n = B * T * nH * hd;
    const rng = new Rng(5);
    const ang = f64Array(rng, (T * hd) / 2, -3, 3);
    const cos = ang.map(Math.cos);
    const sin = ang.map(Math.sin);
    const x = f64Array(rng, n);
    const dout = f64Array(rng, n);
    const f = (v: Float64Array) => {
      const y = Float64Array.from(v);
      ropeForwardRef(y, cos, sin, B, T, nH, hd);
      return dot(dout, y);
    };
    const dx = Float64Array.from(dout);
    ropeBackwardRef(dx, cos, sin, B, T, nH, hd);
    expectClose(dx, finiteDiff(f, x), { atol: 1e-8, rtol: 1e-6 }, 'dx');
  });

  it('partial rotary with scaled tables (LongRoPE): backward matches finite differences (hd=10 rot=6)', () => {
    const [B, T, nH, hd, rot] = [2, 3, 2, 10, 6];
    const n = B * T * nH * hd;
    const rng = new Rng(9);
    const ang = f64Array(rng, (T * rot) / 2, -3, 3);
    const att = 1.19; // cos and sin both carry the attention factor: no longer a rotation
    const cos = ang.map((a) => att * Math.cos(a));
    const sin = ang.map((a) => att * Math.sin(a));
    const x = f64Array(rng, n);
    const dout = f64Array(rng, n);
    const f = (v: Float64Array) => {
      const y = Float64Array.from(v);
      ropeForwardRef(y, cos, sin, B, T, nH, hd, null, rot);
      return dot(dout, y);
    };
    const dx = Float64Array.from(dout);
    ropeBackwardRef(dx, cos, sin, B, T, nH, hd, null, rot);
    expectClose(dx, finiteDiff(f, x), { atol: 1e-8, rtol: 1e-6 }, 'dx');
    // dims rot..hd pass through: their gradient is dout itself
    for (let h = 0; h < B * T * nH; h++) for (let d = rot; d < hd; d++) expect(dx[h * hd + d]).toBe(dout[h * hd + d]);
  });
});
