// Qwen3, SmolLM3 and Gemma 3 model folders through the studio's own pipeline (the run layer the
// worker and the CLI share), each with its published chat template: open, estimate, train with
// "all-linear" (the family's seven modules), sample from the base and the adapter through the
// template's prompt, and export the adapter as PEFT writes it; then the same Gemma 3 folder
// through the command line (`npm run train`, `npm run sample`). The numbers are refereed by
// golden.gpu.test.ts (against reference/); Phi-3 has its own file (phi3.gpu.test.ts).

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/testing/cases.node';
import { testContext } from '../engine/testing/gpu';
import type { GpuContext } from '../engine/gpu/context';
import { openSafetensors } from '../io/safetensors';
import { bytesSource } from '../io/source';
import type { DatasetRecord } from '../data/parse';
import { DEFAULT_HPARAMS, type Hparams } from '../config/hparams';
import { uploadModel } from './model';
import { prepareData } from './data';
import { estimateRun } from './plan';
import { TrainingRun } from './run';
import { chatConversation, encodePrompt, sample } from './sample';
import { FAMILIES, familyFiles, familyModel } from './testing/families';

const SEVEN = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const SQL = join(REPO_ROOT, 'public/demo/sql-demo.json');

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

describe.each(FAMILIES.filter((f) => f.name !== 'tiny-phi3'))('$name through the run layer', (f) => {
  it('trains all-linear (loss down), samples through its chat template, exports PEFT keys', async () => {
    const { model } = await familyModel(f);
    const weights = await uploadModel(ctx, model);
    const c = model.checkpoint.config;
    const h: Hparams = {
      lora: { ...DEFAULT_HPARAMS.lora, lora_dropout: 0, target_modules: 'all-linear' },
      training: {
        ...DEFAULT_HPARAMS.training,
        learning_rate: 3e-3,
        per_device_train_batch_size: 4,
        max_seq_length: Math.min(256, c.maxPositionEmbeddings),
        max_steps: 4,
        warmup_ratio: 0,
        eval_steps: 0,
        val_split_fraction: 0.25,
      },
      quantization: DEFAULT_HPARAMS.quantization,
    };
    // SmolLM3 reads /no_think from the system prompt (a short header instead of its thinking preamble)
    // 16 short SQL records, so that each fits the tiny models' few positions with its template
    const recs: DatasetRecord[] = ['orders', 'users', 'items', 'notes'].flatMap((t, i) =>
      [`count ${t}`, `list ${t}`, `first ${t}`, `drop ${t}`].map((q, j) => ({
        index: 4 * i + j,
        line: 4 * i + j + 1,
        system: 'You write SQL. /no_think',
        turns: [
          { role: 'user' as const, content: q },
          {
            role: 'assistant' as const,
            content: [
              `SELECT COUNT(*) FROM ${t};`,
              `SELECT * FROM ${t};`,
              `SELECT * FROM ${t} LIMIT 1;`,
              `DROP TABLE ${t};`,
            ][j],
          },
        ],
      })),
    );
    const data = prepareData(recs, model, h.training);
    expect(data.cutAway).toEqual([]);
    expect(data.train.length + data.val.length).toBe(16);
    const est = estimateRun(model, h, ctx.caps, data, weights);
    expect(est.targetModules).toEqual(SEVEN);
    const run = new TrainingRun(ctx, model, weights, data, h);
    try {
      const before = await run.trainer.evaluate();
      while (!run.done) await run.step();
      const after = await run.trainer.evaluate();
      console.log(
        `${f.name} via the run layer: validation loss ${before.toFixed(4)} -> ${after.toFixed(4)} in 4 steps`,
      );
      expect(after).toBeLessThan(before);

      // sampling: the prompt is the template's generation prompt; both sides end at a stop id or the limit
      const p = encodePrompt(
        model,
        chatConversation([{ role: 'user', content: 'How many orders?' }], 'You write SQL.'),
      );
      expect(model.tokenizer.decode(p.ids).endsWith(f.generationPrompt)).toBe(true);
      const adapter = { layout: run.trainer.layout, flat: await run.trainer.adapterParams() };
      const out = await sample(ctx, model, weights, adapter, p.ids, {
        maxNewTokens: 6,
        temperature: 0,
        topP: 1,
        seed: 0,
      });
      for (const side of ['base', 'tuned'] as const) {
        const r = out[side]!;
        expect(r.ids.length).toBeGreaterThan(0);
        expect(r.ids.length).toBeLessThanOrEqual(6);
        expect(r.ids.every((id) => id >= 0 && id < c.vocabSize)).toBe(true);
        expect(r.logprobs.every((l) => Number.isFinite(l) && l <= 0)).toBe(true);
        if (r.stoppedBy === 'stop_token') expect(model.stopIds).toContain(r.ids[r.ids.length - 1]);
        else expect(r.ids).toHaveLength(6);
      }
      // the trained adapter changes what the model predicts
      expect(out.tuned!.logprobs[0]).not.toBe(out.base!.logprobs[0]);

      const exported = await run.exportAdapter('last');
      const cfg = JSON.parse(exported.config) as { target_modules: string[]; r: number };
      expect(cfg.target_modules).toEqual([...SEVEN].sort());
      const st = await openSafetensors(bytesSource(exported.safetensors, 'adapter_model.safetensors'));
      expect(st.tensors.size).toBe(c.numLayers * 7 * 2);
      const last = c.numLayers - 1;
      expect(st.tensors.get(`base_model.model.model.layers.${last}.self_attn.q_proj.lora_B.weight`)!.shape).toEqual([
        c.numHeads * c.headDim,
        cfg.r,
      ]);
      expect(st.tensors.get('base_model.model.model.layers.0.mlp.down_proj.lora_A.weight')!.shape).toEqual([
        cfg.r,
        c.intermediateSize,
      ]);
    } finally {
      run.destroy();
      weights.arena.destroy();
    }
  });
});

