// The LM head fused with softmax cross-entropy, in vocabulary chunks: the full [N, V] logits
// (V up to 151936) are never stored. Forward: one pass over the chunks (logits chunk, then an
// online logsumexp per row). Backward: a second pass recomputing each chunk's logits, turning them
// into (softmax - onehot) * scale in place and accumulating G W_chunk into dh. The head weight may
// be split into shards (several tensors, when it exceeds maxStorageBufferBindingSize); chunks
// never span shards. The chunk products are the engine's matmul (kernels/matmul.ts: the tiled
// kernel at these sizes, a chunk being a window of shard rows); shaders/cross_entropy.wgsl does
// the logsumexp, loss and gradient; shaders/lm_head.wgsl the plain logits for sampling.

import crossEntropyWgsl from '../../../shaders/cross_entropy.wgsl?raw';
import dtypeWgsl from '../../../shaders/dtype.wgsl?raw';
import lmHeadWgsl from '../../../shaders/lm_head.wgsl?raw';
import wgSumWgsl from '../../../shaders/wg_sum.wgsl?raw';
import { IGNORE_INDEX } from '../../data/types';
import { type GpuContext, fmtBytes } from '../gpu/context';
import { Params, type Program, grid } from '../gpu/program';
import { DTYPE_CODE, type Tensor, numel } from '../gpu/tensor';
import { matmul } from './matmul';
import { disjoint, reduceSum } from './launch';
import { lmHeadChunk } from '../model/plan';

export { IGNORE_INDEX };

export interface LmHeadShard {
  /** Rows rowStart .. rowStart + rows - 1 of the [V, C] head weight, as [rows, C] f32, f16 or bf16. */
  weight: Tensor;
  rowStart: number;
  rows: number;
}

export interface LmHeadOptions {
  /** Rows of h: batch * sequence tokens. */
  N: number;
  /** Hidden size. */
  C: number;
  /** Vocabulary size: the shards cover 0 .. V - 1 in order. */
  V: number;
  /** Vocabulary ids per chunk; default: a [N, chunk] f32 scratch of about 64 MiB. */
  chunk?: number;
  shards: LmHeadShard[];
}

/** Invocations per workgroup of the cross-entropy reductions (a power of two). */
const CE_WG = 64;

interface Chunk {
  weight: Tensor;
  /** First row of the chunk within its shard's tensor. */
  wRow0: number;
  /** First vocabulary id of the chunk. */
  v0: number;
  cols: number;
}

/**
 * Throws unless every target is IGNORE_INDEX or a vocabulary id below V. The kernels cannot
 * report bad ids: they treat any target outside [0, V) as "no loss", so check batches on the CPU.
 */
export function checkTargets(targets: ArrayLike<number>, V: number, what: string): void {
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i];
    if (t !== IGNORE_INDEX && !(Number.isInteger(t) && t >= 0 && t < V)) {
      throw new Error(`${what}: target ${i} is ${t}, not a token id below the vocabulary size ${V} or ${IGNORE_INDEX}`);
    }
  }
}

export class LmHeadLoss {
  readonly N: number;
  readonly C: number;
  readonly V: number;
  readonly chunk: number;
  private readonly ctx: GpuContext;
  private readonly shards: LmHeadShard[];
  private readonly chunks: Chunk[] = [];
  /** [N, chunk] f32: one chunk's logits, or their gradient in the backward. */
  private readonly scratch: Tensor;
  /** [N, 3] f32: running max, running sum of exp, target logit. */
  private readonly stats: Tensor;

