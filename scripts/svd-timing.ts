// How long PiSSA's CPU SVD (src/engine/model/svd.ts) takes on Qwen2.5-0.5B's linear shapes
// ([out, in]: q/o 896x896, k/v 128x896, gate/up 4864x896, down 896x4864) at r 8 and 16.
//   npx tsx scripts/svd-timing.ts
// The matrices are random with a decaying spectrum, W = X diag((j+1)^-0.7) Y (X, Y Gaussian), which
// is closer to trained weights than a flat Gaussian one (exact PiSSA's iteration count depends on
// the gap after the r-th singular value). pissa_niter_N's time does not depend on the values.

import { lowRankSvd, topSvd } from '../src/engine/model/svd';
import { Rng } from '../src/util/rng';

function matrix(m: number, n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const k = Math.min(m, n);
  const X = Float64Array.from({ length: m * k }, (_, i) => rng.normal() * (1 + (i % k)) ** -0.7);
  const Y = Float64Array.from({ length: k * n }, () => rng.normal());
  const W = new Float32Array(m * n);
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let j = 0; j < k; j++) {
      const x = X[i * k + j];
      for (let t = 0; t < n; t++) row[t] += x * Y[j * n + t];
    }
    W.set(row, i * n);
  }
  return W;
}

const modes = (process.argv[2] ?? 'niter4,exact').split(',');
for (const [m, n] of [
  [128, 896],
  [896, 896],
  [4864, 896],
  [896, 4864],
]) {
  const W = matrix(m, n, m + n);
  for (const r of [8, 16]) {
    for (const mode of modes) {
      const t0 = performance.now();
      let extra = '';
      if (mode === 'exact') extra = `, ${topSvd(W, m, n, r, 1).iterations} subspace iterations`;
      else lowRankSvd(W, m, n, r, Number(mode.replace('niter', '')), 1);
      console.log(`${m}x${n} r=${r} ${mode}: ${((performance.now() - t0) / 1000).toFixed(2)} s${extra}`);
    }
  }
}
