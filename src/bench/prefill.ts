// The prompt-feeding benchmark: a random-weight model of one of the benchmark's shapes reads a
// random prompt of T tokens through the Generator, once in batched chunks (the default) and once
// token by token with a logits read-back per token (the old path), in the same process, after one
// untimed warm-up of each (pipeline compilation). On a CPU driver only the ratio means anything.

import type { GpuContext } from '../engine/gpu/context';
import { profilePrograms, type KernelTime } from '../engine/gpu/profiler';
import { uploadWeights } from '../engine/model/gpu-weights';
import type { WeightDType } from '../engine/model/weights';
import { DECODE_MAX_LEN } from '../engine/kernels/decode';
import { Generator, PREFILL_CHUNK } from '../engine/sample/generator';
import { Rng } from '../util/rng';
import { RandomWeightSource } from './random-weights';
import { SHAPES, type ShapeName } from './shapes';

export interface PrefillBenchOptions {
  shape: ShapeName;
  /** Prompt tokens. */
  tokens: number;
  dtype: WeightDType;
  /** Also time the token-by-token feed (slow on a CPU driver: one read-back per token). */
  tokenPath: boolean;
  seed?: number;
  log?: (line: string) => void;
}

export interface PrefillBenchResult {
  adapter: { description: string; isCpu: boolean };
  bench: 'prefill';
  shape: ShapeName;
  dtype: string;
  prompt_tokens: number;
  chunk: number;
  batched_ms: number;
  batched_tokens_per_s: number;
  token_by_token_ms: number | null;
  token_by_token_tokens_per_s: number | null;
  speedup: number | null;
  /** max |logits(batched) - logits(token by token)| at the prompt's last position. */
  max_abs_logit_diff: number | null;
  /** GPU time per kernel of one replay of the last full chunk's program (timestamp queries). */
  kernels?: KernelTime[];
}

export async function benchPrefill(ctx: GpuContext, o: PrefillBenchOptions): Promise<PrefillBenchResult> {
  const log = o.log ?? (() => {});
  const config = SHAPES[o.shape];
  const maxLen = o.tokens + 1;
  // The cache's limit, not the shape's max_position_embeddings: the weights are random anyway.
  if (!(Number.isInteger(o.tokens) && o.tokens >= 1 && maxLen <= DECODE_MAX_LEN)) {
    throw new Error(`prefill bench: --tokens ${o.tokens} must be from 1 to ${DECODE_MAX_LEN - 1}`);
  }
  const weights = await uploadWeights(ctx, config, new RandomWeightSource(config, o.dtype, o.seed ?? 0));
  const gen = new Generator(ctx, config, weights, null, maxLen);
  try {
    const rng = new Rng(o.seed ?? 0);
    const prompt = Array.from({ length: o.tokens }, () => rng.int(config.vocabSize));
    const time = async (feed: 'batched' | 'token', ids: number[]) => {
      const t0 = performance.now();
      const logits = await ctx.checked(`prefill (${feed})`, () => gen.prefill(ids, false, feed));
      return { ms: performance.now() - t0, logits };
    };
    log(`${o.shape}: warm-up (compiles the pipelines)`);
    await time('batched', prompt);
    await time('token', prompt.slice(0, 2));
    const batched = await time('batched', prompt);
    log(`${o.shape}: ${o.tokens} tokens batched in ${batched.ms.toFixed(0)} ms`);
    let token: { ms: number; logits: Float32Array } | null = null;
    if (o.tokenPath) {
      token = await time('token', prompt);
      log(`${o.shape}: ${o.tokens} tokens one by one in ${token.ms.toFixed(0)} ms`);
    }
    let diff: number | null = null;
    if (token) {
      diff = 0;
      for (let i = 0; i < token.logits.length; i++)
        diff = Math.max(diff, Math.abs(token.logits[i] - batched.logits[i]));
    }
    let kernels: KernelTime[] | undefined;
    if (ctx.caps.timestamps) {
      const n = Math.min(PREFILL_CHUNK, maxLen);
      kernels = (await profilePrograms(ctx, [gen.block(false, n).p])).map((k) => ({
        ...k,
        ms: Math.round(k.ms * 1000) / 1000,
      }));
    }
    const perS = (ms: number) => Math.round((o.tokens / ms) * 1000 * 10) / 10;
    return {
      adapter: { description: ctx.caps.description, isCpu: ctx.caps.isCpu },
      bench: 'prefill',
      shape: o.shape,
      dtype: o.dtype.toLowerCase(),
      prompt_tokens: o.tokens,
      chunk: Math.min(PREFILL_CHUNK, maxLen),
      batched_ms: Math.round(batched.ms),
      batched_tokens_per_s: perS(batched.ms),
      token_by_token_ms: token ? Math.round(token.ms) : null,
      token_by_token_tokens_per_s: token ? perS(token.ms) : null,
      speedup: token ? Math.round((token.ms / batched.ms) * 10) / 10 : null,
      max_abs_logit_diff: diff,
      kernels,
    };
  } finally {
    gen.destroy();
    weights.arena.destroy();
  }
}
