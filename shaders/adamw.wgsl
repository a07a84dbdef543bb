// adamw.wgsl: one AdamW step over the flat LoRA buffer, exactly torch.optim.AdamW's
// _single_tensor_adamw (amsgrad off, no maximize) applied to the clipped gradient:
//   g = grad * clipCoef
//   lr = hyper.lr * lrScale[block]        (LoRA+: each 64-element block's own learning rate)
//   param *= 1 - lr * weight_decay
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   param -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
//
//   params, m, v f32 [n]   updated in place
//   grads        f32 [n]   read (left unscaled: clipping happens here, not in a pass of its own)
//   hyper        f32 [8]   [lr, beta1, beta2, eps, weight_decay, bc1, bc2, 1 - beta2], bc = 1 - beta^step,
//                          written by the CPU before each step (adamwHyper in kernels/adamw.ts).
//                          The last slot is 1 - beta2 rounded once from float64, as torch passes
//                          it to addcmul_; f32(1 - f32(0.999)) is 1.3e-5 off. 0 there means
//                          "compute it here in f32" (the layout's original reserved slot).
//   stats        f32 [4]   [norm, clipCoef, 0, 0], written on the GPU by gradnorm.wgsl
//   lrScale      f32 [ceil(n/64)]  learning-rate multiplier of each 64-element block (1 for LoRA A,
//                          loraplus_lr_ratio for B: PEFT's create_loraplus_optimizer puts B in a
//                          parameter group of its own at lr * ratio, same weight_decay; torch's
//                          decoupled decay then uses that group's lr too)
// A non-finite gradient norm skips the step (params, m and v keep their last finite values);
// the trainer reads the norm back and stops. torch would write NaNs; keeping the last good
// adapter is what lets the studio still export it.
//
// Bindings are array<vec4<f32>> of ceil(n/4) vectors (the launcher rounds them up to 16 bytes);
// one invocation per vector, and the last vector stores only its lanes below n.

struct Params {
  n: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m1: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> m2: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> hyper: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(7) var<storage, read_write> lrScale: array<f32>;

@compute @workgroup_size(WG)
fn adamw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= (P.n + 3u) / 4u) { return; }
  // Bit test rather than comparisons: shader compilers may assume floats are finite.
  if ((bitcast<u32>(stats[0]) & 0x7f800000u) == 0x7f800000u) { return; }
  let lr = hyper[0] * lrScale[i / 16u];
  let beta1 = hyper[1];
  let beta2 = hyper[2];
  let eps = hyper[3];
  let wd = hyper[4];
  let bc1 = hyper[5];
  let bc2 = hyper[6];
  let one_minus_beta2 = select(1.0 - beta2, hyper[7], hyper[7] != 0.0);
  let g = grads[i] * stats[1];
  let m = beta1 * m1[i] + (1.0 - beta1) * g;
  let v = beta2 * m2[i] + one_minus_beta2 * g * g;
  let denom = sqrt(v) / sqrt(bc2) + eps;
  let p = params[i] * (1.0 - lr * wd) - (lr / bc1) * (m / denom);
  let lanes = min(P.n - 4u * i, 4u);
  if (lanes == 4u) {
    params[i] = p;
    m1[i] = m;
    m2[i] = v;
  } else {
    for (var k = 0u; k < lanes; k++) {
      params[i][k] = p[k];
      m1[i][k] = m[k];
      m2[i][k] = v[k];
    }
  }
}
