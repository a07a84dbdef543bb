// The PEFT LoRA adapter format, written exactly as `PeftModel.save_pretrained` writes it for a
// causal LM and read back from adapters PEFT (or this studio) saved:
//   adapter_model.safetensors  safe_save_file(state_dict, metadata={"format": "pt"}); keys from
//                              get_peft_model_state_dict, i.e. without the adapter name:
//                              base_model.model.model.layers.{i}.{self_attn|mlp}.{m}.lora_{A|B}.weight
//                              lora_A [r, in_features], lora_B [out_features, r]; with use_dora
//                              also ...{m}.lora_magnitude_vector [out_features] (no ".weight":
//                              LoraModel._get_adapter_state_dict strips it)
//   adapter_config.json        json.dumps(LoraConfig.to_dict(), indent=2, sort_keys=True), written
//                              with inference_mode true (save_pretrained sets it for the save).
// Which keys: the LoraConfig fields of PEFT 0.10 to 0.13 (the last releases that reject unknown
// keys: peft/config.py only drops unknown kwargs since 0.14), each with PEFT's default except
// ours. Every PEFT from 0.10 on loads the file without warnings, and later PEFT fills the fields
// it added (exclude_modules, lora_bias, eva_config, corda_config, use_qalora, target_parameters,
// ...) with defaults that are exactly what a plain LoRA means. target_modules is the explicit
// sorted list, as PEFT stores it after resolving "all-linear", or the regular expression given;
// layers_to_transform, rank_pattern and alpha_pattern as given. A PiSSA/OLoRA adapter is written
// converted (pissaToLora in model/pissa.ts: rank 2r, init_lora_weights true) so that it loads on
// the unchanged base model, as save_pretrained(path_initial_model_for_weight_conversion=...) does.

import { z } from 'zod';
import { type LinearModule, type ModelConfig, linearModules, linearPrefix, linearShape } from '../engine/model/config';
import { LoraLayout, type LoraSpec, peftKey, peftMagnitudeKey, slotRankAlpha } from '../engine/model/lora';
import { mutatesBase, pissaToLora } from '../engine/model/pissa';
import { type TensorToWrite, openSafetensors, writeSafetensors } from './safetensors';
import { type FileSet, IoError, readJson } from './source';

export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';

export interface WriteAdapterOptions {
  /** The base model's Hub repo id (or a bare name); never a path on this machine. */
  baseModelNameOrPath: string;
  /** Storage dtype of the LoRA weights (default F32, what PEFT saves for an f32 adapter). */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** The base model revision the adapter was trained on (PEFT's `revision`), if not the default branch. */
  revision?: string | null;
  /** PiSSA: the adapter's init (A0, B0); the adapter is then written converted for the unchanged base. */
  pissaInitial?: Float32Array | null;
}

/** A float that Python's json.dumps prints with a decimal point (0.0, 0.05, 1e-05). */
class PyFloat {
  constructor(readonly value: number) {}
}

/** The adapter_config.json object, in Python types (PyFloat where PEFT holds a float). */
function peftConfigObject(spec: LoraSpec, base: string, revision: string | null): Record<string, unknown> {
  return {
    alpha_pattern: pyNumbers(spec.alpha_pattern),
    auto_mapping: null,
    base_model_name_or_path: base,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: spec.init_lora_weights ?? true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: spec.layers_to_transform ?? null,
    loftq_config: {},
    lora_alpha: Number.isInteger(spec.lora_alpha) ? spec.lora_alpha : new PyFloat(spec.lora_alpha),
    lora_dropout: new PyFloat(spec.lora_dropout),
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: spec.r,
    rank_pattern: { ...(spec.rank_pattern ?? {}) },
    revision,
    target_modules: spec.target_regex != null ? spec.target_regex : [...spec.target_modules].sort(),
    task_type: 'CAUSAL_LM',
    use_dora: !!spec.use_dora,
    use_rslora: spec.use_rslora,
  };
}

/** alpha_pattern's values as PEFT holds them (an int stays an int, a fraction is a float). */
function pyNumbers(o: Record<string, number> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o ?? {}).map(([k, v]) => [k, Number.isInteger(v) ? v : new PyFloat(v)]));
}

