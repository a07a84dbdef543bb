import { describe, expect, it } from 'vitest';
import { packArena } from '../gpu/arena';
import { SHAPES } from '../../bench/shapes';
import { LINEAR_MODULES } from './config';
import type { LoraSpec } from './lora';
import { fmtBytes } from '../gpu/context';
import { type MemoryInput, estimateMemory, fitProblem, memorySuggestions, trainingSpecs } from './memory';
import { activationPlan, lmHeadScratch, specList } from './plan';

const GiB = 2 ** 30;
// An H100's limits through Dawn (shared/gpu/README.md): 2 GiB bindings.
const limits = { minStorageBufferOffsetAlignment: 256, maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 * GiB };
const lora = (targets: LoraSpec['target_modules'], dropout = 0): LoraSpec => ({
  r: 8,
  lora_alpha: 16,
  lora_dropout: dropout,
  target_modules: targets,
  use_rslora: false,
});
const qwen: MemoryInput = {
  config: SHAPES['qwen2.5-0.5b'],
  weightDtype: 'bf16',
  lora: lora(['q_proj', 'v_proj']),
  maxBatch: 8,
  maxSeq: 256,
  limits,
};

describe('packArena (the rule Arena.allocate and the estimate share)', () => {
  it('aligns each tensor and opens a new buffer before one would pass the cap', () => {
    const r = packArena([10, 300, 100, 600], 256, 1024);
    expect(r.placement).toEqual([
      { buffer: 0, offset: 0 },
      { buffer: 0, offset: 256 },
      { buffer: 0, offset: 768 },
      { buffer: 1, offset: 0 },
    ]);
    expect(r.buffers).toEqual([868, 600]);
  });
});

