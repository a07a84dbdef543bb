// The Llama-family decoder with LoRA, as recorded GPU programs: forward, loss, and backward for
// one micro-batch shape (B, T), read top to bottom like llm.c's gpt2_forward / gpt2_backward.
// The backward is the forward read in reverse, one call per op. Parameter gradients (LoRA A, B)
// accumulate (+=) across micro-batches; activation gradients are assigned, except the residual
// stream's (dres), which every block adds into.
//
// With gradient checkpointing the forward keeps only each layer's input (the residual stream
// res[l]); the backward re-runs layer l's forward from res[l] into one shared set of layer
// tensors right before that layer's backward. The recomputation runs the same kernels on the
// same inputs (dropout masks are hashes of the micro-batch's seed), so gradients are bit-identical.
// Which tensors exist is model/plan.ts's activationPlan, which the memory estimate reads too.
//
// Family differences (model/config.ts): the per-head RMSNorm of q and k (qkNorm: Qwen3, Gemma 3)
// sits between the projection and RoPE, so the projection writes q/k raw, the norm writes q/k,
// and the backward runs the norm's backward (dx only: the norm weights are frozen) before the
// projection's (qkNormForward / qkProjBackward, shared by both blocks); SmolLM3's NoPE layers
// (ropeLayers[l] false) skip RoPE forward and backward.
// Phi-3 (config.modelType 'phi3') runs its fused qkv_proj and gate_up_proj as one Linear each
// into the `fused` scratch, whose columns are then copied out into q, k, v (gate, up); the
// backward gathers dq, dk, dv (dgate, dup) side by side into `fused` and runs the fused Linear's
// backward. So a LoRA adapter on a fused module is PEFT's: one A, one B over the fused output.
// Its LongRoPE tables hold the short or the long factors by the micro-batch's largest position
// (RopeTables, re-uploaded in writeBatch when the choice changes; the programs stay the same).
// Gemma 3 (config.gemma3) runs the same block (attnForward / mlpForward and their backwards are
// shared) with what differs: every norm with (1 + w) (normOffset), embeddings times sqrt(C), norms
// on the attention and MLP outputs before their residual adds, a GELU-tanh gate (gateAct),
// query_pre_attn_scalar, and sliding-window attention with its own RoPE tables on the layers
// layer_types marks sliding (attnSetup).
//
// Dims: B batch, T sequence, N = B*T tokens, C hidden, nH/nKV heads, hd head_dim, rot the rotary
// dims of a head (hd unless partial rotary), I intermediate, V vocabulary, L layers, r LoRA rank.

import type { GpuContext } from '../gpu/context';
import { Arena } from '../gpu/arena';
import { Program } from '../gpu/program';
import { type Tensor, view } from '../gpu/tensor';
import { embeddingForward } from '../kernels/embedding';
import { rmsnormBackward, rmsnormForward } from '../kernels/rmsnorm';
import { RopeTables, ropeBackward, ropeForward } from '../kernels/rope';
import { attentionBackward, attentionForward } from '../kernels/attention';
import { type GateAct, swigluBackward, swigluForward } from '../kernels/swiglu';
import { copyColumns } from '../kernels/columns';
import { add, scale } from '../kernels/elementwise';
import type { AttentionOptions } from '../kernels/attention';
import { LmHeadLoss, checkTargets } from '../kernels/lm_head';
import { IGNORE_INDEX } from '../../data/types';
import {
  type ModelConfig,
  type LinearModule,
  linearModules,
  linearShape,
  normOffset,
  rotaryDim,
  usesRope,
} from './config';
import { type ActivationPlan, type Materialized, activationPlan, lmHeadChunk, materialize } from './plan';
import type { GpuWeights } from './gpu-weights';
import { Linear, type LinearScratch } from './linear';
import type { LoraLayout } from './lora';

const ALIGN = 256;

/** The flat LoRA buffers: parameters and their gradients (AdamW moments live in the trainer). */
export interface LoraBuffers {
  layout: LoraLayout;
  params: Tensor; // [layout.size]
  grads: Tensor; // [layout.size]
}

