// attention_backward.wgsl: backward of attention.wgsl (causal grouped-query attention), in two
// entry points because WGSL has no float atomics: each gradient element has exactly one owner.
// With P = exp(scale Q K^T - lse) (the forward's softmax, rebuilt from its cached lse):
//   dV = P^T dO,  dP = dO V^T,  dS = P ∘ (dP - D) with D_i = rowsum(dO_i ∘ O_i),
//   dQ = scale dS K,  dK = scale dS^T Q,  kv-head gradients summed over their group's query heads.
//
// attention_backward_dq, grid (ceil(T/WG), nH, B): one workgroup owns WG query rows of one
// (batch, head) and loops over key tiles like the forward; it also writes D for those rows.
// Record it before attention_backward_dkv, which reads D.
//   @1 dq:    f32 [B*T, nH*HD]   assigned
//   @2 delta: f32 [B*nH*T]       D, index (b*nH + h)*T + t (scratch)
//   @3 dout:  f32 [B*T, nH*HD]
//   @4 q:     f32 [B*T, nH*HD]
//   @5 k, @6 v: f32 [B*T, nKV*HD]
//   @7 out:   f32 [B*T, nH*HD]   the forward's output
//   @8 lse:   f32 [B*nH*T]       the forward's logsumexp
//   @9 seg:   u32 [B*T]          example starts of packed rows, as attention.wgsl: key j is
//                                visible to query t iff seg[t] <= j <= t (zeros: plain causal)
//
// attention_backward_dkv, grid (ceil(T/WG), nKV, B): one workgroup owns WG keys of one
// (batch, kv head); invocation r owns key j, keeps k_j, v_j, dk_j, dv_j in registers and loops
// over the query heads of the group and over tiles of the query rows >= the workgroup's first key.
//   @1 dk, @2 dv: f32 [B*T, nKV*HD]   assigned
//   @3 dout, @4 q, @5 k, @6 v as above
//   @7 delta: f32 [B*nH*T]  (written by attention_backward_dq)
//   @8 lse:   f32 [B*nH*T]
//   @9 seg:   u32 [B*T]
//
// Workgroup memory: dq stages K and V tiles, dkv stages Q and dO tiles; both 2 * KT * HD * 4 bytes,
// KT = min(32, 2048/HD): 16 KiB for HD = 64 and 128 (the WebGPU minimum limit), 4 KiB for HD = 16.
// Two barriers per tile; none with STAGE = false (CPU drivers: tiles read from global memory).
// Registers: dq holds 3 HD floats per invocation, dkv 4 HD. HD: a multiple of 4, at most 256.
// P.window > 0: sliding window as attention.wgsl (query t sees keys j > t - window).

struct Params {
  T: u32,
  nH: u32,
  nKV: u32,
  scale: f32,
  window: u32, // 0: none
}

// MAX_H4 (the register bound, MAX_HD / 4): head_dim_128.wgsl or head_dim_256.wgsl, prepended.

override HD: u32 = 64u;
override KT: u32 = 32u;
override WG: u32 = 32u;
override STAGE: bool = true;
override H4: u32 = HD / 4u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(3) var<storage, read_write> dout: array<f32>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;
@group(0) @binding(5) var<storage, read_write> k: array<f32>;
@group(0) @binding(6) var<storage, read_write> v: array<f32>;
@group(0) @binding(8) var<storage, read_write> lse: array<f32>;
@group(0) @binding(9) var<storage, read_write> seg: array<u32>;

fn ldq(i: u32) -> vec4<f32> { return vec4<f32>(q[i], q[i + 1u], q[i + 2u], q[i + 3u]); }
fn ldk(i: u32) -> vec4<f32> { return vec4<f32>(k[i], k[i + 1u], k[i + 2u], k[i + 3u]); }
fn ldv(i: u32) -> vec4<f32> { return vec4<f32>(v[i], v[i + 1u], v[i + 2u], v[i + 3u]); }
fn lddo(i: u32) -> vec4<f32> { return vec4<f32>(dout[i], dout[i + 1u], dout[i + 2u], dout[i + 3u]); }

