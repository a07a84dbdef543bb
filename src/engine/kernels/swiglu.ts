// Launchers for shaders/swiglu.wgsl: h = act(gate) * up and its backward, act = silu (Llama's
// SwiGLU) or gelu_tanh (Gemma's GeGLU, transformers' gelu_pytorch_tanh).

export type GateAct = 'silu' | 'gelu_tanh';
const ACT_CODE: Record<GateAct, number> = { silu: 0, gelu_tanh: 1 };

import swigluWgsl from '../../../shaders/swiglu.wgsl?raw';
import { Params, type Program } from '../gpu/program';
import type { Tensor } from '../gpu/tensor';
import { FLAT_WG, asVec4, dims, disjoint, dispatchFlat, need } from './launch';

/** out (n) = act(gate) * up. */
export function swigluForward(
  p: Program,
  out: Tensor,
  gate: Tensor,
  up: Tensor,
  n: number,
  act: GateAct = 'silu',
): void {
  const what = 'swigluForward';
  dims(what, { n });
  for (const t of [out, gate, up]) need(what, t, 'f32', n, `n=${n}`);
  disjoint(what, out, gate, up);
  const kernel = p.ctx.kernel([swigluWgsl], 'swiglu_forward', { WG: FLAT_WG, ACT: ACT_CODE[act] });
  dispatchFlat(p, kernel, [out, gate, up].map(asVec4), new Params().u32(n), Math.ceil(n / 4), what);
}

/** dgate (n), dup (n) = gradients of act(gate) * up given dout (both assigned). */
export function swigluBackward(
  p: Program,
  dgate: Tensor,
  dup: Tensor,
  dout: Tensor,
  gate: Tensor,
  up: Tensor,
  n: number,
  act: GateAct = 'silu',
): void {
  const what = 'swigluBackward';
  dims(what, { n });
  for (const t of [dgate, dup, dout, gate, up]) need(what, t, 'f32', n, `n=${n}`);
  disjoint(what, dgate, dup, dout, gate, up);
  const kernel = p.ctx.kernel([swigluWgsl], 'swiglu_backward', { WG: FLAT_WG, ACT: ACT_CODE[act] });
  const res = [dgate, dup, dout, gate, up].map(asVec4);
  dispatchFlat(p, kernel, res, new Params().u32(n), Math.ceil(n / 4), what);
}
