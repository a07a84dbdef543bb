// The merged checkpoint: the base model with `scaling · B · A` added to every adapted linear
// layer, in each tensor's own dtype (bf16 and f16 rounded to nearest even), written as a Hugging
// Face folder the way transformers' save_pretrained writes it: config.json and
// generation_config.json as they were, model.safetensors (or model-0000k-of-0000n.safetensors
// shards and model.safetensors.index.json past max_shard_size), and the tokenizer files
// unchanged. Tensors the adapter does not touch are copied byte for byte. One tensor is in
// memory at a time. A DoRA adapter merges as PEFT's DoraLinearVariant.merge_safe does:
// W' = (m / ||W + s B A||_row) * (W + s B A), each row scaled by its magnitude over its norm.

import type { ModelConfig } from '../engine/model/config';
import type { LoraLayout, LoraSlot } from '../engine/model/lora';
import { SINGLE_WEIGHTS, WEIGHTS_INDEX } from '../io/checkpoint';
import { parseHfConfig } from '../io/hf-config';
import { pythonJson } from '../io/peft';
import {
  type SafetensorsFile,
  type TensorEntry,
  type TensorToStream,
  fromF32,
  openSafetensors,
  streamSafetensors,
  toF32,
} from '../io/safetensors';
import { type FolderSink, writeWhole } from '../io/sink';
import { type ByteSource, type FileSet, IoError, readJson } from '../io/source';

/** The adapter to merge: its layout (spec, scaling, slots) and its flat parameters. */
export interface MergeAdapter {
  layout: LoraLayout;
  flat: Float32Array;
}

export interface ExportProgress {
  /** What is being written, e.g. "model.safetensors". */
  file: string;
  bytesDone: number;
  bytesTotal: number;
}

/** Files besides the weights that a checkpoint folder carries and an export copies unchanged. */
export const COPIED_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
  'added_tokens.json',
] as const;

/** transformers' default max_shard_size ("5GB", decimal). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

export interface BaseTensor {
  entry: TensorEntry;
  file: SafetensorsFile;
  /** The safetensors file's bytes (entry.byteOffset is absolute in it). */
  src: ByteSource;
}

/** Chunks of at most this many bytes are what an export holds of an untouched tensor at a time. */
export const CHUNK_BYTES = 16 * 1024 * 1024;

/** A tensor's stored bytes in chunks of whole rows (at most CHUNK_BYTES unless a row is larger). */
export async function* rowChunks(t: BaseTensor, maxBytes = CHUNK_BYTES): AsyncGenerator<Uint8Array> {
  const { byteOffset, byteLength, shape } = t.entry;
  const rowBytes = byteLength / Math.max(1, shape[0] ?? 1);
  const step = shape.length < 2 ? byteLength : Math.max(1, Math.floor(maxBytes / rowBytes)) * rowBytes;
  for (let o = 0; o < byteLength; o += step) yield t.src.read(byteOffset + o, Math.min(step, byteLength - o));
}

/** Every tensor of the base checkpoint's safetensors files, in the model's module order. */
export async function baseTensors(files: FileSet, config: ModelConfig): Promise<BaseTensor[]> {
  const shardNames: string[] = [];
  if (files.has(SINGLE_WEIGHTS)) shardNames.push(SINGLE_WEIGHTS);
  else {
    const index = (await readJson(files.require(WEIGHTS_INDEX))) as { weight_map?: Record<string, string> };
    shardNames.push(...new Set(Object.values(index.weight_map ?? {})));
  }
  const out: BaseTensor[] = [];
  for (const s of shardNames.sort()) {
    const src = files.require(s);
    const file = await openSafetensors(src);
    for (const entry of file.tensors.values()) out.push({ entry, file, src });
  }
  // State-dict order (embeddings, layer 0..n-1, norm, head), which decides the sharding.
  const key = (name: string): [number, string] => {
    const m = /^model\.layers\.(\d+)\./.exec(name);
    if (m) return [1 + Number(m[1]), name];
    if (name.startsWith('model.embed_tokens')) return [0, name];
    return [config.numLayers + 1, name];
  };
  return out.sort((a, b) => {
    const [ka, na] = key(a.entry.name);
    const [kb, nb] = key(b.entry.name);
    return ka - kb || (na < nb ? -1 : na > nb ? 1 : 0);
  });
}

/** The adapter slot that changes the Hugging Face tensor `name`, if any. */
export function slotFor(layout: LoraLayout, name: string): LoraSlot | undefined {
  const m = /^model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+)\.weight$/.exec(name);
  return m ? layout.slots.find((s) => s.layer === Number(m[1]) && s.module === m[3]) : undefined;
}

/**
 * W + scaling · B·A for one slot, in f32 (the sum is formed in f64, then rounded once); with DoRA
 * each row then times m / ||row||, PEFT's merge (also in f64 before the one rounding).
 */
export function mergeSlot(w: Float32Array, adapter: MergeAdapter, slot: LoraSlot): Float32Array {
  const { flat } = adapter;
  const r = slot.r;
  const s = slot.scaling;
  const { inFeatures: I, outFeatures: O, offsetA, offsetB } = slot;
  if (w.length !== O * I) throw new Error(`merge: ${slot.keyA} is for a [${O}, ${I}] weight, got ${w.length} values`);
  const out = new Float32Array(O * I);
  const row = new Float64Array(I);
  for (let o = 0; o < O; o++) {
    row.fill(0);
    for (let k = 0; k < r; k++) {
      const b = flat[offsetB + o * r + k];
      if (b === 0) continue;
      const a = offsetA + k * I;
      for (let i = 0; i < I; i++) row[i] += b * flat[a + i];
    }
    const base = o * I;
    if (slot.offsetM === undefined) {
      for (let i = 0; i < I; i++) out[base + i] = w[base + i] + s * row[i];
      continue;
    }
    let ss = 0;
    for (let i = 0; i < I; i++) {
      row[i] = w[base + i] + s * row[i];
      ss += row[i] * row[i];
    }
    const factor = flat[slot.offsetM + o] / Math.sqrt(ss);
    for (let i = 0; i < I; i++) out[base + i] = factor * row[i];
  }
  return out;
}

