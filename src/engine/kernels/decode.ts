// Launchers for generation with a KV cache (shaders/rope_decode.wgsl, kv_cache.wgsl,
// attention_decode.wgsl, attention_decode_rows.wgsl), on a block of n consecutive tokens: n = 1
// for each generated token, a chunk of the prompt for the prefill. `pos` is a u32 Tensor [1], the
// block's first position, that the generator rewrites before each replay.

import ropeDecodeWgsl from '../../../shaders/rope_decode.wgsl?raw';
import kvWgsl from '../../../shaders/kv_cache.wgsl?raw';
import attnWgsl from '../../../shaders/attention_decode.wgsl?raw';
import attnRowsWgsl from '../../../shaders/attention_decode_rows.wgsl?raw';
import { Params, type Program } from '../gpu/program';
import { type Tensor, numel } from '../gpu/tensor';
import { dims } from './launch';
import { headDimBound } from './attention';

export const DECODE_MAX_LEN = 2048;

function check(t: Tensor, n: number, what: string): void {
  if (numel(t.shape) < n) throw new Error(`${what}: ${t.label} has ${numel(t.shape)} elements, needs ${n}`);
}

function groups(what: string, count: number, wg: number, max: number): number {
  const g = Math.ceil(count / wg);
  if (g > max) throw new Error(`${what}: ${count} elements need ${g} workgroups, more than ${max}`);
  return g;
}

/**
 * Rotates a block x [n, nH, hd] in place, row r at position pos[0] + r (clamped to maxLen - 1);
 * cos/sin [maxLen, rot/2]; only the first rot (default hd) dims of each head rotate.
 */
export function ropeDecode(
  p: Program,
  x: Tensor,
  cos: Tensor,
  sin: Tensor,
  pos: Tensor,
  n: number,
  nH: number,
  hd: number,
  maxLen: number,
  rot = hd,
): void {
  dims('ropeDecode', { n, nH, hd, maxLen, rot }, 1);
  if (rot % 2 || rot > hd) throw new Error(`ropeDecode: rotary dim ${rot} must be even and at most head_dim ${hd}`);
  check(x, n * nH * hd, 'ropeDecode');
  check(cos, (maxLen * rot) / 2, 'ropeDecode');
  check(sin, (maxLen * rot) / 2, 'ropeDecode');
  const k = p.ctx.kernel([ropeDecodeWgsl], 'rope_decode');
  const g = groups('ropeDecode', (n * nH * rot) / 2, 64, p.ctx.caps.maxComputeWorkgroupsPerDimension);
  p.dispatch(k, [x, cos, sin, pos], new Params().u32(n, nH, hd, maxLen, rot), [g], 'rope decode');
}

/** kc[pos + r] = k[r], vc[pos + r] = v[r] for the block's n rows below maxLen; caches [maxLen, width]. */
export function kvWrite(
  p: Program,
  kc: Tensor,
  vc: Tensor,
  k: Tensor,
  v: Tensor,
  pos: Tensor,
  n: number,
  width: number,
  maxLen: number,
): void {
  dims('kvWrite', { n, width, maxLen }, 1);
  check(kc, maxLen * width, 'kvWrite');
  check(vc, maxLen * width, 'kvWrite');
  check(k, n * width, 'kvWrite');
  check(v, n * width, 'kvWrite');
  const kern = p.ctx.kernel([kvWgsl]);
  const g = groups('kvWrite', n * width, 64, p.ctx.caps.maxComputeWorkgroupsPerDimension);
  p.dispatch(kern, [kc, vc, k, v, pos], new Params().u32(n, width, maxLen), [g], 'kv write');
}

/** The largest head dimension attention_decode_rows.wgsl holds in registers (Gemma 3: 256). */
const ROWS_MAX_HD = 256;

/** Gemma's variations, as attentionForward's: score scale (default 1/sqrt(hd)) and sliding window. */
export interface DecodeAttentionOptions {
  scale?: number;
  /** > 0: row p sees only the keys p - window + 1 ..= p. */
  window?: number;
}

/**
 * out [n, nH*hd]: row r (position pos[0] + r) attends causally over cache rows 0..pos[0] + r;
 * q [n, nH*hd] rotated, the block's own keys and values already written by kvWrite. A block of
 * prompt tokens, or any block on a CPU driver, runs the barrier-free kernel (one invocation per
 * row and head); one token on a GPU the workgroup-parallel one. `rows` forces the choice (tests).
 */
export function attentionDecode(
  p: Program,
  out: Tensor,
  q: Tensor,
  kc: Tensor,
  vc: Tensor,
  pos: Tensor,
  n: number,
  nH: number,
  nKV: number,
  hd: number,
  maxLen: number,
  rows = (n > 1 || p.ctx.caps.isCpu) && hd % 4 === 0 && hd <= ROWS_MAX_HD,
  o: DecodeAttentionOptions = {},
): void {
  dims('attentionDecode', { n, nH, nKV, hd, maxLen }, 1);
  if (maxLen > DECODE_MAX_LEN) throw new Error(`attentionDecode: maxLen ${maxLen} > ${DECODE_MAX_LEN}`);
  if (nH % nKV !== 0) throw new Error(`attentionDecode: ${nH} heads are not a multiple of ${nKV} kv heads`);
  check(out, n * nH * hd, 'attentionDecode');
  check(q, n * nH * hd, 'attentionDecode');
  check(kc, maxLen * nKV * hd, 'attentionDecode');
  check(vc, maxLen * nKV * hd, 'attentionDecode');
  const window = o.window ?? 0;
  if (!Number.isInteger(window) || window < 0)
    throw new Error(`attentionDecode: window ${window} must be an integer >= 0`);
  const params = new Params()
    .u32(n, nH, nKV, hd, maxLen)
    .f32(o.scale ?? 1 / Math.sqrt(hd))
    .u32(window);
  if (rows) {
    if (hd > ROWS_MAX_HD || hd % 4 !== 0) {
      throw new Error(`attentionDecode: head_dim ${hd} is not supported (a multiple of 4 up to ${ROWS_MAX_HD})`);
    }
    const k = p.ctx.kernel([headDimBound(hd), attnRowsWgsl], 'main', { H4: hd / 4 });
    const g = groups('attentionDecode', n * nH, 64, p.ctx.caps.maxComputeWorkgroupsPerDimension);
    p.dispatch(k, [out, q, kc, vc, pos], params, [g], 'attention decode');
  } else {
    const k = p.ctx.kernel([attnWgsl]);
    p.dispatch(k, [out, q, kc, vc, pos], params, [nH, n], 'attention decode');
  }
}
