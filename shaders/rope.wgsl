// rope.wgsl: rotary position embedding as Hugging Face's apply_rotary_pos_emb with rotate_half
// (the half-split layout: dimension d pairs with d + rot/2, not with d + 1), in place. Only the
// first rot dimensions of each head rotate (partial rotary, Phi-3/4: rot = int(hd * factor));
// dimensions rot..hd pass through untouched. rot = hd for the Llama family.
//
// rope_forward   x  f32 [B*T, nH, hd]   position t = row % T - seg[row]
//   for d < rot/2:  y[d]         = x[d] * cos[t, d] - x[d + rot/2] * sin[t, d]
//                   y[d + rot/2] = x[d + rot/2] * cos[t, d] + x[d] * sin[t, d]
// rope_backward  dx f32 [B*T, nH, hd]   the transpose, a rotation by -theta, in place (also when
//                the tables carry LongRoPE's attention factor: cos and sin scale alike)
//   cos, sin f32 [T, rot/2]  (src/engine/kernels/rope.ts builds them as transformers does)
//   seg      u32 [B*T]       where each token's example starts in its row: positions restart at 0
//                            for every example of a packed row (zeros: position = row % T)
//
// One invocation per (row, head, d < rot/2) pair; y folds into the index past 65535 workgroups.
// The tables are read_write only so they may share an arena buffer with activations.

struct Params {
  pairs: u32, // B*T * nH * rot/2
  T: u32,
  nH: u32,
  hd: u32,
  rot: u32, // rotated leading dimensions of each head (even, <= hd)
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> cos_t: array<f32>;
@group(0) @binding(3) var<storage, read_write> sin_t: array<f32>;
@group(0) @binding(4) var<storage, read_write> seg: array<u32>;

fn rotate(k: u32, sign: f32) {
  let half = P.rot / 2u;
  let head = k / half; // row * nH + h
  let d = k % half;
  let row = head / P.nH;
  let t = row % P.T - seg[row];
  let c = cos_t[t * half + d];
  let s = sign * sin_t[t * half + d];
  let i = head * P.hd + d;
  let x0 = x[i];
  let x1 = x[i + half];
  x[i] = x0 * c - x1 * s;
  x[i + half] = x1 * c + x0 * s;
}

@compute @workgroup_size(WG)
fn rope_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let k = (wid.y * nwg.x + wid.x) * WG + lid;
  if (k < P.pairs) { rotate(k, 1.0); }
}

@compute @workgroup_size(WG)
fn rope_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let k = (wid.y * nwg.x + wid.x) * WG + lid;
  if (k < P.pairs) { rotate(k, -1.0); }
}
