// The command-line programs as a user runs them: bundled by scripts/build-cli.mjs, run by Node
// with the SwiftShader environment. Training with early stopping says why and when it stopped and
// writes the last and best PEFT adapters, metrics and configuration; a run killed or interrupted
// mid-way and resumed from its checkpoint ends with the adapter of the run left alone; sampling
// uses the adapter; bad input ends with one line and a non-zero exit code.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/testing/cases.node';
import { openSafetensors } from '../io/safetensors';
import { bytesSource } from '../io/source';
import { ModelTokenizer } from '../data/tokenizer';

const work = mkdtempSync(join(tmpdir(), 'cli-'));
const demoModel = join(REPO_ROOT, 'public/demo/model');

function cli(name: string, args: string[]) {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist-cli', `${name}.mjs`), ...args], {
    encoding: 'utf8',
    env: process.env,
    cwd: REPO_ROOT,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/**
 * Starts `train`, and once it prints the line for step `at`, sends `signal`: SIGKILL is a crash,
 * SIGINT is Ctrl-C.
 */
function interrupted(args: string[], at: number, signal: NodeJS.Signals) {
  return new Promise<{ code: number | null; signal: string | null; out: string }>((done) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, 'dist-cli', 'train.mjs'), ...args], { cwd: REPO_ROOT });
    let out = '';
    let sent = false;
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!sent && new RegExp(`^step ${at}/`, 'm').test(out)) {
        sent = true;
        p.kill(signal);
      }
    });
    p.stderr.resume();
    p.on('exit', (code, sig) => done({ code, signal: sig, out }));
  });
}

