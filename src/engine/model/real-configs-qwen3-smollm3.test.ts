// The real configurations of the smallest published Qwen3 and SmolLM3 (config.json as on the Hub,
// src/io/fixtures/configs/; SmolLM3-3B's as mirrored in fetchwiki/HuggingFaceTB-SmolLM3-3B, with no
// tie_word_embeddings key: SmolLM3Config ties by default): the base parameter count the studio shows and the GPU memory the
// engine would allocate, worked out from config.json and the tensor shapes alone (no weights).
// The counts are those of the published models (Qwen3-0.6B: 0.6B incl. the tied embedding once;
// SmolLM3-3B: 3.08B), and the q/k norms' activations are the only addition over a Llama of the
// same shape.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../../io/hf-config';
import { baseParamCount, expectedWeights, familyLabel, LINEAR_MODULES, type ModelConfig } from './config';
import { type MemoryInput, estimateMemory } from './memory';

const GiB = 2 ** 30;
const limits = { minStorageBufferOffsetAlignment: 256, maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 * GiB };
const config = (file: string): ModelConfig =>
  parseHfConfig(readFileSync(join(import.meta.dirname, '../../io/fixtures/configs', file), 'utf8'), file).model;

const input = (c: ModelConfig, o: Partial<MemoryInput> = {}): MemoryInput => ({
  config: c,
  weightDtype: 'bf16',
  lora: { r: 16, lora_alpha: 32, lora_dropout: 0, target_modules: [...LINEAR_MODULES], use_rslora: false },
  maxBatch: 4,
  maxSeq: 512,
  limits,
  ...o,
});

describe('Qwen3-0.6B (real config.json)', () => {
  const c = config('Qwen3-0.6B.config.json');

  it('has 596,049,920 base parameters: q/k norms counted, the tied embedding once', () => {
    expect(familyLabel(c.modelType)).toBe('Qwen3 (qwen3)');
    // embedding 151936 x 1024; per layer q 2048x1024, k/v 1024x1024, o 1024x2048, MLP 3 x 3072x1024,
    // two norms of 1024 and the q/k norms of 128; the final norm
    const layer = 2048 * 1024 + 2 * 1024 * 1024 + 1024 * 2048 + 3 * 3072 * 1024 + 2 * 1024 + 2 * 128;
    expect(151936 * 1024 + 28 * layer + 1024).toBe(596_049_920);
    expect(baseParamCount(c)).toBe(596_049_920);
    expect(expectedWeights(c)).toHaveLength(1 + 28 * 11 + 1);
  });

  it('memory estimate: bf16 weights, and the q/k norms add exactly their raw q/k and rstd per layer', () => {
    const e = estimateMemory(input(c));
    expect(e.weights).toBeGreaterThanOrEqual(2 * 596_049_920);
    expect(e.weights).toBeLessThan(2 * 596_049_920 + 1e5); // 256-byte alignment of ~340 tensors
    const plain = estimateMemory(input({ ...c, qkNorm: false }));
    const N = 4 * 512;
    const perLayer = 4 * (N * 16 * 128 + N * 8 * 128 + N * 16 + N * 8);
    expect(e.activations - plain.activations).toBe(28 * perLayer);
    // with checkpointing one set of layer tensors serves every layer
    const ck = estimateMemory(input(c, { checkpointing: true }));
    const ckPlain = estimateMemory(input({ ...c, qkNorm: false }, { checkpointing: true }));
    expect(ck.activations - ckPlain.activations).toBe(perLayer);
    console.log(
      `Qwen3-0.6B bf16, LoRA r16 all-linear, 4x512: total ${(e.total / GiB).toFixed(2)} GiB ` +
        `(weights ${(e.weights / GiB).toFixed(2)}, activations ${(e.activations / GiB).toFixed(2)}); ` +
        `with checkpointing ${(ck.total / GiB).toFixed(2)} GiB; NF4 + checkpointing ` +
        `${(estimateMemory(input(c, { checkpointing: true, nf4: true })).total / GiB).toFixed(2)} GiB`,
    );
  });
});

describe('SmolLM3-3B (real config.json)', () => {
  const c = config('SmolLM3-3B.config.json');

  it('has 3,075,098,624 base parameters (tied embedding once; NoPE layers have the same tensors)', () => {
    expect(familyLabel(c.modelType)).toBe('SmolLM3 (smollm3)');
    const layer = 2048 * 2048 + 2 * 512 * 2048 + 2048 * 2048 + 3 * 11008 * 2048 + 2 * 2048;
    expect(128256 * 2048 + 36 * layer + 2048).toBe(3_075_098_624);
    expect(baseParamCount(c)).toBe(3_075_098_624);
    expect(expectedWeights(c)).toHaveLength(1 + 36 * 9 + 1);
  });

  it('memory estimate: bf16 weights; skipping RoPE allocates nothing less or more', () => {
    const e = estimateMemory(input(c));
    expect(e.weights).toBeGreaterThanOrEqual(2 * 3_075_098_624);
    expect(e.weights).toBeLessThan(2 * 3_075_098_624 + 1e5);
    expect(estimateMemory(input({ ...c, ropeLayers: null })).total).toBe(e.total);
    const ck = estimateMemory(input(c, { checkpointing: true, nf4: true }));
    console.log(
      `SmolLM3-3B bf16, LoRA r16 all-linear, 4x512: total ${(e.total / GiB).toFixed(2)} GiB; ` +
        `NF4 + checkpointing ${(ck.total / GiB).toFixed(2)} GiB`,
    );
  });
});