describe('a Gemma 3 folder through the command line', () => {
  const work = mkdtempSync(join(tmpdir(), 'families-cli-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('npm run train writes a PEFT adapter, npm run sample prompts through the Gemma 3 template', async () => {
    // @ts-expect-error: a plain .mjs module without types
    const { buildCli } = await import('../../scripts/build-cli.mjs');
    await buildCli(['train', 'sample']);
    const gemma = FAMILIES.find((f) => f.name === 'tiny-gemma3')!;
    const dir = join(work, 'gemma-3-tiny');
    mkdirSync(dir);
    for (const [path, bytes] of familyFiles(gemma).files) writeFileSync(join(dir, path), bytes);
    const records = JSON.parse(readFileSync(SQL, 'utf8')) as unknown[];
    writeFileSync(join(work, 'data.json'), JSON.stringify(records.slice(0, 12)));
    const cli = (name: string, args: string[]) =>
      spawnSync(process.execPath, [join(REPO_ROOT, 'dist-cli', `${name}.mjs`), ...args], {
        encoding: 'utf8',
        env: process.env,
        cwd: REPO_ROOT,
      });
    const out = join(work, 'out');
    const t = cli('train', [
      ...['--model', dir, '--data', join(work, 'data.json'), '--out', out],
      ...['--target_modules', 'all-linear', '--max_steps', '2', '--per_device_train_batch_size', '2'],
      ...['--max_seq_length', '128', '--eval_steps', '0', '--val_split_fraction', '0'],
    ]);
    expect(t.stderr).not.toMatch(/error/i);
    expect(t.status).toBe(0);
    expect(t.stdout).toMatch(/^trainable params: [\d,]+ \|\| all params: [\d,]+/m);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg.target_modules).toEqual([...SEVEN].sort());
    const st = await openSafetensors(bytesSource(readFileSync(join(out, 'adapter_model.safetensors')), 'adapter'));
    expect(st.tensors.has('base_model.model.model.layers.0.mlp.gate_proj.lora_A.weight')).toBe(true);

    const s = cli('sample', [
      ...['--model', dir, '--adapter', out, '--prompt', 'How many orders?'],
      ...['--max_new_tokens', '3', '--logprobs'],
    ]);
    expect(s.status).toBe(0);
    const j = JSON.parse(s.stdout.trim().split('\n').pop()!) as { prompt_ids: number[]; ids: number[] };
    const { model } = await familyModel(gemma);
    expect(model.tokenizer.decode(j.prompt_ids)).toBe(
      '<bos><start_of_turn>user\nHow many orders?<end_of_turn>\n<start_of_turn>model\n',
    );
    expect(j.ids.length).toBeGreaterThan(0);
  });
});