/** adapter_config.json as PEFT writes it (json.dumps(indent=2, sort_keys=True)). */
export function adapterConfigJson(spec: LoraSpec, baseModelNameOrPath: string, revision: string | null = null): string {
  return pythonJson(peftConfigObject(spec, baseModelNameOrPath, revision));
}

/**
 * The two files of a PEFT adapter from the flat LoRA buffer. base_model_name_or_path is what PEFT
 * writes: the Hub id or the path from_pretrained was given. Refuses an empty name and weights that
 * are not finite (a diverged run must not be exported as if fine).
 */
export function writeAdapter(
  layout: LoraLayout,
  flat: Float32Array,
  opts: WriteAdapterOptions,
): { safetensors: Uint8Array; config: string } {
  if (flat.length !== layout.size)
    throw new Error(`writeAdapter: flat buffer has ${flat.length} values, the LoRA layout needs ${layout.size}`);
  if (mutatesBase(layout.spec.init_lora_weights)) {
    // as save_pretrained(path_initial_model_for_weight_conversion=...): loads on the unchanged base
    if (!opts.pissaInitial)
      throw new Error(
        'writeAdapter: a PiSSA adapter needs its initial weights to be converted for the original base model',
      );
    const conv = pissaToLora(layout, flat, opts.pissaInitial);
    return writeAdapter(conv.layout, conv.flat, { ...opts, pissaInitial: null });
  }
  const base = opts.baseModelNameOrPath;
  if (!base)
    throw new Error('writeAdapter: base_model_name_or_path is empty; name the base model (a Hub id or a path)');
  const dtype = opts.dtype ?? 'F32';
  const tensors: TensorToWrite[] = [];
  for (const [name, t] of layout.toTensors(flat)) {
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      throw new Error(
        `writeAdapter: ${name} holds ${t.data[bad]} at index ${bad}; the adapter is not finite and was not exported`,
      );
    tensors.push({ name, dtype, shape: t.shape, data: t.data });
  }
  return {
    safetensors: writeSafetensors(tensors, { format: 'pt' }),
    config: adapterConfigJson(layout.spec, base, opts.revision ?? null),
  };
}

const adapterConfigSchema = z.looseObject({
  peft_type: z.string({ error: 'a string' }).optional(),
  task_type: z.string({ error: 'a string' }).nullish(),
  r: z
    .number({ error: 'a positive integer' })
    .int({ error: 'a positive integer' })
    .positive({ error: 'a positive integer' })
    .optional(),
  lora_alpha: z.number({ error: 'a positive number' }).positive({ error: 'a positive number' }).optional(),
  lora_dropout: z
    .number({ error: 'a number in [0, 1)' })
    .min(0, { error: 'a number in [0, 1)' })
    .lt(1, { error: 'a number in [0, 1)' })
    .optional(),
  target_modules: z.union([z.string(), z.array(z.string())], { error: 'a list of module names or a string' }).nullish(),
  use_rslora: z.boolean({ error: 'true or false' }).optional(),
  use_dora: z.boolean({ error: 'true or false' }).optional(),
  fan_in_fan_out: z.boolean({ error: 'true or false' }).optional(),
  lora_bias: z.boolean({ error: 'true or false' }).optional(),
  bias: z.string({ error: 'a string' }).optional(),
  modules_to_save: z.array(z.string(), { error: 'a list of module names' }).nullish(),
  rank_pattern: z.record(z.string(), z.unknown(), { error: 'an object' }).nullish(),
  alpha_pattern: z.record(z.string(), z.unknown(), { error: 'an object' }).nullish(),
  layers_to_transform: z
    .union([z.number().int(), z.array(z.number().int())], { error: 'a layer index or a list of them' })
    .nullish(),
  layer_replication: z.unknown().optional(),
  init_lora_weights: z.union([z.boolean(), z.string()], { error: 'true, false or an initialisation name' }).optional(),
});

const KEY =
  /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([A-Za-z0-9_]+)\.lora_(A|B)(?:\.default)?\.weight$/;
/** DoRA's magnitude; also the in-memory form with the adapter name and ".weight" left in. */
const MAGNITUDE_KEY =
  /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([A-Za-z0-9_]+)\.lora_magnitude_vector(?:\.default\.weight)?$/;

