// PiSSA's SVD and conversion (model/svd.ts, model/pissa.ts), the other inits and LoRA+'s block
// scales (model/lora.ts), on the CPU. The whole-model check against torch is the golden case
// tiny-qwen2-pissa (train/golden.gpu.test.ts).

import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng';
import { parseHfConfig } from '../../io/hf-config';
import { tinyHfConfig } from '../../io/testing/tiny-checkpoint';
import { LoraLayout, type LoraSpec } from './lora';
import { convertedSpec, oloraSlot, pissaSlot, pissaToLora } from './pissa';
import { EXACT_JACOBI_MAX, householderQr, jacobiSvd, lowRankSvd, topSvd } from './svd';

/** W [m, n] row-major = U diag(s) V^T with random orthonormal U, V and singular values s(k). */
function withSpectrum(m: number, n: number, s: (k: number) => number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const k = Math.min(m, n);
  const orth = (rows: number) => {
    const M = { rows, cols: k, data: Float64Array.from({ length: rows * k }, () => rng.normal()) };
    return jacobiSvd(M).U; // orthonormal columns
  };
  const U = orth(m);
  const V = orth(n);
  const W = new Float64Array(m * n);
  for (let c = 0; c < k; c++) {
    const sc = s(c);
    for (let i = 0; i < m; i++) {
      const u = sc * U.data[c * m + i];
      for (let j = 0; j < n; j++) W[i * n + j] += u * V.data[c * n + j];
    }
  }
  return W;
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return e;
};

describe('SVD', () => {
  for (const [m, n] of [
    [13, 7],
    [7, 13],
  ]) {
    it(`jacobiSvd of a random ${m}x${n} reconstructs it with orthonormal factors`, () => {
      const rng = new Rng(m * 100 + n);
      const M = { rows: m, cols: n, data: Float64Array.from({ length: m * n }, () => rng.normal()) };
      const s = jacobiSvd(M);
      const k = Math.min(m, n);
      const R = new Float64Array(m * n);
      for (let c = 0; c < k; c++)
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) R[j * m + i] += s.S[c] * s.U.data[c * m + i] * s.V.data[c * n + j];
      expect(maxAbs(R, M.data)).toBeLessThan(1e-12);
      for (let a = 0; a < k; a++)
        for (let b = 0; b < k; b++) {
          let d = 0;
          for (let i = 0; i < m; i++) d += s.U.data[a * m + i] * s.U.data[b * m + i];
          expect(Math.abs(d - (a === b ? 1 : 0))).toBeLessThan(1e-12);
        }
      for (let c = 1; c < k; c++) expect(s.S[c]).toBeLessThanOrEqual(s.S[c - 1]);
    });
  }

  it('topSvd by subspace iteration (past the exact size) finds the known top singular triplets', () => {
    const m = 210;
    const n = EXACT_JACOBI_MAX + 9;
    const sv = (k: number) => 3 * 0.9 ** k + 0.05;
    const W = withSpectrum(m, n, sv, 5);
    const r = 6;
    const got = topSvd(W, m, n, r, 1);
    expect(got.iterations).toBeGreaterThan(0);
    for (let k = 0; k < r; k++) expect(Math.abs(got.S[k] - sv(k))).toBeLessThan(1e-9);
    // the same vectors as the exact decomposition (signs are fixed the same way)
    const exact = jacobiSvd({
      rows: m,
      cols: n,
      data: Float64Array.from({ length: m * n }, (_, i) => W[(i % m) * n + Math.floor(i / m)]),
    });
    const sign = (k: number) => {
      const u = exact.U.data.subarray(k * m, k * m + m);
      let best = 0;
      for (let t = 1; t < m; t++) if (Math.abs(u[t]) > Math.abs(u[best])) best = t;
      return u[best] < 0 ? -1 : 1;
    };
    for (let k = 0; k < r; k++) {
      const sk = sign(k);
      expect(
        maxAbs(
          got.U.data.subarray(k * m, k * m + m),
          exact.U.data.subarray(k * m, k * m + m).map((x) => sk * x),
        ),
      ).toBeLessThan(1e-6);
      expect(
        maxAbs(
          got.V.data.subarray(k * n, k * n + n),
          exact.V.data.subarray(k * n, k * n + n).map((x) => sk * x),
        ),
      ).toBeLessThan(1e-6);
    }
  });

  it('lowRankSvd (torch.svd_lowrank, pissa_niter_N) approaches the top singular values as niter grows', () => {
    const m = 120;
    const n = 90;
    const sv = (k: number) => 2 * 0.7 ** k;
    const W = withSpectrum(m, n, sv, 9);
    const err = (niter: number) =>
      Math.max(...Array.from(lowRankSvd(W, m, n, 4, niter, 3).S, (s, k) => Math.abs(s - sv(k)) / sv(k)));
    // q = r, no oversampling: the error shrinks like (s_5 / s_4)^(2 niter + 1) = 0.7^(2 niter + 1)
    expect(err(0)).toBeGreaterThan(err(4));
    expect(err(4)).toBeGreaterThan(err(30));
    expect(err(30)).toBeLessThan(1e-4);
  });
});

