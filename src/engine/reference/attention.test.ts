// The attention reference is the referee for the GPU kernels, so it is checked three ways: its
// backward against central finite differences of its forward, both against PyTorch autograd on a
// fixed case (Hugging Face's repeat_kv + causal mask), and grouped-query heads against the same
// computation with the kv heads repeated explicitly.

import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng';
import { type AttentionRefOptions, attentionBackwardRef, attentionForwardRef } from './attention';

function closeTo(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what: string) {
  expect(actual.length).toBeGreaterThanOrEqual(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= atol + rtol * Math.abs(expected[i]))) {
      throw new Error(`${what}[${i}] = ${actual[i]}, expected ${expected[i]} (|diff| ${err.toExponential(3)})`);
    }
  }
}

function randn(rng: Rng, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal());
}

describe('attention reference', () => {
  // seg: packed rows (block-diagonal causal mask), each token's example start within its row.
  // o: Gemma's options (a sliding window, a scale other than 1/sqrt(hd)).
  for (const [B, T, nH, nKV, hd, seg, o] of [
    [2, 5, 4, 2, 3, null],
    [1, 6, 3, 1, 4, null],
    [1, 4, 2, 2, 2, null],
    [2, 5, 4, 2, 3, [0, 0, 2, 2, 2, 0, 1, 1, 3, 4]],
    [1, 6, 3, 1, 4, [0, 1, 1, 1, 4, 4]],
    [2, 7, 4, 2, 3, null, { window: 3, scale: 0.3 }],
    [1, 6, 3, 1, 4, [0, 1, 1, 1, 1, 1], { window: 2 }],
  ] as [number, number, number, number, number, number[] | null, AttentionRefOptions?][]) {
    const tag = (seg ? ` packed seg=[${seg.join(',')}]` : '') + (o ? ` ${JSON.stringify(o)}` : '');
    it(`backward matches central finite differences (B=${B} T=${T} nH=${nH} nKV=${nKV} hd=${hd}${tag})`, () => {
      const rng = new Rng(B * 100 + T * 10 + nH);
      const q = randn(rng, B * T * nH * hd);
      const k = randn(rng, B * T * nKV * hd);
      const v = randn(rng, B * T * nKV * hd);
      const g = randn(rng, B * T * nH * hd); // dL/dout for L = sum(out * g)
      const out = new Float64Array(q.length);
      const lse = new Float64Array(B * nH * T);
      const loss = () => {
        attentionForwardRef(out, lse, q, k, v, B, T, nH, nKV, hd, seg, o);
        let s = 0;
        for (let i = 0; i < out.length; i++) s += out[i] * g[i];
        return s;
      };
      loss();
      const dq = new Float64Array(q.length);
      const dk = new Float64Array(k.length);
      const dv = new Float64Array(v.length);
      attentionBackwardRef(dq, dk, dv, g, q, k, v, out.slice(), lse.slice(), B, T, nH, nKV, hd, seg, o);
      const h = 1e-5;
      for (const [x, dx, name] of [
        [q, dq, 'dq'],
        [k, dk, 'dk'],
        [v, dv, 'dv'],
      ] as const) {
        const fd = new Float64Array(x.length);
        for (let i = 0; i < x.length; i++) {
          const x0 = x[i];
          x[i] = x0 + h;
          const fp = loss();
          x[i] = x0 - h;
          const fm = loss();
          x[i] = x0;
          fd[i] = (fp - fm) / (2 * h);
        }
        closeTo(dx, fd, 1e-8, 1e-6, name);
      }
    });
  }

  it("sliding window: window 1 returns each token's own value; window >= T is plain causal", () => {
    const [T, hd] = [5, 2];
    const rng = new Rng(5);
    const q = randn(rng, T * hd);
    const k = randn(rng, T * hd);
    const v = randn(rng, T * hd);
    const out = new Float64Array(T * hd);
    const lse = new Float64Array(T);
    attentionForwardRef(out, lse, q, k, v, 1, T, 1, 1, hd, null, { window: 1 });
    closeTo(out, v, 1e-15, 0, 'out (window 1)');
    const full = new Float64Array(T * hd);
    attentionForwardRef(full, lse, q, k, v, 1, T, 1, 1, hd, null);
    attentionForwardRef(out, lse, q, k, v, 1, T, 1, 1, hd, null, { window: T });
    expect(Array.from(out)).toEqual(Array.from(full));
  });

  it('a packed row equals its examples run one by one (block-diagonal mask, no cross-talk)', () => {
    const [T, nH, nKV, hd] = [7, 4, 2, 3];
    const lens = [3, 1, 3]; // examples at row positions 0..2, 3, 4..6
    const seg = [0, 0, 0, 3, 4, 4, 4];
    const rng = new Rng(77);
    const q = randn(rng, T * nH * hd);
    const k = randn(rng, T * nKV * hd);
    const v = randn(rng, T * nKV * hd);
    const g = randn(rng, T * nH * hd);
    const out = new Float64Array(q.length);
    const lse = new Float64Array(nH * T);
    attentionForwardRef(out, lse, q, k, v, 1, T, nH, nKV, hd, seg);
    const dq = new Float64Array(q.length);
    const dk = new Float64Array(k.length);
    const dv = new Float64Array(v.length);
    attentionBackwardRef(dq, dk, dv, g, q, k, v, out, lse, 1, T, nH, nKV, hd, seg);
    let start = 0;
    for (const n of lens) {
      const qs = nH * hd;
      const ks = nKV * hd;
      const sub = (x: Float64Array, w: number) => x.slice(start * w, (start + n) * w);
      const o1 = new Float64Array(n * qs);
      const l1 = new Float64Array(nH * n);
      attentionForwardRef(o1, l1, sub(q, qs), sub(k, ks), sub(v, ks), 1, n, nH, nKV, hd);
      closeTo(sub(out, qs), o1, 1e-12, 1e-12, `out of the example at ${start}`);
      for (let h = 0; h < nH; h++) {
        closeTo(lse.slice(h * T + start, h * T + start + n), l1.slice(h * n, h * n + n), 1e-12, 1e-12, 'lse');
      }
      const [dq1, dk1, dv1] = [new Float64Array(n * qs), new Float64Array(n * ks), new Float64Array(n * ks)];
      attentionBackwardRef(dq1, dk1, dv1, sub(g, qs), sub(q, qs), sub(k, ks), sub(v, ks), o1, l1, 1, n, nH, nKV, hd);
      closeTo(sub(dq, qs), dq1, 1e-12, 1e-12, `dq of the example at ${start}`);
      closeTo(sub(dk, ks), dk1, 1e-12, 1e-12, `dk of the example at ${start}`);
      closeTo(sub(dv, ks), dv1, 1e-12, 1e-12, `dv of the example at ${start}`);
      start += n;
    }
  });

  it('matches PyTorch autograd on a fixed case (B=1 T=3 nH=2 nKV=1 hd=2)', () => {
    // Values from /usr/bin/python3 (torch 1.13, float64): q.view(B,T,nH,hd).transpose(1,2); k, v the
    // same with repeat_kv's expand+reshape; S = QK^T/sqrt(hd) masked with triu(1) = -inf;
    // O = softmax(S) V; lse = logsumexp(S, -1); O.backward(dout).
    const q = [0.3, -0.5, 0.8, 0.1, -0.2, 0.4, 0.6, -0.9, 0.7, 0.2, -0.3, 0.5];
    const k = [0.5, -0.1, 0.9, 0.3, -0.4, 0.8];
    const v = [1.0, -2.0, 0.5, 0.25, -1.5, 3.0];
    const dout = [0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8, -0.9, 1.0, 0.2, -0.1];
    const torchOut = [
      1.0, -2.0, 1.0, -2.0, 0.7429308172030151, -0.8431886774135684, 0.7606002423354836, -0.9227010905096761,
      0.18352454978456567, 0.16731535181219614, -0.25970632454398834, 0.8747973082271157,
    ];
    const torchLse = [
      0.1414213562373095, 0.6228364491193321, 1.3377244099239964, 0.2757716446627535, 0.9273921484810351,
      1.1728452668209315,
    ];
    const torchDq = [
      0.0, 0.0, 0.0, 0.0, -0.11304662357180456, -0.11304662357180453, 0.10234614964232008, 0.10234614964232007,
      -0.691533056719785, 0.6426496129155055, 0.14826915527326345, -0.11378409722759833,
    ];
    const torchDk = [
      -0.7168619842062699, 0.25854321123031654, 0.15433762615351337, -0.3339931599395539, 0.5625243580527566,
      0.07544994870923735,
    ];
    const torchDv = [
      0.1632305002125644, 1.0299928492895964, 0.2643479839950142, 0.4736173812807755, -0.12757848420757856,
      0.196389769429628,
    ];
    const out = new Float64Array(12);
    const lse = new Float64Array(6);
    attentionForwardRef(out, lse, q, k, v, 1, 3, 2, 1, 2);
    closeTo(out, torchOut, 1e-14, 1e-12, 'out');
    closeTo(lse, torchLse, 1e-14, 1e-12, 'lse');
    const dq = new Float64Array(12);
    const dk = new Float64Array(6);
    const dv = new Float64Array(6);
    attentionBackwardRef(dq, dk, dv, dout, q, k, v, out, lse, 1, 3, 2, 1, 2);
    closeTo(dq, torchDq, 1e-14, 1e-12, 'dq');
    closeTo(dk, torchDk, 1e-14, 1e-12, 'dk');
    closeTo(dv, torchDv, 1e-14, 1e-12, 'dv');
  });

  it('packed rows match PyTorch autograd with a block-diagonal mask (reference/packed_attention.py)', () => {
    // position_ids [0, 1, 0, 1, 2]: examples at 0..1 and 2..4 (seg = where each token's example starts)
    const seg = [0, 0, 2, 2, 2];
    const ptQ = [
      -0.5, 0.2, -0.2, 0.5, 0.1, -0.3, 0.4, 0.0, -0.4, 0.3, -0.1, -0.5, 0.2, -0.2, 0.5, 0.1, -0.3, 0.4, 0.0, -0.4,
    ];
    const ptK = [-0.6, -0.1, 0.4, -0.4, 0.1, 0.6, -0.2, 0.3, -0.5, 0.0];
    const ptV = [-0.8, -0.5, -0.2, 0.1, 0.4, 0.7, -0.7, -0.4, -0.1, 0.2];
    const ptDout = [
      -0.9, 0.0, 0.9, -0.1, 0.8, -0.2, 0.7, -0.3, 0.6, -0.4, 0.5, -0.5, 0.4, -0.6, 0.3, -0.7, 0.2, -0.8, 0.1, -0.9,
    ];
    const ptOut = [
      -0.8, -0.5, -0.8, -0.5, -0.4798777149051877, -0.17987771490518767, -0.45785419126975346, -0.1578541912697534, 0.4,
      0.7, 0.4, 0.7, -0.14999999999999997, 0.14999999999999997, -0.11504539031829333, 0.18495460968170663,
      -0.1297555693473406, 0.17024443065265937, -0.14677974677259292, 0.15322025322740704,
    ];
    const ptLse = [
      0.19798989873223327, 0.741363676488179, 0.09899494936611664, 0.6224365024412906, 1.2260415036570538,
      0.04949747468305832, 0.6748297526845141, -0.2192031021678297, 0.7093129507830886, 1.0161580364215046,
    ];
    const ptDq = [
      0.0, 0.0, 0.0, 0.0, 0.06335329827570012, -0.019005989482710026, 0.04158906554322259, -0.012476719662966783, 0.0,
      0.0, 0.0, 0.0, -0.011667261889578033, -0.011667261889578033, -0.023240273536502074, -0.02324027353650206,
      -0.021718316508391733, -0.021718316508391736, -0.025472479390216154, -0.02547247939021613,
    ];
    const ptDk = [
      -0.022970956044859048, 0.01900598948271004, 0.02297095604485905, -0.019005989482710026, -0.023557908753465626,
      0.007220923384000141, 0.022322170194767534, -0.009404879511349766, 0.0012357385586981085, 0.0021839561273495987,
    ];
    const ptDv = [
      0.6740001763549626, -0.3222196672699393, 0.8259998236450374, -0.27778033273006075, 1.5581670721343164,
      -2.119520945369314, 0.4403770695156225, -1.1936641224677806, 0.1014558583500614, -0.5868149321629055,
    ];
    const out = new Float64Array(20);
    const lse = new Float64Array(10);
    attentionForwardRef(out, lse, ptQ, ptK, ptV, 1, 5, 2, 1, 2, seg);
    closeTo(out, ptOut, 1e-14, 1e-12, 'out');
    closeTo(lse, ptLse, 1e-14, 1e-12, 'lse');
    const dq = new Float64Array(20);
    const dk = new Float64Array(10);
    const dv = new Float64Array(10);
    attentionBackwardRef(dq, dk, dv, ptDout, ptQ, ptK, ptV, out, lse, 1, 5, 2, 1, 2, seg);
    closeTo(dq, ptDq, 1e-14, 1e-12, 'dq');
    closeTo(dk, ptDk, 1e-14, 1e-12, 'dk');
    closeTo(dv, ptDv, 1e-14, 1e-12, 'dv');
  });

  it('query head h reads kv head h / (nH / nKV): same as repeating the kv heads', () => {
    const [B, T, nH, nKV, hd] = [2, 4, 6, 2, 3];
    const rep = nH / nKV;
    const rng = new Rng(9);
    const q = randn(rng, B * T * nH * hd);
    const k = randn(rng, B * T * nKV * hd);
    const v = randn(rng, B * T * nKV * hd);
    const kr = new Float64Array(B * T * nH * hd);
    const vr = new Float64Array(B * T * nH * hd);
    for (let r = 0; r < B * T; r++) {
      for (let h = 0; h < nH; h++) {
        for (let d = 0; d < hd; d++) {
          kr[(r * nH + h) * hd + d] = k[(r * nKV + Math.floor(h / rep)) * hd + d];
          vr[(r * nH + h) * hd + d] = v[(r * nKV + Math.floor(h / rep)) * hd + d];
        }
      }
    }
    const out = new Float64Array(q.length);
    const lse = new Float64Array(B * nH * T);
    const outR = new Float64Array(q.length);
    const lseR = new Float64Array(B * nH * T);
    attentionForwardRef(out, lse, q, k, v, B, T, nH, nKV, hd);
    attentionForwardRef(outR, lseR, q, kr, vr, B, T, nH, nH, hd);
    closeTo(out, outR, 1e-15, 0, 'out');
    closeTo(lse, lseR, 1e-15, 0, 'lse');
  });

  it('rejects nH not a multiple of nKV', () => {
    const z = new Float64Array(64);
    expect(() => attentionForwardRef(z, z, z, z, z, 1, 1, 3, 2, 4)).toThrow(/nH \(3\) must be a multiple of nKV \(2\)/);
  });
});
