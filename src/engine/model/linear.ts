// A frozen linear layer with an optional bias and an optional LoRA branch, forward and backward:
//   y = x W^T (+ b) + scaling * (dropout(x) A^T) B^T (+ residual)
// The model calls only this, so how the branch is computed is this file's business alone: the
// small product t = dropout(x) A^T first, then ONE pass of the base matmul whose epilogue adds
// the bias, scaling * t B^T and the residual stream (shaders/matmul.wgsl); the backward's input
// gradient likewise adds dt A in the epilogue of dy W when there is no dropout mask to apply.
//
// Shapes: x [N, in], y [N, out], W [out, in] (checkpoint dtype or NF4), b [out], A [r, in],
// B [out, r] (f32 views into the one flat LoRA buffer), t = dropout(x) A^T [N, r] saved for the
// backward.
//
// DoRA (use_dora, PEFT's DoraLinearLayer): a magnitude m [out] in the same flat buffer and
//   y = x W^T + b + (g - 1) * (xl W^T) + g * s * (xl A^T) B^T,  g = m / ||W + s B A||_row
// with xl = dropout(x) in training (x otherwise), the norm a constant in the backward (PEFT's
// weight_norm.detach()). The forward keeps the LoRA forward above and adds (g - 1) * z with
// z = xl W^T + s t B^T, a second pass of the matmul into scratch; the backward recomputes z (the
// one extra matmul costs less memory than keeping z per layer), takes dm and gdy = g * dy from it
// (kernels/dora.ts) and runs the LoRA backward with gdy. Without dropout that is the whole
// backward (dx = gdy W + dt A); with dropout the base product keeps dy and the masked branch
// gets (gdy - dy) W + dt A. The norm is computed once per forward into a per-layer [out] tensor.

import { type MatmulLora, matmul } from '../kernels/matmul';
import { dropoutBackward, dropoutForward } from '../kernels/dropout';
import { doraBackward, doraForward, doraNorm } from '../kernels/dora';
import type { Program } from '../gpu/program';
import { type Tensor, view } from '../gpu/tensor';

export interface LoraBranch {
  A: Tensor;
  B: Tensor;
  dA: Tensor;
  dB: Tensor;
  r: number;
  scaling: number;
  dropout: number;
  /** Distinguishes this site's dropout mask from every other site's. */
  salt: number;
  /** dropout(x) A^T [Nmax, r]: saved by the forward for the backward. */
  t: Tensor;
  /** DoRA's magnitude (use_dora); absent: plain LoRA. */
  dora?: DoraBranch;
}

export interface DoraBranch {
  /** magnitude m [out] and its gradient (views into the flat LoRA buffers) */
  m: Tensor;
  dm: Tensor;
  /** ||W + s B A||_row [out], written by each forward (saveForBackward), read by the backward */
  norm: Tensor;
}

/** Scratch shared by all linear layers (sized for the largest in_features and rank). */
export interface LinearScratch {
  /** dropout(x) [Nmax, maxIn] */
  xd: Tensor;
  /** scaling * dy B [Nmax, maxR] */
  dt: Tensor;
  /** (dt A) before the dropout mask [Nmax, maxIn] */
  dxd: Tensor;
  /** u32 [1]: this micro-batch's dropout seed, rewritten by the trainer */
  seed: Tensor;
  /** DoRA only: z = xl W^T + s t B^T and g * dy [Nmax, max out of the DoRA sites] */
  doraZ?: Tensor;
  doraGdy?: Tensor;
}

const ALIGN = 256;

function rows(t: Tensor, n: number, cols: number): Tensor {
  return view(t, 0, [n, cols], ALIGN);
}

export class Linear {
  constructor(
    readonly name: string,
    readonly W: Tensor,
    readonly outF: number,
    readonly inF: number,
    readonly bias: Tensor | null,
    readonly lora: LoraBranch | null,
  ) {}

  /**
   * y = x W^T + b + LoRA (+ residual, which must not be y). `train` applies dropout on the LoRA
   * input.
   */
  forward(p: Program, y: Tensor, x: Tensor, N: number, s: LinearScratch, train: boolean, residual?: Tensor): void {
    const l = this.lora;
    let lora: MatmulLora | undefined;
    if (l) {
      this.saveForBackward(p, x, N, s, train);
      lora = { T: rows(l.t, N, l.r), L: l.B, r: l.r, scale: l.scaling };
    }
    matmul(p, y, x, this.W, N, this.outF, this.inF, {
      transB: true,
      bias: this.bias ?? undefined,
      lora,
      residual,
      label: `${this.name} fwd`,
    });
    if (l?.dora) {
      // y += (g - 1) * z: y already holds x W^T + b + s t B^T (+ residual)
      const z = this.doraZ(p, x, N, s, train);
      doraForward(p, y, z, l.dora.m, l.dora.norm, N, this.outF);
    }
  }

