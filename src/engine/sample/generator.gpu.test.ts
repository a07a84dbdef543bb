// Generation with the KV cache (decode kernels replayed per token) against the full forward pass
// recomputed over the whole sequence: greedy tokens are the argmax of the full-forward logits at
// each position, and the reported log-probabilities are their log-softmax. With and without the
// adapter, on a case with q/k/v bias and all seven LoRA targets (tiny-qwen2) and on one with
// tied embeddings and llama3 RoPE scaling (tiny-llama3), on Qwen3's per-head q/k norms (tiny-qwen3),
// on SmolLM3's layers without RoPE (tiny-smollm3) and on Phi-3's fused projections with partial
// rotary and longrope (tiny-phi3), on Gemma 3 (tiny-gemma3), and across LongRoPE's switch to the long
// factors past original_max_position_embeddings 8 (tiny-phi3-longrope: checked prefix by prefix, as
// transformers' generate recomputes the cache there). Then the batched prefill (the prompt fed
// in chunks of up to 128 tokens, one pass each) against the old token-by-token feed, on those two
// and the demo model (all with grouped-query attention): the same next-token logits and the same
// greedy continuation, for prompt lengths that are not multiples of any block (1, 7, 37) and one
// longer than a chunk (130 = 128 + a padded block of 2).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { Arena } from '../gpu/arena';
import { Program } from '../gpu/program';
import { testContext } from '../testing/gpu';
import { type ReferenceCase, ListBatchSource, loadCase } from '../testing/cases.node';
import { uploadWeights, type GpuWeights } from '../model/gpu-weights';
import { LoraLayout } from '../model/lora';
import { Trainer } from '../train/trainer';
import { DEFAULT_HPARAMS } from '../../config/hparams';
import { IGNORE_INDEX } from '../../data/types';
import { Generator, PREFILL_CHUNK } from './generator';
import { expectClose } from '../testing/gpu';
import { Rng } from '../../util/rng';
import { argmax, logSoftmax } from './sampling';

