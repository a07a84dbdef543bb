// `npm run train` with QLoRA and gradient checkpointing, as a user runs it (the bundled CLI on
// SwiftShader): on the demo model and on a tiny Qwen2-shaped checkpoint (the golden case's
// weights, f16, with q/k/v biases), the run with --load_in_4bit --gradient_checkpointing trains,
// its losses stay within the NF4 tolerance of the 16-bit run with the same seed, the GPU memory it
// holds is the estimate for its setting to the byte, and the saving is what the 16-bit run's
// printed suggestions promised.

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/testing/cases.node';
import { fmtBytes } from '../engine/gpu/context';
import { tinyTokenizerJson } from '../io/testing/tiny-checkpoint';

// The tolerance options.gpu.test.ts states for NF4 base weights: each loss within 5% of the
// 16-bit run's (checkpointing changes nothing: its gradients are bit-identical).
const NF4_LOSS_REL = 0.05;

const work = mkdtempSync(join(tmpdir(), 'cli-quant-'));
const demoModel = join(REPO_ROOT, 'public/demo/model');
const qwenModel = join(work, 'tiny-qwen2');

function train(args: string[]) {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist-cli', 'train.mjs'), ...args], {
    encoding: 'utf8',
    env: process.env,
    cwd: REPO_ROOT,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface RunResult {
  out: string;
  losses: number[];
  memory: { estimate_bytes: number; held_bytes: number; peak_bytes: number };
  config: { training: Record<string, unknown>; quantization: Record<string, unknown> };
  adapterConfig: string;
}

function run(name: string, model: string, data: string, extra: string[]): RunResult {
  const out = join(work, name);
  const r = train([
    ...['--model', model, '--data', data, '--out', out],
    ...['--target_modules', 'all-linear', '--lora_dropout', '0', '--learning_rate', '0.003'],
    ...['--lr_scheduler_type', 'constant', '--warmup_ratio', '0', '--per_device_train_batch_size', '4'],
    ...['--max_seq_length', '128', '--max_steps', '3', '--eval_steps', '0', '--val_split_fraction', '0.25'],
    ...['--seed', '3', ...extra],
  ]);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { loss?: number });
  return {
    out: r.out,
    losses: metrics.filter((m) => m.loss !== undefined).map((m) => m.loss!),
    memory: JSON.parse(readFileSync(join(out, 'run_summary.json'), 'utf8')).gpu_memory,
    config: JSON.parse(readFileSync(join(out, 'training_config.json'), 'utf8')),
    adapterConfig: readFileSync(join(out, 'adapter_config.json'), 'utf8'),
  };
}

/** "GPU memory: estimate X, held Y, peak Z", and the estimate's breakdown line. */
function printedMemory(out: string) {
  const end = /^GPU memory: estimate (.+), held (.+), peak (.+)$/m.exec(out);
  const parts = /^GPU memory estimate: (.+) \(weights (.+), activations (.+), LoRA state (.+), LM head (.+)\)$/m.exec(
    out,
  );
  expect(end, out).not.toBeNull();
  expect(parts, out).not.toBeNull();
  return {
    estimate: end![1],
    held: end![2],
    peak: end![3],
    weights: parts![2],
    activations: parts![3],
    suggestions: [...out.matchAll(/^ {2}to use less: (.+)$/gm)].map((m) => m[1]),
  };
}

function expectNf4Close(q: number[], half: number[]): number {
  expect(q).toHaveLength(half.length);
  let worst = 0;
  for (let s = 0; s < half.length; s++) worst = Math.max(worst, Math.abs(q[s] - half[s]) / half[s]);
  expect(worst).toBeLessThan(NF4_LOSS_REL);
  expect(worst).toBeGreaterThan(1e-6); // NF4 changes the model: the runs are not the same run
  return worst;
}

