import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng';
import { dot, f64Array, finiteDiff } from '../testing/finite-diff';
import { expectClose } from '../testing/gpu';
import { geluTanh, swigluBackwardRef, swigluForwardRef } from './swiglu';

describe('swiglu CPU reference', () => {
  it('backward matches central finite differences for gate and up', () => {
    const n = 9;
    const rng = new Rng(11);
    const gate = f64Array(rng, n, -6, 6);
    const up = f64Array(rng, n);
    const dout = f64Array(rng, n);
    const out = new Float64Array(n);
    const dgate = new Float64Array(n);
    const dup = new Float64Array(n);
    swigluBackwardRef(dgate, dup, dout, gate, up, n);
    const fg = (g: Float64Array) => (swigluForwardRef(out, g, up, n), dot(dout, out));
    const fu = (u: Float64Array) => (swigluForwardRef(out, gate, u, n), dot(dout, out));
    expectClose(dgate, finiteDiff(fg, gate), { atol: 1e-8, rtol: 1e-6 }, 'dgate');
    expectClose(dup, finiteDiff(fu, up), { atol: 1e-8, rtol: 1e-6 }, 'dup');
  });

  it('gelu_tanh: backward matches central finite differences; values match torch gelu(approximate="tanh")', () => {
    const n = 11;
    const rng = new Rng(12);
    const gate = f64Array(rng, n, -6, 6);
    const up = f64Array(rng, n);
    const dout = f64Array(rng, n);
    const out = new Float64Array(n);
    const dgate = new Float64Array(n);
    const dup = new Float64Array(n);
    swigluBackwardRef(dgate, dup, dout, gate, up, n, 'gelu_tanh');
    const fg = (g: Float64Array) => (swigluForwardRef(out, g, up, n, 'gelu_tanh'), dot(dout, out));
    const fu = (u: Float64Array) => (swigluForwardRef(out, gate, u, n, 'gelu_tanh'), dot(dout, out));
    expectClose(dgate, finiteDiff(fg, gate), { atol: 1e-8, rtol: 1e-6 }, 'dgate');
    expectClose(dup, finiteDiff(fu, up), { atol: 1e-8, rtol: 1e-6 }, 'dup');
    // torch.nn.functional.gelu(torch.tensor([1., -2., 0.5], dtype=torch.float64), approximate='tanh')
    expect(geluTanh(1)).toBeCloseTo(0.8411919906082768, 14);
    expect(geluTanh(-2)).toBeCloseTo(-0.04540230591222494, 14);
    expect(geluTanh(0.5)).toBeCloseTo(0.34571400982514394, 14);
  });

  it('is finite and exact at large |gate|: silu(x) -> x for x >> 0, -> 0 for x << 0', () => {
    const gate = [1000, -1000, 88.8, -88.8];
    const out = new Float64Array(4);
    const dgate = new Float64Array(4);
    const dup = new Float64Array(4);
    swigluForwardRef(out, gate, [1, 1, 1, 1], 4);
    swigluBackwardRef(dgate, dup, [1, 1, 1, 1], gate, [1, 1, 1, 1], 4);
    expect(out[0]).toBe(1000);
    expect(Math.abs(out[1])).toBeLessThan(1e-300);
    expect(out[2]).toBeCloseTo(88.8, 12);
    expect(Math.abs(out[3])).toBeLessThan(1e-30);
    expect(dgate[0]).toBe(1);
    expect(Array.from(dgate).every(Number.isFinite)).toBe(true);
  });
});