// tiny-llama3-targeting: slots of different ranks and scalings (rank_pattern, alpha_pattern) in some layers only.
for (const name of [
  'tiny-qwen2',
  'tiny-llama3',
  'tiny-qwen3',
  'tiny-smollm3',
  'tiny-llama3-targeting',
  'tiny-phi3',
  'tiny-gemma3',
  'tiny-phi3-longrope',
]) {
  describe(`generator with KV cache: ${name}`, () => {
    let ctx: GpuContext;
    let c: ReferenceCase;
    let weights: GpuWeights;
    let gen: Generator;
    let arena: Arena;
    let trainer: Trainer;

    beforeAll(async () => {
      ctx = await testContext();
      c = await loadCase(name);
      weights = await uploadWeights(ctx, c.checkpoint.config, c.checkpoint);
      const layout = new LoraLayout(c.checkpoint.config, c.lora);
      arena = new Arena(ctx, 'adapter');
      const params = arena.add([layout.size], 'f32', 'adapter');
      arena.allocate();
      ctx.upload(params, c.initial);
      gen = new Generator(ctx, c.checkpoint.config, weights, { layout, params }, 64);
      // The full-forward referee: a trainer's model holding the same adapter, never stepped.
      trainer = new Trainer(ctx, {
        config: c.checkpoint.config,
        weights,
        lora: c.lora,
        training: DEFAULT_HPARAMS.training,
        train: new ListBatchSource([], 1),
        totalSteps: 1,
        evalBatches: [],
        maxBatch: 1,
        maxSeq: 32,
        initialParams: c.initial,
      });
    });
    afterAll(() => {
      gen?.destroy();
      trainer?.destroy();
      arena?.destroy();
      weights?.arena.destroy();
    });

    async function fullLogits(ids: number[], withAdapter: boolean): Promise<Float32Array> {
      if (!withAdapter) trainer.setAdapterParams(new Float32Array(trainer.layout.size));
      else trainer.setAdapterParams(c.initial);
      const V = c.checkpoint.config.vocabSize;
      const out = ctx.tensor([ids.length, V], 'f32', 'full logits');
      const p = new Program(ctx, 'full logits');
      trainer.model.writeBatch(Int32Array.from(ids), new Int32Array(ids.length).fill(IGNORE_INDEX), 1, ids.length);
      trainer.model.recordLogits(p, 1, ids.length, out);
      await p.run();
      const logits = await ctx.readF32(out);
      ctx.release(out.buffer);
      p.destroy();
      return logits;
    }

    /**
     * Greedy decoding of `prompt` against the full forward. LongRoPE picks its factors by the
     * sequence's length, and so does transformers' generate (Phi3ForCausalLM recomputes the cache
     * with the long factors when the sequence first passes original_max_position_embeddings): there
     * each token is checked against the full forward of its own prefix, elsewhere of the whole.
     */
    async function expectGreedyMatches(prompt: number[], maxNewTokens: number, withAdapter: boolean): Promise<void> {
      const r = await gen.generate(prompt, {
        maxNewTokens,
        temperature: 0,
        topP: 1,
        seed: 0,
        stopIds: [],
        withAdapter,
      });
      expect(r.ids.length).toBe(maxNewTokens);
      expect(r.stoppedBy).toBe('max_new_tokens');
      const seq = [...prompt, ...r.ids];
      const V = c.checkpoint.config.vocabSize;
      const perPrefix = c.checkpoint.config.ropeScaling?.ropeType === 'longrope';
      const whole = perPrefix ? null : await fullLogits(seq, withAdapter);
      for (const [i, id] of r.ids.entries()) {
        const end = prompt.length + i; // the logits of row end - 1 predict token i
        const logits = whole ?? (await fullLogits(seq.slice(0, end), withAdapter));
        const row = logits.subarray((end - 1) * V, end * V);
        expect(id, `token ${i}`).toBe(argmax(row));
        expect(Math.abs(r.logprobs[i] - logSoftmax(row)[id]), `logprob ${i}`).toBeLessThan(1e-4);
      }
    }

    for (const withAdapter of [false, true]) {
      it(`greedy decoding ${withAdapter ? 'with' : 'without'} the adapter equals the full forward`, async () => {
        await expectGreedyMatches(Array.from(c.microBatches[0].inputIds.slice(0, 7)), 12, withAdapter);
      });
    }

    if (name === 'tiny-phi3-longrope') {
      it('a prompt past original_max_position_embeddings (8): prefilled with the long factors', async () => {
        await expectGreedyMatches(Array.from(c.microBatches[0].inputIds.slice(0, 12)), 6, true);
      });
    }

    it('the adapter changes the output, sampling is seeded, and stop ids stop', async () => {
      const prompt = Array.from(c.microBatches[0].inputIds.slice(0, 5));
      const base = await gen.generate(prompt, {
        maxNewTokens: 8,
        temperature: 0,
        topP: 1,
        seed: 0,
        stopIds: [],
        withAdapter: false,
      });
      const tuned = await gen.generate(prompt, {
        maxNewTokens: 8,
        temperature: 0,
        topP: 1,
        seed: 0,
        stopIds: [],
        withAdapter: true,
      });
      expect(tuned.logprobs).not.toEqual(base.logprobs);
      const s1 = await gen.generate(prompt, {
        maxNewTokens: 8,
        temperature: 1,
        topP: 0.9,
        seed: 5,
        stopIds: [],
        withAdapter: true,
      });
      const s2 = await gen.generate(prompt, {
        maxNewTokens: 8,
        temperature: 1,
        topP: 0.9,
        seed: 5,
        stopIds: [],
        withAdapter: true,
      });
      expect(s2.ids).toEqual(s1.ids);
      const stop = await gen.generate(prompt, {
        maxNewTokens: 8,
        temperature: 0,
        topP: 1,
        seed: 0,
        stopIds: [base.ids[2]],
        withAdapter: false,
      });
      expect(stop.stoppedBy).toBe('stop_token');
      expect(stop.ids).toEqual(base.ids.slice(0, base.ids.indexOf(base.ids[2]) + 1));
    });
  });
}

