// attention_decode.wgsl: a block of n consecutive query tokens against the KV cache, for
// generation (n = 1) and the prompt's prefill (n = a chunk). Row r of the block sits at position
// p = pos[0] + r and sees the keys at positions 0..p (causal), its own block's included: the
// block's keys and values are in the cache already (kv_cache.wgsl runs first).
//   out[r, h, :] = softmax(q[r, h] . K[0..p]^T / sqrt(hd)) V[0..p]
//   q, out [n, nH*hd]; kc, vc [maxLen, nKV*hd]; pos [1] u32 (the block's start, read on the GPU)
// Grid (nH, n): one workgroup of WG invocations per (query head h, row r), kv head h / (nH/nKV),
// parallel over the keys. The row's scores live in workgroup memory (8 KiB), so positions are
// limited to MAX_LEN = 2048; positions past maxLen (padding) are clamped to the last one. Three
// barriers per workgroup. Used for one generated token on a GPU; attention_decode_rows.wgsl
// computes the same without barriers for the prompt's blocks and on CPU drivers.
// Gemma 3: P.scale replaces 1/sqrt(hd) (query_pre_attn_scalar^-0.5), and P.window > 0 (a sliding
// layer) limits row p to the keys p - window + 1 ..= p.

struct Params {
  n: u32,
  nH: u32,
  nKV: u32,
  hd: u32,
  maxLen: u32,
  scale: f32,
  window: u32, // 0: none
}

const WG: u32 = 128u;
const MAX_LEN: u32 = 2048u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<storage, read_write> kc: array<f32>;
@group(0) @binding(4) var<storage, read_write> vc: array<f32>;
@group(0) @binding(5) var<storage, read_write> pos: array<u32>;

var<workgroup> scores: array<f32, MAX_LEN>;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let h = wid.x;
  let row = wid.y;
  if (h >= P.nH || row >= P.n) { return; }
  let kvh = h / (P.nH / P.nKV);
  let width = P.nKV * P.hd;
  let qo = (row * P.nH + h) * P.hd;
  let n = min(pos[0] + row, min(P.maxLen, MAX_LEN) - 1u) + 1u; // keys 0..p
  let j0 = select(0u, n - P.window, P.window > 0u && n > P.window); // sliding: keys > p - window
  let scale = P.scale;
  // 1. scores and the local maximum
  var m = -3.4e38;
  for (var j = j0 + tid; j < n; j += WG) {
    var s = 0.0;
    for (var d = 0u; d < P.hd; d++) {
      s += q[qo + d] * kc[j * width + kvh * P.hd + d];
    }
    s *= scale;
    scores[j] = s;
    m = max(m, s);
  }
  red[tid] = m;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (tid < stride) { red[tid] = max(red[tid], red[tid + stride]); }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();
  // 2. exponentials and their sum
  var l = 0.0;
  for (var j = j0 + tid; j < n; j += WG) {
    let e = exp(scores[j] - mx);
    scores[j] = e;
    l += e;
  }
  red[tid] = l;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (tid < stride) { red[tid] = red[tid] + red[tid + stride]; }
    workgroupBarrier();
  }
  let inv = 1.0 / red[0];
  // 3. the weighted sum of values, one output dimension per invocation
  for (var d = tid; d < P.hd; d += WG) {
    var acc = 0.0;
    for (var j = j0; j < n; j++) {
      acc += scores[j] * vc[j * width + kvh * P.hd + d];
    }
    out[qo + d] = acc * inv;
  }
}

