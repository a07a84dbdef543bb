// rope_decode.wgsl: rotary embedding of a block of n consecutive tokens for generation with a KV
// cache, as HF's rotate_half. Row r of the block sits at position pos[0] + r; the start position is
// read from a storage buffer, not the uniform, so one recorded program serves every block (n = 1:
// one generated token; n > 1: a chunk of the prompt).
//   x [n, nH, hd] rotated in place; cos/sin [maxLen, rot/2]; pos [1] u32
// Only the first rot dims of each head rotate (Phi-3/4 partial rotary); rot = hd for Llama.
// Rows at positions >= maxLen (padding past the cache's end) read the last table row; their
// values are never used.

struct Params {
  n: u32,
  nH: u32,
  hd: u32,
  maxLen: u32,
  rot: u32, // rotated leading dims of each head (even, <= hd)
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> rx: array<f32>;
@group(0) @binding(2) var<storage, read_write> rcos: array<f32>;
@group(0) @binding(3) var<storage, read_write> rsin: array<f32>;
@group(0) @binding(4) var<storage, read_write> rpos: array<u32>;

@compute @workgroup_size(64)
fn rope_decode(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = P.rot / 2u;
  let i = gid.x; // over n * nH * half
  if (i >= P.n * P.nH * half) { return; }
  let head = i / half; // row * nH + h
  let d = i % half;
  let t = min(rpos[0] + head / P.nH, P.maxLen - 1u);
  let c = rcos[t * half + d];
  let s = rsin[t * half + d];
  let a = rx[head * P.hd + d];
  let b = rx[head * P.hd + d + half];
  rx[head * P.hd + d] = a * c - b * s;
  rx[head * P.hd + d + half] = b * c + a * s;
}
