#!/usr/bin/env node
// `npm test`: set-up, then every layer of tests, then one plain summary line that counts them all:
//   type check + lint (one test each), unit and kernel tests (vitest), end-to-end (Playwright).
// Exits non-zero if anything failed. Pass layer names to run a subset: node scripts/test.mjs unit kernel

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpuEnv } from './gpu-env.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const want = (layer) => only.length === 0 || only.includes(layer);

const setup = spawnSync(process.execPath, [join(root, 'scripts/setup.mjs'), '--for', 'test'], { stdio: 'inherit' });
if (setup.status !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const outDir = join(root, '.cache', 'test');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const bin = (name) => join(root, 'node_modules', '.bin', name);
let passed = 0;
let failed = 0;
const lines = [];

function step(name, cmd, args, env = process.env) {
  console.log(`\n=== ${name}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env });
  return r.status === 0;
}

function single(name, ok) {
  if (ok) passed++;
  else failed++;
  lines.push(`${name}: ${ok ? 'passed' : 'FAILED'}`);
}

if (want('typecheck')) single('type check', step('type check (tsc --noEmit)', bin('tsc'), ['--noEmit', '-p', '.']));
if (want('lint')) single('lint', step('lint (eslint)', bin('eslint'), ['--max-warnings=0', '.']));

for (const project of ['unit', 'kernel']) {
  if (!want(project)) continue;
  const json = join(outDir, `${project}.json`);
  const ok = step(
    `${project} tests (vitest)`,
    bin('vitest'),
    ['run', '--project', project, '--reporter=default', '--reporter=json', `--outputFile.json=${json}`],
    gpuEnv(),
  );
  if (existsSync(json)) {
    const r = JSON.parse(readFileSync(json, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    // A file that fails to load has no tests in the counts: count it as a failure.
    const broken = r.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
    failed += broken;
    lines.push(`${project}: ${r.numPassedTests} passed, ${r.numFailedTests + broken} failed`);
    if (!ok && r.numFailedTests + broken === 0) {
      failed++;
      lines.push(`${project}: vitest exited non-zero`);
    }
  } else {
    failed++;
    lines.push(`${project}: no report (vitest crashed)`);
  }
}

// Python test suites (unittest): the independent PyTorch referee's self-checks, and any other
// `test_*.py` the project registers here. Counted from unittest's "Ran N tests" / "FAILED (...)".
const PYTHON_SUITES = [['reference', 'reference/test_reference.py']];
for (const [name, file] of PYTHON_SUITES) {
  if (!want('python') && !want(name)) continue;
  console.log(`\n=== ${name} (python unittest: ${file})`);
  const r = spawnSync('/usr/bin/python3', [file], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  process.stdout.write(out);
  const ran = Number(/Ran (\d+) tests?/.exec(out)?.[1] ?? 0);
  const bad = /FAILED \(([^)]*)\)/.exec(out)?.[1] ?? '';
  const nBad = [...bad.matchAll(/(?:failures|errors)=(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
  const nFailed = r.status === 0 ? 0 : Math.max(nBad, 1);
  passed += ran - Math.min(ran, nBad);
  failed += nFailed;
  lines.push(`${name}: ${ran - Math.min(ran, nBad)} passed, ${nFailed} failed`);
}

if (want('e2e')) {
  const json = join(outDir, 'e2e.json');
  const ok = step('end-to-end tests (Playwright, Debian chromium)', bin('playwright'), ['test'], {
    ...process.env,
    PW_JSON: json,
  });
  if (existsSync(json)) {
    const s = JSON.parse(readFileSync(json, 'utf8')).stats;
    passed += s.expected + s.flaky;
    failed += s.unexpected;
    lines.push(
      `e2e: ${s.expected + s.flaky} passed, ${s.unexpected} failed${s.skipped ? `, ${s.skipped} skipped` : ''}`,
    );
    if (!ok && s.unexpected === 0) {
      failed++;
      lines.push('e2e: playwright exited non-zero');
    }
  } else {
    failed++;
    lines.push('e2e: no report (playwright crashed)');
  }
}

console.log('\n=== summary');
for (const l of lines) console.log(l);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