/** A tensor's merged f32 values (or its own values when the adapter does not touch it). */
export async function tensorF32(t: BaseTensor, adapter: MergeAdapter | null): Promise<Float32Array> {
  const w = await t.file.readAsF32(t.entry.name);
  const slot = adapter ? slotFor(adapter.layout, t.entry.name) : undefined;
  return slot ? mergeSlot(w, adapter!, slot) : w;
}

/** The bytes to write for one tensor: the base's bytes in chunks, or merged and rounded to its dtype. */
function mergedBytes(t: BaseTensor, adapter: MergeAdapter): Promise<Uint8Array> | AsyncIterable<Uint8Array> {
  return slotFor(adapter.layout, t.entry.name) ? mergedSlotBytes(t, adapter) : rowChunks(t);
}

async function mergedSlotBytes(t: BaseTensor, adapter: MergeAdapter): Promise<Uint8Array> {
  const slot = slotFor(adapter.layout, t.entry.name)!;
  const dt = t.entry.dtype;
  if (dt !== 'F32' && dt !== 'F16' && dt !== 'BF16')
    throw new IoError(`${t.entry.name} has dtype ${dt}; only F32, F16 and BF16 weights can be merged`, t.entry.name);
  const w = toF32(await t.file.read(t.entry.name), dt, t.entry.name);
  const merged = mergeSlot(w, adapter, slot);
  const bad = merged.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0)
    throw new Error(`merge: ${t.entry.name} holds ${merged[bad]} at index ${bad} after merging; nothing was exported`);
  return fromF32(merged, dt);
}

/** huggingface_hub's split_torch_state_dict_into_shards: in order, a new shard when the next tensor would overflow. */
export function planShards(sizes: readonly number[], maxShardBytes: number): number[][] {
  const shards: number[][] = [];
  let cur: number[] = [];
  let curSize = 0;
  sizes.forEach((size, i) => {
    if (cur.length > 0 && curSize + size > maxShardBytes) {
      shards.push(cur);
      cur = [];
      curSize = 0;
    }
    cur.push(i);
    curSize += size;
  });
  if (cur.length > 0) shards.push(cur);
  return shards;
}

export interface MergedExportOptions {
  maxShardBytes?: number;
  onProgress?: (p: ExportProgress) => void;
}

/**
 * Writes the merged checkpoint folder. Checks first that the adapter fits the base (the same
 * config), so nothing is written for a mismatch.
 */
export async function exportMerged(
  base: FileSet,
  adapter: MergeAdapter,
  out: FolderSink,
  opts: MergedExportOptions = {},
): Promise<{ files: string[]; bytes: number }> {
  const config = parseHfConfig(await readJson(base.require('config.json')), 'config.json').model;
  const lc = adapter.layout.config;
  if (lc.hiddenSize !== config.hiddenSize || lc.numLayers !== config.numLayers || lc.vocabSize !== config.vocabSize)
    throw new Error(
      `the adapter was made for a different model than ${base.name} (hidden size, layers or vocabulary differ)`,
    );
  const tensors = await baseTensors(base, config);
  for (const s of adapter.layout.slots) {
    const name = s.keyA.replace(/^base_model\.model\./, '').replace(/\.lora_A\.weight$/, '.weight');
    if (!tensors.some((t) => t.entry.name === name))
      throw new Error(`${base.name} has no tensor ${name}, which the adapter changes`);
  }
  const sizes = tensors.map((t) => t.entry.byteLength);
  const total = sizes.reduce((a, b) => a + b, 0);
  const shards = planShards(sizes, opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
  const written: string[] = [];
  let done = 0;
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards.length; s++) {
    const name =
      shards.length === 1
        ? SINGLE_WEIGHTS
        : `model-${String(s + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const list: TensorToStream[] = shards[s].map((i) => {
      const t = tensors[i];
      weightMap[t.entry.name] = name;
      return { name: t.entry.name, dtype: t.entry.dtype, shape: t.entry.shape, data: () => mergedBytes(t, adapter) };
    });
    const sink = await out.file(name);
    await streamSafetensors(sink, list, { format: 'pt' }, (_n, bytes) => {
      done += bytes;
      opts.onProgress?.({ file: name, bytesDone: done, bytesTotal: total });
    });
    written.push(name);
  }
  if (shards.length > 1) {
    const sorted = Object.fromEntries(
      Object.keys(weightMap)
        .sort()
        .map((k) => [k, weightMap[k]]),
    );
    await writeWhole(out, WEIGHTS_INDEX, pythonJson({ metadata: { total_size: total }, weight_map: sorted }) + '\n');
    written.push(WEIGHTS_INDEX);
  }
  for (const f of COPIED_FILES) {
    const src = base.get(f);
    if (!src) continue;
    await writeWhole(out, f, await src.read(0, src.size));
    written.push(f);
  }
  return { files: written, bytes: total };
}
