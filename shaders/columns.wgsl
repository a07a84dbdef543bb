// columns.wgsl: a block of columns copied between two row-major matrices. It splits a fused
// projection's output into its parts (Phi-3's qkv_proj -> q, k, v; gate_up_proj -> gate, up) in
// the forward, and writes the parts' gradients back side by side in the backward, so the two
// directions are the same copy with source and destination swapped (no backward kernel).
//
// copy_columns   dst[n, dstOff + j] = src[n, srcOff + j]   for n < N, j < width
//   dst f32 [N, dstCols], src f32 [N, srcCols]; columns of dst outside the block are untouched.
//
// One invocation per copied element; y folds into the index past 65535 workgroups. Both
// bindings are read_write: activations share arena buffers.

struct Params {
  count: u32, // N * width
  width: u32,
  dstCols: u32,
  dstOff: u32,
  srcCols: u32,
  srcOff: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read_write> src: array<f32>;

@compute @workgroup_size(WG)
fn copy_columns(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let k = (wid.y * nwg.x + wid.x) * WG + lid;
  if (k >= P.count) { return; }
  let n = k / P.width;
  let j = k % P.width;
  dst[n * P.dstCols + P.dstOff + j] = src[n * P.srcCols + P.srcOff + j];
}
