// CPU float64 reference for causal grouped-query attention: the referee for shaders/attention.wgsl
// and shaders/attention_backward.wgsl. Written the obvious way (a full score row per query), so
// that it is easy to trust; the GPU kernels compute the same thing flash-attention style.
//
// Layout as Hugging Face Llama: q [B*T, nH*hd] = [B, T, nH, hd]; k, v [B*T, nKV*hd]; query head h
// reads kv head floor(h / (nH / nKV)) (repeat_kv); scale 1/sqrt(hd); key j is visible to query i
// iff j <= i, and with packed rows (seg given: seg[b*T + i] is the row position where token i's
// example starts) also j >= seg[b*T + i], a block-diagonal causal mask. lse [B*nH*T] is the logsumexp of each query's scaled scores, indexed (b*nH + h)*T + t.

// Options (Gemma 3): `scale` replaces 1/sqrt(hd); `window` > 0 also hides key j from query i when
// j <= i - window (transformers' sliding-window mask).

type Arr = ArrayLike<number>;
export interface AttentionRefOptions {
  scale?: number;
  window?: number;
}

function firstKey(seg: ArrayLike<number> | null, b: number, T: number, i: number, o: AttentionRefOptions): number {
  const s = seg ? seg[b * T + i] : 0;
  return o.window ? Math.max(s, i - o.window + 1) : s;
}

function checkHeads(nH: number, nKV: number): number {
  if (nKV <= 0 || nH % nKV !== 0) throw new Error(`attention: nH (${nH}) must be a multiple of nKV (${nKV})`);
  return nH / nKV;
}

/** out [B*T, nH*hd], lse [B*nH*T] from q [B*T, nH*hd], k, v [B*T, nKV*hd]; seg: see the header. */
export function attentionForwardRef(
  out: Float64Array,
  lse: Float64Array,
  q: Arr,
  k: Arr,
  v: Arr,
  B: number,
  T: number,
  nH: number,
  nKV: number,
  hd: number,
  seg: ArrayLike<number> | null = null,
  o: AttentionRefOptions = {},
): void {
  const rep = checkHeads(nH, nKV);
  const scale = o.scale ?? 1 / Math.sqrt(hd);
  const qs = nH * hd;
  const ks = nKV * hd;
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nH; h++) {
      const g = Math.floor(h / rep);
      for (let i = 0; i < T; i++) {
        const qo = (b * T + i) * qs + h * hd;
        const j0 = firstKey(seg, b, T, i, o);
        let m = -Infinity;
        for (let j = j0; j <= i; j++) {
          const ko = (b * T + j) * ks + g * hd;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[qo + d] * k[ko + d];
          s[j] = dot * scale;
          m = Math.max(m, s[j]);
        }
        let sum = 0;
        for (let j = j0; j <= i; j++) sum += Math.exp(s[j] - m);
        for (let d = 0; d < hd; d++) out[qo + d] = 0;
        for (let j = j0; j <= i; j++) {
          const p = Math.exp(s[j] - m) / sum;
          const vo = (b * T + j) * ks + g * hd;
          for (let d = 0; d < hd; d++) out[qo + d] += p * v[vo + d];
        }
        lse[(b * nH + h) * T + i] = m + Math.log(sum);
      }
    }
  }
}

/**
 * dq [B*T, nH*hd], dk, dv [B*T, nKV*hd] (all assigned) from dout [B*T, nH*hd] and the forward's
 * inputs and caches. With P = softmax(S), dV = P^T dO, dP = dO V^T, dS = P ∘ (dP - rowsum(dO ∘ O)),
 * dQ = scale dS K, dK = scale dS^T Q; kv-head gradients sum over the query heads of their group.
 */
export function attentionBackwardRef(
  dq: Float64Array,
  dk: Float64Array,
  dv: Float64Array,
  dout: Arr,
  q: Arr,
  k: Arr,
  v: Arr,
  out: Arr,
  lse: Arr,
  B: number,
  T: number,
  nH: number,
  nKV: number,
  hd: number,
  seg: ArrayLike<number> | null = null,
  o: AttentionRefOptions = {},
): void {
  const rep = checkHeads(nH, nKV);
  const scale = o.scale ?? 1 / Math.sqrt(hd);
  const qs = nH * hd;
  const ks = nKV * hd;
  dq.fill(0, 0, B * T * qs);
  dk.fill(0, 0, B * T * ks);
  dv.fill(0, 0, B * T * ks);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nH; h++) {
      const g = Math.floor(h / rep);
      for (let i = 0; i < T; i++) {
        const qo = (b * T + i) * qs + h * hd;
        const L = lse[(b * nH + h) * T + i];
        let delta = 0;
        for (let d = 0; d < hd; d++) delta += dout[qo + d] * out[qo + d];
        for (let j = firstKey(seg, b, T, i, o); j <= i; j++) {
          const ko = (b * T + j) * ks + g * hd;
          let dot = 0;
          let dp = 0;
          for (let d = 0; d < hd; d++) {
            dot += q[qo + d] * k[ko + d];
            dp += dout[qo + d] * v[ko + d];
          }
          const p = Math.exp(dot * scale - L);
          const ds = p * (dp - delta) * scale;
          for (let d = 0; d < hd; d++) {
            dv[ko + d] += p * dout[qo + d];
            dq[qo + d] += ds * k[ko + d];
            dk[ko + d] += ds * q[qo + d];
          }
        }
      }
    }
  }
}
