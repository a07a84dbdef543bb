#!/usr/bin/env node
// How responsive the studio's main thread is on a slow laptop: a measurement, not a test (its
// figures depend on the machine). Chromium's CPU is throttled 4x through the DevTools protocol
// (Emulation.setCPUThrottlingRate, DevTools' "mid-tier laptop"), then:
//   1. a real demo run (the worker trains on WebGPU): 5 s with nothing touched, then 7 s of the user
//      switching steps (a click a second);
//   2. simulated runs of 100 and 20,000 steps: the steps before the window are fed fast (and not
//      measured), then one step event every 200 ms for 80 steps: 6 s with nothing touched, then
//      the user switches steps.
// Each window is reported on its own ("training" and "switching steps").
// For each phase it prints every main-thread task over 50 ms (longtask) and the long animation
// frames' script attribution (Long Animation Frame API): which script, invoked how, for how long.
//
//   node scripts/measure-responsiveness.mjs [--port 4184] [--no-build] [--steps 100,20000] [--real-steps 40]
//       [--no-real] [--profile] [--no-minify] [--screenshot] [--cpu]
//
// --no-real skips the demo run (simulated runs only). --profile records a CPU profile (CDP
// Profiler) over each simulated window and prints the functions with the most self time and the
// most time in all, within the window's tasks over 50 ms; --no-minify builds unminified, so those
// names are the source's. --cpu also traces the simulated windows and prints each main-thread
// task's thread (CPU) time, where over 50 ms (see startTrace). --screenshot saves the charts after each simulated run (.cache/profiles).
//
// It builds the studio with VITE_MEASURE=1 into .cache/measure-dist (that build exposes the
// store to the page so it can feed simulated steps) and serves it with vite preview.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const port = Number(arg('port', process.env.PW_PORT ?? 4184));
const simulated = arg('steps', '100,20000').split(',').map(Number);
const realSteps = Number(arg('real-steps', 40));
const throttle = Number(arg('throttle', 4));
const noReal = process.argv.includes('--no-real');
const profiling = process.argv.includes('--profile');
const cpuTime = process.argv.includes('--cpu');
// --profile-over MS: the tasks the profile breaks down (default 50)
const profileOver = Number(arg('profile-over', 50));
const minify = !process.argv.includes('--no-minify');
const outDir = join(root, '.cache', minify ? 'measure-dist' : 'measure-dist-plain');
const bin = (n) => join(root, 'node_modules', '.bin', n);

if (!process.argv.includes('--no-build')) {
  console.log('building the studio (VITE_MEASURE=1) ...');
  const b = spawnSync(
    bin('vite'),
    ['build', '--outDir', outDir, '--emptyOutDir', ...(minify ? [] : ['--minify', 'false'])],
    {
      cwd: root,
      env: { ...process.env, VITE_MEASURE: '1' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  if (b.status !== 0) process.exit(1);
}

const server = spawn(bin('vite'), ['preview', '--outDir', outDir, '--port', String(port), '--strictPort'], {
  cwd: root,
  stdio: 'ignore',
});
const base = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(base)).ok) break;
  } catch {
    if (i > 120) throw new Error(`vite preview did not answer on ${base}`);
  }
  await new Promise((r) => setTimeout(r, 500));
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--no-first-run'],
});

/** Installed before the page's scripts: every long task and long animation frame, with attribution. */
function observe() {
  const w = globalThis;
  w.__long = [];
  w.__frames = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) w.__long.push({ start: e.startTime, ms: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      w.__frames.push({
        start: e.startTime,
        ms: e.duration,
        renderMs: e.renderStart ? e.startTime + e.duration - e.renderStart : 0,
        scripts: e.scripts.map((s) => ({
          ms: s.duration,
          what: `${s.invoker || s.invokerType}${s.sourceFunctionName ? ` ${s.sourceFunctionName}` : ''}`,
          src: (s.sourceURL || '').split('/').pop(),
        })),
      });
    }
  }).observe({ type: 'long-animation-frame', buffered: true });
}

const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
await page.addInitScript(observe);
const cdp = await page.context().newCDPSession(page);
await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
console.log(`CPU throttled ${throttle}x (Emulation.setCPUThrottlingRate)`);
await page.goto(base);

