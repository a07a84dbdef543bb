// WebGPU in Node through Dawn (the npm package `webgpu`): the CLI, the benchmark and the kernel
// tests run the same engine as the browser's worker on this GPU object. Which Vulkan driver Dawn
// loads (the system's, or SwiftShader on the CPU) is decided before the process starts, by
// scripts/gpu-env.mjs; gpuLine() says what was chosen and why. Node-only: never imported by
// browser code.

import { create, globals } from 'webgpu';

let gpu: GPU | null = null;

/** Dawn's GPU object with Dawn's default toggles (as Chrome ships them). */
export function nodeGpu(): GPU {
  if (!gpu) {
    Object.assign(globalThis, globals);
    gpu = create([]) as unknown as GPU;
  }
  return gpu;
}

/** scripts/gpu-env.mjs's decision, when this process was started through it. */
export function gpuChoice(env = process.env): { driver: 'system' | 'swiftshader'; why: string } | null {
  try {
    const c = JSON.parse(env.LORA_STUDIO_GPU_CHOICE ?? 'null');
    return c && (c.driver === 'system' || c.driver === 'swiftshader') ? c : null;
  } catch {
    return null;
  }
}

/**
 * The line every CLI run opens with: the adapter it got and, on a CPU driver, that this is the
 * fallback and why. `adapter` is GpuContext.caps.
 */
export function gpuLine(
  adapter: { vendor: string; architecture: string; description: string; isCpu: boolean },
  env = process.env,
): string {
  const name = [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' · ');
  const choice = gpuChoice(env);
  if (!adapter.isCpu) return `gpu: ${name} (the system's Vulkan driver)`;
  const why = choice ? ` (${choice.why})` : '';
  return `gpu: ${name}, the CPU fallback${why}: it runs at CPU speed; LORA_STUDIO_GPU=system|swiftshader chooses`;
}
