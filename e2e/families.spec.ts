// The new families in the studio, as a person uses it: a tiny Qwen3, Gemma 3, SmolLM3 and Phi-3
// folder (each with its family's special tokens and published chat template, written by
// scripts/family-folders.ts) chosen with "Choose folder…", a small SQL dataset dropped in; the Model
// panel names the family, the preview shows the record through the template, two steps train with
// all-linear (the family's own module names), the chat answers through the template's generation
// prompt, and the exported adapter has the family's PEFT keys.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { bytesOf, downloads, safetensorsHeader, setField } from './helpers';

const ROOT = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'families-e2e-'));

const FAMILIES = [
  {
    name: 'tiny-qwen3',
    family: 'Qwen3 (qwen3)',
    modules: ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    preview: '<|im_start|>assistant\n<think>\n\n</think>\n\nSELECT COUNT(*) FROM orders;<|im_end|>',
    prompt: '<|im_start|>user\ncount users<|im_end|>\n<|im_start|>assistant\n',
  },
  {
    name: 'tiny-gemma3',
    family: 'Gemma 3 (gemma3_text)',
    modules: ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    preview: '<start_of_turn>model\nSELECT COUNT(*) FROM orders;<end_of_turn>',
    prompt: '<start_of_turn>user\nYou write SQL. /no_think\n\ncount users<end_of_turn>\n<start_of_turn>model\n',
  },
  {
    name: 'tiny-smollm3',
    family: 'SmolLM3 (smollm3)',
    // its metadata header alone is about 100 tokens of the tiny tokenizer
    maxSeqLength: 256,
    modules: ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    preview: '<|im_start|>assistant\n<think>\n\n</think>\nSELECT COUNT(*) FROM orders;<|im_end|>',
    prompt:
      'Reasoning Mode: /no_think\n\n## Custom Instructions\n\nYou write SQL.\n\n<|im_start|>user\ncount users<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n',
  },
  {
    name: 'tiny-phi3',
    family: 'Phi-3 (phi3)',
    modules: ['down_proj', 'gate_up_proj', 'o_proj', 'qkv_proj'],
    preview: '<|assistant|>SELECT COUNT(*) FROM orders;<|end|>',
    prompt: '<|system|>You write SQL. /no_think<|end|><|user|>count users<|end|><|assistant|>',
  },
];

test.beforeAll(() => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/family-folders.ts'), work], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  // 24 short SQL records with a system prompt (SmolLM3 reads /no_think there), as Alpaca JSONL
  const lines: string[] = [];
  for (const t of ['orders', 'users', 'items', 'notes', 'tags', 'logs'])
    for (const [q, a] of [
      [`count ${t}`, `SELECT COUNT(*) FROM ${t};`],
      [`list ${t}`, `SELECT * FROM ${t};`],
      [`first ${t}`, `SELECT * FROM ${t} LIMIT 1;`],
      [`drop ${t}`, `DROP TABLE ${t};`],
    ])
      lines.push(JSON.stringify({ system: 'You write SQL. /no_think', instruction: q, output: a }));
  writeFileSync(join(work, 'sql-short.jsonl'), lines.join('\n') + '\n');
});
test.afterAll(() => rmSync(work, { recursive: true, force: true }));

for (const f of FAMILIES) {
  test(`${f.name}: the family is named, trains all-linear, chats through its template, exports PEFT keys`, async ({
    page,
  }) => {
    test.setTimeout(600_000);
    await page.goto('/');
    await expect(page.getByTestId('gpu-selftest')).toHaveAttribute('data-ok', 'true');
    await page.getByTestId('model-folder-input').setInputFiles(join(work, f.name));
    await expect(page.getByTestId('model-card')).toBeVisible();
    await expect(page.getByTestId('model-family')).toHaveText(f.family);

    await page.getByTestId('tab-dataset').click();
    await page.getByTestId('dataset-input').setInputFiles(join(work, 'sql-short.jsonl'));
    await expect(page.getByTestId('dataset-records')).toContainText('24');
    // the first record as the model reads it: the answer inside the family's own turn markers
    await expect(page.getByTestId('preview-row').first()).toContainText(f.preview);

    await page.getByTestId('tab-hparams').click();
    await page.getByTestId('demo-preset').click();
    await expect(page.getByTestId('target-all-linear')).toBeChecked();
    await setField(page, 'lora_dropout', 0);
    await setField(page, 'max_steps', 2);
    await setField(page, 'eval_steps', 0);
    await setField(page, 'per_device_train_batch_size', 2);
    await setField(page, 'max_seq_length', f.maxSeqLength ?? 128);
    await setField(page, 'val_split_fraction', 0);
    await expect(page.getByTestId('start-training')).toBeEnabled();
    await page.getByTestId('start-training').click();
    await expect(page.getByTestId('stop-reason')).toHaveAttribute('data-kind', 'completed', { timeout: 480_000 });
    expect(Number.isFinite(Number.parseFloat((await page.getByTestId('last-loss').textContent()) ?? ''))).toBe(true);

    await page.getByTestId('tab-samples').click();
    await page.getByTestId('sample-mode-chat').click();
    await page.getByTestId('chat-system').fill('You write SQL. /no_think');
    await page.locator('[data-testid=chat] input[type=number]').first().fill('4');
    await page.getByTestId('chat-input').fill('count users');
    await page.getByTestId('chat-input').press('Enter');
    await expect(page.getByTestId('chat-message')).toHaveCount(2, { timeout: 240_000 });
    await page.getByTestId('chat').locator('details summary').click();
    const rendered = (await page.getByTestId('chat-rendered').textContent())!;
    expect(rendered.endsWith(f.prompt), `rendered prompt:\n${rendered}`).toBe(true);

    await page.getByTestId('tab-export').click();
    const files = await downloads(page, 2, () => page.getByTestId('download-last').click());
    const config = JSON.parse(
      (await bytesOf(files.find((d) => d.suggestedFilename() === 'adapter_config.json')!)).toString(),
    );
    expect([...config.target_modules].sort()).toEqual(f.modules);
    const tensors = safetensorsHeader(
      await bytesOf(files.find((d) => d.suggestedFilename().endsWith('.safetensors'))!),
    );
    for (const m of f.modules) {
      const where =
        m.endsWith('proj') && ['down_proj', 'gate_proj', 'up_proj', 'gate_up_proj'].includes(m) ? 'mlp' : 'self_attn';
      expect(tensors[`base_model.model.model.layers.0.${where}.${m}.lora_A.weight`]?.shape[0]).toBe(config.r);
    }
  });
}
