// CPU float64 reference for shaders/dora.wgsl and for a whole DoRA linear layer (PEFT's
// DoraLinearLayer with DoraLinearVariant.forward, peft/tuners/lora/dora.py and variants.py):
//   xl = dropout(x) in training with lora_dropout > 0, else x
//   y  = x W^T + b + (g - 1) * (xl W^T) + g * s * (xl A^T) B^T,   g = m / ||W + s B A||_row
// The norm is detached (a constant for the backward), as PEFT's weight_norm.detach(). The layer
// functions take the norm as an argument, so finite differences of doraLinearRef with the norm
// held fixed are the referee for the hand-written backward.

/** norm (out) = ||W[j, :] + s * (B A)[j, :]||_2; W [out, in], A [r, in], B [out, r]. */
export function doraNormRef(
  norm: Float64Array,
  W: ArrayLike<number>,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  outF: number,
  inF: number,
  r: number,
  s: number,
): void {
  for (let j = 0; j < outF; j++) {
    let ss = 0;
    for (let k = 0; k < inF; k++) {
      let ba = 0;
      for (let q = 0; q < r; q++) ba += B[j * r + q] * A[q * inF + k];
      const w = W[j * inF + k] + s * ba;
      ss += w * w;
    }
    norm[j] = Math.sqrt(ss);
  }
}

/** y (N, out) += (m / norm - 1) * z. */
export function doraForwardRef(
  y: Float64Array,
  z: ArrayLike<number>,
  m: ArrayLike<number>,
  norm: ArrayLike<number>,
  N: number,
  outF: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < outF; j++) y[n * outF + j] += (m[j] / norm[j] - 1) * z[n * outF + j];
  }
}

/** gdy (N, out) = (m / norm) * dy (assigned); dm (out) += sum_n dy * z / norm. */
export function doraBackwardRef(
  gdy: Float64Array,
  dm: Float64Array,
  dy: ArrayLike<number>,
  z: ArrayLike<number>,
  m: ArrayLike<number>,
  norm: ArrayLike<number>,
  N: number,
  outF: number,
): void {
  for (let j = 0; j < outF; j++) {
    const g = m[j] / norm[j];
    let acc = 0;
    for (let n = 0; n < N; n++) {
      const i = n * outF + j;
      gdy[i] = g * dy[i];
      acc += dy[i] * z[i];
    }
    dm[j] += acc / norm[j];
  }
}

export interface DoraLayerRef {
  N: number;
  inF: number;
  outF: number;
  r: number;
  s: number;
  W: ArrayLike<number>; // [out, in]
  bias: ArrayLike<number> | null; // [out]
  A: ArrayLike<number>; // [r, in]
  B: ArrayLike<number>; // [out, r]
  m: ArrayLike<number>; // [out]
  /** The (detached) row norms of W + s B A. */
  norm: ArrayLike<number>;
  /** Dropout's keep mask / (1 - p) for each element of x [N, in], or null (no dropout). */
  keepScale: ArrayLike<number> | null;
}

function lin(x: ArrayLike<number>, W: ArrayLike<number>, N: number, inF: number, outF: number): Float64Array {
  const y = new Float64Array(N * outF);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < outF; j++) {
      let acc = 0;
      for (let k = 0; k < inF; k++) acc += x[n * inF + k] * W[j * inF + k];
      y[n * outF + j] = acc;
    }
  }
  return y;
}

function dropped(L: DoraLayerRef, x: ArrayLike<number>): ArrayLike<number> {
  const ks = L.keepScale;
  if (!ks) return x;
  return Float64Array.from({ length: L.N * L.inF }, (_, i) => x[i] * ks[i]);
}

/** y (N, out) of the DoRA layer for input x (N, in): PEFT's formula term by term. */
export function doraLinearRef(L: DoraLayerRef, x: ArrayLike<number>): Float64Array {
  const { N, inF, outF, r, s } = L;
  const xl = dropped(L, x);
  const base = lin(x, L.W, N, inF, outF);
  const baseL = lin(xl, L.W, N, inF, outF);
  const t = lin(xl, L.A, N, inF, r);
  const lora = lin(t, L.B, N, r, outF);
  const y = new Float64Array(N * outF);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < outF; j++) {
      const i = n * outF + j;
      const g = L.m[j] / L.norm[j];
      y[i] = base[i] + (L.bias ? L.bias[j] : 0) + (g - 1) * baseL[i] + g * s * lora[i];
    }
  }
  return y;
}

/** dx (N, in), dA (r, in), dB (out, r), dm (out) of sum(dy * y), the norm held constant. */
export function doraLinearBackwardRef(
  L: DoraLayerRef,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
): { dx: Float64Array; dA: Float64Array; dB: Float64Array; dm: Float64Array } {
  const { N, inF, outF, r, s } = L;
  const xl = dropped(L, x);
  const t = lin(xl, L.A, N, inF, r); // [N, r]
  const z = lin(xl, L.W, N, inF, outF);
  const tb = lin(t, L.B, N, r, outF);
  for (let i = 0; i < N * outF; i++) z[i] += s * tb[i];
  const gdy = new Float64Array(N * outF);
  const dm = new Float64Array(outF);
  doraBackwardRef(gdy, dm, dy, z, L.m, L.norm, N, outF);
  // dB = s gdy^T t, dt = s gdy B, dA = dt^T xl
  const dB = new Float64Array(outF * r);
  const dt = new Float64Array(N * r);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < outF; j++) {
      for (let q = 0; q < r; q++) {
        dB[j * r + q] += s * gdy[n * outF + j] * t[n * r + q];
        dt[n * r + q] += s * gdy[n * outF + j] * L.B[j * r + q];
      }
    }
  }
  const dA = new Float64Array(r * inF);
  for (let n = 0; n < N; n++) {
    for (let q = 0; q < r; q++) for (let k = 0; k < inF; k++) dA[q * inF + k] += dt[n * r + q] * xl[n * inF + k];
  }
  // dx = dy W + keepScale * ((gdy - dy) W + dt A)
  const dx = new Float64Array(N * inF);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < inF; k++) {
      let base = 0;
      let branch = 0;
      for (let j = 0; j < outF; j++) {
        base += dy[n * outF + j] * L.W[j * inF + k];
        branch += (gdy[n * outF + j] - dy[n * outF + j]) * L.W[j * inF + k];
      }
      for (let q = 0; q < r; q++) branch += dt[n * r + q] * L.A[q * inF + k];
      const i = n * inF + k;
      dx[i] = base + (L.keepScale ? L.keepScale[i] : 1) * branch;
    }
  }
  return { dx, dA, dB, dm };
}
