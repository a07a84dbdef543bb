// Launchers for shaders/rmsnorm.wgsl (Hugging Face's LlamaRMSNorm). Shapes are checked here, at
// record time.

import dtypeWgsl from '../../../shaders/dtype.wgsl?raw';
import rmsnormWgsl from '../../../shaders/rmsnorm.wgsl?raw';
import { Params, type Program } from '../gpu/program';
import { DTYPE_CODE, type Tensor } from '../gpu/tensor';
import { dims, disjoint, dispatchFlat, need, needWeight, reduceSum, weightApart } from './launch';

/**
 * out (N,C) = inp * rstd * (offset + weight), rstd (N) = 1/sqrt(mean(inp^2) + eps); weight (C)
 * f32/f16/bf16. offset 0: LlamaRMSNorm; offset 1: Gemma3RMSNorm's (1 + weight).
 */
export function rmsnormForward(
  p: Program,
  out: Tensor,
  rstd: Tensor,
  inp: Tensor,
  weight: Tensor,
  N: number,
  C: number,
  eps: number,
  offset = 0,
): void {
  const what = 'rmsnormForward';
  dims(what, { N, C });
  const nc = `N=${N} C=${C}`;
  need(what, out, 'f32', N * C, nc);
  need(what, rstd, 'f32', N, nc);
  need(what, inp, 'f32', N * C, nc);
  needWeight(what, weight, C, nc);
  if (!(eps >= 0)) throw new Error(`${what}: eps = ${eps}`);
  disjoint(what, out, rstd, inp);
  weightApart(what, weight, out, rstd, inp);
  const r = reduceSum(p.ctx);
  const kernel = p.ctx.kernel([r.source, dtypeWgsl, rmsnormWgsl], 'rmsnorm_forward', {
    ...r.overrides,
    W_DTYPE: DTYPE_CODE[weight.dtype],
    W_OFFSET: offset,
  });
  dispatchFlat(p, kernel, [out, rstd, inp, weight], new Params().u32(N, C).f32(eps), N, what, 1);
}

/**
 * dinp (N,C) += d rmsnorm / d inp · dout (the residual stream's gradient); the weight is frozen.
 * offset as rmsnormForward's.
 */
export function rmsnormBackward(
  p: Program,
  dinp: Tensor,
  dout: Tensor,
  inp: Tensor,
  weight: Tensor,
  rstd: Tensor,
  N: number,
  C: number,
  offset = 0,
): void {
  const what = 'rmsnormBackward';
  dims(what, { N, C });
  const nc = `N=${N} C=${C}`;
  need(what, dinp, 'f32', N * C, nc);
  need(what, dout, 'f32', N * C, nc);
  need(what, inp, 'f32', N * C, nc);
  needWeight(what, weight, C, nc);
  need(what, rstd, 'f32', N, nc);
  disjoint(what, dinp, dout, inp, rstd);
  weightApart(what, weight, dinp, dout, inp, rstd);
  const r = reduceSum(p.ctx);
  const kernel = p.ctx.kernel([r.source, dtypeWgsl, rmsnormWgsl], 'rmsnorm_backward', {
    ...r.overrides,
    W_DTYPE: DTYPE_CODE[weight.dtype],
    W_OFFSET: offset,
  });
  dispatchFlat(p, kernel, [dinp, dout, inp, weight, rstd], new Params().u32(N, C).f32(0), N, what, 1);
}
