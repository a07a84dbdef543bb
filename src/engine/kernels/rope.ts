// Rotary position embedding: the tables (pure TS, bit-for-bit what transformers computes in
// float32) and the launchers for shaders/rope.wgsl. `hd` of the tables is the rotary dimension
// (head_dim, or Phi-3/4's int(head_dim * partial_rotary_factor)); the launchers take the head_dim
// and, for partial rotary, the rotary dimension `rot`.

import ropeWgsl from '../../../shaders/rope.wgsl?raw';
import { Params, type Program } from '../gpu/program';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { RopeScaling } from '../model/config';
import { FLAT_WG, dims, disjoint, dispatchFlat, need } from './launch';

const f32 = Math.fround;

/**
 * Whether LongRoPE uses its long factors for a sequence of seqLen positions (the largest position
 * id + 1): transformers' dynamic_rope_update (longrope_frequency_update) switches to them once
 * seqLen passes original_max_position_embeddings, and back to the short ones below it.
 */
export function longRopeFactors(scaling: RopeScaling | null, seqLen: number): boolean {
  return scaling?.ropeType === 'longrope' && seqLen > scaling.originalMaxPositionEmbeddings;
}

/**
 * inv_freq (hd/2) as transformers' _compute_default_rope_parameters, then llama3 scaling as
 * _compute_llama3_parameters, each torch float32 op emulated with Math.fround. Two details
 * matter for the bits: `base ** (arange/dim)` is a float32 pow, and torch evaluates
 * `scalar / tensor` as `tensor.reciprocal() * scalar`. seqLen (the sequence's largest position
 * id + 1) picks LongRoPE's factors (longRopeFactors); other scalings do not read it.
 */
export function ropeInvFreq(hd: number, theta: number, scaling: RopeScaling | null, seqLen = 0): Float32Array {
  if (!Number.isInteger(hd) || hd < 2 || hd % 2)
    throw new Error(`rope: head_dim ${hd} must be a positive even integer`);
  if (!(theta > 0)) throw new Error(`rope: rope_theta ${theta} must be positive`);
  const inv = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) inv[i] = f32(1 / f32(Math.pow(f32(theta), f32((2 * i) / hd))));
  if (!scaling) return inv;
  if (scaling.ropeType === 'longrope') {
    // _compute_longrope_parameters: 1.0 / (ext_factors * base ** (arange(0, dim, 2) / dim)), ext
    // the long factors past original_max_position_embeddings, the short ones up to it.
    const long = longRopeFactors(scaling, seqLen);
    const ext = long ? scaling.longFactor : scaling.shortFactor;
    if (ext.length !== hd / 2)
      throw new Error(`rope_scaling: longrope needs ${hd / 2} ${long ? 'long' : 'short'} factors, got ${ext.length}`);
    for (let i = 0; i < hd / 2; i++) {
      inv[i] = f32(1 / f32(f32(ext[i]) * f32(Math.pow(f32(theta), f32((2 * i) / hd)))));
    }
    return inv;
  }
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
 * LongRoPE multiplies both by its attention factor (Phi3RotaryEmbedding's attention_scaling, the
 * same for both factor sets), and its factors are those of a sequence of seqLen positions (the
 * largest position id + 1; default T): the rows t < T are the same for any T.
 */
export function ropeTables(
  T: number,
  hd: number,
  theta: number,
  scaling: RopeScaling | null,
  seqLen = T,
): { cos: Float32Array; sin: Float32Array } {
  const inv = ropeInvFreq(hd, theta, scaling, seqLen);
  const half = hd / 2;
  const att = scaling?.ropeType === 'longrope' ? f32(scaling.attentionFactor) : 1;
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let d = 0; d < half; d++) {
      const a = f32(t * inv[d]);
      cos[t * half + d] = att === 1 ? Math.cos(a) : f32(f32(Math.cos(a)) * att);
      sin[t * half + d] = att === 1 ? Math.sin(a) : f32(f32(Math.sin(a)) * att);
    }
  }
  return { cos, sin };
}

/**
 * cos, sin tensors (rows, rot/2) on the device and the LongRoPE factors they hold: use(seqLen)
 * uploads the tables of a sequence of seqLen positions when it needs the other factors (always the
 * first time). The programs that read the tensors stay recorded as they are.
 */
export class RopeTables {
  private long: boolean | null = null;

  constructor(
    private readonly ctx: GpuContext,
    readonly cos: Tensor,
    readonly sin: Tensor,
    private readonly rows: number,
    private readonly rot: number,
    private readonly theta: number,
    private readonly scaling: RopeScaling | null,
  ) {}

  /** Makes the tables those of seqLen positions (largest position id + 1); true if it uploaded. */
  use(seqLen: number): boolean {
    const long = longRopeFactors(this.scaling, seqLen);
    if (long === this.long) return false;
    const { cos, sin } = ropeTables(this.rows, this.rot, this.theta, this.scaling, seqLen);
    this.ctx.upload(this.cos, cos);
    this.ctx.upload(this.sin, sin);
    this.long = long;
    return true;
  }
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
  rot: number,
) {
  dims(what, { B, T, nH, hd, rot });
  if (hd % 2) throw new Error(`${what}: head_dim ${hd} is odd`);
  if (rot % 2 || rot < 2 || rot > hd) throw new Error(`${what}: rotary dim ${rot} must be even, 2 to head_dim ${hd}`);
  const shape = `B=${B} T=${T} nH=${nH} hd=${hd} rot=${rot}`;
  need(what, x, 'f32', B * T * nH * hd, shape);
  need(what, cos, 'f32', (T * rot) / 2, shape);
  need(what, sin, 'f32', (T * rot) / 2, shape);
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
  rot: number,
) {
  const pairs = (B * T * nH * rot) / 2;
  const kernel = p.ctx.kernel([ropeWgsl], entry, { WG: FLAT_WG });
  dispatchFlat(p, kernel, [x, cos, sin, seg], new Params().u32(pairs, T, nH, hd, rot), pairs, entry);
}

/**
 * x (B*T, nH, hd) rotated in place by position t = row % T - seg[row]; cos, sin (T, rot/2); only
 * the first rot (default hd) dimensions of each head rotate.
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
  rot = hd,
): void {
  check('ropeForward', x, cos, sin, seg, B, T, nH, hd, rot);
  launch(p, 'rope_forward', x, cos, sin, seg, B, T, nH, hd, rot);
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
  rot = hd,
): void {
  check('ropeBackward', dx, cos, sin, seg, B, T, nH, hd, rot);
  launch(p, 'rope_backward', dx, cos, sin, seg, B, T, nH, hd, rot);
}