fn hsum(x: vec4<f32>) -> f32 { return x.x + x.y + x.z + x.w; }

// ---- dQ (and D) -------------------------------------------------------------------------------

@group(0) @binding(1) var<storage, read_write> dq: array<f32>;
@group(0) @binding(2) var<storage, read_write> delta_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

var<workgroup> Ks: array<vec4<f32>, KT * H4>;
var<workgroup> Vs: array<vec4<f32>, KT * H4>;

fn k_at(kbase: u32, j: u32, key: u32, d: u32) -> vec4<f32> {
  if (STAGE) { return Ks[j * H4 + d]; }
  return ldk(kbase + key * P.nKV * HD + 4u * d);
}
fn v_at(kbase: u32, j: u32, key: u32, d: u32) -> vec4<f32> {
  if (STAGE) { return Vs[j * H4 + d]; }
  return ldv(kbase + key * P.nKV * HD + 4u * d);
}

@compute @workgroup_size(WG)
fn attention_backward_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = P.T;
  let h = wid.y;
  let b = wid.z;
  let g = h / (P.nH / P.nKV);
  let q0 = wid.x * WG;
  let t = q0 + lid;
  let live = t < T;
  let qrow = ((b * T + t) * P.nH + h) * HD;
  let kbase = (b * T * P.nKV + g) * HD;

  var qr: array<vec4<f32>, MAX_H4>;
  var dor: array<vec4<f32>, MAX_H4>;
  var dqa: array<vec4<f32>, MAX_H4>;
  var D = 0.0;
  var L = 0.0;
  var s0 = 0u;
  if (live) {
    s0 = seg[b * T + t];
    if (P.window > 0u && t + 1u > P.window) { s0 = max(s0, t + 1u - P.window); }
    var d4 = vec4<f32>(0.0);
    for (var d = 0u; d < H4; d++) {
      let i = qrow + 4u * d;
      qr[d] = ldq(i) * P.scale;
      dor[d] = lddo(i);
      dqa[d] = vec4<f32>(0.0);
      d4 += dor[d] * vec4<f32>(out[i], out[i + 1u], out[i + 2u], out[i + 3u]);
    }
    D = hsum(d4);
    let li = (b * P.nH + h) * T + t;
    L = lse[li];
    delta_out[li] = D;
  }

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
      let j0 = select(0u, s0 - k0, s0 > k0); // and keys >= the example's start
      for (var j = j0; j < nk; j++) {
        var s4 = vec4<f32>(0.0);
        var dp4 = vec4<f32>(0.0);
        for (var d = 0u; d < H4; d++) {
          s4 += qr[d] * k_at(kbase, j, k0 + j, d);
          dp4 += dor[d] * v_at(kbase, j, k0 + j, d);
        }
        let p = exp(hsum(s4) - L);
        let ds = p * (hsum(dp4) - D);
        for (var d = 0u; d < H4; d++) {
          dqa[d] += ds * k_at(kbase, j, k0 + j, d);
        }
      }
    }
    if (STAGE) {
      workgroupBarrier();
    }
  }

  if (live) {
    for (var d = 0u; d < H4; d++) {
      let x = dqa[d] * P.scale;
      let i = qrow + 4u * d;
      dq[i] = x.x;
      dq[i + 1u] = x.y;
      dq[i + 2u] = x.z;
      dq[i + 3u] = x.w;
    }
  }
}

// ---- dK, dV ----------------------------------------------------------------------------------

@group(0) @binding(1) var<storage, read_write> dk: array<f32>;
@group(0) @binding(2) var<storage, read_write> dv: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta_in: array<f32>;

var<workgroup> Qs: array<vec4<f32>, KT * H4>;
var<workgroup> dOs: array<vec4<f32>, KT * H4>;