export interface Adapter {
  spec: LoraSpec;
  /** The LoRA parameters in `layout`'s flat buffer order. */
  flat: Float32Array;
  layout: LoraLayout;
  /** adapter_config.json as parsed. */
  config: Record<string, unknown>;
}

/**
 * Reads a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) for `model`.
 * Tolerates keys with the adapter name left in (`lora_A.default.weight`) and F16/BF16 weights;
 * refuses, naming the file, tensor or field, anything that would not mean the same adapter here.
 */
export async function readAdapter(files: FileSet, model: ModelConfig): Promise<Adapter> {
  const cfgFail = (msg: string) => new IoError(`${ADAPTER_CONFIG}: ${msg}`, ADAPTER_CONFIG);
  if (!files.has(ADAPTER_WEIGHTS) && files.has('adapter_model.bin')) {
    throw new IoError(
      `${files.name} has adapter_model.bin, a pickle; LoRA Studio reads ${ADAPTER_WEIGHTS} (re-save with save_pretrained(dir, safe_serialization=True))`,
      'adapter_model.bin',
    );
  }
  const raw = await readJson(
    files.require(ADAPTER_CONFIG, 'a PEFT adapter folder has adapter_config.json and adapter_model.safetensors'),
    1 << 20,
  );
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw cfgFail('must be a JSON object');
  const parsed = adapterConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path.join('.');
    throw cfgFail(
      `${path} must be ${issue.message} (got ${JSON.stringify((raw as Record<string, unknown>)[String(issue.path[0])])})`,
    );
  }
  const c = parsed.data;
  if (c.peft_type !== 'LORA')
    throw cfgFail(`peft_type ${JSON.stringify(c.peft_type ?? null)} is not supported: only LoRA adapters ("LORA")`);
  if (c.task_type && c.task_type !== 'CAUSAL_LM')
    throw cfgFail(`task_type "${c.task_type}" is not supported (adapters for CAUSAL_LM only)`);
  if (c.r === undefined) throw cfgFail('r is missing');
  const unsupported: [boolean, string][] = [
    [c.lora_bias === true, 'lora_bias true is not supported'],
    [c.fan_in_fan_out === true, 'fan_in_fan_out true is not supported (that is for GPT-2 style Conv1D layers)'],
    [
      (c.bias ?? 'none') !== 'none',
      `bias "${c.bias}" is not supported (only "none": the adapter may not train bias terms)`,
    ],
    [
      (c.modules_to_save?.length ?? 0) > 0,
      `modules_to_save ${JSON.stringify(c.modules_to_save)} is not supported (full copies of modules)`,
    ],
    [c.layer_replication != null, 'layer_replication is not supported'],
    [
      typeof c.init_lora_weights === 'string' && /^(pissa|olora|loftq|corda)/.test(c.init_lora_weights),
      `init_lora_weights "${c.init_lora_weights}" is not supported (that adapter needs the base model it modified)`,
    ],
  ];
  for (const [bad, msg] of unsupported) if (bad) throw cfgFail(msg);
  const patterns = {} as Record<'rank_pattern' | 'alpha_pattern', Record<string, number>>;
  for (const field of ['rank_pattern', 'alpha_pattern'] as const) {
    patterns[field] = {};
    for (const [k, v] of Object.entries(c[field] ?? {})) {
      const ok = typeof v === 'number' && v > 0 && (field === 'alpha_pattern' || Number.isInteger(v));
      if (!ok)
        throw cfgFail(
          `${field}["${k}"] must be a positive ${field === 'rank_pattern' ? 'integer' : 'number'} (got ${JSON.stringify(v)})`,
        );
      patterns[field][k] = v as number;
    }
  }

  const r = c.r;
  // target_modules: a list (entries may be dotted paths; PEFT matches their last component), the
  // string "all-linear", or a regex string (then the tensors tell).
  const familyModules = linearModules(model); // the family's modules (Phi-3: fused qkv_proj, gate_up_proj)
  let targets: Set<LinearModule> | null = null;
  if (Array.isArray(c.target_modules)) {
    targets = new Set();
    for (const t of c.target_modules) {
      const m = t.split('.').at(-1)!;
      if (!(familyModules as readonly string[]).includes(m)) {
        throw cfgFail(
          `target_modules lists "${t}", which a ${model.modelType} model does not have (its linear modules: ${familyModules.join(', ')})`,
        );
      }
      targets.add(m as LinearModule);
    }
  } else if (c.target_modules === 'all-linear') {
    targets = new Set(familyModules);
  }
  const regex = typeof c.target_modules === 'string' && c.target_modules !== 'all-linear' ? c.target_modules : null;

  const st = await openSafetensors(files.require(ADAPTER_WEIGHTS));
  const fail = (msg: string) => new IoError(`${ADAPTER_WEIGHTS}: ${msg}`, ADAPTER_WEIGHTS);
  const tensors = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  const found = new Set<LinearModule>();
  const dora = c.use_dora === true;
  for (const [key, e] of st.tensors) {
    const mag = MAGNITUDE_KEY.exec(key);
    if (mag) {
      if (!dora) throw fail(`tensor ${key} is a DoRA magnitude, but ${ADAPTER_CONFIG} does not set use_dora: true`);
      const [layer, module] = [Number(mag[1]), mag[3] as LinearModule];
      if (!(familyModules as readonly string[]).includes(module) || linearPrefix(module) !== mag[2])
        throw fail(`tensor ${key} adapts "${mag[2]}.${module}", which a ${model.modelType} model does not have`);
      if (layer >= model.numLayers)
        throw fail(`tensor ${key} is for layer ${layer}, but the model has ${model.numLayers} layers`);
      if (e.dtype !== 'F32' && e.dtype !== 'F16' && e.dtype !== 'BF16')
        throw fail(`tensor ${key} has dtype ${e.dtype} (expected F32, F16 or BF16)`);
      const out = linearShape(model, module)[0];
      if (e.shape.length !== 1 || e.shape[0] !== out)
        throw fail(`tensor ${key} has shape [${e.shape.join(', ')}], but this model's ${module} needs [${out}]`);
      const canonical = peftMagnitudeKey(layer, module);
      if (tensors.has(canonical)) throw fail(`tensors ${canonical} and ${key} are the same weight`);
      tensors.set(canonical, { shape: e.shape, data: await st.readAsF32(key) });
      continue;
    }
    const m = KEY.exec(key);
    if (!m) {
      if (/lora_embedding_|embed_tokens|lm_head/.test(key))
        throw fail(`tensor ${key} adapts the embeddings or LM head, which is not supported`);
      throw fail(
        `tensor ${key} is not a LoRA weight of a decoder layer (expected ${peftKey(0, familyModules[0], 'A')} and the like)`,
      );
    }
    const layer = Number(m[1]);
    const module = m[3] as LinearModule;
    const ab = m[4] as 'A' | 'B';
    if (!(familyModules as readonly string[]).includes(module) || linearPrefix(module) !== m[2]) {
      throw fail(
        `tensor ${key} adapts "${m[2]}.${module}", which a ${model.modelType} model does not have (its linear modules: ${familyModules.join(', ')})`,
      );
    }
    if (layer >= model.numLayers) {
      throw fail(
        `tensor ${key} is for layer ${layer}, but the model has ${model.numLayers} layers (0 to ${model.numLayers - 1})`,
      );
    }
    if (targets && !targets.has(module)) {
      throw fail(`tensor ${key} adapts ${module}, which ${ADAPTER_CONFIG}'s target_modules does not list`);
    }
    if (e.dtype !== 'F32' && e.dtype !== 'F16' && e.dtype !== 'BF16')
      throw fail(`tensor ${key} has dtype ${e.dtype} (expected F32, F16 or BF16)`);
    const [out, inp] = linearShape(model, module);
    const { r: rs } = slotRankAlpha(
      { r, lora_alpha: 1, rank_pattern: patterns.rank_pattern } as LoraSpec,
      layer,
      module,
    );
    const want = ab === 'A' ? [rs, inp] : [out, rs];
    const shape = `[${e.shape.join(', ')}]`;
    if (e.shape.length !== 2) throw fail(`tensor ${key} has shape ${shape}, expected [${want.join(', ')}]`);
    const rankDim = ab === 'A' ? e.shape[0] : e.shape[1];
    if (rankDim !== rs)
      throw fail(
        `tensor ${key} has rank ${rankDim} (shape ${shape}) but ${ADAPTER_CONFIG} says r = ${rs}${rs !== r ? ' (rank_pattern)' : ''}`,
      );
    if (e.shape[0] !== want[0] || e.shape[1] !== want[1]) {
      throw fail(
        `tensor ${key} has shape ${shape}, but this model's ${module} needs [${want.join(', ')}] ` +
          `(${inp} in, ${out} out): the adapter was trained for a different base model`,
      );
    }
    const canonical = peftKey(layer, module, ab);
    if (tensors.has(canonical)) throw fail(`tensors ${canonical} and ${key} are the same weight`);
    tensors.set(canonical, { shape: e.shape, data: await st.readAsF32(key) });
    found.add(module);
  }
  if (found.size === 0 && !targets) throw fail('holds no LoRA weights');
  const modules = familyModules.filter((m) => (targets ?? found).has(m));
  const init = c.init_lora_weights;
  const spec: LoraSpec = {
    r,
    lora_alpha: c.lora_alpha ?? 8,
    lora_dropout: c.lora_dropout ?? 0,
    target_modules: modules,
    use_rslora: c.use_rslora ?? false,
    ...(regex !== null ? { target_regex: regex } : {}),
    ...(c.layers_to_transform != null ? { layers_to_transform: c.layers_to_transform } : {}),
    ...(Object.keys(patterns.rank_pattern).length ? { rank_pattern: patterns.rank_pattern } : {}),
    ...(Object.keys(patterns.alpha_pattern).length ? { alpha_pattern: patterns.alpha_pattern } : {}),
    ...(init === 'gaussian' || init === false ? { init_lora_weights: init } : {}),
    ...(dora ? { use_dora: true } : {}),
  };
  let layout: LoraLayout;
  try {
    layout = new LoraLayout(model, spec);
  } catch (e) {
    throw cfgFail((e as Error).message);
  }
  for (const s of layout.slots) {
    for (const ab of ['A', 'B'] as const) {
      const k = peftKey(s.layer, s.module, ab);
      if (!tensors.has(k))
        throw fail(`tensor ${k} is missing (layer ${s.layer} ${s.module} needs both lora_A and lora_B)`);
    }
    if (dora && !tensors.has(peftMagnitudeKey(s.layer, s.module)))
      throw fail(`tensor ${peftMagnitudeKey(s.layer, s.module)} is missing (${ADAPTER_CONFIG} sets use_dora: true)`);
  }
  for (const k of tensors.keys()) {
    const [, layer, , module] = (KEY.exec(k) ?? MAGNITUDE_KEY.exec(k))!;
    if (!layout.slot(Number(layer), module as LinearModule))
      throw fail(
        `tensor ${k} adapts layer ${layer} ${module}, which ${ADAPTER_CONFIG}'s target_modules / layers_to_transform do not select`,
      );
  }
  return { spec, flat: layout.fromTensors(tensors), layout, config: raw as Record<string, unknown> };
}

