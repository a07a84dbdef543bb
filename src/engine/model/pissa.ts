// PiSSA, as peft/tuners/lora/layer.py pissa_init does it, and the conversion of a trained PiSSA
// adapter into a plain LoRA that loads on the unchanged base model, as PeftModel.save_pretrained(
// path_initial_model_for_weight_conversion=...) does it (peft_model.py + LoraModel.subtract_mutated_init).
//
// Init, per adapted module with weight W [out, in], rank r and scaling s:
//   W = V diag(S) Uh (SVD; "pissa": exact, "pissa_niter_N": torch.svd_lowrank with N iterations)
//   A = diag(sqrt(S[:r] / s)) Uh[:r]          [r, in]
//   B = V[:, :r] diag(sqrt(S[:r] / s))        [out, r]
//   W_res = W - s * B @ A, stored in W's own dtype (PEFT: weight.to(dtype)), so the model starts as the base.
// Conversion after training (A, B the trained weights, A0, B0 the init):
//   W_res + s B A = W + s (B A - B0 A0) = W + s [B, -B0] [A; A0]
// so the exported adapter has lora_A = cat([A, A0], dim=0) [2r, in], lora_B = cat([B, -B0], dim=1)
// [out, 2r], with r (and rank_pattern's values) doubled and lora_alpha doubled (alpha_pattern's too;
// with use_rslora lora_alpha * sqrt(2)) so every scaling stays, and init_lora_weights true. PEFT
// refuses the conversion for use_rslora with rank_pattern/alpha_pattern, and so do we.
// The SVD runs on the CPU (model/svd.ts); the weights are read from and written back to the GPU.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { packHalf, unpackHalf } from '../../util/half';
import type { GpuWeights } from './gpu-weights';
import { LoraLayout, type LoraSlot, type LoraSpec } from './lora';
import { householderQr, lowRankSvd, topSvd } from './svd';

/** PiSSA and OLoRA replace the base weights by a residual: their adapters are converted on export. */
export function mutatesBase(init: LoraSpec['init_lora_weights']): boolean {
  return init === 'olora' || pissaIterations(init) !== null;
}

/**
 * OLoRA (peft LoraLayer.olora_init): W = Q R (torch.linalg.qr), B = Q[:, :r], A = R[:r], and the base
 * weight becomes W - scaling * B @ A. Fills A and B of `slot` into `flat`; returns the residual.
 */
export function oloraSlot(W: ArrayLike<number>, slot: LoraSlot, flat: Float32Array): Float64Array {
  const { outFeatures: m, inFeatures: n, r } = slot;
  const { Q, R } = householderQr(W, m, n);
  for (let k = 0; k < r; k++) {
    for (let j = 0; j < n; j++) flat[slot.offsetA + k * n + j] = R[k * n + j];
    for (let i = 0; i < m; i++) flat[slot.offsetB + i * r + k] = Q.data[k * m + i];
  }
  return residual(W, slot, flat);
}

/** W - s * B A from the f32 A and B of `slot` in `flat`, in f64. */
function residual(W: ArrayLike<number>, slot: LoraSlot, flat: Float32Array): Float64Array {
  const { outFeatures: m, inFeatures: n, r, scaling: s } = slot;
  const Af = flat.subarray(slot.offsetA, slot.offsetA + r * n);
  const Bf = flat.subarray(slot.offsetB, slot.offsetB + m * r);
  const res = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += Bf[i * r + k] * Af[k * n + j];
      res[i * n + j] = W[i * n + j] - s * d;
    }
  }
  return res;
}

/** "pissa" -> exact; "pissa_niter_N" -> N; anything else null. */
export function pissaIterations(init: LoraSpec['init_lora_weights']): 'exact' | number | null {
  if (init === 'pissa') return 'exact';
  const m = typeof init === 'string' ? /^pissa_niter_(\d+)$/.exec(init) : null;
  return m ? Number(m[1]) : null;
}

/**
 * A and B of one slot into `flat`, and W_res (f64-accurate, rounded by the caller) returned.
 * W is row-major [out, in].
 */
export function pissaSlot(W: ArrayLike<number>, slot: LoraSlot, flat: Float32Array, how: 'exact' | number, seed = 0) {
  const { outFeatures: m, inFeatures: n, r, scaling: s } = slot;
  const svd = how === 'exact' ? topSvd(W, m, n, r, seed) : lowRankSvd(W, m, n, r, how, seed);
  const A = new Float64Array(r * n);
  const B = new Float64Array(m * r);
  for (let k = 0; k < r; k++) {
    const g = Math.sqrt(svd.S[k] / s);
    for (let j = 0; j < n; j++) A[k * n + j] = g * svd.V.data[k * n + j];
    for (let i = 0; i < m; i++) B[i * r + k] = g * svd.U.data[k * m + i];
  }
  flat.set(A, slot.offsetA);
  flat.set(B, slot.offsetB);
  // W_res = W - s * B A, from the f32-rounded A and B that training starts from
  return residual(W, slot, flat);
}

