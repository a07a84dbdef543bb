// CPU float64 reference for shaders/rope.wgsl (rotate_half layout), forward and backward, in place.
// `rot` (default hd): only the first rot dimensions of each head rotate (partial rotary).

function rotate(
  x: Float64Array,
  cos: ArrayLike<number>,
  sin: ArrayLike<number>,
  B: number,
  T: number,
  nH: number,
  hd: number,
  sign: number,
  seg: ArrayLike<number> | null,
  rot: number,
): void {
  const half = rot / 2;
  for (let row = 0; row < B * T; row++) {
    const t = (row % T) - (seg ? seg[row] : 0);
    for (let h = 0; h < nH; h++) {
      const base = (row * nH + h) * hd;
      for (let d = 0; d < half; d++) {
        const c = cos[t * half + d];
        const s = sign * sin[t * half + d];
        const x0 = x[base + d];
        const x1 = x[base + d + half];
        x[base + d] = x0 * c - x1 * s;
        x[base + d + half] = x1 * c + x0 * s;
      }
    }
  }
}

/**
 * x (B*T, nH, hd) rotated in place (its first rot dims per head); cos, sin (T, rot/2); position t = row % T, or with packed rows
 * row % T - seg[row] (seg: where each token's example starts in its row).
 */
export function ropeForwardRef(
  x: Float64Array,
  cos: ArrayLike<number>,
  sin: ArrayLike<number>,
  B: number,
  T: number,
  nH: number,
  hd: number,
  seg: ArrayLike<number> | null = null,
  rot = hd,
): void {
  rotate(x, cos, sin, B, T, nH, hd, 1, seg, rot);
}

/** dx (B*T, nH, hd) rotated back in place: the transpose of the forward rotation. */
export function ropeBackwardRef(
  dx: Float64Array,
  cos: ArrayLike<number>,
  sin: ArrayLike<number>,
  B: number,
  T: number,
  nH: number,
  hd: number,
  seg: ArrayLike<number> | null = null,
  rot = hd,
): void {
  rotate(dx, cos, sin, B, T, nH, hd, -1, seg, rot);
}
