// Text generation for previews and chat: the base model alone or with the LoRA adapter, with a KV
// cache. One program per block size n (and adapter on/off) runs the model on n consecutive tokens
// whose first position is read from a small GPU buffer, so each program is recorded once and
// replayed:
//   - the prompt is fed in chunks of up to PREFILL_CHUNK tokens (the last one padded to a power of
//     two), each a single batched pass that writes the chunk's keys and values into the cache with
//     causal attention over everything before it; only the last real row's logits are read back;
//   - then each generated token is one pass of the n = 1 program and one read-back of its logits.
// Padded rows past the prompt's end write cache rows that the next token overwrites before any
// query reads them (every block writes its cache rows before its attention reads the cache).
// The per-head q/k norms (qkNorm: Qwen3, Gemma 3) run between the projections and RoPE (q_proj
// writes its raw output into `att`, free until the attention writes it; k_proj into `kRaw`);
// SmolLM3's NoPE layers skip RoPE, and their cache holds the keys unrotated, as transformers' does.
// `feed: 'token'` keeps the old path (the prompt fed one token at a time with a read-back each),
// for the tests and the benchmark that compare the two.
// Gemma 3 (config.gemma3) runs the same block with what differs, as model/llama.ts does: norms
// with (1 + w), embeddings times sqrt(C), output norms before the residual adds, a GELU-tanh gate,
// query_pre_attn_scalar, and on sliding layers the local RoPE tables and attention over the last
// `sliding_window` positions of the cache (the cache keeps every position; only the reads are
// windowed).
// LongRoPE (Phi-3) as transformers' generate: the prefill takes the factors of the prompt's length,
// and the step whose sequence first passes original_max_position_embeddings feeds the whole
// sequence again with the long factors (Phi3ForCausalLM.prepare_inputs_for_generation drops the
// cache there), so no cached key keeps a short-factor rotation past the switch.

import type { GpuContext } from '../gpu/context';
import { Arena } from '../gpu/arena';
import { Program } from '../gpu/program';
import { type Tensor, view } from '../gpu/tensor';
import { embeddingForward } from '../kernels/embedding';
import { rmsnormForward } from '../kernels/rmsnorm';
import { RopeTables } from '../kernels/rope';
import { swigluForward } from '../kernels/swiglu';
import { add, scale } from '../kernels/elementwise';
import { matmul } from '../kernels/matmul';
import { DECODE_MAX_LEN, type DecodeAttentionOptions, attentionDecode, kvWrite, ropeDecode } from '../kernels/decode';
import {
  type ModelConfig,
  type LinearModule,
  linearModules,
  linearShape,
  normOffset,
  rotaryDim,
  usesRope,
} from '../model/config';
import { copyColumns } from '../kernels/columns';
import type { GpuWeights } from '../model/gpu-weights';
import { Linear, type LinearScratch } from '../model/linear';
import type { LoraLayout } from '../model/lora';
import { Rng } from '../../util/rng';
import { logSoftmax, sampleToken } from './sampling';

const ALIGN = 256;

/** Prompt tokens per batched pass (the block the prefill buffers are sized for). */
export const PREFILL_CHUNK = 128;

/** The block size that feeds `rest` remaining prompt tokens: a full chunk, or a power of two. */
export function prefillBlock(rest: number, chunk: number): number {
  if (rest >= chunk) return chunk;
  let n = 1;
  while (n < rest) n *= 2;
  return Math.min(n, chunk);
}

export interface GenerateOptions {
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  /** Generation stops after any of these ids (they are included in the output). */
  stopIds: number[];
  withAdapter: boolean;
  /** Called with each new token id; return false to stop. */
  onToken?: (id: number) => boolean | void;
  signal?: AbortSignal;
  /** How the prompt is fed: in batched chunks (default), or one token at a time (the old path). */
  feed?: 'batched' | 'token';
}

export interface GenerateResult {
  ids: number[];
  /** log p(token) under the model's distribution (before temperature / top-p). */
  logprobs: number[];
  stoppedBy: 'stop_token' | 'max_new_tokens' | 'max_length' | 'aborted';
}

