// A model folder with Phi-4-mini-instruct's real config.json (src/io/fixtures): the parameter
// count, the LoRA size for "all-linear" and the memory estimate the trainer checks.

import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../../io/hf-config';
import PHI4_MINI from '../../io/fixtures/phi-4-mini-instruct.config.json';
import { resolveTargets } from '../../config/hparams';
import { baseParamCount, linearModules } from './config';
import { LoraLayout, type LoraSpec } from './lora';
import { estimateMemory } from './memory';
import { activationPlan, specList } from './plan';

const GiB = 2 ** 30;
const limits = { minStorageBufferOffsetAlignment: 256, maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 * GiB };
const config = parseHfConfig(PHI4_MINI).model;
const lora: LoraSpec = {
  r: 8,
  lora_alpha: 16,
  lora_dropout: 0,
  target_modules: resolveTargets('all-linear', linearModules(config)),
  use_rslora: false,
};

describe('Phi-4-mini-instruct (3.84B, phi3)', () => {
  it('parameters: 3,836,021,760 base (tied 200064 x 3072 embedding once), 11,534,336 LoRA r=8 all-linear', () => {
    expect(baseParamCount(config)).toBe(3_836_021_760);
    // per layer r * (in + out): qkv 3072 + 5120, o 3072 + 3072, gate_up 3072 + 16384, down 8192 + 3072
    const perLayer = 8 * (3072 + 5120 + 6144 + 3072 + 16384 + 8192 + 3072);
    expect(new LoraLayout(config, lora).paramCount).toBe(32 * perLayer);
    expect(32 * perLayer).toBe(11_534_336);
  });

  it('memory: bf16 weights are 2 bytes a parameter; NF4 keeps the embedding bf16; the fused scratch is planned', () => {
    const input = { config, weightDtype: 'bf16' as const, lora, maxBatch: 1, maxSeq: 512, limits };
    const bf16 = estimateMemory(input);
    expect(bf16.weights).toBeGreaterThanOrEqual(2 * 3_836_021_760);
    expect(bf16.weights).toBeLessThan(2 * 3_836_021_760 + 1e5); // alignment padding only
    const nf4 = estimateMemory({ ...input, nf4: true, checkpointing: true });
    const linear = 32 * (5120 + 3072 + 16384 + 8192) * 3072; // NF4: 0.5 byte + one f32 absmax per 64
    const rest = (200064 * 3072 + 65 * 3072) * 2; // embedding (tied) and norms stay bf16
    expect(nf4.weights).toBeGreaterThanOrEqual(linear * 0.5 + (linear / 64) * 4 + rest);
    expect(nf4.weights).toBeLessThan(linear * 0.5 + (linear / 64) * 4 + rest + 1e5);
    expect(nf4.total).toBeLessThan(4 * GiB);
    expect(bf16.total).toBeGreaterThan(7 * GiB);
    const fused = specList(activationPlan({ config, maxBatch: 1, maxSeq: 512, lora: null, checkpointing: true })).find(
      (s) => s.label === 'fused projection',
    );
    expect(fused?.shape).toEqual([512, 2 * 8192]); // max(q + 2kv = 5120, 2I = 16384)
    // the RoPE tables cover the 96 rotary dims of each 128-dim head
    const rope = specList(activationPlan({ config, maxBatch: 1, maxSeq: 512, lora: null, checkpointing: true })).find(
      (s) => s.label === 'rope cos',
    );
    expect(rope?.shape).toEqual([512, 48]);
  });
});
