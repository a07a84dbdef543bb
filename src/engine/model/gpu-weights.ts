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
    await fill(ctx, uploads, src, (name) => info.get(name)!, dtypeOf, onProgress);
  } catch (e) {
    arena.destroy(); // a failed read leaves nothing allocated
    throw e;
  }
  return { ...w, arena, bytes: arena.allocatedBytes, nf4: !!o.nf4 };
}

/** Reads each tensor once and uploads its pieces (NF4-packed where the plan says). */
async function fill(
  ctx: GpuContext,
  uploads: { spec: Spec; t: Tensor }[],
  src: WeightSource,
  infoOf: (name: string) => { shape: number[] },
  dtypeOf: (name: string) => CheckpointDType,
  onProgress?: (p: UploadProgress) => void,
): Promise<void> {
  const bytesTotal = uploads.reduce((s, u) => s + u.spec.source!.byteLength, 0);
  let bytesDone = 0;
  // One tensor at a time: a checkpoint is never held whole in memory.
  let lastName = '';
  let lastBytes: Uint8Array | null = null;
  for (const { spec, t } of uploads) {
    const u = spec.source!;
    if (u.name !== lastName) {
      // eslint-disable-next-line no-useless-assignment -- lets the previous tensor's bytes go during the read
      lastBytes = null;
      lastBytes = await src.read(u.name);
      lastName = u.name;
      const want = infoOf(u.name).shape.reduce((a, b) => a * b, 1) * (dtypeOf(u.name) === 'f32' ? 4 : 2);
      if (lastBytes.byteLength !== want) {
        throw new Error(`tensor ${u.name}: read ${lastBytes.byteLength} bytes, expected ${want}`);
      }
    }
    const bytes = lastBytes!.subarray(u.byteStart, u.byteStart + u.byteLength);
    ctx.upload(t, spec.dtype === 'nf4' ? packNf4(widenToF32(bytes, dtypeOf(u.name))) : bytes);
    bytesDone += u.byteLength;
    onProgress?.({ tensor: u.name, bytesDone, bytesTotal });
  }
}
