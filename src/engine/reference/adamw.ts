// CPU float64 reference for shaders/adamw.wgsl: torch.optim.AdamW's update (checked against
// numbers from torch itself in adamw.test.ts).

/**
 * One AdamW step in place on params, m, v (n) with g = grads * stats[1]; hyper = [lr, beta1,
 * beta2, eps, wd, bc1, bc2, 1 - beta2 or 0]; lrScale (per 64-element block, default all 1)
 * multiplies lr; a non-finite stats[0] skips the step, as the kernel does.
 */
export function adamwRef(
  params: Float64Array,
  grads: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  hyper: ArrayLike<number>,
  stats: ArrayLike<number>,
  n: number,
  lrScale?: ArrayLike<number>,
): void {
  if (!Number.isFinite(stats[0])) return;
  const [lr0, beta1, beta2, eps, wd, bc1, bc2, oneMinusBeta2] = Array.from(hyper);
  const c2 = oneMinusBeta2 !== 0 ? oneMinusBeta2 : 1 - beta2;
  for (let i = 0; i < n; i++) {
    const lr = lr0 * (lrScale ? lrScale[Math.floor(i / 64)] : 1);
    const g = grads[i] * stats[1];
    params[i] *= 1 - lr * wd;
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + c2 * g * g;
    params[i] -= (lr / bc1) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps));
  }
}
