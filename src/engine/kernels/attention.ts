// Launchers for shaders/attention.wgsl and shaders/attention_backward.wgsl: causal grouped-query
// self-attention as Hugging Face Llama computes it, flash-attention style (no [T, T] scores in
// memory). Shapes and head counts are checked here, at record time.

import attentionWgsl from '../../../shaders/attention.wgsl?raw';
import attentionBackwardWgsl from '../../../shaders/attention_backward.wgsl?raw';
import headDim128Wgsl from '../../../shaders/head_dim_128.wgsl?raw';
import headDim256Wgsl from '../../../shaders/head_dim_256.wgsl?raw';
import type { GpuContext } from '../gpu/context';
import { Params, type Program } from '../gpu/program';
import { type Tensor, numel } from '../gpu/tensor';

/** The largest head dimension the kernels hold in registers (Llama and Qwen use 64 or 128, Gemma 3 256). */
export const ATTENTION_MAX_HD = 256;
/** Invocations per workgroup: query rows (forward, dq) or keys (dkv) owned by one workgroup. */
const WG = 32;
/** Workgroup memory the kernels stay within: the WebGPU minimum maxComputeWorkgroupStorageSize. */
const WG_BYTES = 16384;

type Variant = { HD: number; KT: number; WG: number; STAGE: number };

function variant(ctx: GpuContext, hd: number, what: string): Variant {
  if (!Number.isInteger(hd) || hd < 4 || hd > ATTENTION_MAX_HD || hd % 4 !== 0) {
    throw new Error(`${what}: head_dim ${hd} is not supported (a multiple of 4 up to ${ATTENTION_MAX_HD})`);
  }
  // Two f32 tiles of KT rows: 2 * KT * hd * 4 bytes <= 16 KiB, at most 32 rows (MAX_KT in the shader).
  const KT = Math.min(32, Math.floor(WG_BYTES / (8 * hd)));
  if (8 * KT * hd > ctx.caps.maxComputeWorkgroupStorageSize) {
    throw new Error(`${what}: this GPU has ${ctx.caps.maxComputeWorkgroupStorageSize} bytes of workgroup memory`);
  }
  return { HD: hd, KT, WG, STAGE: ctx.caps.isCpu ? 0 : 1 };
}

/** The register bound prepended to a kernel holding a head in registers (head_dim_*.wgsl). */
export function headDimBound(hd: number): string {
  return hd <= 128 ? headDim128Wgsl : headDim256Wgsl;
}

function checkDims(
  what: string,
  B: number,
  T: number,
  nH: number,
  nKV: number,
  hd: number,
  tensors: [Tensor, number][],
): void {
  for (const [name, x] of Object.entries({ B, T, nH, nKV, hd })) {
    if (!Number.isInteger(x) || x < 1) throw new Error(`${what}: ${name} = ${x} must be a positive integer`);
  }
  if (nH % nKV !== 0) throw new Error(`${what}: num_heads ${nH} is not a multiple of num_key_value_heads ${nKV}`);
  for (const [t, n] of tensors) {
    if (t.dtype !== 'f32') throw new Error(`${what}: ${t.label} must be f32, is ${t.dtype}`);
    if (numel(t.shape) < n) throw new Error(`${what}: ${t.label} has ${numel(t.shape)} elements, needs ${n}`);
  }
}

/** seg u32 [B*T]: where each token's example starts in its row (all zeros: plain causal rows). */
function checkSeg(what: string, seg: Tensor, n: number): void {
  if (seg.dtype !== 'u32') throw new Error(`${what}: ${seg.label} must be u32, is ${seg.dtype}`);
  if (numel(seg.shape) < n) throw new Error(`${what}: ${seg.label} has ${numel(seg.shape)} elements, needs ${n}`);
}

/** Gemma's variations: a score scale other than 1/sqrt(hd), and sliding-window attention. */
export interface AttentionOptions {
  /** Multiplies q k^T (default 1/sqrt(hd)). */
  scale?: number;
  /** > 0: query t sees only keys j > t - window (default 0: full causal). */
  window?: number;
}