const now = () => page.evaluate(() => performance.now());
const click = (id) => page.getByTestId(id).click();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Switches steps as a user would while the run goes on, for `ms`: a mouse click (CDP
 * Input.dispatchMouseEvent) at each step's place in the sidebar, found before the window. Not
 * Playwright's locator click: its actionability checks (visibility, stability over two frames,
 * a hit test) run as script in the page's main thread, tasks of the harness, not of the studio
 * (a test-id query alone was a 90-110 ms task on the throttled CPU).
 */
async function switchSteps(ms) {
  const tabs = ['samples', 'training', 'hparams', 'training', 'export', 'training'];
  const at = {};
  for (const t of new Set(tabs)) {
    const box = await page.locator(`#step-${t}`).boundingBox();
    at[t] = [box.x + box.width / 2, box.y + box.height / 2];
  }
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end; i++) {
    await page.mouse.click(...at[tabs[i % tabs.length]]);
    await sleep(1000);
  }
  await page.mouse.click(...at.training);
  const tab = await page.evaluate(() => globalThis.__studio?.useStudio.getState().ui.tab);
  if (tab !== 'training') throw new Error(`the clicks did not switch steps (on ${tab})`);
}

async function report(name, from, to) {
  const { long, frames } = await page.evaluate(
    ([a, b]) => ({
      long: globalThis.__long.filter((e) => e.start >= a && e.start <= b),
      frames: globalThis.__frames.filter((e) => e.start >= a && e.start <= b && e.ms > 50),
    }),
    [from, to],
  );
  const secs = ((to - from) / 1000).toFixed(1);
  const ms = long.map((e) => Math.round(e.ms));
  console.log(
    `\n${name}: ${long.length} long tasks in ${secs} s${ms.length ? ` [${ms.join(', ')}] ms, longest ${Math.max(...ms)} ms` : ''}`,
  );
  const by = new Map();
  for (const f of frames)
    for (const s of f.scripts) {
      const k = `${s.what} (${s.src})`;
      const v = by.get(k) ?? { n: 0, ms: 0, max: 0 };
      by.set(k, { n: v.n + 1, ms: v.ms + s.ms, max: Math.max(v.max, s.ms) });
    }
  const render = frames.reduce((a, f) => a + f.renderMs, 0);
  if (frames.length)
    console.log(
      `  long animation frames over 50 ms: ${frames.length}; style/layout/paint in them ${Math.round(render)} ms`,
    );
  for (const [k, v] of [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8))
    console.log(`  script ${k}: ${v.n}x, ${Math.round(v.ms)} ms in all, longest ${Math.round(v.max)} ms`);
  return { name, longTasks: ms };
}

const results = [];

/**
 * Tracing (`--cpu`): every task of the page's main thread with its thread time (CPU time on that
 * thread). Chromium throttles by making the thread spin in a signal handler (ThreadCPUThrottler),
 * so the spin is in the thread time and the thread time is about what the task takes throttled
 * on an idle machine; other jobs on a loaded machine stretch a task's wall time, much less its
 * thread time.
 */
let traceEvents = [];
cdp.on('Tracing.dataCollected', (e) => traceEvents.push(...e.value));
async function startTrace() {
  traceEvents = [];
  await cdp.send('Tracing.start', {
    transferMode: 'ReportEvents',
    traceConfig: {
      includedCategories: [
        'toplevel',
        'devtools.timeline',
        'disabled-by-default-devtools.timeline',
        'v8',
        '__metadata',
      ],
    },
  });
}
async function stopTrace() {
  const done = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
  await cdp.send('Tracing.end');
  await done;
  const main = new Set(
    traceEvents
      .filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
      .map((e) => `${e.pid}:${e.tid}`),
  );
  const runs = traceEvents.filter((e) => e.ph === 'X' && main.has(`${e.pid}:${e.tid}`));
  // the task as the thread controller runs it (RunTask, where that is the only name)
  const name = runs.some((e) => e.name === 'ThreadControllerImpl::RunTask')
    ? 'ThreadControllerImpl::RunTask'
    : 'RunTask';
  const long = runs.filter((e) => e.name === name && (e.tdur ?? 0) > 50_000);
  // what each long task's thread time went to: the events directly inside it (timeline events)
  for (const t of long) {
    const inside = runs.filter((e) => e !== t && e.ts >= t.ts && e.ts + e.dur <= t.ts + t.dur);
    const direct = inside.filter(
      (e) => !inside.some((p) => p !== e && p.ts <= e.ts && p.ts + p.dur >= e.ts + e.dur && p.dur > e.dur),
    );
    const by = new Map();
    for (const e of direct) by.set(e.name, (by.get(e.name) ?? 0) + (e.tdur ?? e.dur) / 1000);
    const parts = [...by].sort((a, b) => b[1] - a[1]).map(([n, ms]) => `${n} ${ms.toFixed(1)}`);
    const what = direct.map((e) => e.args?.data?.type ?? e.args?.data?.functionName).filter(Boolean);
    console.log(
      `  task ${Math.round(t.tdur / 1000)} ms thread time: ${parts.join('; ') || '(nothing traced inside)'}${what.length ? ` [${[...new Set(what)].join(', ')}]` : ''}`,
    );
  }
  const out = long.map((e) => Math.round(e.tdur / 1000));
  out.longest = Math.round(Math.max(0, ...runs.filter((e) => e.name === name).map((e) => e.tdur ?? 0)) / 1000);
  return out;
}

