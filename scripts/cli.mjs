#!/usr/bin/env node
// Runs a command-line program of the studio: `node scripts/cli.mjs train [flags]`. Installs the
// npm dependencies on a fresh clone, bundles src/cli/<name>.ts (esbuild, well under a second), and
// runs it with the Vulkan driver Dawn should load on this machine (scripts/gpu-env.mjs: the
// system's when it gives a hardware adapter, else SwiftShader).

import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpuEnv } from './gpu-env.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);
if (!name) {
  console.error('usage: node scripts/cli.mjs <train|sample|bench|export> [flags]');
  process.exit(2);
}
const setup = spawnSync(process.execPath, [join(root, 'scripts/setup.mjs'), '--for', 'start'], { stdio: 'inherit' });
if (setup.status !== 0) process.exit(setup.status ?? 1);
const { buildCli } = await import('./build-cli.mjs');
try {
  await buildCli([name]);
} catch (e) {
  console.error(`could not build the ${name} program: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
}
let env;
try {
  env = gpuEnv();
} catch (e) {
  console.error(`error: ${e instanceof Error ? e.message : e}`);
  process.exit(2);
}
// Ctrl-C reaches the program too (the same process group): it finishes its step and saves; this
// launcher waits for it instead of dying first.
process.on('SIGINT', () => undefined);
const r = spawnSync(process.execPath, ['--enable-source-maps', join(root, 'dist-cli', `${name}.mjs`), ...args], {
  stdio: 'inherit',
  env,
});
process.exit(r.status ?? (r.signal === 'SIGINT' ? 130 : 1));
