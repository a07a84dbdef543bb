// attention.wgsl: causal grouped-query self-attention, forward, flash-attention style.
// Query head h reads kv head h / (nH / nKV) (Hugging Face repeat_kv); scale P.scale (1/sqrt(HD),
// or Gemma's query_pre_attn_scalar^-0.5). P.window > 0: sliding-window attention (Gemma's local
// layers), key j is also hidden from query t when j <= t - window (transformers' sliding mask).
//
//   @1 out: f32 [B*T, nH*HD]   (row-major [B, T, nH, HD])
//   @2 lse: f32 [B*nH*T]       logsumexp of each query's scaled scores, index (b*nH + h)*T + t;
//                              cached for attention_backward.wgsl
//   @3 q:   f32 [B*T, nH*HD]   (already rotated)
//   @4 k:   f32 [B*T, nKV*HD]  (already rotated)
//   @5 v:   f32 [B*T, nKV*HD]
//   @6 seg: u32 [B*T]          packed rows: the row position where token t's example starts.
//                              Key j is visible to query t iff seg[t] <= j <= t (block-diagonal
//                              causal); all zeros for ordinary rows (plain causal). With a
//                              window the lower bound is max(seg[t], t + 1 - window).
//
// Grid (ceil(T/WG), nH, B): one workgroup owns WG consecutive query rows of one (batch, head);
// invocation r owns row r, keeps q and the output accumulator in registers (2 HD floats) and runs
// the online softmax over key tiles of KT rows, so no [T, T] score matrix exists anywhere. Rows
// are right-padded sequences: causal masking alone keeps padding out of real positions.
//
// Workgroup memory: K and V tiles, 2 * KT * HD * 4 bytes. The launcher picks KT = min(32, 2048/HD):
// 16 KiB for HD = 64 (KT 32) and HD = 128 (KT 16), the WebGPU minimum limit; 4 KiB for HD = 16.
// Two barriers per key tile. With STAGE = false (CPU drivers) the tiles are read straight from
// global memory and there are no barriers: SwiftShader compiles that variant in a fraction of the
// time and runs the forward as fast.
// HD is a multiple of 4 (vec4 arithmetic) and at most MAX_HD = 256 (Gemma 3; KT 8); the launcher checks.

struct Params {
  T: u32,
  nH: u32,
  nKV: u32,
  scale: f32,
  window: u32, // 0: none
}

// MAX_H4 (the register bound, MAX_HD / 4): head_dim_128.wgsl or head_dim_256.wgsl, prepended.
const MAX_KT = 32u;

override HD: u32 = 64u;
override KT: u32 = 32u;
override WG: u32 = 32u;
override STAGE: bool = true;
override H4: u32 = HD / 4u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> k: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
@group(0) @binding(6) var<storage, read_write> seg: array<u32>;

var<workgroup> Ks: array<vec4<f32>, KT * H4>;
var<workgroup> Vs: array<vec4<f32>, KT * H4>;

fn ldq(i: u32) -> vec4<f32> { return vec4<f32>(q[i], q[i + 1u], q[i + 2u], q[i + 3u]); }
fn ldk(i: u32) -> vec4<f32> { return vec4<f32>(k[i], k[i + 1u], k[i + 2u], k[i + 3u]); }
fn ldv(i: u32) -> vec4<f32> { return vec4<f32>(v[i], v[i + 1u], v[i + 2u], v[i + 3u]); }

// Components 4d..4d+3 of key (value) `key`, which is row j of the current tile. kbase locates
// the (batch, kv head): element (key, e) is at kbase + key * nKV * HD + e.
fn k_at(kbase: u32, j: u32, key: u32, d: u32) -> vec4<f32> {
  if (STAGE) { return Ks[j * H4 + d]; }
  return ldk(kbase + key * P.nKV * HD + 4u * d);
}
fn v_at(kbase: u32, j: u32, key: u32, d: u32) -> vec4<f32> {
  if (STAGE) { return Vs[j * H4 + d]; }
  return ldv(kbase + key * P.nKV * HD + 4u * d);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = P.T;
  let h = wid.y;
  let b = wid.z;
  let g = h / (P.nH / P.nKV);
  let q0 = wid.x * WG;
  let t = q0 + lid;
  let live = t < T;
  let qrow = ((b * T + t) * P.nH + h) * HD;
  let kbase = (b * T * P.nKV + g) * HD;
  // First key this query sees: its example's start (0 unless rows are packed).
  var s0 = 0u;
  if (live) {
    s0 = seg[b * T + t];
    if (P.window > 0u && t + 1u > P.window) { s0 = max(s0, t + 1u - P.window); }
  }

  var qr: array<vec4<f32>, MAX_H4>;
  var acc: array<vec4<f32>, MAX_H4>;
  var sc: array<f32, MAX_KT>;
  if (live) {
    for (var d = 0u; d < H4; d++) {
      qr[d] = ldq(qrow + 4u * d) * P.scale;
      acc[d] = vec4<f32>(0.0);
    }
  }
  // -inf would give inf - inf = NaN in the first rescale; any finite floor below real scores works.
  var m = -3.0e38;
  var l = 0.0;

  // Keys this workgroup needs: 0 ..= min(its last row, T - 1). Uniform across the workgroup.
  let kend = min(q0 + WG, T);
  for (var k0 = 0u; k0 < kend; k0 += KT) {
    if (STAGE) {
      for (var i = lid; i < KT * H4; i += WG) {
        let key = k0 + i / H4;
        var kx = vec4<f32>(0.0);
        var vx = vec4<f32>(0.0);
        if (key < T) {
          let src = kbase + key * P.nKV * HD + 4u * (i % H4);
          kx = ldk(src);
          vx = ldv(src);
        }
        Ks[i] = kx;
        Vs[i] = vx;
      }
      workgroupBarrier();
    }
    if (live && t >= k0 && k0 + KT > s0) {
      let nk = min(KT, t - k0 + 1u); // causal: keys k0 ..= t
      let j0 = select(0u, s0 - k0, s0 > k0); // and keys >= s0 (the tile holds at least key t or s0)
      var mt = m;
      for (var j = j0; j < nk; j++) {
        var s4 = vec4<f32>(0.0);
        for (var d = 0u; d < H4; d++) {
          s4 += qr[d] * k_at(kbase, j, k0 + j, d);
        }
        let s = s4.x + s4.y + s4.z + s4.w;
        sc[j] = s;
        mt = max(mt, s);
      }
      let corr = exp(m - mt);
      l *= corr;
      for (var d = 0u; d < H4; d++) {
        acc[d] *= corr;
      }
      for (var j = j0; j < nk; j++) {
        let p = exp(sc[j] - mt);
        l += p;
        for (var d = 0u; d < H4; d++) {
          acc[d] += p * v_at(kbase, j, k0 + j, d);
        }
      }
      m = mt;
    }
    if (STAGE) {
      workgroupBarrier();
    }
  }

  if (live) {
    // l >= 1: the key at the running max contributes exp(0).
    let inv = 1.0 / l;
    for (var d = 0u; d < H4; d++) {
      let o = acc[d] * inv;
      let i = qrow + 4u * d;
      out[i] = o.x;
      out[i + 1u] = o.y;
      out[i + 2u] = o.z;
      out[i + 3u] = o.w;
    }
    lse[(b * P.nH + h) * T + t] = m + log(l);
  }
}
