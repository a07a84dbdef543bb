// attention_decode_rows.wgsl: what attention_decode.wgsl computes, a block of n consecutive query
// tokens against the KV cache, with one invocation per (row, query head) and no barriers:
//   out[r, h, :] = softmax(q[r, h] . K[0..p]^T / sqrt(HD)) V[0..p],  p = pos[0] + r
//   q, out [n, nH*HD]; kc, vc [maxLen, nKV*HD]; pos [1] u32 (the block's start, read on the GPU)
// Invocation i = r * nH + h (flat, groups of 64) reads kv head h / (nH/nKV) and runs an online
// softmax over the keys 0..p, q and the output accumulator in registers (H4 = HD/4 vec4s each,
// HD a multiple of 4 up to 256, an override so the loops have constant bounds). Positions past
// maxLen (padding) are clamped to the last one. For the prompt's chunks (n*nH invocations keep a
// GPU busy) and for every block on CPU drivers, where workgroup barriers cost more than the
// arithmetic: on SwiftShader (demo shape, the 128-token chunk at positions 472-599, 4 layers)
// attention_decode.wgsl took 6.5 s, 0.9 of the chunk's time; this kernel 0.41 s.
// Gemma 3: P.scale and P.window as attention_decode.wgsl; HD up to 256.

struct Params {
  n: u32,
  nH: u32,
  nKV: u32,
  hd: u32,
  maxLen: u32,
  scale: f32,
  window: u32, // 0: none
}

// MAX_H4 (the register bound, MAX_HD / 4): head_dim_128.wgsl or head_dim_256.wgsl, prepended.
override H4: u32 = 16u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> q: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> kc: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> vc: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> pos: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x; // row * nH + h
  if (i >= P.n * P.nH) { return; }
  let row = i / P.nH;
  let h = i % P.nH;
  let kvh = h / (P.nH / P.nKV);
  let width4 = P.nKV * H4;
  let n = min(pos[0] + row, P.maxLen - 1u) + 1u; // keys 0..p
  let j0 = select(0u, n - P.window, P.window > 0u && n > P.window); // sliding: keys > p - window
  let scale = P.scale;
  var qr: array<vec4<f32>, MAX_H4>;
  var acc: array<vec4<f32>, MAX_H4>;
  for (var d = 0u; d < H4; d++) {
    qr[d] = q[i * H4 + d] * scale;
    acc[d] = vec4<f32>(0.0);
  }
  var m = -3.4e38;
  var l = 0.0;
  for (var j = j0; j < n; j++) {
    let ko = j * width4 + kvh * H4;
    var s = 0.0;
    for (var d = 0u; d < H4; d++) { s += dot(qr[d], kc[ko + d]); }
    let mNew = max(m, s);
    let corr = exp(m - mNew);
    let e = exp(s - mNew);
    l = l * corr + e;
    for (var d = 0u; d < H4; d++) { acc[d] = acc[d] * corr + e * vc[ko + d]; }
    m = mNew;
  }
  let inv = 1.0 / l;
  for (var d = 0u; d < H4; d++) { out[i * H4 + d] = acc[d] * inv; }
}
