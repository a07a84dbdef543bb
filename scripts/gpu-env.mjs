// The environment Dawn (npm `webgpu`) runs under in Node: the system's Vulkan drivers when they
// give a hardware adapter, else the SwiftShader driver that Debian's chromium ships (WebGPU on the
// CPU). LORA_STUDIO_GPU=system or =swiftshader decides instead of the probe. The Vulkan loader and
// its drivers are chosen by environment variables read once, when Dawn loads, so the probe runs in
// a child process (scripts/gpu-probe.mjs) and the programs are started with the chosen variables.
// The choice and its reason travel in LORA_STUDIO_GPU_CHOICE ({"driver", "why"}), which the CLI
// prints on its first line (src/engine/node/webgpu.ts) and which a nested call keeps.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHROMIUM = '/usr/lib/chromium';
const ICD = `${CHROMIUM}/vk_swiftshader_icd.json`;

/** The SwiftShader variables over `base` (unchanged when chromium's driver is not installed). */
export function swiftshaderEnv(base = process.env) {
  const env = { ...base };
  if (existsSync(`${CHROMIUM}/libvulkan.so.1`)) {
    env.LD_LIBRARY_PATH = env.LD_LIBRARY_PATH ? `${CHROMIUM}:${env.LD_LIBRARY_PATH}` : CHROMIUM;
  }
  if (existsSync(ICD)) env.VK_ICD_FILENAMES = ICD;
  return env;
}

/** The adapter Dawn finds with `env`'s drivers: null, or {vendor, architecture, description, cpu}. */
export function probeAdapter(env) {
  const probe = join(dirname(fileURLToPath(import.meta.url)), 'gpu-probe.mjs');
  const r = spawnSync(process.execPath, [probe], { env, encoding: 'utf8', timeout: 60_000 });
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '').adapter ?? null;
  } catch {
    return null;
  }
}

const describe = (a) => [a.vendor, a.architecture, a.description].filter(Boolean).join(' · ');

export function gpuEnv(base = process.env) {
  if (base.LORA_STUDIO_GPU_CHOICE) return { ...base };
  const want = (base.LORA_STUDIO_GPU ?? '').trim().toLowerCase();
  const choose = (env, driver, why) => ({ ...env, LORA_STUDIO_GPU_CHOICE: JSON.stringify({ driver, why }) });
  if (want === 'system') return choose(base, 'system', 'LORA_STUDIO_GPU=system');
  if (want === 'swiftshader') return choose(swiftshaderEnv(base), 'swiftshader', 'LORA_STUDIO_GPU=swiftshader');
  if (want !== '' && want !== 'auto') {
    throw new Error(`LORA_STUDIO_GPU is "${base.LORA_STUDIO_GPU}": use system, swiftshader, or leave it unset`);
  }
  const system = probeAdapter(base);
  if (system && !system.cpu) return choose(base, 'system', 'a hardware adapter was found');
  const why = system
    ? `the system's Vulkan drivers give only ${describe(system)}`
    : "no hardware adapter was found with the system's Vulkan drivers";
  if (!existsSync(ICD)) return choose(base, 'system', `${why}, and Debian's chromium (SwiftShader) is not installed`);
  return choose(swiftshaderEnv(base), 'swiftshader', why);
}
