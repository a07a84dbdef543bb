// Launcher for shaders/matmul.wgsl. Shapes are checked here, at record time, and the variant is
// chosen here, by the shape of C: mm_tiled (64x64 workgroup-memory tiles) unless C is skinny
// (fewer than 32 rows or columns: the LoRA products, r = 8), where mm_blocked (barrier-free,
// 4x4 per invocation) wastes fewer invocations. Measured on SwiftShader with
// `npm run bench -- --kernels` (docs/performance.md), one run, 256 tokens: mm_tiled / mm_blocked
// time = 0.34 (q_proj 256x576x576 bf16), 0.32 (up_proj 256x1536x576), 0.37 (down_proj dx,
// NN), 0.24 (NF4), 0.40 (512^3 f32), 0.41-0.85 at 64..192 columns; but 1.45-2.84 for the skinny
// LoRA products (576x8x256, 8x576x256, 256x8x576). So CPU drivers use the same rule; on GPUs the
// rule is unmeasured (no GPU figures yet).

import dtypeWgsl from '../../../shaders/dtype.wgsl?raw';
import matmulWgsl from '../../../shaders/matmul.wgsl?raw';
import type { GpuContext } from '../gpu/context';
import { Params, type Program } from '../gpu/program';
import { DTYPE_CODE, NF4_CODE, type Tensor, nf4Layout, numel } from '../gpu/tensor';

export type MatmulVariant = 'blocked' | 'tiled';

/** The epilogue's LoRA term: + scale * T L^T (L [N, r]) or, with `trans`, + scale * T L (L [r, N]). */
export interface MatmulLora {
  T: Tensor; // f32 [M, r]
  L: Tensor; // f32 [N, r] or [r, N]
  r: number;
  scale: number;
  trans?: boolean;
}

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** 0 overwrites C, 1 accumulates into it. */
  beta?: number;
  batch?: number;
  /** Batch strides in elements (default: the whole matrix; 0 broadcasts). */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  /** B starts at this element of its tensor (a window of rows; not for NF4). */
  offsetB?: number;
  /** Epilogue: + bias[n] (a frozen f32/f16/bf16 vector of N). */
  bias?: Tensor;
  /** Epilogue: + the LoRA branch's low-rank product. */
  lora?: MatmulLora;
  /** Epilogue: + residual[m, n] (f32 [M, N], not C itself). */
  residual?: Tensor;
  /** Force a variant (benchmarks and tests); default: by the shape (matmulVariant). */
  variant?: MatmulVariant;
  label?: string;
}

/** Fewer rows or columns of C than this: mm_blocked (see the file comment for the measurement). */
export const SKINNY = 32;

/** The variant the engine uses for an M x N product (see the file comment for the measurement). */
export function matmulVariant(M: number, N: number): MatmulVariant {
  return Math.min(M, N) < SKINNY ? 'blocked' : 'tiled';
}

// Placeholders for absent epilogue bindings: one 16-byte buffer per binding and device (outside
// the engine's allocation statistics: 64 bytes).
const placeholders = new WeakMap<GPUDevice, GPUBufferBinding[]>();
function placeholder(ctx: GpuContext, i: number): GPUBufferBinding {
  let list = placeholders.get(ctx.device);
  if (!list) {
    list = [0, 1, 2, 3].map((j) => ({
      buffer: ctx.device.createBuffer({ label: `matmul placeholder ${j}`, size: 16, usage: GPUBufferUsage.STORAGE }),
    }));
    placeholders.set(ctx.device, list);
  }
  return list[i];
}

function weightCode(B: Tensor): number {
  if (B.dtype === 'nf4') return NF4_CODE;
  if (B.dtype === 'f32' || B.dtype === 'f16' || B.dtype === 'bf16') return DTYPE_CODE[B.dtype];
  throw new Error(`matmul: B (${B.label}) has dtype ${B.dtype}; expected f32, f16, bf16 or nf4`);
}

