// LoRA adapter layout. All LoRA parameters of a model live in ONE flat f32 buffer (and so do
// their gradients and AdamW moments), so that clipping, the optimizer and checkpoints are single
// dispatches and single copies. This file decides where each A and B matrix sits in that buffer
// and what PEFT calls it.
//
// PEFT's conventions (peft/tuners/lora/layer.py): lora_A.weight is [r, in_features], lora_B.weight
// is [out_features, r]; y = x W^T + scaling * (dropout(x) A^T) B^T with scaling = alpha / r, or
// alpha / sqrt(r) with use_rslora; A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)),
// B = 0. Key names for a causal LM: base_model.model.model.layers.{i}.{self_attn|mlp}.{m}.lora_{A|B}.weight
// The modules are the family's (config.ts linearModules): Phi-3's fused qkv_proj and gate_up_proj
// carry one A [r, C] and one B [fused out, r] each, as PEFT wraps those nn.Linear layers.

import { type LinearModule, type ModelConfig, linearModules, linearPrefix, linearShape } from './config';
import { Rng } from '../../util/rng';

export interface LoraSpec {
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: LinearModule[];
  use_rslora: boolean;
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
}

/** 64 f32 = 256 bytes: the storage-buffer offset alignment WebGPU guarantees to accept. */
export const ALIGN_ELEMS = 64;

export function loraScaling(s: LoraSpec): number {
  return s.use_rslora ? s.lora_alpha / Math.sqrt(s.r) : s.lora_alpha / s.r;
}

export function peftKey(layer: number, m: LinearModule, ab: 'A' | 'B'): string {
  return `base_model.model.model.layers.${layer}.${linearPrefix(m)}.${m}.lora_${ab}.weight`;
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
    const modules = linearModules(config);
    for (const m of spec.target_modules) {
      if (!modules.includes(m))
        throw new Error(
          `target_modules: "${m}" is not one of ${config.modelType}'s linear modules ${modules.join(', ')}`,
        );
    }
    let off = 0;
    let count = 0;
    const take = (n: number) => {
      const o = off;
      off += Math.ceil(n / ALIGN_ELEMS) * ALIGN_ELEMS;
      count += n;
      return o;
    };
    const targets = modules.filter((m) => spec.target_modules.includes(m)); // canonical order
    for (let layer = 0; layer < config.numLayers; layer++) {
      for (const module of targets) {
        const [outFeatures, inFeatures] = linearShape(config, module);
        const offsetA = take(spec.r * inFeatures);
        const offsetB = take(outFeatures * spec.r);
        this.slots.push({
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
  toTensors(flat: Float32Array): Map<string, { shape: [number, number]; data: Float32Array }> {
    const out = new Map<string, { shape: [number, number]; data: Float32Array }>();
    for (const s of this.slots) {
      const r = this.spec.r;
      out.set(s.keyA, { shape: [r, s.inFeatures], data: flat.slice(s.offsetA, s.offsetA + r * s.inFeatures) });
      out.set(s.keyB, { shape: [s.outFeatures, r], data: flat.slice(s.offsetB, s.offsetB + s.outFeatures * r) });
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
    }
    return flat;
  }
}