describe('QR (OLoRA)', () => {
  // torch.linalg.qr (LAPACK geqrf/orgqr, float64) of W [4, 3] and of W^T [3, 4]: R's negative diagonal included
  const W = [1, 2, -3, 3, -4, 5, 5, 6, 7.5, 0.5, -1, 2];
  const WT = [1, 3, 5, 0.5, 2, -4, 6, -1, -3, 5, 7.5, 2];
  const TORCH = {
    Q: [
      -0.1684303842133037, 0.21282864168104648, 0.93069521390722, -0.5052911526399113, -0.8325355689288003,
      0.14498898874916594, -0.8421519210665188, 0.4757346108164573, -0.25079742707045105, -0.08421519210665188,
      -0.18778997795386476, -0.22335008960492936,
    ],
    R: [
      -5.937171043518959, -3.284392492159424, -8.50573440277184, 0, 6.7979972019299035, -1.6087341444714403, 0, 0,
      -4.394821580214071,
    ],
    QT: [
      -0.2672612419124243, 0.9566807697649696, 0.11547005383792543, -0.5345224838248488, -0.24688535993934702,
      0.808290376865476, 0.8017837257372732, 0.15430334996209183, 0.5773502691896257,
    ],
    RT: [
      -3.7416573867739413, 5.3452248382484875, 1.4699368305183351, 2.0044593143431833, 0, 4.6291004988627575,
      4.459366813904454, 1.0338324447460154, 0, 0, 9.757219549304676, 0.40414518843273817,
    ],
  };
  it("householderQr gives torch.linalg.qr's Q and R, signs included (tall and wide)", () => {
    const rowMajorQ = (Q: { rows: number; cols: number; data: Float64Array }) =>
      Array.from({ length: Q.rows * Q.cols }, (_, i) => Q.data[(i % Q.cols) * Q.rows + Math.floor(i / Q.cols)]);
    const a = householderQr(W, 4, 3);
    expect(maxAbs(rowMajorQ(a.Q), TORCH.Q)).toBeLessThan(1e-14);
    expect(maxAbs(a.R, TORCH.R)).toBeLessThan(1e-13);
    const b = householderQr(WT, 3, 4);
    expect(maxAbs(rowMajorQ(b.Q), TORCH.QT)).toBeLessThan(1e-14);
    expect(maxAbs(b.R, TORCH.RT)).toBeLessThan(1e-13);
  });
});

const config = parseHfConfig(tinyHfConfig()).model; // hidden 16, intermediate 24, 2 layers

describe('PiSSA', () => {
  const spec: LoraSpec = {
    r: 3,
    lora_alpha: 6,
    lora_dropout: 0,
    target_modules: ['q_proj', 'down_proj'],
    use_rslora: false,
    rank_pattern: { down_proj: 5 },
    init_lora_weights: 'pissa',
  };

  it('starts at the base model: W_res + scaling B A = W, with B A the top-r part of W', () => {
    const layout = new LoraLayout(config, spec);
    const flat = new Float32Array(layout.size);
    for (const slot of layout.slots) {
      const { outFeatures: m, inFeatures: n, r, scaling: s } = slot;
      const W = Float64Array.from(withSpectrum(m, n, (k) => 1 / (k + 1), slot.offsetA + 1));
      const res = pissaSlot(W, slot, flat, 'exact');
      const A = flat.subarray(slot.offsetA, slot.offsetA + r * n);
      const B = flat.subarray(slot.offsetB, slot.offsetB + m * r);
      const sum = res.map((x, idx) => {
        const i = Math.floor(idx / n);
        const j = idx % n;
        let d = 0;
        for (let k = 0; k < r; k++) d += B[i * r + k] * A[k * n + j];
        return x + s * d;
      });
      expect(maxAbs(sum, W)).toBeLessThan(1e-12);
      // the residual holds exactly the singular values after the r-th: its largest is 1 / (r + 1)
      const resSvd = jacobiSvd({
        rows: m,
        cols: n,
        data: Float64Array.from({ length: m * n }, (_, i) => res[(i % m) * n + Math.floor(i / m)]),
      });
      expect(resSvd.S[0]).toBeCloseTo(1 / (r + 1), 6);
    }
  });

  it('the converted rank-2r adapter on the original W equals the trained PiSSA model on W_res', () => {
    const layout = new LoraLayout(config, spec);
    const initial = new Float32Array(layout.size);
    const rng = new Rng(3);
    const res = new Map<number, Float64Array>();
    const base = new Map<number, Float64Array>();
    for (const [i, slot] of layout.slots.entries()) {
      const W = withSpectrum(slot.outFeatures, slot.inFeatures, (k) => 1 / (k + 1), 40 + i);
      base.set(i, W);
      res.set(i, pissaSlot(W, slot, initial, 'exact'));
    }
    const trained = initial.map((x) => x + 0.01 * rng.normal());
    const conv = pissaToLora(layout, trained, initial);
    expect(conv.layout.spec).toMatchObject({
      r: 6,
      lora_alpha: 12,
      rank_pattern: { down_proj: 10 },
      init_lora_weights: true,
    });
    for (const [i, s] of layout.slots.entries()) {
      const d = conv.layout.slots[i];
      expect(d.r).toBe(2 * s.r);
      expect(d.scaling).toBeCloseTo(s.scaling, 15);
      const { outFeatures: m, inFeatures: n } = s;
      const prod = (f: Float32Array, sl: typeof s, ii: number, j: number) => {
        let acc = 0;
        for (let k = 0; k < sl.r; k++) acc += f[sl.offsetB + ii * sl.r + k] * f[sl.offsetA + k * n + j];
        return acc;
      };
      let worst = 0;
      for (let ii = 0; ii < m; ii++)
        for (let j = 0; j < n; j++) {
          const pissaModel = res.get(i)![ii * n + j] + s.scaling * prod(trained, s, ii, j);
          const converted = base.get(i)![ii * n + j] + d.scaling * prod(conv.flat, d, ii, j);
          worst = Math.max(worst, Math.abs(pissaModel - converted));
        }
      expect(worst).toBeLessThan(1e-6);
    }
    expect(() => convertedSpec({ ...spec, use_rslora: true })).toThrow(/use_rslora together with rank_pattern/);
    expect(convertedSpec({ ...spec, rank_pattern: undefined, use_rslora: true }).lora_alpha).toBeCloseTo(
      6 * Math.SQRT2,
      12,
    );
  });
});