beforeAll(async () => {
  // @ts-expect-error: a plain .mjs module without types
  const { buildCli } = await import('../../scripts/build-cli.mjs');
  await buildCli(['train', 'sample', 'bench']);
  const records = JSON.parse(readFileSync(join(REPO_ROOT, 'public/demo/sql-demo.json'), 'utf8')).slice(0, 32);
  writeFileSync(join(work, 'data.json'), JSON.stringify(records));
}, 600_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm run train: checkpoints and --resume_from_checkpoint', () => {
  // Default checkpoint settings (save_steps 0): one after the first step, then by time, and at the end.
  const run = (out: string) => [
    ...['--model', demoModel, '--data', join(work, 'data.json'), '--out', out],
    ...['--target_modules', 'all-linear', '--learning_rate', '0.005', '--per_device_train_batch_size', '2'],
    ...['--max_seq_length', '64', '--max_steps', '8', '--eval_steps', '4', '--val_split_fraction', '0.125'],
  ];
  const losses = (out: string) =>
    readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => 'loss' in l)
      .map((l) => [l.step, l.loss]);
  const whole = join(work, 'whole');

  it('checkpoints a default run after its first step and at its end, as checkpoint-N folders', () => {
    const r = cli('train', run(whole));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toMatch(/^gpu: .*SwiftShader.*, the CPU fallback/);
    expect(r.out).toContain(`checkpoint -> ${join(whole, 'checkpoint-1')}`);
    const kept = readdirSync(whole).filter((n) => n.startsWith('checkpoint-'));
    expect(kept.sort()).toEqual(['checkpoint-1', 'checkpoint-8']);
    expect(readdirSync(join(whole, 'checkpoint-8')).sort()).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
      'meta.json',
      'state.bin',
    ]);
    // the end's checkpoint holds the adapter written to out/
    expect(readFileSync(join(whole, 'checkpoint-8', 'adapter_model.safetensors'))).toEqual(
      readFileSync(join(whole, 'adapter_model.safetensors')),
    );
    expect(losses(whole).map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  }, 300_000);

  it('a run killed mid-way resumes from its newest checkpoint in --out and ends with the same adapter', async () => {
    const out = join(work, 'crashed');
    const killed = await interrupted(run(out), 3, 'SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(join(out, 'adapter_model.safetensors'))).toBe(false);
    expect(existsSync(join(out, 'checkpoint-1', 'meta.json'))).toBe(true);
    // Only the paths and the flag: the hyperparameters come from the checkpoint.
    const r = cli('train', [
      ...['--model', demoModel, '--data', join(work, 'data.json'), '--out', out],
      '--resume_from_checkpoint',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const from = Number(/resuming from .*checkpoint-(\d+) \(step \d+ of 8\)/.exec(r.out)![1]);
    expect(from).toBeGreaterThanOrEqual(1);
    expect(from).toBeLessThan(8);
    expect(r.out).toContain('completed 8 steps');
    expect(readFileSync(join(out, 'adapter_model.safetensors'))).toEqual(
      readFileSync(join(whole, 'adapter_model.safetensors')),
    );
    expect(readFileSync(join(out, 'adapter_config.json'), 'utf8')).toBe(
      readFileSync(join(whole, 'adapter_config.json'), 'utf8'),
    );
    expect(losses(out)).toEqual(losses(whole));
  }, 300_000);

  it('Ctrl-C stops after the current step with a checkpoint; resuming from that folder ends the same', async () => {
    const out = join(work, 'ctrl-c');
    const stopped = await interrupted(run(out), 2, 'SIGINT');
    expect(stopped.code).toBe(130);
    const at = Number(/stopped by you at step (\d+) of 8/.exec(stopped.out)![1]);
    expect(at).toBeGreaterThanOrEqual(2);
    expect(at).toBeLessThan(8);
    expect(stopped.out).toContain('--resume_from_checkpoint');
    const ckpt = join(out, `checkpoint-${at}`);
    expect(readFileSync(join(ckpt, 'adapter_model.safetensors'))).toEqual(
      readFileSync(join(out, 'adapter_model.safetensors')),
    );
    const r = cli('train', [...run(out), '--resume_from_checkpoint', ckpt]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`resuming from ${ckpt} (step ${at} of 8)`);
    expect(readFileSync(join(out, 'adapter_model.safetensors'))).toEqual(
      readFileSync(join(whole, 'adapter_model.safetensors')),
    );
    expect(losses(out)).toEqual(losses(whole));
    const none = cli('train', [...run(join(work, 'fresh')), '--resume_from_checkpoint']);
    expect(none.code).toBe(1);
    expect(none.err.trim()).toBe(
      `error: --resume_from_checkpoint: --out ${join(work, 'fresh')} has no complete checkpoint-N folder to resume from`,
    );
  }, 300_000);
});

describe('npm run train / npm run sample', () => {
  const out = join(work, 'out');

  it('trains with early stopping, says why and when it stopped, and writes the last and best adapters', () => {
    const r = cli('train', [
      ...['--model', demoModel, '--data', join(work, 'data.json'), '--out', out],
      ...[
        '--target_modules',
        'all-linear',
        '--lora_dropout',
        '0',
        '--learning_rate',
        '0.01',
        '--lr_scheduler_type',
        'constant',
      ],
      ...['--warmup_ratio', '0', '--per_device_train_batch_size', '4', '--max_seq_length', '128', '--max_steps', '14'],
      ...[
        '--eval_steps',
        '1',
        '--val_split_fraction',
        '0.25',
        '--early_stopping_patience',
        '2',
        '--early_stopping_threshold',
        '0.001',
      ],
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}/);
    expect(r.out).toMatch(/stopped early at step 5: validation loss did not improve; best was \d\.\d{4} at step 3/);
    const summary = JSON.parse(readFileSync(join(out, 'run_summary.json'), 'utf8'));
    expect(summary.stop).toMatchObject({ kind: 'early_stopping', step: 5, bestStep: 3 });
    expect(summary.best).toMatchObject({ dir: 'best', step: 3 });
    expect(summary.last).toMatchObject({ dir: '.', step: 5 });
    // metrics: a training line per step and an eval line per evaluation
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => 'loss' in l).map((l) => l.step)).toEqual([1, 2, 3, 4, 5]);
    expect(lines.filter((l) => 'eval_loss' in l).map((l) => l.step)).toEqual([1, 2, 3, 4, 5]);
    const config = JSON.parse(readFileSync(join(out, 'training_config.json'), 'utf8'));
    expect(config.training.learning_rate).toBe(0.01);
    expect(config.lora.target_modules).toBe('all-linear');
  }, 600_000);

  it('writes adapters in PEFT layout', async () => {
    for (const dir of [out, join(out, 'best')]) {
      const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
      expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 8, lora_alpha: 16, bias: 'none' });
      // The built-in demo has one name, whichever door trained on it (the studio's is the same).
      expect(cfg.base_model_name_or_path).toBe('lora-studio-demo-sql');
      expect(cfg.target_modules).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
      const st = await openSafetensors(bytesSource(readFileSync(join(dir, 'adapter_model.safetensors')), 'a'));
      expect(st.tensors.size).toBe(4 * 7 * 2);
      expect(st.tensors.get('base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight')?.shape).toEqual([32, 8]);
      expect(st.tensors.get('base_model.model.model.layers.3.mlp.down_proj.lora_A.weight')?.shape).toEqual([8, 176]);
    }
  });

  it('samples with the adapter and prints ids and log-probabilities', () => {
    const r = cli('sample', [
      '--model',
      demoModel,
      '--adapter',
      out,
      '--prompt',
      'How many orders are there?',
      '--max_new_tokens',
      '12',
      '--logprobs',
    ]);
    expect(r.code).toBe(0);
    expect(r.err.split('\n')[0]).toMatch(/^gpu: .*, the CPU fallback/);
    const j = JSON.parse(r.out.trim().split('\n').pop()!);
    expect(j.ids.length).toBeGreaterThan(0);
    expect(j.ids.length).toBeLessThanOrEqual(12);
    expect(j.logprobs).toHaveLength(j.ids.length);
    for (const lp of j.logprobs) expect(lp).toBeLessThanOrEqual(0);
    expect(typeof j.text).toBe('string');
  }, 600_000);

  it('samples from the prompt the user typed: chat template, generation prompt and BOS (--logprobs prompt_ids)', () => {
    const tok = ModelTokenizer.load(
      readFileSync(join(demoModel, 'tokenizer.json'), 'utf8'),
      readFileSync(join(demoModel, 'tokenizer_config.json'), 'utf8'),
    );
    const promptIds = (prompt: string, ...more: string[]) => {
      const r = cli('sample', [
        '--model',
        demoModel,
        '--prompt',
        prompt,
        '--max_new_tokens',
        '2',
        '--logprobs',
        ...more,
      ]);
      // stderr: only the adapter line (stdout holds the JSON).
      expect(r.err.trim().split('\n')).toEqual([expect.stringMatching(/^gpu: /)]);
      expect(r.code).toBe(0);
      const ids: number[] = JSON.parse(r.out.trim().split('\n').pop()!).prompt_ids;
      return { ids, text: tok.decode(ids, { skipSpecialTokens: false }) };
    };
    const berlin = promptIds('List all customers from Berlin.');
    expect(berlin.text).toBe(
      '<|begin_of_text|><|im_start|>user\nList all customers from Berlin.<|im_end|>\n<|im_start|>assistant\n',
    );
    const orders = promptIds('How many orders are there?');
    expect(orders.text).toContain('How many orders are there?');
    expect(orders.ids).not.toEqual(berlin.ids);
    expect(promptIds('Count rows.', '--system', 'You write SQL.').text).toBe(
      '<|begin_of_text|><|im_start|>system\nYou write SQL.<|im_end|>\n<|im_start|>user\nCount rows.<|im_end|>\n<|im_start|>assistant\n',
    );
    // --raw: the text as is, without the template (BOS as the tokenizer adds it).
    expect(promptIds('SELECT name FROM', '--raw').text).toBe('<|begin_of_text|>SELECT name FROM');
  }, 180_000);

  it('ends bad input with one clear line and a non-zero exit code', () => {
    const missing = cli('train', ['--data', 'x.json', '--out', join(work, 'o2')]);
    expect(missing.code).toBe(2);
    expect(missing.err.split('\n')[0]).toBe('error: --model is required');
    const typo = cli('train', ['--model', demoModel, '--data', 'x', '--out', 'y', '--lora_alhpa', '8']);
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/^error: unknown flag --lora_alhpa \(did you mean --lora_alpha\?\)/);
    const nofile = cli('train', ['--model', demoModel, '--data', join(work, 'nope.json'), '--out', join(work, 'o3')]);
    expect(nofile.code).toBe(1);
    expect(nofile.err.trim()).toMatch(/^error: .*nope\.json/);
    expect(nofile.err.trim().split('\n')).toHaveLength(1);
    const badModel = join(work, 'gpt2');
    rmSync(badModel, { recursive: true, force: true });
    spawnSync('mkdir', ['-p', badModel]);
    writeFileSync(join(badModel, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_embd: 8 }));
    const bad = cli('sample', ['--model', badModel, '--prompt', 'hi']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/model_type "gpt2" is not supported/);
    expect(existsSync(join(work, 'o3'))).toBe(false);
  }, 600_000);

  it('npm run bench prints one JSON line per configuration: throughput, peak = estimate, kernel times', () => {
    const r = cli('bench', ['--shape', 'tiny', '--batch', '2', '--seq', '32', '--steps', '2', '--warmup', '1']);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]);
    expect(j.adapter.isCpu).toBe(true);
    // the first line (stderr: stdout holds the JSON) names the adapter and says it is the fallback
    expect(r.err.split('\n')[0]).toMatch(/^gpu: .*SwiftShader.*, the CPU fallback/);
    expect(j).toMatchObject({ shape: 'tiny', targets: 'q_proj,v_proj', r: 8, batch: 2, seq: 32, steps: 2, warmup: 1 });
    expect(j.dims).toEqual({
      hidden: 64,
      layers: 4,
      heads: 4,
      kv_heads: 2,
      head_dim: 16,
      intermediate: 176,
      vocab: 1024,
      params: 250432,
    });
    expect(j.ms_steps).toHaveLength(2);
    expect(j.ms_per_step).toBeCloseTo((j.ms_steps[0] + j.ms_steps[1]) / 2, 0);
    expect(Math.abs(j.tokens_per_s - 64 / (j.ms_per_step / 1000))).toBeLessThan(0.01 * j.tokens_per_s);
    expect(j.peak_bytes).toBe(j.estimate_bytes);
    // SwiftShader has timestamp-query: every step of the model's program is timed by kernel family.
    const labels = j.kernels.map((k: { label: string }) => k.label);
    for (const l of ['lm_logits', 'q_proj fwd', 'attention', 'attention_backward_dq']) expect(labels).toContain(l);
    expect(r.err).toContain('tiny: step 3/3');

    const memory = cli('bench', ['--memory', '--shape', 'qwen2.5-0.5b']);
    expect(memory.code).toBe(0);
    const estimates = memory.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const qlora = estimates.find((e) => e.nf4 && e.gradient_checkpointing && e.dtype === 'bf16');
    // QLoRA's promise: Qwen2.5-0.5B trains in under 1.5 GB.
    expect(qlora.estimate_bytes).toBeLessThan(1.5e9);

    // Dataset mode: padded batches and packed rows on an Alpaca file of varied lengths, one run.
    const alpaca = join(work, 'lengths.jsonl');
    const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i % 7}`).join(' ');
    writeFileSync(
      alpaca,
      [3, 40, 9, 17, 55, 6, 28, 12, 4, 33, 21, 8]
        .map((n, i) => JSON.stringify({ instruction: words(2 + (i % 3)), input: '', output: words(n) }))
        .join('\n'),
    );
    const ds = cli('bench', ['--dataset', alpaca, '--seq', '64', '--batch', '4']);
    expect(ds.code).toBe(0);
    const d = JSON.parse(ds.out.trim());
    expect(d).toMatchObject({ dataset: alpaca, records: 12, shape: 'tiny', batch: 4, max_seq_length: 64 });
    expect(d.modes.map((m: { mode: string }) => m.mode)).toEqual(['padded', 'packed']);
    const [pad, pack] = d.modes;
    // Packed rows hold less padding, and the same examples have the same loss either way.
    expect(pack.padding_share).toBeLessThan(pad.padding_share);
    expect(pad.padding_share).toBeGreaterThan(0);
    expect(d.loss_rel_diff).toBeLessThan(1e-5);
    expect(pad.loss).toBeGreaterThan(1);
    for (const m of d.modes) {
      expect(m.real_tokens_per_s).toBeCloseTo(m.slot_tokens_per_s * (1 - m.padding_share), -1);
    }
    expect(d.packed_over_padded).toBeCloseTo(pack.real_tokens_per_s / pad.real_tokens_per_s, 2);
    expect(ds.err).toContain('packed: step 4/4');

    const big = cli('bench', ['--shape', 'qwen2.5-0.5b', '--batch', '64', '--seq', '4096']);
    expect(JSON.parse(big.out.trim().split('\n').pop()!).error).toMatch(
      /more than this GPU can bind at once .*Lower per_device_train_batch_size \(now 64\) or max_seq_length \(now 4096\)/,
    );
  }, 600_000);
});