function params(T: number, nH: number, nKV: number, hd: number, o: AttentionOptions, what: string): Params {
  const scale = o.scale ?? 1 / Math.sqrt(hd);
  const window = o.window ?? 0;
  if (!(scale > 0 && Number.isFinite(scale))) throw new Error(`${what}: scale ${scale} must be a positive number`);
  if (!Number.isInteger(window) || window < 0) throw new Error(`${what}: window ${window} must be an integer >= 0`);
  return new Params().u32(T, nH, nKV).f32(scale).u32(window);
}

/**
 * out [B*T, nH*hd], lse [B*nH*T] (index (b*nH + h)*T + t) = causal softmax(q k^T / sqrt(hd)) v,
 * query head h reading kv head h / (nH / nKV). q [B*T, nH*hd] and k, v [B*T, nKV*hd], row-major
 * [B, T, heads, hd], q and k already rotated. seg u32 [B*T] holds, for each token, the row
 * position where its example starts: key j is visible to query t iff seg[t] <= j <= t, the
 * block-diagonal causal mask of packed rows (all zeros: plain causal attention).
 */
export function attentionForward(
  p: Program,
  out: Tensor,
  lse: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  seg: Tensor,
  B: number,
  T: number,
  nH: number,
  nKV: number,
  hd: number,
  o: AttentionOptions = {},
): void {
  const what = 'attentionForward';
  const nq = B * T * nH * hd;
  const nkv = B * T * nKV * hd;
  checkDims(what, B, T, nH, nKV, hd, [
    [out, nq],
    [lse, B * nH * T],
    [q, nq],
    [k, nkv],
    [v, nkv],
  ]);
  checkSeg(what, seg, B * T);
  const kernel = p.ctx.kernel([headDimBound(hd), attentionWgsl], 'main', variant(p.ctx, hd, what));
  p.dispatch(
    kernel,
    [out, lse, q, k, v, seg],
    params(T, nH, nKV, hd, o, what),
    [Math.ceil(T / WG), nH, B],
    'attention',
  );
}

/**
 * dq [B*T, nH*hd], dk, dv [B*T, nKV*hd], all assigned, from dout [B*T, nH*hd] and the forward's
 * inputs q, k, v and caches out, lse. delta [B*nH*T] is scratch (D_i = rowsum(dout_i * out_i)),
 * written by the first dispatch and read by the second. seg as attentionForward's.
 */
export function attentionBackward(
  p: Program,
  dq: Tensor,
  dk: Tensor,
  dv: Tensor,
  dout: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  delta: Tensor,
  seg: Tensor,
  B: number,
  T: number,
  nH: number,
  nKV: number,
  hd: number,
  o: AttentionOptions = {},
): void {
  const what = 'attentionBackward';
  const nq = B * T * nH * hd;
  const nkv = B * T * nKV * hd;
  checkDims(what, B, T, nH, nKV, hd, [
    [dq, nq],
    [dk, nkv],
    [dv, nkv],
    [dout, nq],
    [q, nq],
    [k, nkv],
    [v, nkv],
    [out, nq],
    [lse, B * nH * T],
    [delta, B * nH * T],
  ]);
  checkSeg(what, seg, B * T);
  const vr = variant(p.ctx, hd, what);
  const prm = params(T, nH, nKV, hd, o, what);
  const kdq = p.ctx.kernel([headDimBound(hd), attentionBackwardWgsl], 'attention_backward_dq', vr);
  p.dispatch(kdq, [dq, delta, dout, q, k, v, out, lse, seg], prm, [Math.ceil(T / WG), nH, B], 'attention_backward_dq');
  const kdkv = p.ctx.kernel([headDimBound(hd), attentionBackwardWgsl], 'attention_backward_dkv', vr);
  p.dispatch(
    kdkv,
    [dk, dv, dout, q, k, v, delta, lse, seg],
    prm,
    [Math.ceil(T / WG), nKV, B],
    'attention_backward_dkv',
  );
}