for (const name of ['demo', 'tiny-qwen2', 'tiny-llama3', 'tiny-phi3', 'tiny-gemma3']) {
  describe(`batched prefill equals the token-by-token feed: ${name}`, () => {
    let ctx: GpuContext;
    let c: ReferenceCase;
    let weights: GpuWeights;
    let gen: Generator;
    let arena: Arena;

    beforeAll(async () => {
      ctx = await testContext();
      c = await loadCase(name);
      weights = await uploadWeights(ctx, c.checkpoint.config, c.checkpoint);
      const layout = new LoraLayout(c.checkpoint.config, c.lora);
      arena = new Arena(ctx, 'adapter');
      const params = arena.add([layout.size], 'f32', 'adapter');
      arena.allocate();
      ctx.upload(params, c.initial);
      gen = new Generator(ctx, c.checkpoint.config, weights, { layout, params }, 160);
      expect(gen.chunk).toBe(PREFILL_CHUNK);
    });
    afterAll(() => {
      gen?.destroy();
      arena?.destroy();
      weights?.arena.destroy();
    });

    it('Stop (the abort signal) ends the generation after the tokens already made', async () => {
      const stop = new AbortController();
      const seen: number[] = [];
      const prompt = Array.from({ length: 9 }, (_, i) => (i * 37) % c.checkpoint.config.vocabSize);
      const o = { maxNewTokens: 10, temperature: 0, topP: 1, seed: 0, stopIds: [], withAdapter: true };
      const full = await gen.generate(prompt, o);
      const r = await gen.generate(prompt, {
        ...o,
        signal: stop.signal,
        onToken: (id) => {
          if (seen.push(id) === 3) stop.abort();
        },
      });
      expect(r.stoppedBy).toBe('aborted');
      expect(r.ids).toEqual(full.ids.slice(0, 3));
    });

    for (const withAdapter of [false, true]) {
      for (const T of [1, 7, 37, 130]) {
        it(`${T} prompt tokens ${withAdapter ? 'with' : 'without'} the adapter`, async () => {
          const rng = new Rng(T * 31 + (withAdapter ? 1 : 0));
          const V = c.checkpoint.config.vocabSize;
          const prompt = Array.from({ length: T }, () => rng.int(V));
          const batched = await ctx.checked('batched', () => gen.prefill(prompt, withAdapter, 'batched'));
          const token = await ctx.checked('token', () => gen.prefill(prompt, withAdapter, 'token'));
          const scale = token.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
          // Real logits, not a buffer left at zero: a spread of several units.
          expect(Math.max(...token) - Math.min(...token)).toBeGreaterThan(1);
          // f32 relative: the same sums in another order (matmuls over n rows instead of one).
          const tol = { atol: 1e-5 * scale, rtol: 1e-5 };
          const e1 = expectClose(batched, token, tol, 'next-token logits');
          const e2 = expectClose(logSoftmax(batched), logSoftmax(token), tol, 'next-token log-probs');
          console.log(
            `${name} T=${T} adapter=${withAdapter}: logits max abs diff ${e1.maxAbs.toExponential(2)} ` +
              `(max |logit| ${scale.toFixed(2)}), log-probs ${e2.maxAbs.toExponential(2)}`,
          );
          const o = { maxNewTokens: 8, temperature: 0, topP: 1, seed: 0, stopIds: [], withAdapter };
          const a = await ctx.checked('batched', () => gen.generate(prompt, { ...o, feed: 'batched' }));
          const b = await ctx.checked('token', () => gen.generate(prompt, { ...o, feed: 'token' }));
          expect(a.ids).toEqual(b.ids);
          expectClose(a.logprobs, b.logprobs, { atol: 1e-5, rtol: 1e-5 }, 'continuation log-probs');
        });
      }
    }
  });
}
