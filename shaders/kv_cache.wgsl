// kv_cache.wgsl: kv_write: the keys and values of a block of n consecutive tokens into the cache,
// kc[pos + r, :] = k[r, :], vc[pos + r, :] = v[r, :], with pos = pos[0] read on the GPU.
//   k, v [n, nKV*hd]; kc, vc [maxLen, nKV*hd]; pos [1] u32
// Rows past the cache's end (padding of the prompt's last chunk) are not written.

struct Params {
  n: u32,
  width: u32,
  maxLen: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> kc: array<f32>;
@group(0) @binding(2) var<storage, read_write> vc: array<f32>;
@group(0) @binding(3) var<storage, read_write> k: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> pos: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x; // over n * width
  if (i >= P.n * P.width) { return; }
  let r = i / P.width;
  let t = pos[0] + r;
  if (t >= P.maxLen) { return; }
  let j = t * P.width + i % P.width;
  kc[j] = k[i];
  vc[j] = v[i];
}