/**
 * Python's json.dumps(value, indent=2, sort_keys=True) (ensure_ascii on), so the file is the one
 * PEFT would write. PyFloat values print as Python floats (0.0, 0.05, 1e-05).
 */
export function pythonJson(value: unknown, indent = 2, depth = 0): string {
  const pad = ' '.repeat(indent * (depth + 1));
  const end = ' '.repeat(indent * depth);
  if (value === null || value === undefined) return 'null';
  if (value instanceof PyFloat) return pyFloat(value.value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pyFloat(value);
  if (typeof value === 'string') return pyString(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => pad + pythonJson(v, indent, depth + 1)).join(',\n')}\n${end}]`;
  }
  const keys = Object.keys(value as object).sort();
  if (keys.length === 0) return '{}';
  const rec = value as Record<string, unknown>;
  return `{\n${keys.map((k) => `${pad}${pyString(k)}: ${pythonJson(rec[k], indent, depth + 1)}`).join(',\n')}\n${end}}`;
}

/** repr(float): the shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mant, e] = Math.abs(x).toExponential().split('e');
  const digits = mant.replace('.', '');
  const exp = Number(e);
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  return `${sign}${int}.${digits.slice(exp + 1) || '0'}`;
}

const PY_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

function pyString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    const code = s.charCodeAt(i); // UTF-16 units: non-BMP characters come out as surrogate pairs, as in Python
    if (PY_ESCAPES[c]) out += PY_ESCAPES[c];
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return out + '"';
}
