// LoRA adapter layout. All LoRA parameters of a model live in ONE flat f32 buffer (and so do
// their gradients and AdamW moments), so that clipping, the optimizer and checkpoints are single
// dispatches and single copies. This file decides where each A and B matrix sits in that buffer
// and what PEFT calls it.
//
// PEFT's conventions (peft/tuners/lora/layer.py): lora_A.weight is [r, in_features], lora_B.weight
// is [out_features, r]; y = x W^T + scaling * (dropout(x) A^T) B^T with scaling = alpha / r, or
// alpha / sqrt(r) with use_rslora; A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)),
// B = 0. Key names for a causal LM: base_model.model.model.layers.{i}.{self_attn|mlp}.{m}.lora_{A|B}.weight
//
// DoRA (use_dora): one more vector per site, the magnitude m [out_features], in the same flat
// buffer (PEFT trains it in the same optimizer group, weight decay included), saved as
// ...{m}.lora_magnitude_vector (no ".weight": LoraModel._get_adapter_state_dict strips it). Its
// initial value is ||W + s B A||_row, which needs the frozen weights: the trainer computes it on
// the GPU (Linear.initDoraMagnitude); init() leaves it 0.

import { LINEAR_MODULES, type LinearModule, type ModelConfig, linearPrefix, linearShape } from './config';
import { Rng } from '../../util/rng';

export interface LoraSpec {
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: LinearModule[];
  use_rslora: boolean;
  /** DoRA: a trained magnitude per output feature (PEFT's use_dora). */
  use_dora?: boolean;
}

export interface LoraSlot {
  layer: number;
  module: LinearModule;
  inFeatures: number;
  outFeatures: number;
  /** Element offsets into the flat parameter buffer (multiples of ALIGN_ELEMS). */
  offsetA: number;
  offsetB: number;
  keyA: string;
  keyB: string;
  /** DoRA only: the magnitude vector's offset and PEFT key. */
  offsetM?: number;
  keyM?: string;
}

/** 64 f32 = 256 bytes: the storage-buffer offset alignment WebGPU guarantees to accept. */
export const ALIGN_ELEMS = 64;

export function loraScaling(s: LoraSpec): number {
  return s.use_rslora ? s.lora_alpha / Math.sqrt(s.r) : s.lora_alpha / s.r;
}

export function peftKey(layer: number, m: LinearModule, ab: 'A' | 'B'): string {
  return `base_model.model.model.layers.${layer}.${linearPrefix(m)}.${m}.lora_${ab}.weight`;
}

export function peftMagnitudeKey(layer: number, m: LinearModule): string {
  return `base_model.model.model.layers.${layer}.${linearPrefix(m)}.${m}.lora_magnitude_vector`;
}

export class LoraLayout {
  readonly slots: LoraSlot[] = [];
  /** Total elements of the flat buffer, padding included. */
  readonly size: number;
  /** Elements that are real parameters (the PEFT "trainable params"). */
  readonly paramCount: number;
  readonly scaling: number;

  constructor(
    readonly config: ModelConfig,
    readonly spec: LoraSpec,
  ) {
    if (!Number.isInteger(spec.r) || spec.r < 1)
      throw new Error(`LoRA rank r must be a positive integer (got ${spec.r})`);
    for (const m of spec.target_modules) {
      if (!LINEAR_MODULES.includes(m))
        throw new Error(`target_modules: "${m}" is not one of ${LINEAR_MODULES.join(', ')}`);
    }
    let off = 0;
    let count = 0;
    const take = (n: number) => {
      const o = off;
      off += Math.ceil(n / ALIGN_ELEMS) * ALIGN_ELEMS;
      count += n;
      return o;
    };
    const targets = LINEAR_MODULES.filter((m) => spec.target_modules.includes(m)); // canonical order
    for (let layer = 0; layer < config.numLayers; layer++) {
      for (const module of targets) {
        const [outFeatures, inFeatures] = linearShape(config, module);
        const offsetA = take(spec.r * inFeatures);
        const offsetB = take(outFeatures * spec.r);
        const dora = spec.use_dora ? { offsetM: take(outFeatures), keyM: peftMagnitudeKey(layer, module) } : {};
        this.slots.push({
          ...dora,
          layer,
          module,
          inFeatures,
          outFeatures,
          offsetA,
          offsetB,
          keyA: peftKey(layer, module, 'A'),
          keyB: peftKey(layer, module, 'B'),
        });
      }
    }
    this.size = Math.max(off, ALIGN_ELEMS);
    this.paramCount = count;
    this.scaling = loraScaling(spec);
  }

  slot(layer: number, module: LinearModule): LoraSlot | undefined {
    return this.slots.find((s) => s.layer === layer && s.module === module);
  }

  /** PEFT's initialisation from a seed: A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0. */
  init(seed: number): Float32Array {
    const flat = new Float32Array(this.size);
    const rng = new Rng(seed);
    for (const s of this.slots) {
      const bound = 1 / Math.sqrt(s.inFeatures);
      for (let i = 0; i < this.spec.r * s.inFeatures; i++) flat[s.offsetA + i] = rng.uniform(-bound, bound);
    }
    return flat;
  }

  /** The adapter as PEFT-named tensors (copies out of the flat buffer). */
  toTensors(flat: Float32Array): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const s of this.slots) {
      const r = this.spec.r;
      out.set(s.keyA, { shape: [r, s.inFeatures], data: flat.slice(s.offsetA, s.offsetA + r * s.inFeatures) });
      out.set(s.keyB, { shape: [s.outFeatures, r], data: flat.slice(s.offsetB, s.offsetB + s.outFeatures * r) });
      if (s.keyM !== undefined && s.offsetM !== undefined) {
        out.set(s.keyM, { shape: [s.outFeatures], data: flat.slice(s.offsetM, s.offsetM + s.outFeatures) });
      }
    }
    return out;
  }

  /** The flat buffer from PEFT-named tensors; every slot must be present with PEFT's shape. */
  fromTensors(tensors: Map<string, { shape: readonly number[]; data: Float32Array }>): Float32Array {
    const flat = new Float32Array(this.size);
    for (const s of this.slots) {
      for (const [key, off, shape] of [
        [s.keyA, s.offsetA, [this.spec.r, s.inFeatures]],
        [s.keyB, s.offsetB, [s.outFeatures, this.spec.r]],
      ] as const) {
        const t = tensors.get(key);
        if (!t) throw new Error(`adapter is missing tensor ${key}`);
        if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
          throw new Error(`adapter tensor ${key} has shape [${t.shape}], expected [${shape}]`);
        }
        flat.set(t.data, off);
      }
      if (s.keyM !== undefined && s.offsetM !== undefined) {
        const t = tensors.get(s.keyM);
        if (!t) throw new Error(`adapter is missing tensor ${s.keyM} (use_dora is true in its config)`);
        if (t.shape.length !== 1 || t.shape[0] !== s.outFeatures) {
          throw new Error(`adapter tensor ${s.keyM} has shape [${t.shape}], expected [${s.outFeatures}]`);
        }
        flat.set(t.data, s.offsetM);
      }
    }
    return flat;
  }
}