describe('memory estimate at real model sizes', () => {
  it('Qwen2.5-0.5B, batch 8 x 256, LoRA q,v: NF4 + checkpointing fits 1.5 GB; bf16 does not', () => {
    const plain = estimateMemory(qwen);
    const both = estimateMemory({ ...qwen, nf4: true, checkpointing: true });
    expect(plain.total).toBeGreaterThan(3.5 * GiB);
    expect(both.total).toBeLessThan(1.5e9);
    // NF4: 0.5 byte per linear weight + 4 bytes per 64; the embedding stays bf16 (151936 x 896).
    const linear = 24 * 896 * (896 + 128 + 128 + 896 + 3 * 4864);
    const embed = 151936 * 896 * 2;
    expect(both.weights).toBeGreaterThan(embed + linear / 2 + linear / 16);
    expect(both.weights).toBeLessThan(embed + linear / 2 + linear / 16 + 1e6);
  });

  it('DoRA adds its z and g·dy scratch, a norm per module, and the magnitudes in the LoRA state', () => {
    const plain = estimateMemory(qwen);
    const dora = estimateMemory({ ...qwen, lora: { ...qwen.lora, use_dora: true } });
    const N = 8 * 256;
    const maxOut = 896; // q_proj (v_proj has 128)
    const norms = 24 * (896 + 128) * 4;
    const extra = dora.activations - plain.activations;
    expect(extra).toBeGreaterThanOrEqual(2 * N * maxOut * 4 + norms);
    expect(extra).toBeLessThan(2 * N * maxOut * 4 + norms + 48 * 256 + 2 * 256); // + alignment padding
    // params, grads, AdamW m and v, the rollback pair: 6 copies of 24 x (896 + 128) magnitudes at least
    expect(dora.loraState - plain.loraState).toBeGreaterThanOrEqual(6 * norms);
  });

  it('checkpointing keeps the residual stream and one layer: far smaller activations', () => {
    const a = estimateMemory(qwen).activations;
    const b = estimateMemory({ ...qwen, checkpointing: true }).activations;
    expect(b).toBeLessThan(a / 4);
    const N = 8 * 256;
    expect(b).toBeGreaterThan(25 * N * 896 * 4); // res[0..24] at least
  });

  it('stores a layer tensor per layer only when the backward reads it', () => {
    const c = SHAPES['smollm2-135m'];
    const base = { config: c, maxBatch: 2, maxSeq: 8, checkpointing: false };
    const count = (targets: LoraSpec['target_modules']) =>
      specList(activationPlan({ ...base, lora: { r: 8, targets, dropout: 0 } })).filter((s) => /\.h$/.test(s.label))
        .length;
    expect(count(['q_proj', 'v_proj'])).toBe(1); // one shared h: down_proj has no LoRA
    expect(count(['down_proj'])).toBe(30);
    const ck = activationPlan({
      ...base,
      checkpointing: true,
      lora: { r: 8, targets: [...LINEAR_MODULES], dropout: 0 },
    });
    expect(new Set(ck.layers).size).toBe(1);
  });

  it('the LM head scratch stays at 64 MiB whatever the vocabulary', () => {
    const [chunk] = lmHeadScratch(8 * 256, 151936);
    expect(chunk.bytes).toBeLessThanOrEqual(64 * 2 ** 20);
    expect(chunk.shape[1] % 32).toBe(0);
  });

  it("on WebGPU's minimum 128 MiB bindings the vocabulary is sharded and nothing else comes close", () => {
    const small = { ...limits, maxStorageBufferBindingSize: 128 * 2 ** 20 };
    for (const weightDtype of ['f32', 'bf16'] as const) {
      const e = estimateMemory({ ...qwen, weightDtype, lora: lora([...LINEAR_MODULES], 0.1), limits: small });
      expect(e.largest.bytes).toBeLessThanOrEqual(small.maxStorageBufferBindingSize);
      expect(fitProblem({ ...qwen, weightDtype, limits: small })).toBeNull();
    }
    // below the vocabulary: the LM-head chunk (64 MiB), then [N, intermediate] f32 (38 MiB)
    const t = trainingSpecs({ ...qwen, limits: small });
    const big = [...t.activations, ...t.lmHead, ...t.loraState].map((x) => x.bytes).sort((a, b) => b - a);
    expect(big[0]).toBe(64 * 2 ** 20);
    expect(big[1]).toBe(2048 * 4864 * 4);
  });

  it('no tensor exceeds a 2 GiB binding at batch 8 x 256 (largest: the embedding)', () => {
    for (const config of [SHAPES['smollm2-135m'], SHAPES['qwen2.5-0.5b']]) {
      const e = estimateMemory({ ...qwen, config, weightDtype: 'f32' });
      expect(e.largest.bytes).toBeLessThan(limits.maxStorageBufferBindingSize);
      expect(e.largest.label).toMatch(/embed_tokens/);
    }
  });
});

