#!/usr/bin/env node
// Fresh-machine set-up shared by `npm start` and `npm test`. Uses Node built-ins only, because it
// runs before `npm install`. It installs the npm dependencies when they are missing or stale and,
// for tests, Debian's chromium (the only browser the tests use; its SwiftShader driver and Vulkan
// loader also serve Dawn in Node), python3-torch (the independent PyTorch reference) and
// python3-jinja2 (the exported training recipe's chat-template tests); and, for tests only,
// node-llama-cpp (llama.cpp with prebuilt CPU binaries, the referee of the GGUF exports) pinned
// to LLAMA_CPP_VERSION in its own prefix .llama/, so `npm start` never downloads it.
//   node scripts/setup.mjs [--for start|test]

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv.includes('test') ? 'test' : 'start';

function log(msg) {
  process.stderr.write(`[setup] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

function npmDeps() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000);
  if (!stale) return;
  log('installing npm dependencies (npm ci)…');
  run('npm', existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund']);
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function canSudo() {
  return spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
}

let aptUpdated = false;
function aptInstall(pkgs, why) {
  const prefix = isRoot() ? [] : canSudo() ? ['sudo', '-n'] : null;
  if (!prefix || spawnSync('which', ['apt-get'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(
      `${why} needs Debian's ${pkgs.join(' and ')} package${pkgs.length > 1 ? 's' : ''}. ` +
        `Install ${pkgs.length > 1 ? 'them' : 'it'} with: sudo apt-get install ${pkgs.join(' ')}`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) =>
    prefix.length ? run(prefix[0], [...prefix.slice(1), 'apt-get', ...args], { env }) : run('apt-get', args, { env });
  if (!aptUpdated) {
    log('apt-get update…');
    apt(['update', '-qq']);
    aptUpdated = true;
  }
  log(`apt-get install ${pkgs.join(' ')}…`);
  apt(['install', '-y', '-qq', '--no-install-recommends', ...pkgs]);
}

function hasPythonModules() {
  return spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy, jinja2'], { stdio: 'ignore' }).status === 0;
}

const LLAMA_CPP_VERSION = '3.21.1'; // keep equal to src/run/testing/llama-cpp.node.ts
function nodeLlamaCpp() {
  const prefix = process.env.LORA_STUDIO_LLAMA_CPP ?? join(root, '.llama');
  const pkg = join(prefix, 'node_modules', 'node-llama-cpp', 'package.json');
  if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).version === LLAMA_CPP_VERSION) return;
  log(`installing node-llama-cpp ${LLAMA_CPP_VERSION} into ${prefix} (the GGUF tests' llama.cpp)…`);
  mkdirSync(prefix, { recursive: true });
  run('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', `node-llama-cpp@${LLAMA_CPP_VERSION}`]);
}

try {
  npmDeps();
  if (mode === 'test') {
    const missing = [];
    if (!existsSync('/usr/bin/chromium')) missing.push('chromium');
    if (!hasPythonModules()) missing.push('python3-torch', 'python3-numpy', 'python3-jinja2');
    if (missing.length) aptInstall(missing, 'The test suite (browser tests and the PyTorch reference)');
    const v = execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8' }).trim();
    log(`using ${v}`);
    nodeLlamaCpp();
  }
} catch (e) {
  process.stderr.write(`\nSet-up failed: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
}
