// The CLI's choice of Vulkan driver on this machine (no GPU): the probe finds no hardware adapter,
// so the programs get SwiftShader with the reason; LORA_STUDIO_GPU decides instead when set.

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module without types
import { gpuEnv } from './gpu-env.mjs';
import { gpuChoice, gpuLine } from '../src/engine/node/webgpu';

const base = { PATH: process.env.PATH, HOME: process.env.HOME };
const swiftshader = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');

describe('gpuEnv', () => {
  it.runIf(swiftshader)('falls back to SwiftShader when the system drivers give no hardware adapter', () => {
    const env = gpuEnv(base);
    expect(env.VK_ICD_FILENAMES).toBe('/usr/lib/chromium/vk_swiftshader_icd.json');
    expect(gpuChoice(env)).toEqual({
      driver: 'swiftshader',
      why: "no hardware adapter was found with the system's Vulkan drivers",
    });
    // a nested call keeps the decision instead of probing again
    expect(gpuEnv(env)).toEqual(env);
  });

  it('follows LORA_STUDIO_GPU, and refuses a value it does not know', () => {
    const system = gpuEnv({ ...base, LORA_STUDIO_GPU: 'system' });
    expect(system.VK_ICD_FILENAMES).toBeUndefined();
    expect(gpuChoice(system)).toEqual({ driver: 'system', why: 'LORA_STUDIO_GPU=system' });
    expect(gpuChoice(gpuEnv({ ...base, LORA_STUDIO_GPU: 'swiftshader' }))?.driver).toBe('swiftshader');
    expect(() => gpuEnv({ ...base, LORA_STUDIO_GPU: 'cuda' })).toThrow(
      'LORA_STUDIO_GPU is "cuda": use system, swiftshader, or leave it unset',
    );
  });
});

describe('gpuLine', () => {
  const sw = { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0', isCpu: true };
  it('says a CPU adapter is the fallback, and why', () => {
    const env = { LORA_STUDIO_GPU_CHOICE: JSON.stringify({ driver: 'swiftshader', why: 'no hardware adapter' }) };
    expect(gpuLine(sw, env)).toBe(
      'gpu: google · swiftshader · SwiftShader driver 5.0.0, the CPU fallback (no hardware adapter): ' +
        'it runs at CPU speed; LORA_STUDIO_GPU=system|swiftshader chooses',
    );
  });
  it('names a hardware adapter', () => {
    const gpu = { vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200', isCpu: false };
    expect(gpuLine(gpu, {})).toBe("gpu: nvidia · hopper · NVIDIA H200 (the system's Vulkan driver)");
  });
});