describe('OLoRA', () => {
  it('B = Q[:, :r], A = R[:r], W_res = W - scaling B A', () => {
    const layout = new LoraLayout(config, {
      r: 3,
      lora_alpha: 6,
      lora_dropout: 0,
      target_modules: ['o_proj'],
      use_rslora: false,
      init_lora_weights: 'olora',
    });
    const slot = layout.slots[0];
    const { outFeatures: m, inFeatures: n, r, scaling: s } = slot;
    const rng = new Rng(11);
    const W = Float64Array.from({ length: m * n }, () => rng.normal());
    const flat = new Float32Array(layout.size);
    const res = oloraSlot(W, slot, flat);
    const { Q, R } = householderQr(W, m, n);
    for (let k = 0; k < r; k++)
      for (let i = 0; i < m; i++) expect(flat[slot.offsetB + i * r + k]).toBe(Math.fround(Q.data[k * m + i]));
    expect(Array.from(flat.subarray(slot.offsetA, slot.offsetA + r * n))).toEqual(
      Array.from(R.subarray(0, r * n), Math.fround),
    );
    let worst = 0;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let d = 0;
        for (let k = 0; k < r; k++) d += flat[slot.offsetB + i * r + k] * flat[slot.offsetA + k * n + j];
        worst = Math.max(worst, Math.abs(res[i * n + j] + s * d - W[i * n + j]));
      }
    expect(worst).toBeLessThan(1e-12);
  });
});

describe('other inits and LoRA+', () => {
  const base: LoraSpec = { r: 8, lora_alpha: 16, lora_dropout: 0, target_modules: ['up_proj'], use_rslora: false };

  it('gaussian: A ~ N(0, (1/r)^2), B = 0; false: B random too', () => {
    const g = new LoraLayout(config, { ...base, init_lora_weights: 'gaussian' });
    const flat = g.init(1);
    const a = g.slots.flatMap((s) => Array.from(flat.subarray(s.offsetA, s.offsetA + s.r * s.inFeatures)));
    const mean = a.reduce((x, y) => x + y, 0) / a.length;
    const std = Math.sqrt(a.reduce((x, y) => x + (y - mean) ** 2, 0) / a.length);
    expect(Math.abs(std - 1 / 8)).toBeLessThan(0.1 / 8); // 256 samples
    for (const s of g.slots)
      expect(flat.subarray(s.offsetB, s.offsetB + s.outFeatures * s.r).every((x) => x === 0)).toBe(true);
    const f = new LoraLayout(config, { ...base, init_lora_weights: false });
    const ff = f.init(1);
    const b = ff.subarray(f.slots[0].offsetB, f.slots[0].offsetB + 24 * 8);
    expect(b.some((x) => x !== 0)).toBe(true);
    expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(8));
  });

  it('lrScale marks every 64-element block of B with the ratio, A with 1', () => {
    const l = new LoraLayout(config, { ...base, target_modules: ['q_proj', 'up_proj'], rank_pattern: { up_proj: 3 } });
    const sc = l.lrScale(16);
    expect(sc.length).toBe(l.size / 64);
    for (let e = 0; e < l.size; e++) {
      const s = l.slots.find((x) => e >= x.offsetB && e < x.offsetB + x.outFeatures * x.r);
      const inA = l.slots.some((x) => e >= x.offsetA && e < x.offsetA + x.r * x.inFeatures);
      if (s) expect(sc[Math.floor(e / 64)]).toBe(16);
      if (inA) expect(sc[Math.floor(e / 64)]).toBe(1);
    }
    expect(l.lrScale().every((x) => x === 1)).toBe(true);
  });
});
