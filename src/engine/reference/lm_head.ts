// CPU float64 reference for the LM head fused with softmax cross-entropy: the referee for
// src/engine/kernels/lm_head.ts (shaders/lm_head.wgsl + shaders/cross_entropy.wgsl). It builds the
// whole [N, V] logits, which the GPU path never does.
//
// h [N, C], W [V, C] (the nn.Linear / embedding layout), targets [N] (-100 or any id outside
// [0, V): no loss). loss_n = (logsumexp(z_n) - z_n[t_n]) * scale with z_n = h_n W^T.

type Arr = ArrayLike<number>;

function counted(t: number, V: number): boolean {
  return Number.isInteger(t) && t >= 0 && t < V;
}

/** logits [N, V] = h W^T. */
export function lmLogitsRef(logits: Float64Array, h: Arr, W: Arr, N: number, C: number, V: number): void {
  for (let n = 0; n < N; n++) {
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += h[n * C + c] * W[v * C + c];
      logits[n * V + v] = s;
    }
  }
}

/** rowLoss [N] and lse [N] from h [N, C], W [V, C], targets [N]. */
export function lmHeadLossRef(
  rowLoss: Float64Array,
  lse: Float64Array,
  h: Arr,
  W: Arr,
  targets: Arr,
  N: number,
  C: number,
  V: number,
  scale: number,
): void {
  const z = new Float64Array(N * V);
  lmLogitsRef(z, h, W, N, C, V);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, z[n * V + v]);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(z[n * V + v] - m);
    lse[n] = m + Math.log(s);
    const t = targets[n];
    rowLoss[n] = counted(t, V) ? (lse[n] - z[n * V + t]) * scale : 0;
  }
}

/** dh [N, C] (assigned) = ((softmax(z) - onehot(t)) * scale) W; 0 rows where there is no loss. */
export function lmHeadLossBackwardRef(
  dh: Float64Array,
  h: Arr,
  W: Arr,
  targets: Arr,
  lse: Arr,
  N: number,
  C: number,
  V: number,
  scale: number,
): void {
  const z = new Float64Array(N * V);
  lmLogitsRef(z, h, W, N, C, V);
  dh.fill(0, 0, N * C);
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    if (!counted(t, V)) continue;
    for (let v = 0; v < V; v++) {
      const g = (Math.exp(z[n * V + v] - lse[n]) - (v === t ? 1 : 0)) * scale;
      for (let c = 0; c < C; c++) dh[n * C + c] += g * W[v * C + c];
    }
  }
}

/** acc[0] += sum(rowLoss[0..n)): ce_loss_sum, the step's loss over its micro-batches. */
export function ceLossSumRef(acc: Float64Array, rowLoss: ArrayLike<number>, n: number): void {
  let s = 0;
  for (let i = 0; i < n; i++) s += rowLoss[i];
  acc[0] += s;
}