async function startProfile() {
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
  await cdp.send('Profiler.start');
}

/**
 * Cuts the window's CPU profile into tasks (runs of samples not idle, split at gaps over 2 ms) and
 * prints, for each task over 50 ms, what started it and the functions it spent the most time in
 * (in all: a function counted once per sample it is on the stack of) and on their own (self).
 */
async function stopProfile(name) {
  const { profile } = await cdp.send('Profiler.stop');
  const dir = join(root, '.cache', 'profiles');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`), JSON.stringify(profile));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n) => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
  };
  const idle = (n) => ['(idle)', '(program)', '(garbage collector)', '(root)'].includes(n.callFrame.functionName);
  const tasks = [];
  let cur = null;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const n = byId.get(profile.samples[i]);
    const gc = n.callFrame.functionName === '(garbage collector)';
    if (idle(n) && !gc) {
      if (cur && t - cur.end > 2000) cur = null;
      continue;
    }
    if (!cur) tasks.push((cur = { start: t, end: t, samples: [] }));
    cur.end = t;
    cur.samples.push([profile.samples[i], i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : 0]);
  }
  const long = tasks.filter((k) => k.end - k.start > profileOver * 1000);
  console.log(`  profile ${name}: ${tasks.length} tasks, ${long.length} over ${profileOver} ms`);
  for (const k of long) {
    const total = new Map();
    const self = new Map();
    let entry = '';
    for (const [id, dt] of k.samples) {
      const seen = new Set();
      let chain = [];
      for (let x = id; x !== undefined; x = parent.get(x)) chain.push(byId.get(x));
      chain = chain.filter((n) => !idle(n));
      if (!entry && chain.length) entry = label(chain.at(-1));
      if (chain.length) self.set(label(chain[0]), (self.get(label(chain[0])) ?? 0) + dt);
      for (const n of chain) {
        const l = label(n);
        if (seen.has(l)) continue;
        seen.add(l);
        total.set(l, (total.get(l) ?? 0) + dt);
      }
    }
    const top = (m, n) =>
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([l, us]) => `${l} ${(us / 1000).toFixed(1)}`)
        .join('; ');
    console.log(`    task ${((k.end - k.start) / 1000).toFixed(0)} ms from ${entry}`);
    console.log(`      in all: ${top(total, 14)}`);
    console.log(`      self: ${top(self, 8)}`);
  }
}

// 1. A real demo run.
let t0;
if (!noReal) {
  await click('empty-demo-model');
  await page.getByTestId('model-card').waitFor({ timeout: 600_000 });
  await click('tab-dataset');
  await click('load-demo-dataset');
  await page.getByTestId('stat-val').waitFor({ timeout: 600_000 });
  await click('tab-hparams');
  await click('demo-preset');
  for (const [k, v] of Object.entries({
    max_steps: realSteps,
    eval_steps: 4,
    save_steps: 0,
    per_device_train_batch_size: 2,
    max_seq_length: 64,
    val_split_fraction: 0.02,
  }))
    await page.getByTestId(`input-${k}`).fill(String(v));
  await click('start-training');
  await page.getByTestId('run-step').waitFor({ timeout: 600_000 });
  await page.getByTestId('tab-training').click();
  if (profiling) await startProfile();
  if (cpuTime) await startTrace();
  t0 = await now();
  await sleep(5000);
  results.push(await report(`real demo run of ${realSteps} steps, training, nothing touched`, t0, await now()));
  if (cpuTime) results.at(-1).cpu = await stopTrace();
  if (profiling) await stopProfile('real, training');
  if (profiling) await startProfile();
  if (cpuTime) await startTrace();
  t0 = await now();
  await switchSteps(7000);
  results.push(await report(`real demo run of ${realSteps} steps, switching steps`, t0, await now()));
  if (cpuTime) results.at(-1).cpu = await stopTrace();
  if (profiling) await stopProfile('real, switching');
  if (!(await page.getByTestId('stop-reason').count())) console.log('  (the run was still going through both windows)');
  await page.getByTestId('stop-reason').waitFor({ timeout: 600_000 });
} else await click('tab-training');

// 2. Simulated runs: the real store and charts, fed step events as the worker would send them.
for (const total of simulated) {
  await page.evaluate(
    async ({ total, measured }) => {
      const { useStudio, onTrainEvent } = globalThis.__studio;
      const m = (step) => ({
        step,
        totalSteps: total,
        epoch: step / 171,
        loss: 2 + Math.sin(step / 7) / 2 - step / (4 * total),
        lr: 2e-4 * (1 - step / (total + 1)),
        gradNorm: 1 + ((step * 7919) % 13) / 13,
        tokens: 64,
        tokensPerSecond: 400 + (step % 17),
        stepMs: 160,
        ...(step % 25 === 0 ? { evalLoss: 1.9 - step / (8 * total) } : {}),
      });
      const s = useStudio.getState();
      useStudio.setState({ training: { ...s.training, status: 'starting' } });
      onTrainEvent({
        status: 'started',
        runId: `simulated-${total}`,
        hparams: s.hparams,
        fromAdapter: null,
        totalSteps: total,
        stepsPerEpoch: 171,
        trainableLine: 'trainable params: 37,376',
        train: 392,
        val: 8,
        history: [],
        resumedFrom: null,
        activeMs: 0,
        gpuBytes: 1000,
      });
      // the steps before the window, 500 per task
      for (let step = 1; step <= total - measured; step++) {
        onTrainEvent({ status: 'step', metrics: m(step), activeMs: step * 160, gpuBytes: 1000, best: null });
        if (step % 500 === 0) await new Promise((r) => setTimeout(r, 0));
      }
      globalThis.__next = total - measured + 1;
      globalThis.__m = m;
    },
    { total, measured: 80 },
  );
  await sleep(3000);
  if (profiling) await startProfile();
  if (cpuTime) await startTrace();
  t0 = await now();
  const feeding = page.evaluate(async () => {
    for (let i = 0; i < 80; i++) {
      const step = globalThis.__next++;
      globalThis.__studio.onTrainEvent({
        status: 'step',
        metrics: globalThis.__m(step),
        activeMs: step * 160,
        gpuBytes: 1000,
        best: null,
      });
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  await sleep(6000);
  results.push(await report(`simulated run of ${total} steps, training, nothing touched`, t0, await now()));
  if (cpuTime) results.at(-1).cpu = await stopTrace();
  if (profiling) await stopProfile(`simulated ${total}, training`);
  if (profiling) await startProfile();
  if (cpuTime) await startTrace();
  t0 = await now();
  await switchSteps(8000);
  await feeding;
  await sleep(1000);
  results.push(await report(`simulated run of ${total} steps, switching steps`, t0, await now()));
  if (cpuTime) results.at(-1).cpu = await stopTrace();
  if (profiling) await stopProfile(`simulated ${total}, switching`);
  if (process.argv.includes('--screenshot')) {
    await sleep(1500);
    mkdirSync(join(root, '.cache', 'profiles'), { recursive: true });
    await page.getByTestId('charts').screenshot({ path: join(root, '.cache', 'profiles', `charts-${total}.png`) });
  }
}

console.log('\nsummary (long tasks over 50 ms, ms):');
for (const r of results)
  console.log(
    `  ${r.name}: ${r.longTasks.length ? `${r.longTasks.length}, max ${Math.max(...r.longTasks)} [${r.longTasks.join(', ')}]` : 'none'}`,
  );
if (cpuTime) {
  console.log(`\nthread (CPU) time of the main thread's tasks, where over 50 ms:`);
  for (const r of results.filter((x) => x.cpu))
    console.log(
      `  ${r.name}: ${r.cpu.length ? `${r.cpu.length}, max ${Math.max(...r.cpu)} [${r.cpu.join(', ')}]` : 'none'} (longest task ${r.cpu.longest} ms)`,
    );
}
await browser.close();
server.kill();