/** C (M,N) = alpha * op(A) (M,K) · op(B) (K,N) + beta * C + epilogue. B may be f32, f16, bf16 or nf4. */
export function matmul(
  p: Program,
  C: Tensor,
  A: Tensor,
  B: Tensor,
  M: number,
  N: number,
  K: number,
  o: MatmulOptions = {},
): void {
  const what = `matmul ${o.label ?? ''}`.trim();
  const batch = o.batch ?? 1;
  const sA = o.strideA ?? M * K;
  const sB = o.strideB ?? K * N;
  const sC = o.strideC ?? M * N;
  if (A.dtype !== 'f32' || C.dtype !== 'f32') throw new Error(`${what}: A and C must be f32 (${A.label}, ${C.label})`);
  const code = weightCode(B);
  const need = (t: Tensor, n: number) => {
    if (numel(t.shape) < n) throw new Error(`${what}: ${t.label} has ${numel(t.shape)} elements, needs ${n}`);
  };
  need(A, (batch - 1) * sA + M * K);
  const oB = o.offsetB ?? 0;
  if (!Number.isInteger(oB) || oB < 0) throw new Error(`${what}: offsetB ${oB}`);
  need(B, oB + (batch - 1) * sB + K * N);
  need(C, (batch - 1) * sC + M * N);
  let wScale = 0;
  if (B.dtype === 'nf4') {
    if (batch !== 1 || oB !== 0) throw new Error(`${what}: an NF4 operand cannot be batched or offset`);
    wScale = nf4Layout(numel(B.shape)).codeWords;
  }
  const epilogue = o.bias || o.lora || o.residual;
  if (epilogue && batch !== 1) throw new Error(`${what}: bias, LoRA and residual terms need batch 1`);
  let biasCode = 0;
  if (o.bias) {
    const b = o.bias;
    if (b.dtype !== 'f32' && b.dtype !== 'f16' && b.dtype !== 'bf16')
      throw new Error(`${what}: bias ${b.label} is ${b.dtype}`);
    need(b, N);
    biasCode = DTYPE_CODE[b.dtype];
  }
  const lora = o.lora;
  if (lora) {
    if (!Number.isInteger(lora.r) || lora.r < 1) throw new Error(`${what}: LoRA rank ${lora.r}`);
    if (lora.T.dtype !== 'f32' || lora.L.dtype !== 'f32') throw new Error(`${what}: LoRA operands must be f32`);
    need(lora.T, M * lora.r);
    need(lora.L, N * lora.r);
  }
  if (o.residual) {
    if (o.residual.dtype !== 'f32') throw new Error(`${what}: residual ${o.residual.label} must be f32`);
    need(o.residual, M * N);
    if (o.residual === C) throw new Error(`${what}: the residual cannot be C itself (use beta = 1)`);
  }
  const variant = o.variant ?? matmulVariant(M, N);
  const kernel = p.ctx.kernel([dtypeWgsl, matmulWgsl], variant === 'tiled' ? 'mm_tiled' : 'mm_blocked', {
    TRANS_A: o.transA ? 1 : 0,
    TRANS_B: o.transB ? 1 : 0,
    W_DTYPE: code,
    HAS_BIAS: o.bias ? 1 : 0,
    BIAS_DTYPE: biasCode,
    HAS_LORA: lora ? 1 : 0,
    LORA_TRANS: lora?.trans ? 1 : 0,
    HAS_RES: o.residual ? 1 : 0,
  });
  const params = new Params()
    .u32(M, N, K, sA, sB, sC)
    .f32(o.alpha ?? 1, o.beta ?? 0)
    .u32(wScale, lora?.r ?? 0)
    .f32(lora?.scale ?? 0)
    .u32(oB);
  const resources = [
    C,
    A,
    B,
    o.bias ?? placeholder(p.ctx, 0),
    lora?.T ?? placeholder(p.ctx, 1),
    lora?.L ?? placeholder(p.ctx, 2),
    o.residual ?? placeholder(p.ctx, 3),
  ];
  const tile = variant === 'tiled' ? 64 : 32;
  p.dispatch(kernel, resources, params, [Math.ceil(N / tile), Math.ceil(M / tile), batch], o.label ?? 'matmul');
}
