// CPU float64 reference for shaders/rmsnorm.wgsl (Hugging Face's LlamaRMSNorm), forward and
// backward; the backward is checked against finite differences in rmsnorm.test.ts.

/** out (N, C) = inp * rstd * (offset + weight) (offset 1: Gemma3RMSNorm), rstd (N) = 1 / sqrt(mean(inp^2) + eps). */
export function rmsnormForwardRef(
  out: Float64Array,
  rstd: Float64Array,
  inp: ArrayLike<number>,
  weight: ArrayLike<number>,
  N: number,
  C: number,
  eps: number,
  offset = 0,
): void {
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += inp[n * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let c = 0; c < C; c++) out[n * C + c] = inp[n * C + c] * r * (offset + weight[c]);
  }
}

/** dinp (N, C) += rstd * w * dout - rstd^3 / C * x * sum(dout * w * x), per row. */
export function rmsnormBackwardRef(
  dinp: Float64Array,
  dout: ArrayLike<number>,
  inp: ArrayLike<number>,
  weight: ArrayLike<number>,
  rstd: ArrayLike<number>,
  N: number,
  C: number,
  offset = 0,
): void {
  for (let n = 0; n < N; n++) {
    const r = rstd[n];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dout[n * C + c] * (offset + weight[c]) * inp[n * C + c];
    const k = (r * r * r * dot) / C;
    for (let c = 0; c < C; c++) {
      const i = n * C + c;
      dinp[i] += r * (offset + weight[c]) * dout[i] - k * inp[i];
    }
  }
}
