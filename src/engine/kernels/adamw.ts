// Launcher for shaders/adamw.wgsl (torch.optim.AdamW on the flat LoRA buffer) and the per-step
// hyperparameter vector the CPU writes before each step.

import adamwWgsl from '../../../shaders/adamw.wgsl?raw';
import { Params, type Program } from '../gpu/program';
import type { Tensor } from '../gpu/tensor';
import { FLAT_WG, asVec4, dims, disjoint, dispatchFlat, need } from './launch';

/**
 * hyper for optimizer step `step` (1-based, as torch counts): [lr, beta1, beta2, eps,
 * weight_decay, 1 - beta1^step, 1 - beta2^step, 1 - beta2], each computed in float64 and rounded
 * once to f32, as torch rounds its Python-float scalars. Written with queue.writeBuffer before
 * each step so one recorded program serves the whole run (lr follows the schedule). A 0 in the
 * last slot is also accepted (the kernel then forms 1 - beta2 in f32, 1.3e-5 off for 0.999).
 */
export function adamwHyper(
  step: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  wd: number,
): Float32Array {
  if (!Number.isInteger(step) || step < 1) throw new Error(`adamwHyper: step ${step} must be an integer >= 1`);
  return new Float32Array([lr, beta1, beta2, eps, wd, 1 - beta1 ** step, 1 - beta2 ** step, 1 - beta2]);
}

/**
 * params, m, v (n) updated in place by one AdamW step on grads (n) * stats[1] (the clip
 * coefficient from gradNorm); hyper f32 [8] from adamwHyper, stats f32 [4] from gradNorm;
 * lrScale f32 [ceil(n/64)] multiplies the learning rate of each 64-element block (LoRA+; all ones
 * otherwise, LoraLayout.lrScale). A non-finite stats[0] (gradient norm) skips the step.
 */
export function adamw(
  p: Program,
  params: Tensor,
  grads: Tensor,
  m: Tensor,
  v: Tensor,
  hyper: Tensor,
  stats: Tensor,
  lrScale: Tensor,
  n: number,
): void {
  const what = 'adamw';
  dims(what, { n });
  for (const t of [params, grads, m, v]) need(what, t, 'f32', n, `n=${n}`);
  need(what, hyper, 'f32', 8, 'hyper [8]');
  need(what, stats, 'f32', 4, 'stats [4]');
  need(what, lrScale, 'f32', Math.ceil(n / 64), 'lrScale [ceil(n/64)]');
  disjoint(what, params, grads, m, v, hyper, stats, lrScale);
  const kernel = p.ctx.kernel([adamwWgsl], 'adamw', { WG: FLAT_WG });
  const res = [...[params, grads, m, v].map(asVec4), hyper, stats, lrScale];
  dispatchFlat(p, kernel, res, new Params().u32(n), Math.ceil(n / 4), what);
}