  /** z = xl W^T + s t B^T [N, out] into scratch (the saved t must be this micro-batch's). */
  private doraZ(p: Program, x: Tensor, N: number, s: LinearScratch, train: boolean): Tensor {
    const l = this.lora!;
    if (!s.doraZ) throw new Error(`${this.name}: DoRA needs the doraZ scratch`);
    const z = rows(s.doraZ, N, this.outF);
    const xl = this.loraInput(p, x, N, s, train);
    const lora = { T: rows(l.t, N, l.r), L: l.B, r: l.r, scale: l.scaling };
    matmul(p, z, xl, this.W, N, this.outF, this.inF, { transB: true, lora, label: `${this.name} dora z` });
    return z;
  }

  /**
   * Only what the backward reads of this layer's forward: t = dropout(x) A^T (nothing without
   * LoRA). Gradient checkpointing calls it where the layer's output itself is not needed again.
   */
  saveForBackward(p: Program, x: Tensor, N: number, s: LinearScratch, train: boolean): void {
    const l = this.lora;
    if (!l) return;
    const xd = this.loraInput(p, x, N, s, train);
    matmul(p, rows(l.t, N, l.r), xd, l.A, N, l.r, this.inF, { transB: true, label: `${this.name} lora A` });
    if (l.dora) doraNorm(p, l.dora.norm, this.W, l.A, l.B, this.outF, this.inF, l.r, l.scaling);
  }

  /** DoRA's initial magnitude, PEFT's update_layer: m = ||W + s B A||_row with the current A, B. */
  initDoraMagnitude(p: Program): void {
    const l = this.lora;
    if (l?.dora) doraNorm(p, l.dora.m, this.W, l.A, l.B, this.outF, this.inF, l.r, l.scaling);
  }

  /**
   * dx (=, or += with `accumulate`) dy W + the LoRA branch's input gradient; dA, dB +=.
   * Must follow a training forward of the same micro-batch (uses the saved t).
   */
  backward(p: Program, dx: Tensor, dy: Tensor, x: Tensor, N: number, s: LinearScratch, accumulate: boolean): void {
    const beta = accumulate ? 1 : 0;
    const l = this.lora;
    if (!l) {
      matmul(p, dx, dy, this.W, N, this.inF, this.outF, { beta, label: `${this.name} dx` });
      return;
    }
    const t = rows(l.t, N, l.r);
    // gy: the gradient the branch sees, g * dy with DoRA (which also adds dm), else dy
    let gy = dy;
    if (l.dora) {
      if (!s.doraGdy) throw new Error(`${this.name}: DoRA needs the doraGdy scratch`);
      const z = this.doraZ(p, x, N, s, true);
      const gdy = rows(s.doraGdy, N, this.outF);
      doraBackward(p, gdy, l.dora.dm, dy, z, l.dora.m, l.dora.norm, N, this.outF);
      gy = gdy;
    }
    // dB (out, r) += scaling * gy^T t
    matmul(p, l.dB, gy, t, this.outF, l.r, N, { transA: true, alpha: l.scaling, beta: 1, label: `${this.name} dB` });
    // dt (N, r) = scaling * gy B
    const dt = rows(s.dt, N, l.r);
    matmul(p, dt, gy, l.B, N, l.r, this.outF, { alpha: l.scaling, label: `${this.name} dt` });
    // dA (r, in) += dt^T dropout(x)
    const xd = this.loraInput(p, x, N, s, true);
    matmul(p, l.dA, dt, xd, l.r, this.inF, N, { transA: true, beta: 1, label: `${this.name} dA` });
    if (l.dropout > 0) {
      // dx = dy W, then += mask/(1-p) * (dt A)
      matmul(p, dx, dy, this.W, N, this.inF, this.outF, { beta, label: `${this.name} dx` });
      const dxd = rows(s.dxd, N, this.inF);
      if (l.dora) {
        // the masked branch's gradient: (gdy - dy) W + dt A
        const lora = { T: dt, L: l.A, r: l.r, scale: 1, trans: true };
        matmul(p, dxd, gy, this.W, N, this.inF, this.outF, { lora, label: `${this.name} dxd` });
        matmul(p, dxd, dy, this.W, N, this.inF, this.outF, { alpha: -1, beta: 1, label: `${this.name} dxd` });
      } else {
        matmul(p, dxd, dt, l.A, N, this.inF, l.r, { label: `${this.name} dxd` });
      }
      dropoutBackward(p, dx, dxd, s.seed, l.salt, l.dropout, N * this.inF);
    } else {
      // dx = gy W + dt A in one pass
      const lora = { T: dt, L: l.A, r: l.r, scale: 1, trans: true };
      matmul(p, dx, gy, this.W, N, this.inF, this.outF, { beta, lora, label: `${this.name} dx` });
    }
  }

  private loraInput(p: Program, x: Tensor, N: number, s: LinearScratch, train: boolean): Tensor {
    const l = this.lora!;
    if (!train || l.dropout === 0) return x;
    const xd = rows(s.xd, N, this.inF);
    dropoutForward(p, xd, x, s.seed, l.salt, l.dropout, N * this.inF);
    return xd;
  }
}
