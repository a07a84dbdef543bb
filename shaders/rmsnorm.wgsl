// rmsnorm.wgsl: RMSNorm as Hugging Face's LlamaRMSNorm (and Qwen2RMSNorm), computed in f32:
//   y = (x * rstd) * weight,  rstd = 1 / sqrt(mean(x^2) + eps)
// With W_OFFSET = 1 the weight is applied as (1 + weight), added in f32: Gemma3RMSNorm, whose
// weights are stored centred on zero (output * (1.0 + weight.float())).
//
// rmsnorm_forward   out  f32 [N, C]   rstd f32 [N] (cached for the backward)
//                   inp  f32 [N, C]   weight W_DTYPE [C] (frozen; dtype.wgsl)
// rmsnorm_backward  dinp f32 [N, C]   ACCUMULATED (+=): the input is the residual stream, whose
//                                     gradient sums over the branches that read it (llm.c's rule)
//                   dout f32 [N, C]   inp f32 [N, C]   weight W_DTYPE [C]   rstd f32 [N]
//   dinp += rstd * weight * dout - rstd^3 / C * x * sum_c(dout * weight * x)
// No weight gradient: the norm weight is frozen.
//
// One workgroup per row (rows fold into y past 65535); each invocation strides over the row and
// wg_sum.wgsl (prepended) reduces. f32 bindings are read_write because activations share arena
// buffers and WebGPU forbids read-only and writable use of one buffer in a dispatch.

struct Params {
  N: u32,
  C: u32,
  eps: f32,
}

override W_OFFSET: f32 = 0.0;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> f_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> f_rstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> f_inp: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<u32>;

@group(0) @binding(1) var<storage, read_write> b_dinp: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_inp: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_rstd: array<f32>;

fn w(c: u32) -> f32 {
  return W_OFFSET + w_widen(weight[w_word(c)], c);
}

@compute @workgroup_size(WG)
fn rmsnorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= P.N) { return; } // the whole workgroup leaves together
  let base = row * P.C;
  var ss = 0.0;
  for (var c = lid; c < P.C; c += WG) {
    let x = f_inp[base + c];
    ss += x * x;
  }
  let r = 1.0 / sqrt(wg_sum(lid, ss) / f32(P.C) + P.eps);
  if (lid == 0u) { f_rstd[row] = r; }
  for (var c = lid; c < P.C; c += WG) {
    f_out[base + c] = (f_inp[base + c] * r) * w(c);
  }
}

@compute @workgroup_size(WG)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= P.N) { return; }
  let base = row * P.C;
  var dot = 0.0;
  for (var c = lid; c < P.C; c += WG) {
    dot += b_dout[base + c] * w(c) * b_inp[base + c];
  }
  let total = wg_sum(lid, dot);
  let r = b_rstd[row];
  let k = r * r * r * total / f32(P.C);
  for (var c = lid; c < P.C; c += WG) {
    let i = base + c;
    b_dinp[i] += r * w(c) * b_dout[i] - k * b_inp[i];
  }
}