/** Device buffers for a maximum micro-batch of Nmax tokens; smaller shapes use prefixes. */
type Activations = Materialized<ActivationPlan> & { arena: Arena; linear: LinearScratch };

export interface ModelOptions {
  /** Recompute each layer's forward in the backward instead of storing its activations. */
  checkpointing?: boolean;
}

export interface StepBuffers {
  /** f32 [1]: 1 / (targets in the whole optimizer step), rewritten each step. */
  lossScale: Tensor;
  /** f32 [1]: scaled loss, accumulated over the step's micro-batches. */
  lossAcc: Tensor;
  /** u32 [1]: dropout seed of the current micro-batch. */
  seed: Tensor;
}

export class LlamaModel {
  readonly layers: Record<LinearModule, Linear>[];
  private acts: Activations | null = null;
  private head: LmHeadLoss | null = null;
  private readonly programs = new Map<string, Program>();
  /** The cos/sin tables (acts.cos, acts.sin) and the LongRoPE factors they hold. */
  private rope: RopeTables | null = null;

  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly weights: GpuWeights,
    readonly lora: LoraBuffers | null,
    readonly dropout: number,
    readonly step: StepBuffers,
    readonly maxBatch: number,
    readonly maxSeq: number,
    readonly options: ModelOptions = {},
  ) {
    this.layers = weights.layers.map((lw, i) => {
      const out = {} as Record<LinearModule, Linear>;
      linearModules(config).forEach((m, mi) => {
        const [outF, inF] = linearShape(config, m);
        const slot = lora?.layout.slot(i, m);
        const branch =
          slot && lora
            ? {
                A: view(lora.params, slot.offsetA, [slot.r, inF], ALIGN),
                B: view(lora.params, slot.offsetB, [outF, slot.r], ALIGN),
                dA: view(lora.grads, slot.offsetA, [slot.r, inF], ALIGN),
                dB: view(lora.grads, slot.offsetB, [outF, slot.r], ALIGN),
                r: slot.r,
                scaling: slot.scaling,
                dropout,
                salt: i * 8 + mi,
                t: null as unknown as Tensor, // set in allocate()
                ...(slot.offsetM !== undefined
                  ? {
                      dora: {
                        m: view(lora.params, slot.offsetM, [outF], ALIGN),
                        dm: view(lora.grads, slot.offsetM, [outF], ALIGN),
                        norm: null as unknown as Tensor, // set in allocate()
                      },
                    }
                  : {}),
              }
            : null;
        out[m] = new Linear(`L${i}.${m}`, lw.linear[m], outF, inF, lw.bias[m as 'q_proj'] ?? null, branch);
      });
      return out;
    });
  }

  /** Records DoRA's magnitude initialisation m = ||W + s B A||_row of every DoRA site. */
  initDoraMagnitudes(p: Program): void {
    for (const lin of this.layers) for (const m of linearModules(this.config)) lin[m].initDoraMagnitude(p);
  }

  /** Tokens of the largest micro-batch. */
  get maxTokens(): number {
    return this.maxBatch * this.maxSeq;
  }

  /** What allocate() creates (model/memory.ts sums the same plan). */
  activationPlan(): ActivationPlan {
    const layout = this.lora?.layout;
    return activationPlan({
      config: this.config,
      maxBatch: this.maxBatch,
      maxSeq: this.maxSeq,
      lora: layout
        ? {
            r: layout.maxR,
            targets: layout.modules,
            dropout: this.dropout,
            slots: layout.slots,
            dora: !!layout.spec.use_dora,
          }
        : null,
      checkpointing: !!this.options.checkpointing,
    });
  }

  /** Allocates activations for micro-batches up to maxBatch x maxSeq (call once). */
  allocate(): void {
    if (this.acts) return;
    const c = this.config;
    const N = this.maxTokens;
    const a = new Arena(this.ctx, 'activations');
    const acts = materialize(this.activationPlan(), (s) => a.add(s.shape, s.dtype, s.label));
    a.allocate();
    this.layers.forEach((lin, l) => {
      for (const m of linearModules(c)) {
        const br = lin[m].lora;
        if (br) br.t = acts.layers[l].t[m]!;
        if (br?.dora) br.dora.norm = acts.layers[l].norm![m]!;
      }
    });
    const linear = {
      xd: acts.xd,
      dt: acts.dt,
      dxd: acts.dxd,
      seed: this.step.seed,
      doraZ: acts.doraZ,
      doraGdy: acts.doraGdy,
    };
    this.acts = { ...acts, arena: a, linear };
    this.rope = new RopeTables(this.ctx, acts.cos, acts.sin, this.maxSeq, rotaryDim(c), c.ropeTheta, c.ropeScaling);
    this.rope.use(this.maxSeq);
    if (c.gemma3 && acts.gemma) {
      const { cosLocal, sinLocal } = acts.gemma;
      new RopeTables(this.ctx, cosLocal, sinLocal, this.maxSeq, c.headDim, c.gemma3.ropeLocalTheta, null).use(0);
    }
    this.head = new LmHeadLoss(this.ctx, {
      N,
      C: c.hiddenSize,
      V: c.vocabSize,
      chunk: lmHeadChunk(N, c.vocabSize),
      shards: this.weights.lmHead,
    });
  }

  get activationBytes(): number {
    return this.acts?.arena.allocatedBytes ?? 0;
  }

  /**
   * Writes a micro-batch's token ids and shifted targets (labels[t+1], IGNORE_INDEX at each row's
   * end). positionIds (packed rows, as transformers' position_ids): each example's positions start
   * at 0, and each token attends only to the tokens of its own example; without them position t.
   */
  writeBatch(inputIds: Int32Array, labels: Int32Array, B: number, T: number, positionIds?: Int32Array): void {
    const a = this.requireActs();
    const targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) targets[b * T + t] = t + 1 < T ? labels[b * T + t + 1] : IGNORE_INDEX;
    }
    const seg = new Uint32Array(B * T);
    if (positionIds) {
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          const pos = positionIds[b * T + t];
          const start = t - pos;
          // An example starts at 0 and counts up by one; a token's example start is its row's.
          if (!(pos >= 0 && start >= 0 && (pos === 0 || seg[b * T + t - 1] === start))) {
            throw new Error(`micro-batch row ${b}: position id ${pos} at column ${t} does not continue its example`);
          }
          seg[b * T + t] = start;
        }
      }
    }
    checkTargets(targets, this.config.vocabSize, 'micro-batch labels');
    for (let i = 0; i < inputIds.length; i++) {
      const id = inputIds[i];
      if (!(id >= 0 && id < this.config.vocabSize)) {
        throw new Error(
          `micro-batch token ${i} has id ${id}, outside the model's vocabulary (${this.config.vocabSize})`,
        );
      }
    }
    this.ctx.upload(a.ids, inputIds);
    this.ctx.upload(a.targets, targets);
    this.ctx.upload(a.seg, seg);
    // LongRoPE's factors: transformers picks the long ones when torch.max(position_ids) + 1 passes
    // original_max_position_embeddings, over the whole micro-batch. Rows without position ids have
    // positions 0..T-1 (padding included, as transformers numbers them); packed rows count each
    // example's positions and those of the padding run, which restarts at 0 like an example.
    this.rope!.use(positionIds ? positionIds.reduce((m, p) => Math.max(m, p), 0) + 1 : T);
  }

  /**
   * The program for one micro-batch of shape (B, T): `train` records forward + loss + backward
   * (LoRA grads +=, lossAcc += scaled loss); otherwise forward + loss only (evaluation, no dropout).
   */
  program(B: number, T: number, train: boolean): Program {
    if (B > this.maxBatch || T > this.maxSeq) {
      throw new Error(`micro-batch ${B}x${T} exceeds the allocated ${this.maxBatch}x${this.maxSeq}`);
    }
    const key = `${B}x${T}:${train}`;
    let p = this.programs.get(key);
    if (!p) {
      p = new Program(this.ctx, `${train ? 'train' : 'eval'} ${key}`);
      this.recordForward(p, B, T, train);
      if (train) this.recordBackward(p, B, T);
      this.programs.set(key, p);
    }
    return p;
  }

  /** Records a forward pass (no dropout) and the full logits [B*T, V] of a micro-batch into `out`. */
  recordLogits(p: Program, B: number, T: number, out: Tensor): void {
    this.recordForward(p, B, T, false);
    const a = this.requireActs();
    this.head!.logits(p, out, view(a.xnF, 0, [B * T, this.config.hiddenSize], ALIGN), B * T);
  }

  private requireActs(): Activations {
    if (!this.acts) throw new Error('LlamaModel.allocate() was not called');
    return this.acts;
  }

  private recordForward(p: Program, B: number, T: number, train: boolean): void {
    const a = this.requireActs();
    const c = this.config;
    const N = B * T;
    const C = c.hiddenSize;
    const r = (t: Tensor, cols: number) => view(t, 0, [N, cols], ALIGN);
    for (const s of this.weights.embed) embeddingForward(p, r(a.res[0], C), a.ids, s.weight, N, C, s.rowStart, s.rows);
    // Gemma: embeddings times sqrt(C) rounded to f32 (transformers' embed_scale of a float32 model)
    if (c.gemma3) scale(p, r(a.res[0], C), r(a.res[0], C), Math.fround(Math.sqrt(C)), N * C);
    for (let l = 0; l < c.numLayers; l++) this.layerForward(p, l, B, T, train, false);
    const xL = r(a.res[c.numLayers], C);
    rmsnormForward(p, r(a.xnF, C), a.rstdF, xL, this.weights.norm, N, C, c.rmsNormEps, this.normOffset);
    this.head!.forward(p, a.rowLoss, a.lseF, r(a.xnF, C), a.targets, this.step.lossScale, N);
    this.head!.lossSum(p, this.step.lossAcc, a.rowLoss, N);
  }

  /**
   * Layer l: res[l+1] = mid + mlp(mid), mid = res[l] + attn(res[l]), each norm's weight applied as
   * normOffset + w. Gemma 3 (transformers' Gemma3DecoderLayer) norms each branch's output before
   * its residual add: mid = x + post_attention_layernorm(o_proj(attn)), and
   * res[l+1] = mid + post_feedforward_layernorm(down(...)), the MLP's input norm being
   * pre_feedforward_layernorm (Llama's post_attention_layernorm). `recompute` (checkpointing, in the
   * backward) stops once everything the layer's backward reads exists: Llama's res[l+1] is kept from
   * the forward, so down_proj only saves its LoRA input product; Gemma's backward reads down_proj's
   * output, so its layer runs whole (rewriting res[l+1] with the same values).
   */
  private layerForward(p: Program, l: number, B: number, T: number, train: boolean, recompute: boolean): void {
    const N = B * T;
    const { a, w, L, lin, r, C, nH, hd, I } = this.scope(l, N);
    const eps = this.config.rmsNormEps;
    const off = this.normOffset;
    const x = r(a.res[l], C);
    const G = L.gemma ?? null;
    const out = r(a.res[l + 1], C);
    // attention block: mid = x + o_proj(attn) (Llama: the add in o_proj's epilogue)
    rmsnormForward(p, r(L.xn1, C), L.rstd1, x, w.inputNorm, N, C, eps, off);
    this.attnForward(p, l, B, T, train);
    if (G) {
      lin.o_proj.forward(p, r(G.ao, C), r(L.att, nH * hd), N, a.linear, train);
      rmsnormForward(p, r(L.mid, C), G.rstdA, r(G.ao, C), w.postNorm, N, C, eps, off);
      add(p, r(L.mid, C), r(L.mid, C), x, N * C);
    } else {
      lin.o_proj.forward(p, r(L.mid, C), r(L.att, nH * hd), N, a.linear, train, x);
    }
    // MLP block: out = mid + down(act(gate(xn2)) * up(xn2)) (Llama: the add in down_proj's epilogue)
    rmsnormForward(p, r(L.xn2, C), L.rstd2, r(L.mid, C), G ? w.gemma!.preFfNorm : w.postNorm, N, C, eps, off);
    this.mlpForward(p, l, N, train);
    if (G) {
      lin.down_proj.forward(p, r(G.mo, C), r(L.h, I), N, a.linear, train);
      rmsnormForward(p, out, G.rstdM, r(G.mo, C), w.gemma!.postFfNorm, N, C, eps, off);
      add(p, out, out, r(L.mid, C), N * C);
    } else if (recompute) {
      lin.down_proj.saveForBackward(p, r(L.h, I), N, a.linear, train);
    } else {
      lin.down_proj.forward(p, out, r(L.h, I), N, a.linear, train, r(L.mid, C));
    }
  }

  /** layerForward read in reverse; dres holds d res[l+1] on entry and d res[l] on exit. */
  private layerBackward(p: Program, l: number, B: number, T: number): void {
    const N = B * T;
    const { a, w, L, lin, r, C, nH, hd, I } = this.scope(l, N);
    const off = this.normOffset;
    const G = L.gemma ?? null;
    const dres = r(a.dres, C);
    const dxn = r(a.dxn, C);
    // Gemma: d of a branch's output = its output norm's backward of dres (the kernel adds: cleared)
    const dao = G ? r(a.gemma!.dao, C) : dres;
    // MLP block (the residual passes dres on to d mid)
    if (G) {
      p.clear(dao);
      rmsnormBackward(p, dao, dres, r(G.mo, C), w.gemma!.postFfNorm, G.rstdM, N, C, off);
    }
    lin.down_proj.backward(p, r(a.dh, I), dao, r(L.h, I), N, a.linear, false);
    this.mlpBackward(p, l, N);
    rmsnormBackward(p, dres, dxn, r(L.mid, C), G ? w.gemma!.preFfNorm : w.postNorm, L.rstd2, N, C, off);
    // attention block (dres is now d mid = d x through the residual)
    if (G) {
      p.clear(dao);
      rmsnormBackward(p, dao, dres, r(G.ao, C), w.postNorm, G.rstdA, N, C, off);
    }
    lin.o_proj.backward(p, r(a.datt, nH * hd), dao, r(L.att, nH * hd), N, a.linear, false);
    this.attnBackward(p, l, B, T);
    rmsnormBackward(p, dres, dxn, r(a.res[l], C), w.inputNorm, L.rstd1, N, C, off);
  }

  /**
   * Layer l's attention options and RoPE tables: Gemma 3 scales scores by query_pre_attn_scalar^-0.5,
   * and its sliding layers read the local tables and see the last sliding_window positions.
   */
  private attnSetup(
    l: number,
    T: number,
  ): { o: AttentionOptions; cos: Tensor; sin: Tensor; rot: number; rope: boolean } {
    const a = this.requireActs();
    const c = this.config;
    const g = c.gemma3;
    const local = !!g?.slidingLayers[l];
    const rot = rotaryDim(c);
    return {
      o: g ? { scale: g.queryPreAttnScalar ** -0.5, window: local ? g.slidingWindow : 0 } : {},
      cos: view(local ? a.gemma!.cosLocal : a.cos, 0, [T, rot / 2], ALIGN),
      sin: view(local ? a.gemma!.sinLocal : a.sin, 0, [T, rot / 2], ALIGN),
      rot,
      rope: usesRope(c, l),
    };
  }

  /** What every layer function of layer l over N tokens reads: its tensors, weights, Linears, dims. */
  private scope(l: number, N: number) {
    const a = this.requireActs();
    const c = this.config;
    const { hiddenSize: C, numHeads: nH, numKvHeads: nKV, headDim: hd, intermediateSize: I } = c;
    const r = (t: Tensor, cols: number) => view(t, 0, [N, cols], ALIGN);
    return { a, w: this.weights.layers[l], L: a.layers[l], lin: this.layers[l], r, C, nH, nKV, hd, I };
  }

  /** att [N, nH*hd] = attention(rope(q), rope(k), v) of xn1: the projections, qkNorm, RoPE, attention. */
  private attnForward(p: Program, l: number, B: number, T: number, train: boolean): void {
    const N = B * T;
    const { a, w, L, lin, r, C, nH, nKV, hd } = this.scope(l, N);
    const { o, cos, sin, rot, rope } = this.attnSetup(l, T);
    // qkNorm: the projections write q/k raw, and the per-head norm (rows of hd) writes q/k
    const qk = L.qk && w.qkNorm ? L.qk : null;
    if (this.config.modelType === 'phi3') {
      const qkv = [qk ? qk.qRaw : L.q, qk ? qk.kRaw : L.k, L.v];
      lin.qkv_proj.forward(p, r(a.fused!, (nH + 2 * nKV) * hd), r(L.xn1, C), N, a.linear, train);
      this.split(p, a.fused!, qkv, [nH * hd, nKV * hd, nKV * hd], N);
    } else {
      lin.q_proj.forward(p, r(qk ? qk.qRaw : L.q, nH * hd), r(L.xn1, C), N, a.linear, train);
      lin.k_proj.forward(p, r(qk ? qk.kRaw : L.k, nKV * hd), r(L.xn1, C), N, a.linear, train);
      lin.v_proj.forward(p, r(L.v, nKV * hd), r(L.xn1, C), N, a.linear, train);
    }
    this.qkNormForward(p, l, N);
    const seg = view(a.seg, 0, [N], ALIGN);
    if (rope) {
      ropeForward(p, r(L.q, nH * hd), cos, sin, seg, B, T, nH, hd, rot);
      ropeForward(p, r(L.k, nKV * hd), cos, sin, seg, B, T, nKV, hd, rot);
    }
    const [q, k, v] = [r(L.q, nH * hd), r(L.k, nKV * hd), r(L.v, nKV * hd)];
    attentionForward(p, r(L.att, nH * hd), L.lse, q, k, v, seg, B, T, nH, nKV, hd, o);
  }

  /** attnForward's backward: from d att (in datt) to d xn1 (dxn, assigned); q/k/v grads via dq, dk, dv. */
  private attnBackward(p: Program, l: number, B: number, T: number): void {
    const N = B * T;
    const { a, L, lin, r, C, nH, nKV, hd } = this.scope(l, N);
    const { o, cos, sin, rot, rope } = this.attnSetup(l, T);
    const seg = view(a.seg, 0, [N], ALIGN);
    const [dq, dk, dv] = [r(a.dq, nH * hd), r(a.dk, nKV * hd), r(a.dv, nKV * hd)];
    const [q, k, v] = [r(L.q, nH * hd), r(L.k, nKV * hd), r(L.v, nKV * hd)];
    const [datt, att] = [r(a.datt, nH * hd), r(L.att, nH * hd)];
    attentionBackward(p, dq, dk, dv, datt, q, k, v, att, L.lse, a.delta, seg, B, T, nH, nKV, hd, o);
    if (rope) {
      ropeBackward(p, dq, cos, sin, seg, B, T, nH, hd, rot);
      ropeBackward(p, dk, cos, sin, seg, B, T, nKV, hd, rot);
    }
    if (this.config.modelType === 'phi3') {
      // (no Phi-3 checkpoint has q/k norms: the fused backward takes dq, dk as they are)
      this.gather(p, a.fused!, [a.dq, a.dk, a.dv], [nH * hd, nKV * hd, nKV * hd], N);
      lin.qkv_proj.backward(p, r(a.dxn, C), r(a.fused!, (nH + 2 * nKV) * hd), r(L.xn1, C), N, a.linear, false);
    } else {
      this.qkProjBackward(p, l, N);
      lin.v_proj.backward(p, r(a.dxn, C), dv, r(L.xn1, C), N, a.linear, true);
    }
  }

  /** h [N, I] = act(gate(xn2)) * up(xn2): SiLU, or Gemma 3's GELU-tanh (Phi-3: the fused gate_up_proj). */
  private mlpForward(p: Program, l: number, N: number, train: boolean): void {
    const { a, L, lin, r, C, I } = this.scope(l, N);
    if (this.config.modelType === 'phi3') {
      lin.gate_up_proj.forward(p, r(a.fused!, 2 * I), r(L.xn2, C), N, a.linear, train);
      this.split(p, a.fused!, [L.gate, L.up], [I, I], N);
    } else {
      lin.gate_proj.forward(p, r(L.gate, I), r(L.xn2, C), N, a.linear, train);
      lin.up_proj.forward(p, r(L.up, I), r(L.xn2, C), N, a.linear, train);
    }
    swigluForward(p, r(L.h, I), r(L.gate, I), r(L.up, I), N * I, this.gateAct);
  }

  /** mlpForward's backward: from d h (in dh) to d xn2 (dxn, assigned by gate, added by up). */
  private mlpBackward(p: Program, l: number, N: number): void {
    const { a, L, lin, r, C, I } = this.scope(l, N);
    const dxn = r(a.dxn, C);
    swigluBackward(p, r(a.dgate, I), r(a.dup, I), r(a.dh, I), r(L.gate, I), r(L.up, I), N * I, this.gateAct);
    if (this.config.modelType === 'phi3') {
      this.gather(p, a.fused!, [a.dgate, a.dup], [I, I], N);
      lin.gate_up_proj.backward(p, dxn, r(a.fused!, 2 * I), r(L.xn2, C), N, a.linear, false);
    } else {
      lin.gate_proj.backward(p, dxn, r(a.dgate, I), r(L.xn2, C), N, a.linear, false);
      lin.up_proj.backward(p, dxn, r(a.dup, I), r(L.xn2, C), N, a.linear, true);
    }
  }

  private recordBackward(p: Program, B: number, T: number): void {
    const a = this.requireActs();
    const c = this.config;
    const N = B * T;
    const C = c.hiddenSize;
    const r = (t: Tensor, cols: number) => view(t, 0, [N, cols], ALIGN);
    const dres = r(a.dres, C);
    const dxn = r(a.dxn, C);
    // LM head + final norm: dres = d(final norm input)
    this.head!.backward(p, dxn, r(a.xnF, C), a.targets, a.lseF, this.step.lossScale, N);
    p.clear(dres);
    rmsnormBackward(p, dres, dxn, r(a.res[c.numLayers], C), this.weights.norm, a.rstdF, N, C, this.normOffset);
    for (let l = c.numLayers - 1; l >= 0; l--) {
      // Checkpointing: the layer's forward again, right before its backward
      if (this.options.checkpointing) this.layerForward(p, l, B, T, true, true);
      this.layerBackward(p, l, B, T);
    }
    // The embedding is frozen and token ids have no gradient: the backward ends here.
  }

  /** parts[i] [N, widths[i]] = the i-th column block of fused [N, sum(widths)] (Phi-3's split). */
  private split(p: Program, fused: Tensor, parts: Tensor[], widths: number[], N: number): void {
    const F = widths.reduce((s, w) => s + w, 0);
    const src = view(fused, 0, [N, F], ALIGN);
    let off = 0;
    parts.forEach((t, i) => {
      copyColumns(p, view(t, 0, [N, widths[i]], ALIGN), widths[i], 0, src, F, off, N, widths[i]);
      off += widths[i];
    });
  }

  /** fused [N, sum(widths)] = the parts side by side (the split's backward). */
  private gather(p: Program, fused: Tensor, parts: Tensor[], widths: number[], N: number): void {
    const F = widths.reduce((s, w) => s + w, 0);
    const dst = view(fused, 0, [N, F], ALIGN);
    let off = 0;
    parts.forEach((t, i) => {
      copyColumns(p, dst, F, off, view(t, 0, [N, widths[i]], ALIGN), widths[i], 0, N, widths[i]);
      off += widths[i];
    });
  }

  /** Gemma3RMSNorm applies its weight as (1 + w); LlamaRMSNorm as w. */
  private get normOffset(): number {
    return normOffset(this.config);
  }

  /** The MLP gate's activation: Gemma 3's gelu_pytorch_tanh, SiLU otherwise. */
  private get gateAct(): GateAct {
    return this.config.gemma3 ? 'gelu_tanh' : 'silu';
  }

  /**
   * qkNorm (Qwen3, Gemma 3): q_proj / k_proj wrote qRaw / kRaw; the per-head RMSNorm (rows of
   * [N*heads, hd], weight as normOffset + w) writes q / k, which RoPE then rotates. No-op without.
   */
  private qkNormForward(p: Program, l: number, N: number): void {
    const a = this.requireActs();
    const c = this.config;
    const L = a.layers[l];
    const w = this.weights.layers[l];
    if (!L.qk || !w.qkNorm) return;
    const { numHeads: nH, numKvHeads: nKV, headDim: hd } = c;
    const heads = (t: Tensor, n: number) => view(t, 0, [N * n, hd], ALIGN);
    const rq = view(L.qk.rstdQ, 0, [N * nH], ALIGN);
    const rk = view(L.qk.rstdK, 0, [N * nKV], ALIGN);
    const off = this.normOffset;
    rmsnormForward(p, heads(L.q, nH), rq, heads(L.qk.qRaw, nH), w.qkNorm.q, N * nH, hd, c.rmsNormEps, off);
    rmsnormForward(p, heads(L.k, nKV), rk, heads(L.qk.kRaw, nKV), w.qkNorm.k, N * nKV, hd, c.rmsNormEps, off);
  }

  /**
   * q_proj's and k_proj's backward from d q / d k (after RoPE's backward), through the per-head
   * norms when qkNorm: d raw = the norm's backward (datt is free by now and holds d q raw, then
   * d k raw; the kernel adds, so it is cleared first). dxn is assigned by q_proj, added by k_proj.
   */
  private qkProjBackward(p: Program, l: number, N: number): void {
    const a = this.requireActs();
    const c = this.config;
    const C = c.hiddenSize;
    const { numHeads: nH, numKvHeads: nKV, headDim: hd } = c;
    const r = (t: Tensor, cols: number) => view(t, 0, [N, cols], ALIGN);
    const heads = (t: Tensor, n: number) => view(t, 0, [N * n, hd], ALIGN);
    const L = a.layers[l];
    const w = this.weights.layers[l];
    const lin = this.layers[l];
    const dxn = r(a.dxn, C);
    if (!L.qk || !w.qkNorm) {
      lin.q_proj.backward(p, dxn, r(a.dq, nH * hd), r(L.xn1, C), N, a.linear, false);
      lin.k_proj.backward(p, dxn, r(a.dk, nKV * hd), r(L.xn1, C), N, a.linear, true);
      return;
    }
    const off = this.normOffset;
    const rq = view(L.qk.rstdQ, 0, [N * nH], ALIGN);
    p.clear(r(a.datt, nH * hd));
    rmsnormBackward(p, heads(a.datt, nH), heads(a.dq, nH), heads(L.qk.qRaw, nH), w.qkNorm.q, rq, N * nH, hd, off);
    lin.q_proj.backward(p, dxn, r(a.datt, nH * hd), r(L.xn1, C), N, a.linear, false);
    const rk = view(L.qk.rstdK, 0, [N * nKV], ALIGN);
    p.clear(r(a.datt, nKV * hd));
    rmsnormBackward(p, heads(a.datt, nKV), heads(a.dk, nKV), heads(L.qk.kRaw, nKV), w.qkNorm.k, rk, N * nKV, hd, off);
    lin.k_proj.backward(p, dxn, r(a.datt, nKV * hd), r(L.xn1, C), N, a.linear, true);
  }

  destroy(): void {
    for (const p of this.programs.values()) p.destroy();
    this.programs.clear();
    this.acts?.arena.destroy();
    this.acts = null;
    this.head?.destroy?.();
  }
}
