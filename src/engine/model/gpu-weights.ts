// Uploads a checkpoint's frozen weights to the GPU in their stored dtype (f16/bf16 stay packed
// two to a u32, widened in the shaders), or, with `nf4`, the decoder's linear weights quantized
// to NF4 as they are uploaded (QLoRA; model/nf4.ts). The vocabulary matrices (embedding, LM head)
// are split by rows into shards when they exceed maxStorageBufferBindingSize (a 151936 x 896 f32
// embedding is 545 MB), so kernels that read them are dispatched once per shard. What is
// allocated is model/plan.ts's weightPlan, which the memory estimate reads too.

import type { GpuContext } from '../gpu/context';
import { Arena } from '../gpu/arena';
import type { Tensor } from '../gpu/tensor';
import { type ModelConfig, expectedWeights } from './config';
import { type CheckpointDType, type Materialized, Spec, type WeightPlan, materialize, weightPlan } from './plan';
import { packNf4, widenToF32 } from './nf4';
import type { WeightDType, WeightSource } from './weights';

export interface VocabShard {
  weight: Tensor; // [rows, C]
  rowStart: number;
  rows: number;
}

export type LayerWeights = Materialized<WeightPlan['layers'][number]>;

export interface GpuWeights {
  embed: VocabShard[];
  /** The embedding's shards when the head is tied. */
  lmHead: VocabShard[];
  layers: LayerWeights[];
  norm: Tensor;
  arena: Arena;
  bytes: number;
  /** The decoder's linear weights are NF4. */
  nf4: boolean;
}

export const CHECKPOINT_DTYPES: Record<WeightDType, CheckpointDType> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

export interface UploadProgress {
  tensor: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface UploadOptions {
  /** Cap on rows per vocabulary shard (tests force the sharded path with small values). */
  maxShardRows?: number;
  /** Quantize the decoder's linear weights to NF4 on upload (QLoRA). */
  nf4?: boolean;
  /** Bytes per upload slice (default UPLOAD_SLICE_BYTES; tests use small ones). */
  sliceBytes?: number;
}

export async function uploadWeights(
  ctx: GpuContext,
  config: ModelConfig,
  src: WeightSource,
  onProgress?: (p: UploadProgress) => void,
  o: UploadOptions = {},
): Promise<GpuWeights> {
  const info = new Map(src.list().map((w) => [w.name, w]));
  for (const e of expectedWeights(config)) {
    const w = info.get(e.name);
    if (!w) throw new Error(`checkpoint is missing tensor ${e.name}`);
    if (w.shape.length !== e.shape.length || w.shape.some((d, i) => d !== e.shape[i])) {
      throw new Error(`tensor ${e.name} has shape [${w.shape}], but config.json implies [${e.shape}]`);
    }
  }
  const dtypeOf = (name: string) => CHECKPOINT_DTYPES[info.get(name)!.dtype];
  const plan = weightPlan(config, dtypeOf, {
    maxBinding: ctx.caps.maxStorageBufferBindingSize,
    maxShardRows: o.maxShardRows,
    nf4: o.nf4,
  });
  const arena = new Arena(ctx, 'weights');
  const uploads: { spec: Spec; t: Tensor }[] = [];
  const w = materialize(plan, (spec) => {
    const t = arena.add(spec.shape, spec.dtype, spec.label);
    uploads.push({ spec, t });
    return t;
  });
  arena.allocate();

  try {
    await fill(ctx, uploads, src, (name) => info.get(name)!, dtypeOf, o.sliceBytes ?? UPLOAD_SLICE_BYTES, onProgress);
  } catch (e) {
    arena.destroy(); // a failed read leaves nothing allocated
    throw e;
  }
  return { ...w, arena, bytes: arena.allocatedBytes, nf4: !!o.nf4 };
}

/**
 * Bytes read and handed to the GPU at a time: a vocabulary shard (up to a 128 MiB binding) is
 * filled in slices of this size, so the worker never holds a large tensor whole.
 */
export const UPLOAD_SLICE_BYTES = 16 * 2 ** 20;

/**
 * Uploads each piece of the plan. With `src.readRange`, 16-bit and f32 pieces go up in slices of
 * `sliceBytes` (a multiple of 4) and an NF4 piece (one decoder linear weight, a few MB) is read alone to be
 * quantized; without it, each tensor is read once, whole, and its pieces taken from it.
 */
async function fill(
  ctx: GpuContext,
  uploads: { spec: Spec; t: Tensor }[],
  src: WeightSource,
  infoOf: (name: string) => { shape: number[] },
  dtypeOf: (name: string) => CheckpointDType,
  sliceBytes: number,
  onProgress?: (p: UploadProgress) => void,
): Promise<void> {
  const bytesTotal = uploads.reduce((s, u) => s + u.spec.source!.byteLength, 0);
  let bytesDone = 0;
  const tensorBytes = (name: string) =>
    infoOf(name).shape.reduce((a, b) => a * b, 1) * (dtypeOf(name) === 'f32' ? 4 : 2);
  const checked = (name: string, bytes: Uint8Array, want: number) => {
    if (bytes.byteLength !== want) throw new Error(`tensor ${name}: read ${bytes.byteLength} bytes, expected ${want}`);
    return bytes;
  };
  let lastName = '';
  let lastBytes: Uint8Array | null = null;
  const piece = async (name: string, start: number, length: number): Promise<Uint8Array> => {
    if (src.readRange) return checked(name, await src.readRange(name, start, length), length);
    if (name !== lastName) {
      // lets the previous tensor's bytes go during the read
      lastBytes = null;
      lastBytes = checked(name, await src.read(name), tensorBytes(name));
      lastName = name;
    }
    return lastBytes!.subarray(start, start + length);
  };
  for (const { spec, t } of uploads) {
    const u = spec.source!;
    if (spec.dtype === 'nf4') {
      const bytes = await piece(u.name, u.byteStart, u.byteLength);
      ctx.upload(t, packNf4(widenToF32(bytes, dtypeOf(u.name))));
      bytesDone += u.byteLength;
      onProgress?.({ tensor: u.name, bytesDone, bytesTotal });
      continue;
    }
    for (let at = 0; at < u.byteLength; at += sliceBytes) {
      const length = Math.min(sliceBytes, u.byteLength - at);
      ctx.upload(t, await piece(u.name, u.byteStart + at, length), at);
      bytesDone += length;
      onProgress?.({ tensor: u.name, bytesDone, bytesTotal });
    }
  }
}