type Block = Record<
  'res' | 'res2' | 'xn' | 'q' | 'k' | 'kRaw' | 'v' | 'att' | 'o' | 'gate' | 'up' | 'h' | 'mid' | 'rstd' | 'rstdQk',
  Tensor
> & { fused: Tensor | null };

/** Gemma 3's extra block tensors: an output norm's result, the sliding layers' RoPE tables. */
interface GemmaBlock {
  normed: Tensor;
  cosLocal: Tensor;
  sinLocal: Tensor;
}

export class Generator {
  /** Rows of the block buffers: the largest block a program runs. */
  readonly chunk: number;
  private readonly arena: Arena;
  /** The head's tensors, in a buffer of their own: a copy's source and destination must differ. */
  private readonly headArena: Arena;
  private readonly pos: Tensor;
  private readonly ids: Tensor;
  private readonly logits: Tensor;
  /** The row of the last block whose logits are wanted [C], and its normalized copy. */
  private readonly last: Tensor;
  private readonly lastNorm: Tensor;
  private readonly lastRstd: Tensor;
  private readonly programs = new Map<string, { p: Program; out: Tensor }>();
  private head: Program | null = null;
  private readonly kc: Tensor[] = [];
  private readonly vc: Tensor[] = [];
  private readonly x: Block;
  private readonly scratch: LinearScratch;
  private readonly cos: Tensor;
  private readonly sin: Tensor;
  /** cos, sin and the LongRoPE factors they hold (those of the sequence fed so far). */
  private readonly rope: RopeTables;
  private readonly tBuffers: Tensor[] = [];
  private readonly normBuffers: Tensor[] = [];
  private readonly gemma: GemmaBlock | null = null;

  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly weights: GpuWeights,
    readonly lora: { layout: LoraLayout; params: Tensor } | null,
    readonly maxLen = Math.min(DECODE_MAX_LEN, config.maxPositionEmbeddings),
    chunk = PREFILL_CHUNK,
  ) {
    const c = config;
    const C = c.hiddenSize;
    const qd = c.numHeads * c.headDim;
    const kvd = c.numKvHeads * c.headDim;
    const I = c.intermediateSize;
    const n = (this.chunk = Math.max(1, Math.min(chunk, maxLen)));
    const a = new Arena(ctx, 'generator');
    const f = (count: number, label: string) => a.add([count], 'f32', label);
    this.pos = a.add([1], 'u32', 'pos');
    this.ids = a.add([n], 'i32', 'token ids');
    const ha = new Arena(ctx, 'generator head');
    this.logits = ha.add([c.vocabSize], 'f32', 'logits');
    this.last = ha.add([C], 'f32', 'last row');
    this.lastNorm = ha.add([C], 'f32', 'last row normalized');
    this.lastRstd = ha.add([1], 'f32', 'last row rstd');
    ha.allocate();
    this.headArena = ha;
    for (let l = 0; l < c.numLayers; l++) {
      this.kc.push(f(this.maxLen * kvd, `L${l} k cache`));
      this.vc.push(f(this.maxLen * kvd, `L${l} v cache`));
    }
    this.x = {
      res: f(n * C, 'res'),
      res2: f(n * C, 'res2'),
      mid: f(n * C, 'mid'),
      xn: f(n * C, 'xn'),
      q: f(n * qd, 'q'),
      k: f(n * kvd, 'k'),
      kRaw: f(c.qkNorm ? n * kvd : 1, 'k raw'),
      v: f(n * kvd, 'v'),
      att: f(n * qd, 'att'),
      o: f(n * C, 'o'),
      gate: f(n * I, 'gate'),
      up: f(n * I, 'up'),
      h: f(n * I, 'h'),
      rstd: f(n, 'rstd'),
      rstdQk: f(c.qkNorm ? n * c.numHeads : 1, 'rstd q/k'),
      // Phi-3: a fused projection's output before it is split (qkv_proj, gate_up_proj)
      fused: c.modelType === 'phi3' ? f(n * Math.max(qd + 2 * kvd, 2 * I), 'fused') : null,
    };
    const r = lora?.layout.maxR ?? 1;
    // The forward without dropout reads none of the backward's scratch: one row keeps the type.
    const maxIn = Math.max(C, qd, I);
    this.scratch = { xd: f(maxIn, 'xd'), dt: f(r, 'dt'), dxd: f(maxIn, 'dxd'), seed: a.add([1], 'u32', 'seed') };
    this.cos = f((this.maxLen * rotaryDim(c)) / 2, 'cos');
    this.sin = f((this.maxLen * rotaryDim(c)) / 2, 'sin');
    if (lora) for (const [i, s] of lora.layout.slots.entries()) this.tBuffers.push(f(n * s.r, `t${i}`));
    if (lora?.layout.spec.use_dora) {
      // DoRA: each site's row norms, and z [n, max out] (model/linear.ts)
      lora.layout.slots.forEach((sl, i) => this.normBuffers.push(f(sl.outFeatures, `norm${i}`)));
      this.scratch.doraZ = f(n * Math.max(...lora.layout.slots.map((sl) => sl.outFeatures)), 'dora z');
    }
    if (c.gemma3) {
      this.gemma = {
        normed: f(n * C, 'normed output'),
        cosLocal: f((this.maxLen * c.headDim) / 2, 'cos (local)'),
        sinLocal: f((this.maxLen * c.headDim) / 2, 'sin (local)'),
      };
    }
    a.allocate();
    this.arena = a;
    this.rope = new RopeTables(ctx, this.cos, this.sin, this.maxLen, rotaryDim(c), c.ropeTheta, c.ropeScaling);
    this.rope.use(0);
    if (c.gemma3 && this.gemma) {
      const { cosLocal, sinLocal } = this.gemma;
      new RopeTables(ctx, cosLocal, sinLocal, this.maxLen, c.headDim, c.gemma3.ropeLocalTheta, null).use(0);
    }
  }

  private linears(withAdapter: boolean): Record<LinearModule, Linear>[] {
    const c = this.config;
    const lora = withAdapter ? this.lora : null;
    return this.weights.layers.map((lw, i) => {
      const out = {} as Record<LinearModule, Linear>;
      linearModules(c).forEach((m, mi) => {
        const [outF, inF] = linearShape(c, m);
        const slotIndex = lora ? lora.layout.slots.findIndex((s) => s.layer === i && s.module === m) : -1;
        const slot = lora && slotIndex >= 0 ? lora.layout.slots[slotIndex] : null;
        const r = slot?.r ?? 0;
        const branch =
          lora && slot
            ? {
                A: view(lora.params, slot.offsetA, [r, inF], ALIGN),
                B: view(lora.params, slot.offsetB, [outF, r], ALIGN),
                dA: view(lora.params, slot.offsetA, [r, inF], ALIGN), // unused: forward only
                dB: view(lora.params, slot.offsetB, [outF, r], ALIGN),
                r,
                scaling: slot.scaling,
                dropout: 0,
                salt: i * 8 + mi,
                t: this.tBuffers[slotIndex],
                ...(slot.offsetM !== undefined
                  ? {
                      dora: {
                        m: view(lora.params, slot.offsetM, [outF], ALIGN),
                        dm: view(lora.params, slot.offsetM, [outF], ALIGN), // unused: forward only
                        norm: this.normBuffers[slotIndex],
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

  /**
   * The model on a block of n tokens ids[0..n) at positions pos[0]..pos[0]+n-1: fills those cache
   * rows and leaves the final residual stream [n, C] in `out`. Public for the benchmark's profile.
   */
  block(withAdapter: boolean, n: number): { p: Program; out: Tensor } {
    const key = `${withAdapter}:${n}`;
    const have = this.programs.get(key);
    if (have) return have;
    const p = new Program(this.ctx, `generate${withAdapter ? ' +adapter' : ''} x${n}`);
    const c = this.config;
    const { hiddenSize: C, numHeads: nH, numKvHeads: nKV, headDim: hd, intermediateSize: I } = c;
    const rot = rotaryDim(c);
    const r = (t: Tensor, cols: number) => view(t, 0, [n, cols], ALIGN);
    const x = this.x;
    const lin = this.linears(withAdapter);
    const [q, k, v, att] = [r(x.q, nH * hd), r(x.k, nKV * hd), r(x.v, nKV * hd), r(x.att, nH * hd)];
    const [xn, mid, o] = [r(x.xn, C), r(x.mid, C), r(x.o, C)];
    const [gate, up, h] = [r(x.gate, I), r(x.up, I), r(x.h, I)];
    let cur = r(x.res, C);
    let next = r(x.res2, C);
    for (const s of this.weights.embed) embeddingForward(p, cur, this.ids, s.weight, n, C, s.rowStart, s.rows);
    // Gemma: embeddings times sqrt(C) rounded to f32 (transformers' embed_scale of a float32 model)
    if (c.gemma3) scale(p, cur, cur, Math.fround(Math.sqrt(C)), n * C);
    const eps = c.rmsNormEps;
    const off = normOffset(c);
    const act = c.gemma3 ? 'gelu_tanh' : 'silu';
    // Gemma: each branch's output normed (into `normed`) before its residual add
    const normed = this.gemma ? r(this.gemma.normed, C) : null;
    for (let l = 0; l < c.numLayers; l++) {
      const w = this.weights.layers[l];
      const { cos, sin, opts } = this.attnSetup(l);
      rmsnormForward(p, xn, x.rstd, cur, w.inputNorm, n, C, eps, off);
      this.qkv(p, l, n, lin[l], xn);
      if (usesRope(c, l)) {
        ropeDecode(p, q, cos, sin, this.pos, n, nH, hd, this.maxLen, rot);
        ropeDecode(p, k, cos, sin, this.pos, n, nKV, hd, this.maxLen, rot);
      }
      kvWrite(p, this.kc[l], this.vc[l], k, v, this.pos, n, nKV * hd, this.maxLen);
      attentionDecode(p, att, q, this.kc[l], this.vc[l], this.pos, n, nH, nKV, hd, this.maxLen, undefined, opts);
      lin[l].o_proj.forward(p, o, att, n, this.scratch, false);
      if (normed) rmsnormForward(p, normed, x.rstd, o, w.postNorm, n, C, eps, off);
      add(p, mid, cur, normed ?? o, n * C);
      rmsnormForward(p, xn, x.rstd, mid, w.gemma ? w.gemma.preFfNorm : w.postNorm, n, C, eps, off);
      if (x.fused) {
        lin[l].gate_up_proj.forward(p, r(x.fused, 2 * I), xn, n, this.scratch, false);
        splitColumns(p, x.fused, [gate, up], [I, I], n);
      } else {
        lin[l].gate_proj.forward(p, gate, xn, n, this.scratch, false);
        lin[l].up_proj.forward(p, up, xn, n, this.scratch, false);
      }
      swigluForward(p, h, gate, up, n * I, act);
      lin[l].down_proj.forward(p, o, h, n, this.scratch, false);
      if (normed) rmsnormForward(p, normed, x.rstd, o, w.gemma!.postFfNorm, n, C, eps, off);
      add(p, next, mid, normed ?? o, n * C);
      [cur, next] = [next, cur];
    }
    const made = { p, out: cur };
    this.programs.set(key, made);
    return made;
  }

  /**
   * q, k, v of layer l from xn into x.q / x.k / x.v (Phi-3: through the fused qkv_proj); with qkNorm (Qwen3, Gemma 3) q_proj writes
   * `att` and k_proj `kRaw`, and the per-head RMSNorm (rows [n*heads, hd], weight as normOffset + w)
   * writes q and k. RoPE is the caller's.
   */
  private qkv(p: Program, l: number, n: number, lin: Record<LinearModule, Linear>, xn: Tensor): void {
    const c = this.config;
    const { numHeads: nH, numKvHeads: nKV, headDim: hd } = c;
    const x = this.x;
    const r = (t: Tensor, cols: number) => view(t, 0, [n, cols], ALIGN);
    const heads = (t: Tensor, k: number) => view(t, 0, [n * k, hd], ALIGN);
    const qkn = this.weights.layers[l].qkNorm;
    const [qOut, kOut, vOut] = [r(qkn ? x.att : x.q, nH * hd), r(qkn ? x.kRaw : x.k, nKV * hd), r(x.v, nKV * hd)];
    if (x.fused) {
      // Phi-3: the fused qkv_proj, its columns split into q, k, v
      lin.qkv_proj.forward(p, r(x.fused, (nH + 2 * nKV) * hd), xn, n, this.scratch, false);
      splitColumns(p, x.fused, [qOut, kOut, vOut], [nH * hd, nKV * hd, nKV * hd], n);
    } else {
      lin.q_proj.forward(p, qOut, xn, n, this.scratch, false);
      lin.k_proj.forward(p, kOut, xn, n, this.scratch, false);
      lin.v_proj.forward(p, vOut, xn, n, this.scratch, false);
    }
    if (!qkn) return;
    const eps = c.rmsNormEps;
    const off = normOffset(c);
    const rstd = (k: number) => view(x.rstdQk, 0, [n * k], ALIGN);
    rmsnormForward(p, heads(x.q, nH), rstd(nH), heads(x.att, nH), qkn.q, n * nH, hd, eps, off);
    rmsnormForward(p, heads(x.k, nKV), rstd(nKV), heads(x.kRaw, nKV), qkn.k, n * nKV, hd, eps, off);
  }

  /**
   * Layer l's RoPE tables and attention options: Gemma 3 scales scores by query_pre_attn_scalar^-0.5,
   * and its sliding layers read the local tables and the last sliding_window positions of the cache.
   */
  private attnSetup(l: number): { cos: Tensor; sin: Tensor; opts: DecodeAttentionOptions } {
    const g = this.config.gemma3;
    if (!g || !this.gemma) return { cos: this.cos, sin: this.sin, opts: {} };
    const local = g.slidingLayers[l];
    return {
      cos: local ? this.gemma.cosLocal : this.cos,
      sin: local ? this.gemma.sinLocal : this.sin,
      opts: { scale: g.queryPreAttnScalar ** -0.5, window: local ? g.slidingWindow : 0 },
    };
  }

  /** logits [V] of the row copied into `last`: the final norm and the LM head (no adapter). */
  private headProgram(): Program {
    if (this.head) return this.head;
    const p = new Program(this.ctx, 'generate head');
    const c = this.config;
    const C = c.hiddenSize;
    rmsnormForward(p, this.lastNorm, this.lastRstd, this.last, this.weights.norm, 1, C, c.rmsNormEps, normOffset(c));
    for (const s of this.weights.lmHead) {
      const out = view(this.logits, s.rowStart, [s.rows], ALIGN);
      matmul(p, out, this.lastNorm, s.weight, 1, s.rows, C, { transB: true, label: 'lm head (generate)' });
    }
    this.head = p;
    return p;
  }

  /**
   * Runs tokens ids (at most one chunk) at positions start.. as one block; with `logitsOf` (a row
   * of the block) also the head on that row. The caller reads the logits.
   */
  private submitBlock(ids: number[], start: number, withAdapter: boolean, logitsOf: number | null): void {
    const dev = this.ctx.device;
    const n = prefillBlock(ids.length, this.chunk);
    const padded = new Int32Array(n);
    padded.set(ids);
    dev.queue.writeBuffer(this.pos.buffer, this.pos.offset, new Uint32Array([start]));
    dev.queue.writeBuffer(this.ids.buffer, this.ids.offset, padded);
    const { p, out } = this.block(withAdapter, n);
    const enc = dev.createCommandEncoder();
    p.encode(enc);
    if (logitsOf !== null) {
      const row = this.config.hiddenSize * 4;
      enc.copyBufferToBuffer(out.buffer, out.offset + logitsOf * row, this.last.buffer, this.last.offset, row);
      this.headProgram().encode(enc);
    }
    dev.queue.submit([enc.finish()]);
  }

  /** Logits at position `pos` after feeding token `id` there. */
  private async step(id: number, pos: number, withAdapter: boolean): Promise<Float32Array> {
    this.submitBlock([id], pos, withAdapter, 0);
    return this.ctx.readF32(this.logits);
  }

  /**
   * Feeds the whole prompt (filling the cache rows 0..T-1) and returns the logits [V] at its
   * last position: the distribution of the first new token. LongRoPE's factors are those of the
   * prompt's length, as transformers' forward over it picks them.
   */
  async prefill(
    prompt: number[],
    withAdapter: boolean,
    feed: 'batched' | 'token' = 'batched',
    signal?: AbortSignal,
  ): Promise<Float32Array> {
    this.checkPrompt(prompt, withAdapter);
    this.rope.use(prompt.length);
    return this.feed(prompt, withAdapter, feed, signal);
  }

  /** Fills the cache rows 0..T-1 with `tokens` and returns the logits at the last one. */
  private async feed(
    tokens: number[],
    withAdapter: boolean,
    mode: 'batched' | 'token',
    signal?: AbortSignal,
  ): Promise<Float32Array> {
    if (mode === 'token') {
      let logits: Float32Array | null = null;
      for (let i = 0; i < tokens.length; i++) logits = await this.step(tokens[i], i, withAdapter);
      return logits!;
    }
    for (let start = 0; start < tokens.length; start += this.chunk) {
      const ids = tokens.slice(start, start + this.chunk);
      const lastChunk = start + this.chunk >= tokens.length;
      this.submitBlock(ids, start, withAdapter, lastChunk ? ids.length - 1 : null);
      // A long prompt on a slow device: let the caller's Stop land between two chunks.
      if (!lastChunk) await this.ctx.device.queue.onSubmittedWorkDone();
      if (signal?.aborted) break;
    }
    return this.ctx.readF32(this.logits);
  }

  private checkPrompt(prompt: number[], withAdapter: boolean): void {
    if (prompt.length === 0) throw new Error('the prompt is empty');
    if (withAdapter && !this.lora) throw new Error('no adapter is loaded');
    if (prompt.length >= this.maxLen) {
      throw new Error(`the prompt has ${prompt.length} tokens; previews support at most ${this.maxLen - 1}`);
    }
    const vocab = this.config.vocabSize;
    for (const t of prompt)
      if (!(Number.isInteger(t) && t >= 0 && t < vocab))
        throw new Error(`prompt token id ${t} is outside the vocabulary (${vocab})`);
  }

  async generate(prompt: number[], o: GenerateOptions): Promise<GenerateResult> {
    this.checkPrompt(prompt, o.withAdapter);
    const rng = new Rng(o.seed);
    let logits = await this.prefill(prompt, o.withAdapter, o.feed ?? 'batched', o.signal);
    const ids: number[] = [];
    const logprobs: number[] = [];
    let pos = prompt.length;
    let stoppedBy: GenerateResult['stoppedBy'] = 'max_new_tokens';
    for (let n = 0; n < o.maxNewTokens; n++) {
      if (o.signal?.aborted) {
        stoppedBy = 'aborted';
        break;
      }
      const next = sampleToken(logits, { temperature: o.temperature, topP: o.topP }, rng);
      ids.push(next);
      logprobs.push(logSoftmax(logits)[next]);
      if (o.onToken?.(next) === false) {
        stoppedBy = 'aborted';
        break;
      }
      if (o.stopIds.includes(next)) {
        stoppedBy = 'stop_token';
        break;
      }
      if (pos >= this.maxLen) {
        stoppedBy = 'max_length';
        break;
      }
      if (n + 1 >= o.maxNewTokens) break;
      // LongRoPE as transformers' Phi3ForCausalLM.prepare_inputs_for_generation: the step whose
      // sequence first passes original_max_position_embeddings drops the cache and runs the whole
      // sequence again, with the long factors (cached keys never mix the two factor sets).
      if (this.rope.use(pos + 1)) logits = await this.feed([...prompt, ...ids], o.withAdapter, 'batched', o.signal);
      else logits = await this.step(next, pos, o.withAdapter);
      pos++;
    }
    return { ids, logprobs, stoppedBy };
  }

  destroy(): void {
    for (const { p } of this.programs.values()) p.destroy();
    this.head?.destroy();
    this.arena.destroy();
    this.headArena.destroy();
  }
}

/** parts[i] [n, widths[i]] = the i-th column block of fused [n, sum(widths)] (Phi-3's split). */
function splitColumns(p: Program, fused: Tensor, parts: Tensor[], widths: number[], n: number): void {
  const F = widths.reduce((s, w) => s + w, 0);
  const src = view(fused, 0, [n, F], ALIGN);
  let off = 0;
  parts.forEach((t, i) => {
    copyColumns(p, t, widths[i], 0, src, F, off, n, widths[i]);
    off += widths[i];
  });
}