beforeAll(async () => {
  // @ts-expect-error: a plain .mjs module without types
  const { buildCli } = await import('../../scripts/build-cli.mjs');
  await buildCli(['train']);
  const records = JSON.parse(readFileSync(join(REPO_ROOT, 'public/demo/sql-demo.json'), 'utf8')).slice(0, 32);
  writeFileSync(join(work, 'demo.json'), JSON.stringify(records));
  // The golden tiny-qwen2 checkpoint with a word-level tokenizer over its 211 ids ("t3".."t210").
  mkdirSync(qwenModel);
  for (const f of ['config.json', 'model.safetensors'])
    copyFileSync(join(REPO_ROOT, 'reference/cases/tiny-qwen2/model', f), join(qwenModel, f));
  writeFileSync(join(qwenModel, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson(211)));
  writeFileSync(join(qwenModel, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>' }));
  const words = (i: number, n: number) => Array.from({ length: n }, (_, k) => `t${3 + ((i * 7 + k * 13) % 200)}`);
  const qwenData = Array.from({ length: 24 }, (_, i) => ({
    instruction: words(i, 6 + (i % 5)).join(' '),
    output: words(i + 50, 4 + (i % 3)).join(' '),
  }));
  writeFileSync(join(work, 'qwen.json'), JSON.stringify(qwenData));
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm run train --load_in_4bit --gradient_checkpointing', () => {
  it('demo model: trains on NF4 within the tolerance of 16-bit; memory held = estimate, and falls as estimated', () => {
    const data = join(work, 'demo.json');
    const half = run('demo-16', demoModel, data, []);
    const q = run('demo-q', demoModel, data, [
      '--load_in_4bit',
      '--bnb_4bit_quant_type',
      'nf4',
      '--gradient_checkpointing',
    ]);
    const worst = expectNf4Close(q.losses, half.losses);
    expect(q.losses.at(-1)!).toBeLessThan(q.losses[0]);

    for (const r of [half, q]) {
      // What the run holds and its peak are the estimate for its own setting, to the byte.
      expect(r.memory.held_bytes).toBe(r.memory.estimate_bytes);
      expect(r.memory.peak_bytes).toBe(r.memory.estimate_bytes);
      const p = printedMemory(r.out);
      expect([p.estimate, p.held, p.peak]).toEqual(Array(3).fill(fmtBytes(r.memory.peak_bytes)));
    }
    const p16 = printedMemory(half.out);
    const pq = printedMemory(q.out);
    // The 16-bit run suggests both options, from its own total; the QLoRA run has none left.
    expect(p16.suggestions).toHaveLength(2);
    expect(p16.suggestions[0]).toMatch(new RegExp(`^turn on gradient checkpointing: ${p16.peak} -> `));
    expect(p16.suggestions[1]).toMatch(new RegExp(`^load the base in 4-bit \\(NF4\\): ${p16.peak} -> `));
    expect(pq.suggestions).toEqual([]);
    expect(q.memory.peak_bytes).toBeLessThan(half.memory.peak_bytes);
    expect(q.out).toContain(`GPU memory estimate: ${pq.estimate} (weights ${pq.weights}`);
    console.log(`demo: NF4 vs 16-bit losses, worst relative difference ${worst.toExponential(2)}`);
    console.log(`demo 16-bit: ${p16.estimate}; ${p16.suggestions.join('; ')}`);
    console.log(
      `demo 4-bit + checkpointing:\n${q.out
        .split('\n')
        .filter((l) => /GPU memory/.test(l))
        .join('\n')}`,
    );

    // training_config.json says what ran; adapter_config.json is PEFT's (which records no 4-bit).
    expect(q.config.quantization).toEqual({ load_in_4bit: true, bnb_4bit_quant_type: 'nf4' });
    expect(q.config.training.gradient_checkpointing).toBe(true);
    expect(half.config.quantization).toEqual({ load_in_4bit: false, bnb_4bit_quant_type: 'nf4' });
    expect(half.config.training.gradient_checkpointing).toBe(false);
    expect(q.adapterConfig).toBe(half.adapterConfig);
    expect(q.adapterConfig).not.toMatch(/4bit|nf4|quant/i);
  }, 600_000);

  it('tiny Qwen2: each option saves what the 16-bit run said it would; both together train within the NF4 tolerance', () => {
    const data = join(work, 'qwen.json');
    const half = run('qwen-16', qwenModel, data, []);
    const ckpt = run('qwen-ckpt', qwenModel, data, ['--gradient_checkpointing']);
    const nf4 = run('qwen-nf4', qwenModel, data, ['--load_in_4bit']);
    const q = run('qwen-q', qwenModel, data, ['--load_in_4bit', '--gradient_checkpointing']);
    expect(half.out).toMatch(/^model: .*\(Qwen2 \(qwen2\), 3 layers, hidden 48, .*F16/m);
    for (const r of [half, ckpt, nf4, q]) {
      expect(r.memory.held_bytes).toBe(r.memory.estimate_bytes);
      expect(r.memory.peak_bytes).toBe(r.memory.estimate_bytes);
    }
    // "turn on gradient checkpointing: A -> B": B is what the checkpointing run then held.
    const p16 = printedMemory(half.out);
    expect(p16.suggestions).toEqual([
      `turn on gradient checkpointing: ${fmtBytes(half.memory.peak_bytes)} -> ${fmtBytes(ckpt.memory.peak_bytes)}`,
      `load the base in 4-bit (NF4): ${fmtBytes(half.memory.peak_bytes)} -> ${fmtBytes(nf4.memory.peak_bytes)}`,
    ]);
    // The savings add up: weights (NF4) and activations (checkpointing) are separate parts.
    expect(half.memory.peak_bytes - q.memory.peak_bytes).toBe(
      half.memory.peak_bytes - ckpt.memory.peak_bytes + (half.memory.peak_bytes - nf4.memory.peak_bytes),
    );
    expect(ckpt.losses).toEqual(half.losses); // checkpointing recomputes exactly
    expect(q.losses).toEqual(nf4.losses);
    const worst = expectNf4Close(q.losses, half.losses);
    console.log(`tiny-qwen2: NF4 vs 16-bit losses, worst relative difference ${worst.toExponential(2)}`);
    console.log(`tiny-qwen2 16-bit: ${p16.estimate}; ${p16.suggestions.join('; ')}`);
    console.log(
      `tiny-qwen2 4-bit + checkpointing:\n${q.out
        .split('\n')
        .filter((l) => /GPU memory/.test(l))
        .join('\n')}`,
    );
  }, 600_000);
});
