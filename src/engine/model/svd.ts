// Truncated SVD on the CPU, in float64, for PiSSA's initialisation (model/pissa.ts). No dependency:
//   - jacobiSvd: one-sided (Hestenes) Jacobi on the columns of a small matrix, to machine precision;
//   - topSvd: the r largest singular triplets of W [m, n]: exact Jacobi when min(m, n) is small,
//     otherwise subspace iteration with an oversampled block (q = 2r + 16) until every wanted
//     triplet's residual |A v - s u| is below 1e-7 s_1 (or 300 iterations);
//   - lowRankSvd: torch.svd_lowrank(A, q=r, niter) as PEFT's pissa_niter_N calls it (randomized range
//     finder on A^T with QR after every product, then the SVD of the small m x q product).
// Matrices are column-major Float64Arrays (a column is contiguous); W is row-major [m, n] as the
// checkpoint stores it. Singular vectors are returned with a fixed sign: the largest-magnitude entry
// of each left (output-space) vector is positive, since an SVD's signs are otherwise arbitrary.

import { Rng } from '../../util/rng';

/** Column-major matrix: element (i, j) at data[j * rows + i]. */
export interface ColMat {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** The top singular triplets: U [m, r] and V [n, r] column-major, S descending. */
export interface Svd {
  U: ColMat;
  S: Float64Array;
  V: ColMat;
}

function colMat(rows: number, cols: number): ColMat {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

/** Y = W X: W row-major [m, n], X [n, q] -> [m, q]. */
function mulW(W: ArrayLike<number>, m: number, n: number, X: ColMat): ColMat {
  const q = X.cols;
  const Y = colMat(m, q);
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) row[j] = W[i * n + j];
    for (let c = 0; c < q; c++) {
      const x = X.data.subarray(c * n, c * n + n);
      let s = 0;
      for (let j = 0; j < n; j++) s += row[j] * x[j];
      Y.data[c * m + i] = s;
    }
  }
  return Y;
}

/** Z = W^T Y: W row-major [m, n], Y [m, q] -> [n, q]. */
function mulWt(W: ArrayLike<number>, m: number, n: number, Y: ColMat): ColMat {
  const q = Y.cols;
  const Z = colMat(n, q);
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) row[j] = W[i * n + j];
    for (let c = 0; c < q; c++) {
      const a = Y.data[c * m + i];
      if (a === 0) continue;
      const z = Z.data.subarray(c * n, c * n + n);
      for (let j = 0; j < n; j++) z[j] += a * row[j];
    }
  }
  return Z;
}

/** Orthonormal columns spanning M's (Gram-Schmidt twice: "twice is enough"); in place. */
function orthonormalize(M: ColMat): ColMat {
  const { rows: p, cols: k, data } = M;
  for (let j = 0; j < k; j++) {
    const cj = data.subarray(j * p, j * p + p);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        const ci = data.subarray(i * p, i * p + p);
        let d = 0;
        for (let t = 0; t < p; t++) d += ci[t] * cj[t];
        for (let t = 0; t < p; t++) cj[t] -= d * ci[t];
      }
    }
    let nrm = 0;
    for (let t = 0; t < p; t++) nrm += cj[t] * cj[t];
    nrm = Math.sqrt(nrm);
    if (nrm > 0) for (let t = 0; t < p; t++) cj[t] /= nrm;
  }
  return M;
}

/**
 * One-sided Jacobi SVD of M [p, k] (any shape): M = U diag(S) V^T with U [p, k'], V [k, k'],
 * k' = min(p, k) when p >= k (else the transpose is decomposed). S descending.
 */