  constructor(ctx: GpuContext, o: LmHeadOptions) {
    const what = 'LmHeadLoss';
    for (const [name, x] of Object.entries({ N: o.N, C: o.C, V: o.V })) {
      if (!Number.isInteger(x) || x < 1) throw new Error(`${what}: ${name} = ${x} must be a positive integer`);
    }
    this.ctx = ctx;
    this.N = o.N;
    this.C = o.C;
    this.V = o.V;
    const maxBinding = ctx.caps.maxStorageBufferBindingSize;
    const chunk = o.chunk ?? lmHeadChunk(o.N, o.V);
    if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`${what}: chunk = ${chunk} must be a positive integer`);
    this.chunk = Math.min(chunk, o.V);
    if (o.N * this.chunk * 4 > maxBinding) {
      throw new Error(
        `${what}: a [${o.N}, ${this.chunk}] logits chunk (${fmtBytes(o.N * this.chunk * 4)}) exceeds this GPU's ` +
          `maxStorageBufferBindingSize (${fmtBytes(maxBinding)}); use a smaller chunk`,
      );
    }
    this.shards = checkShards(o.shards, o.C, o.V, maxBinding, what);
    for (const s of this.shards) {
      for (let r = 0; r < s.rows; r += this.chunk) {
        this.chunks.push({ weight: s.weight, wRow0: r, v0: s.rowStart + r, cols: Math.min(this.chunk, s.rows - r) });
      }
    }
    this.scratch = ctx.tensor([o.N, this.chunk], 'f32', 'lm_head logits chunk');
    this.stats = ctx.tensor([o.N, 3], 'f32', 'lm_head softmax stats');
  }

  /** Vocabulary chunks per pass (dispatches: 2 per chunk forward, 2 per chunk backward). */
  get chunkCount(): number {
    return this.chunks.length;
  }

  /**
   * rowLoss [N] = (lse - logit[target]) * scale[0] where targets[n] is in [0, V), else 0;
   * lse [N] = logsumexp of row n's logits h[n] · W^T. h [N, C] f32 (final-normed hidden states),
   * targets [N] i32 (shifted: the id position n must predict; IGNORE_INDEX for no loss), scale [1] f32
   * (1 / targeted tokens of the optimizer step, read on the GPU at run time).
   */
  forward(p: Program, rowLoss: Tensor, lse: Tensor, h: Tensor, targets: Tensor, scale: Tensor, n = this.N): void {
    const what = 'LmHeadLoss.forward';
    this.rows(what, n);
    this.need(what, rowLoss, 'f32', n);
    this.need(what, lse, 'f32', n);
    this.need(what, h, 'f32', n * this.C);
    this.need(what, targets, 'i32', n);
    this.need(what, scale, 'f32', 1);
    const ce = this.ctx.kernel([wgSumWgsl, crossEntropyWgsl], 'ce_update', { WG: CE_WG });
    const ceGroups = grid(n, 1, this.ctx.caps.maxComputeWorkgroupsPerDimension);
    this.chunks.forEach((c, i) => {
      this.chunkLogits(p, h, c, n);
      const prm = new Params().u32(n, c.cols, c.v0, this.V, i === 0 ? 1 : 0, i === this.chunks.length - 1 ? 1 : 0);
      p.dispatch(ce, [this.stats, rowLoss, lse, this.scratch, targets, scale], prm, ceGroups, 'ce_update');
    });
  }

  /**
   * dh [N, C] f32, assigned = sum over chunks of ((softmax - onehot(target)) * scale[0]) · W_chunk;
   * rows whose target is outside [0, V) (IGNORE_INDEX) get 0. lse is forward's output.
   */
  backward(p: Program, dh: Tensor, h: Tensor, targets: Tensor, lse: Tensor, scale: Tensor, n = this.N): void {
    const what = 'LmHeadLoss.backward';
    this.rows(what, n);
    this.need(what, dh, 'f32', n * this.C);
    this.need(what, h, 'f32', n * this.C);
    this.need(what, targets, 'i32', n);
    this.need(what, lse, 'f32', n);
    this.need(what, scale, 'f32', 1);
    const G = this.scratch;
    const ceGrad = this.ctx.kernel([wgSumWgsl, crossEntropyWgsl], 'ce_grad', { WG: CE_WG });
    this.chunks.forEach((c, i) => {
      this.chunkLogits(p, h, c, n);
      const prm = new Params().u32(n, c.cols, c.v0, this.V, 0, 0);
      const groups = grid(Math.ceil((n * c.cols) / CE_WG), 1, this.ctx.caps.maxComputeWorkgroupsPerDimension);
      p.dispatch(ceGrad, [G, lse, targets, scale], prm, groups, 'ce_grad');
      // dh (n, C) (+)= G (n, cols) · W_chunk (cols, C)
      matmul(p, dh, G, c.weight, n, this.C, c.cols, {
        offsetB: c.wRow0 * this.C,
        beta: i === 0 ? 0 : 1,
        label: 'lm_head_backward',
      });
    });
  }

  /** scratch [n, cols] = h (n, C) · W_chunk^T, the chunk being rows wRow0.. of its shard. */
  private chunkLogits(p: Program, h: Tensor, c: Chunk, n: number): void {
    matmul(p, this.scratch, h, c.weight, n, c.cols, this.C, {
      transB: true,
      offsetB: c.wRow0 * this.C,
      label: 'lm_logits',
    });
  }

  /**
   * out [rows, V] f32 = the plain logits of `rows` rows of h: h [rows, C], or with rowIds
   * (u32/i32 [rows]) rows rowIds[r] of h [any, C] (an id past h's rows gives zero logits).
   */
  logits(p: Program, out: Tensor, h: Tensor, rows: number, rowIds?: Tensor): void {
    const what = 'LmHeadLoss.logits';
    if (!Number.isInteger(rows) || rows < 1) throw new Error(`${what}: rows = ${rows} must be a positive integer`);
    this.need(what, out, 'f32', rows * this.V);
    if (rowIds) {
      if (rowIds.dtype !== 'u32' && rowIds.dtype !== 'i32')
        throw new Error(`${what}: ${rowIds.label} must be u32 or i32, is ${rowIds.dtype}`);
      this.need(what, rowIds, rowIds.dtype, rows);
      this.need(what, h, 'f32', this.C);
    } else {
      this.need(what, h, 'f32', rows * this.C);
    }
    const hRows = Math.floor(numel(h.shape) / this.C);
    for (const s of this.shards) {
      const c: Chunk = { weight: s.weight, wRow0: 0, v0: s.rowStart, cols: s.rows };
      const prm = this.chunkParams(c, rows, this.V, s.rowStart, hRows);
      if (rowIds) this.project(p, 'lm_logits_rows', [out, h, s.weight, rowIds], c, rows, prm);
      else this.project(p, 'lm_logits', [out, h, s.weight], c, rows, prm);
    }
  }

  /** acc [1] += sum of rowLoss [N], in a fixed order (deterministic, no atomics). */
  lossSum(p: Program, acc: Tensor, rowLoss: Tensor, n = this.N): void {
    this.rows('LmHeadLoss.lossSum', n);
    this.need('LmHeadLoss.lossSum', acc, 'f32', 1);
    this.need('LmHeadLoss.lossSum', rowLoss, 'f32', n);
    ceLossSum(p, acc, rowLoss, n);
  }

  /** Scratch and stats are sized for N rows: a call may use fewer (a smaller micro-batch). */
  private rows(what: string, n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > this.N)
      throw new Error(`${what}: ${n} rows, but the head was built for at most ${this.N}`);
  }

  /** Bytes of scratch this head allocated (logits chunk and softmax stats). */
  get scratchBytes(): number {
    return this.scratch.size + this.stats.size;
  }

  destroy(): void {
    this.ctx.release(this.scratch.buffer);
    this.ctx.release(this.stats.buffer);
  }

  private kernelFor(entry: string, w: Tensor) {
    return this.ctx.kernel([dtypeWgsl, lmHeadWgsl], entry, { W_DTYPE: DTYPE_CODE[w.dtype as 'f32' | 'f16' | 'bf16'] });
  }

  private project(p: Program, entry: string, res: Tensor[], c: Chunk, rows: number, prm: Params): void {
    p.dispatch(this.kernelFor(entry, c.weight), res, prm, [Math.ceil(c.cols / 32), Math.ceil(rows / 32)], entry);
  }

  /** lm_head.wgsl's Params: N, C, cols, w_row0, ld, col_off, v0, V, h_rows. */
  private chunkParams(c: Chunk, rows: number, ld: number, colOff: number, hRows = rows): Params {
    return new Params().u32(rows, this.C, c.cols, c.wRow0, ld, colOff, c.v0, this.V, hRows);
  }

  private need(what: string, t: Tensor, dtype: string, n: number): void {
    if (t.dtype !== dtype) throw new Error(`${what}: ${t.label} must be ${dtype}, is ${t.dtype}`);
    if (numel(t.shape) < n) throw new Error(`${what}: ${t.label} has ${numel(t.shape)} elements, needs ${n}`);
  }
}

