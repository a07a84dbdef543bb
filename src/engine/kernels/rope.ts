// Rotary position embedding: the tables (pure TS, bit-for-bit what transformers computes in
// float32) and the launchers for shaders/rope.wgsl.

import ropeWgsl from '../../../shaders/rope.wgsl?raw';
import { Params, type Program } from '../gpu/program';
import type { Tensor } from '../gpu/tensor';
import type { RopeScaling } from '../model/config';
import { FLAT_WG, dims, disjoint, dispatchFlat, need } from './launch';

const f32 = Math.fround;

/**
 * inv_freq (hd/2) as transformers' _compute_default_rope_parameters, then llama3 scaling as
 * _compute_llama3_parameters, each torch float32 op emulated with Math.fround. Two details
 * matter for the bits: `base ** (arange/dim)` is a float32 pow, and torch evaluates
 * `scalar / tensor` as `tensor.reciprocal() * scalar`.
 */
export function ropeInvFreq(hd: number, theta: number, scaling: RopeScaling | null): Float32Array {
  if (!Number.isInteger(hd) || hd < 2 || hd % 2)
    throw new Error(`rope: head_dim ${hd} must be a positive even integer`);
  if (!(theta > 0)) throw new Error(`rope: rope_theta ${theta} must be positive`);
  const inv = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) inv[i] = f32(1 / f32(Math.pow(f32(theta), f32((2 * i) / hd))));
  if (!scaling) return inv;
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: old } = scaling;
  if (!(factor > 0) || !(high > low) || !(old > 0)) {
    throw new Error(`rope_scaling: llama3 needs factor > 0, high_freq_factor > low_freq_factor, original_max > 0`);
  }
  const lowWavelen = f32(old / low);
  const highWavelen = f32(old / high);
  const twoPi = f32(2 * Math.PI);
  for (let i = 0; i < inv.length; i++) {
    const x = inv[i];
    const wavelen = f32(f32(1 / x) * twoPi);
    let y = wavelen > lowWavelen ? f32(x / f32(factor)) : x;
    if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
      const smooth = f32(f32(f32(f32(1 / wavelen) * f32(old)) - f32(low)) / f32(high - low));
      y = f32(f32(f32(f32(1 - smooth) * y) / f32(factor)) + f32(smooth * y));
    }
    inv[i] = y;
  }
  return inv;
}

/**
 * cos, sin (T, hd/2) of freqs = t * inv_freq in float32, as LlamaRotaryEmbedding.forward
 * (its emb = cat(freqs, freqs) repeats these halves; the kernel reads both halves from them).
 */
export function ropeTables(
  T: number,
  hd: number,
  theta: number,
  scaling: RopeScaling | null,
): { cos: Float32Array; sin: Float32Array } {
  const inv = ropeInvFreq(hd, theta, scaling);
  const half = hd / 2;
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let d = 0; d < half; d++) {
      const a = f32(t * inv[d]);
      cos[t * half + d] = Math.cos(a);
      sin[t * half + d] = Math.sin(a);
    }
  }
  return { cos, sin };
}

function check(
  what: string,
  x: Tensor,
  cos: Tensor,
  sin: Tensor,
  seg: Tensor,
  B: number,
  T: number,
  nH: number,
  hd: number,
) {
  dims(what, { B, T, nH, hd });
  if (hd % 2) throw new Error(`${what}: head_dim ${hd} is odd`);
  const shape = `B=${B} T=${T} nH=${nH} hd=${hd}`;
  need(what, x, 'f32', B * T * nH * hd, shape);
  need(what, cos, 'f32', (T * hd) / 2, shape);
  need(what, sin, 'f32', (T * hd) / 2, shape);
  need(what, seg, 'u32', B * T, shape);
  disjoint(what, x, cos, sin, seg);
}

function launch(
  p: Program,
  entry: string,
  x: Tensor,
  cos: Tensor,
  sin: Tensor,
  seg: Tensor,
  B: number,
  T: number,
  nH: number,
  hd: number,
) {
  const pairs = (B * T * nH * hd) / 2;
  const kernel = p.ctx.kernel([ropeWgsl], entry, { WG: FLAT_WG });
  dispatchFlat(p, kernel, [x, cos, sin, seg], new Params().u32(pairs, T, nH, hd), pairs, entry);
}

/**
 * x (B*T, nH, hd) rotated in place by position t = row % T - seg[row]; cos, sin (T, hd/2).
 * seg u32 (B*T): where each token's example starts in its row (zeros unless rows are packed).
 */
export function ropeForward(
  p: Program,
  x: Tensor,
  cos: Tensor,
  sin: Tensor,
  seg: Tensor,
  B: number,
  T: number,
  nH: number,
  hd: number,
): void {
  check('ropeForward', x, cos, sin, seg, B, T, nH, hd);
  launch(p, 'rope_forward', x, cos, sin, seg, B, T, nH, hd);
}

/** dx (B*T, nH, hd) rotated back in place (the transpose of ropeForward). */
export function ropeBackward(
  p: Program,
  dx: Tensor,
  cos: Tensor,
  sin: Tensor,
  seg: Tensor,
  B: number,
  T: number,
  nH: number,
  hd: number,
): void {
  check('ropeBackward', dx, cos, sin, seg, B, T, nH, hd);
  launch(p, 'rope_backward', dx, cos, sin, seg, B, T, nH, hd);
}
