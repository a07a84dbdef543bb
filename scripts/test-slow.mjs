#!/usr/bin/env node
// `npm run test:slow`: the real-size tests that `npm test` and CI leave out (minutes each on
// SwiftShader): the @slow Playwright specs (PW_SLOW=1) and the kernel tests gated on
// LORA_STUDIO_SLOW=1 (a Gemma 3 270M training step). Exits non-zero if either fails.

import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpuEnv } from './gpu-env.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const SLOW_KERNEL = ['src/engine/train/gemma3-270m.gpu.test.ts'];

const e2e = spawnSync(bin('playwright'), ['test', '--grep', '@slow'], {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, PW_SLOW: '1' },
});
const kernel = spawnSync(bin('vitest'), ['run', '--project', 'kernel', ...SLOW_KERNEL], {
  stdio: 'inherit',
  cwd: root,
  env: gpuEnv({ ...process.env, LORA_STUDIO_SLOW: '1' }),
});
console.log(
  `slow e2e: ${e2e.status === 0 ? 'passed' : 'FAILED'}; slow kernel: ${kernel.status === 0 ? 'passed' : 'FAILED'}`,
);
process.exit(e2e.status === 0 && kernel.status === 0 ? 0 : 1);