// Components 4d..4d+3 of query (dout) row `row`, which is row ii of the current tile; element
// (row, e) of the head is at qbase + row * nH * HD + e.
fn q_at(qbase: u32, ii: u32, row: u32, d: u32) -> vec4<f32> {
  if (STAGE) { return Qs[ii * H4 + d]; }
  return ldq(qbase + row * P.nH * HD + 4u * d);
}
fn do_at(qbase: u32, ii: u32, row: u32, d: u32) -> vec4<f32> {
  if (STAGE) { return dOs[ii * H4 + d]; }
  return lddo(qbase + row * P.nH * HD + 4u * d);
}

@compute @workgroup_size(WG)
fn attention_backward_dkv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = P.T;
  let g = wid.y;
  let b = wid.z;
  let rep = P.nH / P.nKV;
  let j0 = wid.x * WG;
  let key = j0 + lid;
  let live = key < T;
  let krow = ((b * T + key) * P.nKV + g) * HD;

  var kr: array<vec4<f32>, MAX_H4>;
  var vr: array<vec4<f32>, MAX_H4>;
  var dka: array<vec4<f32>, MAX_H4>;
  var dva: array<vec4<f32>, MAX_H4>;
  if (live) {
    for (var d = 0u; d < H4; d++) {
      kr[d] = ldk(krow + 4u * d) * P.scale;
      vr[d] = ldv(krow + 4u * d);
      dka[d] = vec4<f32>(0.0);
      dva[d] = vec4<f32>(0.0);
    }
  }

  for (var r = 0u; r < rep; r++) {
    let h = g * rep + r;
    let qbase = (b * T * P.nH + h) * HD;
    let lbase = (b * P.nH + h) * T;
    // Causal: only query rows >= j0 see any of this workgroup's keys.
    for (var i0 = j0; i0 < T; i0 += KT) {
      if (STAGE) {
        for (var i = lid; i < KT * H4; i += WG) {
          let row = i0 + i / H4;
          var qx = vec4<f32>(0.0);
          var dx = vec4<f32>(0.0);
          if (row < T) {
            let src = qbase + row * P.nH * HD + 4u * (i % H4);
            qx = ldq(src);
            dx = lddo(src);
          }
          Qs[i] = qx;
          dOs[i] = dx;
        }
        workgroupBarrier();
      }
      if (live && key < i0 + KT) {
        let first = select(0u, key - i0, key > i0); // rows >= key
        let last = min(KT, T - i0);
        for (var ii = first; ii < last; ii++) {
          let row = i0 + ii;
          // Rows of a packed row's next example (their start is past this key), and all rows
          // after them, do not see this key.
          if (seg[b * T + row] > key) { break; }
          // Past the window: this and every later row no longer see the key.
          if (P.window > 0u && row >= key + P.window) { break; }
          var s4 = vec4<f32>(0.0);
          var dp4 = vec4<f32>(0.0);
          for (var d = 0u; d < H4; d++) {
            s4 += q_at(qbase, ii, row, d) * kr[d];
            dp4 += do_at(qbase, ii, row, d) * vr[d];
          }
          let p = exp(hsum(s4) - lse[lbase + row]);
          let ds = p * (hsum(dp4) - delta_in[lbase + row]);
          for (var d = 0u; d < H4; d++) {
            dva[d] += p * do_at(qbase, ii, row, d);
            dka[d] += ds * q_at(qbase, ii, row, d);
          }
        }
      }
      if (STAGE) {
        workgroupBarrier();
      }
    }
  }

  if (live) {
    for (var d = 0u; d < H4; d++) {
      let x = dka[d] * P.scale;
      let y = dva[d];
      let i = krow + 4u * d;
      dk[i] = x.x;
      dk[i + 1u] = x.y;
      dk[i + 2u] = x.z;
      dk[i + 3u] = x.w;
      dv[i] = y.x;
      dv[i + 1u] = y.y;
      dv[i + 2u] = y.z;
      dv[i + 3u] = y.w;
    }
  }
}
