// dora.wgsl: the DoRA terms of a linear layer (PEFT's DoraLinearLayer, peft/tuners/lora/dora.py),
// forward beside backward. With g = m / ||W + s B A||_row, PEFT computes
//   y = x W^T + b + (g - 1) * (xl W^T) + g * s * (xl A^T) B^T,  xl = dropout(x) (x without dropout)
// and treats the norm as a constant in the backward ("weight_norm.detach()"). The linear layer
// (model/linear.ts) computes z = xl W^T + s (xl A^T) B^T with the matmul's LoRA epilogue; these
// kernels add the magnitude terms around it:
//   dora_norm      norm f32 [out] = ||W[j, :] + s * (B A)[j, :]||_2, one workgroup per row j
//                  W: W_DTYPE [out, in] as array<u32> (nf4: codes, then one f32 absmax per 64
//                  elements from word P.w_scale), A f32 [r, in], B f32 [out, r]
//   dora_forward   y f32 [N, out] += (m[j] / norm[j] - 1) * z[n, j]       m, norm f32 [out]
//   dora_backward  gdy f32 [N, out] = (m[j] / norm[j]) * dy[n, j]        (assigned)
//                  dm f32 [out] += sum_n dy[n, j] * z[n, j] / norm[j]     (accumulated, in n order)
// dora_backward is one invocation per column j looping over the N rows (neighbouring invocations
// read neighbouring columns), so the sum over n has a fixed order. Prepend dtype.wgsl, and for
// dora_norm the workgroup sum (wg_sum.wgsl or wg_sum_subgroups.wgsl), which declares WG.

struct Params {
  N: u32,
  outF: u32,
  inF: u32,
  r: u32,
  scale: f32,
  w_scale: u32, // nf4: word index of the first absmax in W
}

@group(0) @binding(0) var<uniform> P: Params;

// dora_norm
@group(0) @binding(1) var<storage, read_write> n_norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> n_W: array<u32>;
@group(0) @binding(3) var<storage, read_write> n_A: array<f32>;
@group(0) @binding(4) var<storage, read_write> n_B: array<f32>;

fn load_w(i: u32) -> f32 {
  if (W_DTYPE == 3u) {
    return nf4_level(n_W[i >> 3u], i) * bitcast<f32>(n_W[P.w_scale + (i >> 6u)]);
  }
  return w_widen(n_W[w_word(i)], i);
}

@compute @workgroup_size(WG)
fn dora_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let j = wid.y * nwg.x + wid.x; // uniform over the workgroup
  if (j >= P.outF) { return; }
  var ss = 0.0;
  for (var k = lid; k < P.inF; k += WG) {
    var ba = 0.0;
    for (var q = 0u; q < P.r; q++) { ba += n_B[j * P.r + q] * n_A[q * P.inF + k]; }
    let w = load_w(j * P.inF + k) + P.scale * ba;
    ss += w * w;
  }
  let total = wg_sum(lid, ss);
  if (lid == 0u) { n_norm[j] = sqrt(total); }
}

// dora_forward
@group(0) @binding(1) var<storage, read_write> f_y: array<f32>;
@group(0) @binding(2) var<storage, read_write> f_z: array<f32>;
@group(0) @binding(3) var<storage, read_write> f_m: array<f32>;
@group(0) @binding(4) var<storage, read_write> f_norm: array<f32>;

override FWG: u32 = 256u;

@compute @workgroup_size(FWG)
fn dora_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * FWG + gid.x;
  if (i >= P.N * P.outF) { return; }
  let j = i % P.outF;
  f_y[i] += (f_m[j] / f_norm[j] - 1.0) * f_z[i];
}

// dora_backward
@group(0) @binding(1) var<storage, read_write> b_gdy: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_dm: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> b_z: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_m: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_norm: array<f32>;

@compute @workgroup_size(64)
fn dora_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.y * nwg.x * 64u + gid.x;
  if (j >= P.outF) { return; }
  let norm = b_norm[j];
  let g = b_m[j] / norm;
  var acc = 0.0;
  for (var n = 0u; n < P.N; n++) {
    let i = n * P.outF + j;
    let d = b_dy[i];
    b_gdy[i] = g * d;
    acc += d * b_z[i];
  }
  b_dm[j] += acc / norm;
}
