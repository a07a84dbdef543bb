// Launchers for shaders/dora.wgsl: the magnitude terms of a DoRA linear layer (PEFT's
// DoraLinearLayer). model/linear.ts composes them with the matmul: the row norms of W + s B A once
// per forward, y += (m / norm - 1) z after the matmuls, and in the backward the magnitude
// gradient with the LoRA branch's output gradient g * dy (the norm is a constant there, as PEFT's
// weight_norm.detach()).

import doraWgsl from '../../../shaders/dora.wgsl?raw';
import dtypeWgsl from '../../../shaders/dtype.wgsl?raw';
import type { Kernel } from '../gpu/context';
import { Params, type Program, grid } from '../gpu/program';
import { DTYPE_CODE, NF4_CODE, type Tensor, nf4Layout, numel } from '../gpu/tensor';
import { FLAT_WG, dims, disjoint, dispatchFlat, need, reduceSum } from './launch';

function doraKernel(p: Program, entry: string, wDtype = 0): Kernel {
  const r = reduceSum(p.ctx);
  return p.ctx.kernel([r.source, dtypeWgsl, doraWgsl], entry, { ...r.overrides, FWG: FLAT_WG, W_DTYPE: wDtype });
}

function params(N: number, outF: number, inF = 0, r = 0, scale = 0, wScale = 0): Params {
  return new Params().u32(N, outF, inF, r).f32(scale).u32(wScale);
}

/**
 * norm (out) = ||W[j, :] + scaling * (B A)[j, :]||_2 for each output row j: PEFT's
 * get_weight_norm. W [out, in] is f32, f16, bf16 or nf4; A [r, in], B [out, r] f32.
 */
export function doraNorm(
  p: Program,
  norm: Tensor,
  W: Tensor,
  A: Tensor,
  B: Tensor,
  outF: number,
  inF: number,
  r: number,
  scaling: number,
): void {
  const what = 'doraNorm';
  dims(what, { outF, inF, r }, 1);
  need(what, norm, 'f32', outF, `out=${outF}`);
  need(what, A, 'f32', r * inF, `r=${r} x in=${inF}`);
  need(what, B, 'f32', outF * r, `out=${outF} x r=${r}`);
  let code: number;
  let wScale = 0;
  if (W.dtype === 'nf4') {
    code = NF4_CODE;
    if (numel(W.shape) < outF * inF) throw new Error(`${what}: ${W.label} has ${numel(W.shape)} elements`);
    wScale = nf4Layout(numel(W.shape)).codeWords;
  } else if (W.dtype === 'f32' || W.dtype === 'f16' || W.dtype === 'bf16') {
    code = DTYPE_CODE[W.dtype];
    if (numel(W.shape) < outF * inF) throw new Error(`${what}: ${W.label} has ${numel(W.shape)} elements`);
  } else {
    throw new Error(`${what}: W (${W.label}) is ${W.dtype}; expected f32, f16, bf16 or nf4`);
  }
  if (!Number.isFinite(scaling)) throw new Error(`${what}: scaling ${scaling}`);
  disjoint(what, norm, A, B);
  const g = grid(outF, 1, p.ctx.caps.maxComputeWorkgroupsPerDimension);
  p.dispatch(doraKernel(p, 'dora_norm', code), [norm, W, A, B], params(0, outF, inF, r, scaling, wScale), g, what);
}

/** y (N, out) += (m[j] / norm[j] - 1) * z[n, j]: the magnitude term after the matmuls. */
export function doraForward(p: Program, y: Tensor, z: Tensor, m: Tensor, norm: Tensor, N: number, outF: number): void {
  const what = 'doraForward';
  dims(what, { N, outF }, 1);
  need(what, y, 'f32', N * outF, `N=${N} x out=${outF}`);
  need(what, z, 'f32', N * outF, `N=${N} x out=${outF}`);
  need(what, m, 'f32', outF, `out=${outF}`);
  need(what, norm, 'f32', outF, `out=${outF}`);
  disjoint(what, y, z, m, norm);
  dispatchFlat(p, doraKernel(p, 'dora_forward'), [y, z, m, norm], params(N, outF), N * outF, what);
}

/**
 * gdy (N, out) = (m[j] / norm[j]) * dy (assigned): the gradient the LoRA branch and, without
 * dropout, the base product see; dm (out) += sum_n dy * z / norm (accumulated). The norm is a
 * constant (detached), so no gradient flows through it to A or B.
 */
export function doraBackward(
  p: Program,
  gdy: Tensor,
  dm: Tensor,
  dy: Tensor,
  z: Tensor,
  m: Tensor,
  norm: Tensor,
  N: number,
  outF: number,
): void {
  const what = 'doraBackward';
  dims(what, { N, outF }, 1);
  for (const t of [gdy, dy, z]) need(what, t, 'f32', N * outF, `N=${N} x out=${outF}`);
  for (const t of [dm, m, norm]) need(what, t, 'f32', outF, `out=${outF}`);
  disjoint(what, gdy, dm, dy, z, m, norm);
  const g = grid(outF, 64, p.ctx.caps.maxComputeWorkgroupsPerDimension);
  p.dispatch(doraKernel(p, 'dora_backward'), [gdy, dm, dy, z, m, norm], params(N, outF), g, what);
}