export function jacobiSvd(M: ColMat): Svd {
  if (M.rows < M.cols) {
    const T = colMat(M.cols, M.rows);
    for (let i = 0; i < M.rows; i++) for (let j = 0; j < M.cols; j++) T.data[i * M.cols + j] = M.data[j * M.rows + i];
    const s = jacobiSvd(T);
    return { U: s.V, S: s.S, V: s.U };
  }
  const p = M.rows;
  const k = M.cols;
  const A = new Float64Array(M.data);
  const V = new Float64Array(k * k);
  for (let i = 0; i < k; i++) V[i * k + i] = 1;
  const eps = 1e-15;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let i = 0; i < k - 1; i++) {
      const ci = A.subarray(i * p, i * p + p);
      for (let j = i + 1; j < k; j++) {
        const cj = A.subarray(j * p, j * p + p);
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let t = 0; t < p; t++) {
          alpha += ci[t] * ci[t];
          beta += cj[t] * cj[t];
          gamma += ci[t] * cj[t];
        }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let r = 0; r < p; r++) {
          const x = ci[r];
          const y = cj[r];
          ci[r] = c * x - s * y;
          cj[r] = s * x + c * y;
        }
        const vi = V.subarray(i * k, i * k + k);
        const vj = V.subarray(j * k, j * k + k);
        for (let r = 0; r < k; r++) {
          const x = vi[r];
          const y = vj[r];
          vi[r] = c * x - s * y;
          vj[r] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = Array.from({ length: k }, (_, j) => {
    let s = 0;
    for (let t = 0; t < p; t++) s += A[j * p + t] ** 2;
    return Math.sqrt(s);
  });
  const order = norms.map((_, j) => j).sort((a, b) => norms[b] - norms[a]);
  const U = colMat(p, k);
  const Vo = colMat(k, k);
  const S = new Float64Array(k);
  order.forEach((j, o) => {
    S[o] = norms[j];
    for (let t = 0; t < p; t++) U.data[o * p + t] = norms[j] > 0 ? A[j * p + t] / norms[j] : 0;
    Vo.data.set(V.subarray(j * k, j * k + k), o * k);
  });
  return { U, S, V: Vo };
}

/** The first r triplets, each sign fixed so that the largest-magnitude entry of its U column is positive. */
function truncate(s: Svd, r: number): Svd {
  const U = colMat(s.U.rows, r);
  const V = colMat(s.V.rows, r);
  for (let c = 0; c < r; c++) {
    const u = s.U.data.subarray(c * s.U.rows, (c + 1) * s.U.rows);
    let best = 0;
    for (let t = 1; t < u.length; t++) if (Math.abs(u[t]) > Math.abs(u[best])) best = t;
    const sign = u[best] < 0 ? -1 : 1;
    for (let t = 0; t < s.U.rows; t++) U.data[c * s.U.rows + t] = sign * u[t];
    for (let t = 0; t < s.V.rows; t++) V.data[c * s.V.rows + t] = sign * s.V.data[c * s.V.rows + t];
  }
  return { U, S: s.S.slice(0, r), V };
}

/** W row-major [m, n] as a column-major matrix. */
function fromRowMajor(W: ArrayLike<number>, m: number, n: number): ColMat {
  const M = colMat(m, n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) M.data[j * m + i] = W[i * n + j];
  return M;
}

function gaussian(rows: number, cols: number, rng: Rng): ColMat {
  const M = colMat(rows, cols);
  for (let i = 0; i < M.data.length; i++) M.data[i] = rng.normal();
  return M;
}

/** Dimensions up to which topSvd decomposes the whole matrix with Jacobi. */
export const EXACT_JACOBI_MAX = 192;

/**
 * The r largest singular triplets of W row-major [m, n] (PEFT's "pissa": torch.linalg.svd truncated).
 * `iterations` reports how many subspace iterations ran (0: exact Jacobi).
 */
export function topSvd(W: ArrayLike<number>, m: number, n: number, r: number, seed = 0): Svd & { iterations: number } {
  const k = Math.min(m, n);
  if (r > k) throw new Error(`SVD: rank ${r} exceeds min(${m}, ${n})`);
  if (k <= EXACT_JACOBI_MAX) return { ...truncate(jacobiSvd(fromRowMajor(W, m, n)), r), iterations: 0 };
  const q = Math.min(k, 2 * r + 16);
  let Q = orthonormalize(mulW(W, m, n, gaussian(n, q, new Rng(seed))));
  for (let it = 1; ; it++) {
    const Z = mulWt(W, m, n, Q); // [n, q] = (Q^T W)^T
    const s = jacobiSvd(Z); // Z = P S Ub^T: P (right vectors of W), Q Ub (left vectors)
    const Y = mulW(W, m, n, s.U); // W P: column i is s_i u_i when converged
    const left = colMat(m, q);
    for (let c = 0; c < q; c++) {
      for (let j = 0; j < q; j++) {
        const w = s.V.data[c * q + j];
        if (w === 0) continue;
        for (let t = 0; t < m; t++) left.data[c * m + t] += w * Q.data[j * m + t];
      }
    }
    let worst = 0;
    for (let c = 0; c < r; c++) {
      let e = 0;
      for (let t = 0; t < m; t++) e += (Y.data[c * m + t] - s.S[c] * left.data[c * m + t]) ** 2;
      worst = Math.max(worst, Math.sqrt(e) / s.S[0]);
    }
    if (worst < 1e-7 || it >= 300) return { ...truncate({ U: left, S: s.S, V: s.U }, r), iterations: it };
    Q = orthonormalize(Y);
  }
}

