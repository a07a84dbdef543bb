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
// Targeting follows peft/tuners/tuners_utils.py check_target_module_exists on the module's full
// name in the base model ("model.layers.3.self_attn.q_proj"): a target_modules list matches a name
// equal to an entry or ending in "." + entry, and then layers_to_transform keeps only the layers
// listed (the layer index is the first number between dots, re.match(r".*?\.[^.]*\.(\d+)\.")); a
// target_modules string is a regular expression that must match the WHOLE name (re.fullmatch) and
// layers_to_transform does not apply to it. rank_pattern / alpha_pattern give some modules their
// own r / lora_alpha (peft/utils/other.py get_pattern_key: the first key, in the dict's order, with
// re.match(rf"(.*\.)?({key})$", name)), so every slot carries its own r and scaling.
//
// DoRA (use_dora): one more vector per site, the magnitude m [out_features], in the same flat
// buffer (PEFT trains it in the same optimizer group, weight decay included), saved as
// ...{m}.lora_magnitude_vector (no ".weight": LoraModel._get_adapter_state_dict strips it). Its
// initial value is ||W + s B A||_row, which needs the frozen weights: the trainer computes it on
// the GPU (Linear.initDoraMagnitude); init() leaves it 0.
// The modules are the family's (config.ts linearModules): Phi-3's fused qkv_proj and gate_up_proj
// carry one A [r, C] and one B [fused out, r] each, as PEFT wraps those nn.Linear layers.

import { type LinearModule, type ModelConfig, linearModules, linearPrefix, linearShape } from './config';
import { Rng } from '../../util/rng';

/** PEFT's init_lora_weights values the engine implements (pissa_niter_N: N subspace iterations). */
export type InitLoraWeights = boolean | 'gaussian' | 'pissa' | `pissa_niter_${number}` | 'olora';

export interface LoraSpec {
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  /** The module kinds of the list form of target_modules (ignored when target_regex is set). */
  target_modules: LinearModule[];
  use_rslora: boolean;
  /** target_modules given as a string: a regex that must match a module's whole name. */
  target_regex?: string | null;
  /** Only these decoder layers get adapters (list form of target_modules only, as in PEFT). */
  layers_to_transform?: number | number[] | null;
  /** {pattern: r} for modules whose name ends in a match of the pattern. */
  rank_pattern?: Record<string, number>;
  /** {pattern: lora_alpha}, matched as rank_pattern. */
  alpha_pattern?: Record<string, number>;
  /** How A and B start (default true: Kaiming-uniform A, zero B). */
  init_lora_weights?: InitLoraWeights;
  /** LoRA+ (not a LoraConfig field: peft's create_loraplus_optimizer): B learns at lr * this (default 1). */
  loraplus_lr_ratio?: number;
  /** DoRA: a trained magnitude per output feature (PEFT's use_dora). */
  use_dora?: boolean;
}

export interface LoraSlot {
  layer: number;
  module: LinearModule;
  inFeatures: number;
  outFeatures: number;
  /** This slot's rank (r, or its rank_pattern entry) and scaling (from its lora_alpha / alpha_pattern). */
  r: number;
  scaling: number;
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

export function loraScaling(s: Pick<LoraSpec, 'r' | 'lora_alpha' | 'use_rslora'>): number {
  return s.use_rslora ? s.lora_alpha / Math.sqrt(s.r) : s.lora_alpha / s.r;
}

/** The module's full name in the base model, the string PEFT's targeting rules match. */
export function moduleName(layer: number, m: LinearModule): string {
  return `model.layers.${layer}.${linearPrefix(m)}.${m}`;
}

/** A Python regular expression as a JavaScript one (the common syntax; named groups and flags differ). */
function pyRegex(pattern: string, what: string, anchored: string): RegExp {
  try {
    const js = pattern.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>');
    return new RegExp(anchored.replace('$P', () => js));
  } catch (e) {
    throw new Error(`${what}: "${pattern}" is not a valid regular expression (${(e as Error).message})`, { cause: e });
  }
}

/** PEFT's check_target_module_exists for one decoder linear module. */
export function isTargeted(spec: LoraSpec, layer: number, m: LinearModule): boolean {
  const name = moduleName(layer, m);
  if (spec.target_regex != null) return pyRegex(spec.target_regex, 'target_modules', '^(?:$P)$').test(name);
  if (!spec.target_modules.includes(m)) return false;
  const lt = spec.layers_to_transform;
  if (lt == null || (Array.isArray(lt) && lt.length === 0)) return true;
  return Array.isArray(lt) ? lt.includes(layer) : lt === layer;
}

/** PEFT's get_pattern_key: the first pattern whose match ends the name (preceded by a dot or nothing). */
export function patternKey(patterns: Record<string, number> | undefined, name: string): string | undefined {
  for (const key of Object.keys(patterns ?? {})) {
    if (pyRegex(key, 'rank_pattern/alpha_pattern key', '^(.*\\.)?($P)$').test(name)) return key;
  }
  return undefined;
}

/** r and lora_alpha of one module after rank_pattern / alpha_pattern. */
export function slotRankAlpha(spec: LoraSpec, layer: number, m: LinearModule): { r: number; alpha: number } {
  const name = moduleName(layer, m);
  const rk = patternKey(spec.rank_pattern, name);
  const ak = patternKey(spec.alpha_pattern, name);
  return { r: rk ? spec.rank_pattern![rk] : spec.r, alpha: ak ? spec.alpha_pattern![ak] : spec.lora_alpha };
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
  /** The scaling of a module without a rank_pattern / alpha_pattern entry (slots carry their own). */
  readonly scaling: number;
  /** The largest slot rank (sizes the shared scratch). */
  readonly maxR: number;

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
    for (const [field, pat] of [
      ['rank_pattern', spec.rank_pattern],
      ['alpha_pattern', spec.alpha_pattern],
    ] as const) {
      for (const [k, v] of Object.entries(pat ?? {})) {
        const ok = field === 'rank_pattern' ? Number.isInteger(v) && v >= 1 : Number.isFinite(v) && v > 0;
        if (!ok)
          throw new Error(
            `${field}["${k}"] must be a positive ${field === 'rank_pattern' ? 'integer' : 'number'} (got ${v})`,
          );
      }
    }
    let off = 0;
    let count = 0;
    const take = (n: number) => {
      const o = off;
      off += Math.ceil(n / ALIGN_ELEMS) * ALIGN_ELEMS;
      count += n;
      return o;
    };
    for (let layer = 0; layer < config.numLayers; layer++) {
      for (const module of modules) {
        if (!isTargeted(spec, layer, module)) continue; // canonical order
        const [outFeatures, inFeatures] = linearShape(config, module);
        const { r, alpha } = slotRankAlpha(spec, layer, module);
        const offsetA = take(r * inFeatures);
        const offsetB = take(outFeatures * r);
        const dora = spec.use_dora ? { offsetM: take(outFeatures), keyM: peftMagnitudeKey(layer, module) } : {};
        this.slots.push({
          ...dora,
          layer,
          module,
          inFeatures,
          outFeatures,
          r,
          scaling: loraScaling({ r, lora_alpha: alpha, use_rslora: spec.use_rslora }),
          offsetA,
          offsetB,
          keyA: peftKey(layer, module, 'A'),
          keyB: peftKey(layer, module, 'B'),
        });
      }
    }
    if (this.slots.length === 0) {
      const what =
        spec.target_regex != null
          ? `target_modules "${spec.target_regex}"`
          : `target_modules [${spec.target_modules.join(', ')}] with layers_to_transform ${JSON.stringify(spec.layers_to_transform)}`;
      throw new Error(`${what} matches no module of the model (names look like ${moduleName(0, modules[0])})`);
    }
    this.size = Math.max(off, ALIGN_ELEMS);
    this.paramCount = count;
    this.scaling = loraScaling(spec);
    this.maxR = Math.max(1, ...this.slots.map((x) => x.r));
  }

