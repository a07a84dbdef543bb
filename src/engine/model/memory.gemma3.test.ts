// Gemma 3 270M (the real config.json's fields; weights not needed): the memory estimate reads the same
// plans the engine allocates, so this checks what a user of the 270M model is told before training.

import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../../io/hf-config';
import GEMMA3_270M from '../../io/fixtures/gemma3-270m-config.json';
import { baseParamCount } from './config';
import { estimateMemory, fitProblem, type MemoryInput } from './memory';
import { activationPlan, lmHeadChunk, specList } from './plan';

const MiB = 2 ** 20;
const config = parseHfConfig(GEMMA3_270M).model;
const lora = {
  r: 8,
  lora_alpha: 16,
  lora_dropout: 0,
  target_modules: ['q_proj' as const, 'v_proj' as const],
  use_rslora: false,
};
// WebGPU's minimum limits: 128 MiB bindings, 256 MiB buffers.
const limits = {
  minStorageBufferOffsetAlignment: 256,
  maxBufferSize: 256 * MiB,
  maxStorageBufferBindingSize: 128 * MiB,
};
const input: MemoryInput = { config, weightDtype: 'bf16', lora, maxBatch: 4, maxSeq: 256, limits };

describe('memory estimate: Gemma 3 270M', () => {
  it('bf16 weights: 268,098,176 parameters at 2 bytes, the 262144 x 640 embedding in three shards under 128 MiB', () => {
    const e = estimateMemory(input);
    const params = baseParamCount(config);
    expect(params).toBe(268_098_176);
    expect(e.weights).toBeGreaterThanOrEqual(2 * params);
    expect(e.weights).toBeLessThan(2 * params + MiB); // alignment of ~130 tensors
    expect(e.largest.label).toMatch(/^model\.embed_tokens\.weight\[0:104832\]$/);
    expect(e.largest.bytes).toBe(104832 * 640 * 2);
    expect(fitProblem(input)).toBeNull();
  });

  it('the LM head over 262,144 ids stays chunked: 16,384 ids per [1024, chunk] f32 slice (64 MiB)', () => {
    expect(lmHeadChunk(4 * 256, config.vocabSize)).toBe(16384);
    const e = estimateMemory(input);
    expect(e.lmHead).toBeGreaterThanOrEqual(64 * MiB);
    expect(e.lmHead).toBeLessThan(65 * MiB);
  });

  it("activations include Gemma's extra norm inputs per layer; checkpointing keeps one layer's", () => {
    const N = 4 * 256;
    const plan = activationPlan({
      config,
      maxBatch: 4,
      maxSeq: 256,
      lora: { r: 8, targets: lora.target_modules, dropout: 0 },
      checkpointing: false,
    });
    const labels = specList(plan).map((s) => s.label);
    for (const t of ['L17.q raw', 'L17.k raw', 'L17.ao', 'L17.mo', 'rope cos (local)', 'dao'])
      expect(labels).toContain(t);
    const plain = { ...config, gemma3: null, qkNorm: false };
    const extra = estimateMemory(input).activations - estimateMemory({ ...input, config: plain }).activations;
    // per layer: qRaw [N, 1024], kRaw [N, 256], ao and mo [N, 640], four rstd; plus two RoPE tables and scratch
    const perLayer = 4 * N * (1024 + 256 + 2 * 640);
    expect(extra).toBeGreaterThanOrEqual(18 * perLayer);
    expect(extra).toBeLessThan(18 * perLayer + 8 * MiB);
    const ckpt = estimateMemory({ ...input, checkpointing: true }).activations;
    expect(ckpt).toBeLessThan(estimateMemory(input).activations / 4);
  });
});
