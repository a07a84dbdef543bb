// Gemma 3 270M (the real config.json's fields; weights not needed): the memory estimate reads the same
// plans the engine allocates, so this checks what a user of the 270M model is told before training.

import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../../io/hf-config';
import GEMMA3_270M from '../../io/fixtures/gemma3-270m-config.json';
import GEMMA3_1B from '../../io/fixtures/gemma3-1b-pt-config.json';
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

// Gemma 3 1B (google/gemma-3-1b-pt's config.json), the same input and limits: 4.41 GiB in all
// (bf16 weights 1.86 GiB, activations 2.47 GiB, LM head 64 MiB, LoRA state 17 MiB).
describe('memory estimate: Gemma 3 1B', () => {
  const c1b = parseHfConfig(GEMMA3_1B).model;
  const in1b: MemoryInput = { ...input, config: c1b };
  const GiB = 2 ** 30;

  it('bf16 weights: 999,885,952 parameters at 2 bytes, the 262144 x 1152 embedding in five shards under 128 MiB', () => {
    const e = estimateMemory(in1b);
    const params = baseParamCount(c1b);
    expect(params).toBe(999_885_952);
    expect(e.weights).toBeGreaterThanOrEqual(2 * params);
    expect(e.weights).toBeLessThan(2 * params + MiB);
    // 58240 rows x 1152 x 2 bytes = 134,184,960 <= 128 MiB; 262144 rows take five such shards
    expect(e.largest.label).toBe('model.embed_tokens.weight[0:58240]');
    expect(e.largest.bytes).toBe(58240 * 1152 * 2);
    expect(Math.ceil(262144 / 58240)).toBe(5);
    expect(e.lmHead).toBeGreaterThanOrEqual(64 * MiB);
    expect(e.lmHead).toBeLessThan(65 * MiB);
    expect(e.total / GiB).toBeGreaterThan(4.4);
    expect(e.total / GiB).toBeLessThan(4.42);
    expect(fitProblem(in1b)).toBeNull();
    console.log(
      `Gemma 3 1B bf16, LoRA r8 q/v, 4x256: total ${(e.total / GiB).toFixed(2)} GiB (weights ` +
        `${(e.weights / GiB).toFixed(2)}, activations ${(e.activations / GiB).toFixed(2)}, LM head ` +
        `${(e.lmHead / MiB).toFixed(0)} MiB, LoRA state ${(e.loraState / MiB).toFixed(1)} MiB)`,
    );
  });

  it("Gemma's extra activations over 26 layers; checkpointing keeps one layer's", () => {
    const N = 4 * 256;
    const plain = { ...c1b, gemma3: null, qkNorm: false };
    const extra = estimateMemory(in1b).activations - estimateMemory({ ...in1b, config: plain }).activations;
    // per layer: qRaw [N, 1024], kRaw [N, 256], ao and mo [N, 1152], four rstd; plus two RoPE tables and scratch
    const perLayer = 4 * N * (1024 + 256 + 2 * 1152);
    expect(extra).toBeGreaterThanOrEqual(26 * perLayer);
    expect(extra).toBeLessThan(26 * perLayer + 8 * MiB);
    const ckpt = estimateMemory({ ...in1b, checkpointing: true }).activations;
    expect(ckpt).toBeLessThan(estimateMemory(in1b).activations / 4);
  });
});
