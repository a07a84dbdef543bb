// cross_entropy.wgsl: softmax cross-entropy over a vocabulary that arrives in chunks of logits
// (the LM head's product h W_chunk^T, kernels/lm_head.ts), so only [N, chunk] logits ever exist.
// The backward recomputes a chunk's logits and turns them in place into their gradient (ce_grad).
//
// ce_update, grid N workgroups (folded into y past 65535), one per row: folds the chunk's logits
// into the row's running (max, sum of exp) and picks the target's logit when the target falls in
// the chunk. On the last chunk it writes lse and the row's loss instead of the running state.
//   @1 stats:    f32 [N, 3]  running max, running sum of exp(x - max), target logit (scratch)
//   @2 row_loss: f32 [N]     (lse - logit[target]) * scale[0]; 0 where target is outside
//                            [0, V) (IGNORE_INDEX: no loss)    (written on the last chunk)
//   @3 lse:      f32 [N]     logsumexp over the whole vocabulary (written on the last chunk)
//   @4 logits:   f32 [N, cols] this chunk, vocabulary ids v0 .. v0 + cols - 1
//   @5 targets:  i32 [N]
//   @6 scale:    f32 [1]     read on the GPU: it changes every optimizer step
// Workgroup memory: 2 * WG * 4 bytes (512 B for WG = 64; WG a power of two); log2(WG) + 1
// barriers per row and chunk.
//
// ce_grad, one invocation per logit (flat, y folded): the chunk's logits, in place, become
// dloss/dlogit = (softmax - onehot(target)) * scale[0] = (exp(x - lse) - onehot) * scale[0];
// rows whose target is outside [0, V) (IGNORE_INDEX: no loss) get 0.
//   @1 g: f32 [N, cols] logits in, gradient out   @2 lse: f32 [N] (ce_update's)
//   @3 targets: i32 [N]   @4 scale: f32 [1]
//
// ce_loss_sum, one workgroup: acc[0] += sum of row_loss[0 .. N), the loss of the optimizer step
// accumulated over its micro-batches. Each invocation sums a strided slice, then wg_sum adds the
// slices (with subgroup operations where the device has them) in a fixed order, so a replay
// gives the same bits.
//   @1 acc: f32 [1]   ACCUMULATED   @2 row_loss: f32 [N]
//
// The launcher prepends a workgroup sum, which declares WG (kernels/launch.ts reduceSum): the
// plain wg_sum.wgsl for ce_update and ce_grad (they set WG and use only the declaration), the
// device's reduction for ce_loss_sum.

struct Params {
  N: u32,
  cols: u32,
  v0: u32,
  V: u32,
  first: u32,
  last: u32,
}

@group(0) @binding(0) var<uniform> P: Params;

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;

// ---- ce_update ------------------------------------------------------------------------------

@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> logits: array<f32>;
@group(0) @binding(5) var<storage, read_write> targets: array<i32>;
@group(0) @binding(6) var<storage, read_write> scale: array<f32>;

// A finite floor instead of -inf: exp(floor - m) is 0 and never NaN.
const NEG = -3.0e38;

// (m, s) of the union of two sets whose sums of exp are s_a (relative to m_a) and s_b (to m_b).
fn merge(ma: f32, sa: f32, mb: f32, sb: f32) -> vec2<f32> {
  let m = max(ma, mb);
  return vec2<f32>(m, sa * exp(ma - m) + sb * exp(mb - m));
}

@compute @workgroup_size(WG)
fn ce_update(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = wid.x + wid.y * nwg.x;
  if (n >= P.N) { return; } // uniform: the whole workgroup leaves
  let base = n * P.cols;
  var m = NEG;
  var s = 0.0;
  for (var j = lid; j < P.cols; j += WG) {
    let x = logits[base + j];
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s += exp(x - m);
    }
  }
  red_m[lid] = m;
  red_s[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      let r = merge(red_m[lid], red_s[lid], red_m[lid + stride], red_s[lid + stride]);
      red_m[lid] = r.x;
      red_s[lid] = r.y;
    }
    workgroupBarrier();
  }
  if (lid != 0u) { return; }

  var run = vec2<f32>(red_m[0], red_s[0]);
  var tl = 0.0;
  if (P.first == 0u) {
    run = merge(stats[3u * n], stats[3u * n + 1u], run.x, run.y);
    tl = stats[3u * n + 2u];
  }
  let t = targets[n];
  if (t >= i32(P.v0) && t < i32(P.v0 + P.cols)) {
    tl = logits[base + u32(t) - P.v0];
  }
  if (P.last != 0u) {
    let l = run.x + log(run.y);
    lse[n] = l;
    row_loss[n] = select(0.0, (l - tl) * scale[0], t >= 0 && u32(t) < P.V);
  } else {
    stats[3u * n] = run.x;
    stats[3u * n + 1u] = run.y;
    stats[3u * n + 2u] = tl;
  }
}

// ---- ce_grad --------------------------------------------------------------------------------

@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> g_lse: array<f32>;
@group(0) @binding(3) var<storage, read_write> g_targets: array<i32>;
@group(0) @binding(4) var<storage, read_write> g_scale: array<f32>;

@compute @workgroup_size(WG)
fn ce_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= P.N * P.cols) { return; }
  let n = i / P.cols;
  let t = g_targets[n];
  let counted = t >= 0 && u32(t) < P.V;
  let onehot = select(0.0, 1.0, counted && u32(t) == P.v0 + i % P.cols);
  g[i] = select(0.0, (exp(g[i] - g_lse[n]) - onehot) * g_scale[0], counted);
}

// ---- ce_loss_sum ----------------------------------------------------------------------------

@group(0) @binding(1) var<storage, read_write> acc: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss_in: array<f32>;

@compute @workgroup_size(WG)
fn ce_loss_sum(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < P.N; i += WG) {
    s += loss_in[i];
  }
  let total = wg_sum(lid, s);
  if (lid == 0u) {
    acc[0] += total;
  }
}