function checkShards(shards: LmHeadShard[], C: number, V: number, maxBinding: number, what: string): LmHeadShard[] {
  if (!shards.length) throw new Error(`${what}: no weight shards`);
  let next = 0;
  for (const [i, s] of shards.entries()) {
    const name = `shard ${i} (${s.weight.label})`;
    if (s.weight.dtype !== 'f32' && s.weight.dtype !== 'f16' && s.weight.dtype !== 'bf16') {
      throw new Error(`${what}: ${name} has dtype ${s.weight.dtype}; expected f32, f16 or bf16`);
    }
    if (s.rowStart !== next) throw new Error(`${what}: ${name} starts at row ${s.rowStart}, expected ${next}`);
    if (!Number.isInteger(s.rows) || s.rows < 1) throw new Error(`${what}: ${name} has ${s.rows} rows`);
    const shape = s.weight.shape;
    if (shape.length === 2 && shape[1] !== C)
      throw new Error(`${what}: ${name} has shape [${shape}], expected [*, ${C}]`);
    if (numel(shape) < s.rows * C) {
      throw new Error(`${what}: ${name} has ${numel(shape)} elements, needs ${s.rows} rows of ${C}`);
    }
    if (s.weight.size > maxBinding) {
      throw new Error(
        `${what}: ${name} (${fmtBytes(s.weight.size)}) exceeds this GPU's maxStorageBufferBindingSize ` +
          `(${fmtBytes(maxBinding)}); split the head weight into more shards`,
      );
    }
    next += s.rows;
  }
  if (next !== V) throw new Error(`${what}: the shards cover ${next} vocabulary rows, expected ${V}`);
  return shards.map((s) => ({ ...s }));
}

/**
 * acc [1] += sum of rowLoss [0, n): the step's loss over its micro-batches, in a fixed order
 * (deterministic, no atomics), through the device's workgroup sum (subgroups where checked).
 */
export function ceLossSum(p: Program, acc: Tensor, rowLoss: Tensor, n: number): void {
  const what = 'ceLossSum';
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what}: n = ${n} is not a row count`);
  if (acc.dtype !== 'f32' || numel(acc.shape) < 1) throw new Error(`${what}: ${acc.label} must be f32 [1]`);
  if (rowLoss.dtype !== 'f32' || numel(rowLoss.shape) < n)
    throw new Error(`${what}: ${rowLoss.label} must be f32 with at least ${n} elements`);
  disjoint(what, acc, rowLoss);
  const r = reduceSum(p.ctx);
  const k = p.ctx.kernel([r.source, crossEntropyWgsl], 'ce_loss_sum', r.overrides);
  p.dispatch(k, [acc, rowLoss], new Params().u32(n, 0, 0, 0, 0, 0), [1], 'ce_loss_sum');
}