describe('fitProblem: refuses with what to change', () => {
  it('over budget: names the estimate and the options that help, with their estimates', () => {
    const msg = fitProblem({ ...qwen, lora: lora([...LINEAR_MODULES], 0.05) }, 1.5 * GiB)!;
    expect(msg).toMatch(/more than the budget of 1\.50 GiB/);
    const input = { ...qwen, lora: lora([...LINEAR_MODULES], 0.05) };
    const before = fmtBytes(estimateMemory(input).total);
    const ckpt = fmtBytes(estimateMemory({ ...input, checkpointing: true }).total);
    const nf4 = fmtBytes(estimateMemory({ ...input, nf4: true }).total);
    expect(msg).toContain(`To fit: turn on gradient checkpointing: ${before} -> ${ckpt}; `);
    expect(msg).toContain(`; load the base in 4-bit (NF4): ${before} -> ${nf4}; `);
    expect(msg).toMatch(/per_device_train_batch_size 4 \(raise gradient_accumulation_steps to keep the batch\): /);
    expect(msg).toMatch(/max_seq_length 128: [\d.]+ GiB -> [\d.]+ GiB\.$/);
    expect(fitProblem({ ...qwen, nf4: true, checkpointing: true }, 1.5 * GiB)).toBeNull();
    expect(fitProblem(qwen)).toBeNull(); // no budget: only the binding limit counts
  });

  it('memorySuggestions: the options not yet on, each from the exact plan with only it flipped', () => {
    const all = memorySuggestions(qwen);
    expect(all.map((s) => s.option)).toEqual(['gradient_checkpointing', 'load_in_4bit']);
    const [ckpt, nf4] = all;
    expect(ckpt.before).toBe(estimateMemory(qwen).total);
    expect(ckpt.after).toBe(estimateMemory({ ...qwen, checkpointing: true }).total);
    expect(nf4.after).toBe(estimateMemory({ ...qwen, nf4: true }).total);
    expect(ckpt.text).toBe(`turn on gradient checkpointing: ${fmtBytes(ckpt.before)} -> ${fmtBytes(ckpt.after)}`);
    expect(nf4.text).toBe(`load the base in 4-bit (NF4): ${fmtBytes(nf4.before)} -> ${fmtBytes(nf4.after)}`);
    // Qwen2.5-0.5B batch 8 x 256: checkpointing saves GiBs of activations, NF4 about 0.3 GiB of weights.
    expect(ckpt.before - ckpt.after).toBeGreaterThan(2 * GiB);
    expect(nf4.before - nf4.after).toBeGreaterThan(0.25 * GiB);
    // What is on already is not suggested; with both on, nothing is.
    expect(memorySuggestions({ ...qwen, checkpointing: true }).map((s) => s.option)).toEqual(['load_in_4bit']);
    expect(memorySuggestions({ ...qwen, checkpointing: true, nf4: true })).toEqual([]);
    console.log(all.map((s) => s.text).join('\n'));
  });

  it('a tensor past maxStorageBufferBindingSize: says which, and to lower the batch or sequence', () => {
    const msg = fitProblem({ ...qwen, maxBatch: 64, maxSeq: 4096 })!;
    expect(msg).toMatch(/The tensor L\d+\.(gate|up)|The tensor L\*\.h|dh|dgate|dup/);
    expect(msg).toMatch(/maxStorageBufferBindingSize 2\.00 GiB/);
    expect(msg).toMatch(/per_device_train_batch_size \(now 64\) or max_seq_length \(now 4096\)/);
  });
});

describe('memory estimate with PEFT targeting', () => {
  it('counts each slot at its own rank and only the layers adapted (rank_pattern, layers_to_transform)', () => {
    const N = 8 * 256;
    const base = trainingSpecs(qwen);
    const t = (s: ReturnType<typeof trainingSpecs>) =>
      s.activations.filter((x) => /\.t$/.test(x.label)).reduce((a, x) => a + x.bytes, 0);
    // q, v at r 8 in 24 layers: t is [N, 8] per slot
    expect(t(base)).toBe(48 * N * 8 * 4);
    const patterned = trainingSpecs({ ...qwen, lora: { ...qwen.lora, rank_pattern: { v_proj: 32 } } });
    expect(t(patterned)).toBe(24 * N * (8 + 32) * 4);
    const lora = (s: ReturnType<typeof trainingSpecs>) => s.loraState.find((x) => x.label === 'lora params')!.bytes;
    // v_proj: A [32, 896] + B [128, 32] instead of rank 8
    expect(lora(patterned) - lora(base)).toBe(24 * 24 * (896 + 128) * 4);
    const two = trainingSpecs({ ...qwen, lora: { ...qwen.lora, layers_to_transform: [0, 23] } });
    expect(t(two)).toBe(4 * N * 8 * 4);
    const checkpointed = trainingSpecs({
      ...qwen,
      checkpointing: true,
      lora: { ...qwen.lora, rank_pattern: { v_proj: 32 } },
    });
    expect(t(checkpointed)).toBe(N * (8 + 32) * 4); // one shared layer, each module at its largest rank
  });
});