/**
 * torch.svd_lowrank(W, q=r, niter) as PEFT's pissa_niter_N uses it (n > q: the transpose's range):
 * Q = qr(W^T R) with R ~ N(0, 1) [m, r]; niter times Q = qr(W^T qr(W Q)); then the SVD of W Q [m, r]
 * gives U, S and V = Q Vh^T. The random matrix comes from our Rng, not torch's.
 */
export function lowRankSvd(W: ArrayLike<number>, m: number, n: number, r: number, niter: number, seed = 0): Svd {
  if (r > Math.min(m, n)) throw new Error(`SVD: rank ${r} exceeds min(${m}, ${n})`);
  let Q = orthonormalize(mulWt(W, m, n, gaussian(m, r, new Rng(seed)))); // [n, r]
  for (let i = 0; i < niter; i++) {
    const P = orthonormalize(mulW(W, m, n, Q)); // [m, r]
    Q = orthonormalize(mulWt(W, m, n, P));
  }
  const s = jacobiSvd(mulW(W, m, n, Q)); // W Q = U S Vh
  const V = colMat(n, r);
  for (let c = 0; c < r; c++) {
    for (let j = 0; j < r; j++) {
      const w = s.V.data[c * r + j];
      for (let t = 0; t < n; t++) V.data[c * n + t] += w * Q.data[j * n + t];
    }
  }
  return truncate({ U: s.U, S: s.S, V }, r);
}

/**
 * Reduced QR of W row-major [m, n] as torch.linalg.qr (LAPACK geqrf + orgqr): Householder
 * reflections with LAPACK's signs (beta = -sign(alpha) * norm, so R's diagonal may be negative).
 * Q [m, k] column-major, R [k, n] row-major, k = min(m, n).
 */
export function householderQr(W: ArrayLike<number>, m: number, n: number): { Q: ColMat; R: Float64Array } {
  const k = Math.min(m, n);
  const A = fromRowMajor(W, m, n); // column-major working copy
  const d = A.data;
  const taus = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const col = j * m;
    const alpha = d[col + j];
    let xnorm = 0;
    for (let i = j + 1; i < m; i++) xnorm += d[col + i] ** 2;
    xnorm = Math.sqrt(xnorm);
    if (xnorm === 0) continue; // H = I (tau 0), as dlarfg
    const beta = -(alpha >= 0 ? 1 : -1) * Math.hypot(alpha, xnorm);
    const tau = (beta - alpha) / beta;
    const scale = 1 / (alpha - beta);
    for (let i = j + 1; i < m; i++) d[col + i] *= scale; // v (v_j = 1 implied)
    d[col + j] = beta;
    taus[j] = tau;
    for (let c = j + 1; c < n; c++) {
      const cc = c * m;
      let s = d[cc + j];
      for (let i = j + 1; i < m; i++) s += d[col + i] * d[cc + i];
      s *= tau;
      d[cc + j] -= s;
      for (let i = j + 1; i < m; i++) d[cc + i] -= s * d[col + i];
    }
  }
  const R = new Float64Array(k * n);
  for (let i = 0; i < k; i++) for (let c = i; c < n; c++) R[i * n + c] = d[c * m + i];
  // Q = H_0 ... H_{k-1} applied to the first k columns of the identity (backwards, as dorg2r)
  const Q = colMat(m, k);
  for (let c = 0; c < k; c++) Q.data[c * m + c] = 1;
  for (let j = k - 1; j >= 0; j--) {
    const tau = taus[j];
    if (tau === 0) continue;
    const col = j * m;
    for (let c = j; c < k; c++) {
      const qc = c * m;
      let s = Q.data[qc + j];
      for (let i = j + 1; i < m; i++) s += d[col + i] * Q.data[qc + i];
      s *= tau;
      Q.data[qc + j] -= s;
      for (let i = j + 1; i < m; i++) Q.data[qc + i] -= s * d[col + i];
    }
  }
  return { Q, R };
}
