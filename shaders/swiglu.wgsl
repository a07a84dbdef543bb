// swiglu.wgsl: the gated activation of the Llama MLP, h = silu(gate) * up, silu(x) = x * sigmoid(x);
// with ACT = 1, Gemma's GELU-tanh gate instead (transformers' gelu_pytorch_tanh):
//   h = gelu(gate) * up,  gelu(x) = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//   gelu'(x) = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),
//   both evaluated through sigmoid(2u) = 0.5 (1 + tanh(u)) (see gelu_s).
//
// swiglu_forward   out f32 [n]    gate f32 [n]   up f32 [n]
// swiglu_backward  dgate f32 [n]  dup f32 [n]    (both assigned)   dout, gate, up f32 [n]
//   dgate = dout * up * s * (1 + gate * (1 - s)),  dup = dout * gate * s,  s = sigmoid(gate)
//
// sigmoid is evaluated from exp(-|x|), which never overflows: for large |x| it is exactly 0 or 1,
// and gelu is x or 0 (no tanh, which overflows to NaN on some drivers).
// Bindings are array<vec4<f32>> of ceil(n/4) vectors (the launcher rounds them up to 16 bytes);
// one invocation per vector, and the last vector stores only its lanes below n.

struct Params {
  n: u32,
}

override WG: u32 = 256u;
override ACT: u32 = 0u; // 0: silu, 1: gelu_pytorch_tanh

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> f_out: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> f_gate: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> f_up: array<vec4<f32>>;

@group(0) @binding(1) var<storage, read_write> b_dgate: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> b_dup: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> b_dout: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> b_gate: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> b_up: array<vec4<f32>>;

fn sigmoid(x: vec4<f32>) -> vec4<f32> {
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  return select(e * r, r, x >= vec4<f32>(0.0));
}

const GELU_K = 0.7978845608028654; // sqrt(2/pi)
const GELU_C = 0.044715;

// gelu(x) = 0.5 x (1 + tanh(u)) = x sigmoid(2u): the sigmoid form keeps the negative tail's
// relative precision, where 1 + tanh(u) would cancel. x (1 + c x^2) keeps x^3 from overflowing
// before x itself is huge.
fn gelu_s(x: vec4<f32>) -> vec4<f32> {
  return sigmoid(2.0 * GELU_K * x * (1.0 + GELU_C * x * x));
}

fn act(x: vec4<f32>) -> vec4<f32> {
  if (ACT == 1u) { return x * gelu_s(x); }
  return x * sigmoid(x);
}

// d gelu / dx = s + 2 s (1 - s) x sqrt(2/pi) (1 + 3c x^2), s = sigmoid(2u). The second term
// vanishes where s saturates; select keeps 0 * inf out of it.
fn gelu_grad(x: vec4<f32>) -> vec4<f32> {
  let s = gelu_s(x);
  let w = s * (1.0 - s);
  let tail = 2.0 * w * x * GELU_K * (1.0 + 3.0 * GELU_C * x * x);
  return s + select(tail, vec4<f32>(0.0), w == vec4<f32>(0.0));
}

// Lanes of vector i that are below n (4 except for the last vector).
fn lanes(i: u32) -> u32 {
  return min(P.n - 4u * i, 4u);
}

@compute @workgroup_size(WG)
fn swiglu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= (P.n + 3u) / 4u) { return; }
  let g = f_gate[i];
  let h = act(g) * f_up[i];
  let m = lanes(i);
  if (m == 4u) {
    f_out[i] = h;
  } else {
    for (var k = 0u; k < m; k++) { f_out[i][k] = h[k]; }
  }
}

@compute @workgroup_size(WG)
fn swiglu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= (P.n + 3u) / 4u) { return; }
  let g = b_gate[i];
  let dy = b_dout[i];
  var dg: vec4<f32>;
  var du: vec4<f32>;
  if (ACT == 1u) {
    dg = dy * b_up[i] * gelu_grad(g);
    du = dy * act(g);
  } else {
    let s = sigmoid(g);
    dg = dy * b_up[i] * s * (1.0 + g * (1.0 - s));
    du = dy * g * s;
  }
  let m = lanes(i);
  if (m == 4u) {
    b_dgate[i] = dg;
    b_dup[i] = du;
  } else {
    for (var k = 0u; k < m; k++) {
      b_dgate[i][k] = dg[k];
      b_dup[i][k] = du[k];
    }
  }
}