  /** The module kinds that have at least one slot, in canonical order. */
  get modules(): LinearModule[] {
    return linearModules(this.config).filter((m) => this.slots.some((s) => s.module === m));
  }

  /**
   * LoRA+'s learning-rate multiplier per 64-element block of the flat buffer (every block lies in
   * one A, B or DoRA magnitude, ALIGN_ELEMS apart): 1 for A, `ratio` for B and for the magnitude,
   * as peft/optimizers/loraplus.py's create_loraplus_optimizer puts "lora_B" parameters and every
   * 1-d parameter at lr * loraplus_lr_ratio (with the same weight decay).
   */
  lrScale(ratio = 1): Float32Array {
    const out = new Float32Array(this.size / ALIGN_ELEMS).fill(1);
    if (ratio !== 1) {
      for (const s of this.slots) {
        const n = Math.ceil((s.outFeatures * s.r) / ALIGN_ELEMS);
        out.fill(ratio, s.offsetB / ALIGN_ELEMS, s.offsetB / ALIGN_ELEMS + n);
        if (s.offsetM !== undefined) {
          const nm = Math.ceil(s.outFeatures / ALIGN_ELEMS);
          out.fill(ratio, s.offsetM / ALIGN_ELEMS, s.offsetM / ALIGN_ELEMS + nm);
        }
      }
    }
    return out;
  }

  slot(layer: number, module: LinearModule): LoraSlot | undefined {
    return this.slots.find((s) => s.layer === layer && s.module === module);
  }

  /**
   * PEFT's initialisation from a seed (peft/tuners/lora/layer.py reset_lora_parameters): true:
   * A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0; "gaussian": A ~ N(0, (1/r)^2)
   * (std 1/r), B = 0; false: A and B both keep nn.Linear's default init, U(-1/sqrt(fan_in),
   * 1/sqrt(fan_in)) (B's fan_in is r), so the adapter starts as a random, non-zero update. The
   * SVD/QR inits (pissa, olora) need the base weights: model/pissa.ts.
   */
  init(seed: number): Float32Array {
    const flat = new Float32Array(this.size);
    const rng = new Rng(seed);
    const how = this.spec.init_lora_weights ?? true;
    for (const s of this.slots) {
      const nA = s.r * s.inFeatures;
      if (how === 'gaussian') {
        for (let i = 0; i < nA; i++) flat[s.offsetA + i] = rng.normal() / s.r;
      } else {
        const bound = 1 / Math.sqrt(s.inFeatures);
        for (let i = 0; i < nA; i++) flat[s.offsetA + i] = rng.uniform(-bound, bound);
      }
      if (how === false) {
        const bound = 1 / Math.sqrt(s.r);
        for (let i = 0; i < s.outFeatures * s.r; i++) flat[s.offsetB + i] = rng.uniform(-bound, bound);
      }
    }
    return flat;
  }

  /** The adapter as PEFT-named tensors (copies out of the flat buffer). */
  toTensors(flat: Float32Array): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const s of this.slots) {
      const r = s.r;
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
        [s.keyA, s.offsetA, [s.r, s.inFeatures]],
        [s.keyB, s.offsetB, [s.outFeatures, s.r]],
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