/** A weight tensor's values (f32, f16 or bf16 on the GPU). */
async function readWeight(ctx: GpuContext, t: Tensor, count: number): Promise<Float32Array> {
  const bytes = await ctx.read(t);
  if (t.dtype === 'f32') return new Float32Array(bytes, 0, count).slice();
  if (t.dtype === 'f16' || t.dtype === 'bf16') return unpackHalf(new Uint16Array(bytes), t.dtype, count);
  throw new Error(
    `PiSSA needs the base weights in f32, f16 or bf16, not ${t.dtype} (PEFT likewise: initialise under 16/32 bits, then quantize the residual)`,
  );
}

/**
 * PiSSA's init for every slot of `layout`: replaces each adapted weight on the GPU by its residual
 * (in the weight's dtype) and returns the flat LoRA buffer to train from. `onSlot` reports progress.
 */
export async function applyPissa(
  ctx: GpuContext,
  weights: GpuWeights,
  layout: LoraLayout,
  seed = 0,
  onSlot?: (done: number, total: number) => void,
): Promise<Float32Array> {
  const init = layout.spec.init_lora_weights;
  const how = pissaIterations(init);
  if (how === null && init !== 'olora') throw new Error(`applyPissa: init_lora_weights is ${JSON.stringify(init)}`);
  if (weights.nf4) {
    throw new Error(
      'init_lora_weights "pissa"/"olora" needs the base weights unquantized (load_in_4bit off), as in PEFT: the residual is what gets quantized',
    );
  }
  const flat = new Float32Array(layout.size);
  for (const [i, slot] of layout.slots.entries()) {
    const t = weights.layers[slot.layer].linear[slot.module];
    const W = await readWeight(ctx, t, slot.outFeatures * slot.inFeatures);
    const res = how === null ? oloraSlot(W, slot, flat) : pissaSlot(W, slot, flat, how, seed + i);
    ctx.upload(t, t.dtype === 'f32' ? Float32Array.from(res) : packHalf(res, t.dtype as 'f16' | 'bf16'));
    onSlot?.(i + 1, layout.slots.length);
  }
  return flat;
}

/** The spec PEFT writes for a converted PiSSA adapter (rank and alpha doubled, init true). */
export function convertedSpec(spec: LoraSpec): LoraSpec {
  if (
    spec.use_rslora &&
    (Object.keys(spec.rank_pattern ?? {}).length || Object.keys(spec.alpha_pattern ?? {}).length)
  ) {
    throw new Error(
      'converting a PiSSA adapter is not supported with use_rslora together with rank_pattern or alpha_pattern (as in PEFT)',
    );
  }
  const double = (o: Record<string, number> | undefined) =>
    o && Object.keys(o).length ? Object.fromEntries(Object.entries(o).map(([k, v]) => [k, 2 * v])) : o;
  return {
    ...spec,
    r: 2 * spec.r,
    lora_alpha: spec.use_rslora ? spec.lora_alpha * 2 ** 0.5 : spec.lora_alpha * 2,
    rank_pattern: double(spec.rank_pattern),
    alpha_pattern: double(spec.alpha_pattern),
    init_lora_weights: true,
  };
}

/**
 * The trained PiSSA adapter `flat` (init `initial`) as a plain LoRA for the original base model:
 * lora_A = [A; A0], lora_B = [B, -B0] per slot, in the layout of convertedSpec.
 */
export function pissaToLora(
  layout: LoraLayout,
  flat: Float32Array,
  initial: Float32Array,
): { layout: LoraLayout; flat: Float32Array } {
  const out = new LoraLayout(layout.config, convertedSpec(layout.spec));
  const res = new Float32Array(out.size);
  layout.slots.forEach((s, i) => {
    const d = out.slots[i];
    if (d.layer !== s.layer || d.module !== s.module || d.r !== 2 * s.r)
      throw new Error(`pissaToLora: slot ${s.keyA} does not map onto a rank-${2 * s.r} slot`);
    const { r, inFeatures: n, outFeatures: m } = s;
    res.set(flat.subarray(s.offsetA, s.offsetA + r * n), d.offsetA);
    res.set(initial.subarray(s.offsetA, s.offsetA + r * n), d.offsetA + r * n);
    for (let o = 0; o < m; o++) {
      for (let k = 0; k < r; k++) {
        res[d.offsetB + o * 2 * r + k] = flat[s.offsetB + o * r + k];
        res[d.offsetB + o * 2 * r + r + k] = -initial[s.offsetB + o * r + k];
      }
    }
  });
  return { layout: out, flat: res };
}
