// Chat in the Samples step on the demo model with an imported adapter: two turns, the second
// answer reading the first exchange (the prompt the worker rendered holds both user turns and
// the first answer), the adapter toggle naming who answers, the second answer's text streaming in
// before it is complete, and that answer equal to what `npm run sample` generates from the same
// rendered prompt (the same engine, the prompt read in batched chunks in both).

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { loadDemoModel, screenshot } from './helpers';

const ROOT = join(import.meta.dirname, '..');
const ADAPTER = join(ROOT, 'reference/cases/demo/adapter_init');

test('a two-turn chat keeps its history, with the adapter on and then off', async ({ page }, testInfo) => {
  test.setTimeout(420_000);
  await page.setViewportSize({ width: 1360, height: 900 });
  await page.goto('/');
  await loadDemoModel(page);

  // An adapter to chat with: the demo reference case's PEFT adapter, imported on the Hyperparameters step.
  await page.getByTestId('tab-hparams').click();
  await page
    .getByTestId('adapter-card')
    .locator('input[type=file]:not([webkitdirectory])')
    .setInputFiles([join(ADAPTER, 'adapter_config.json'), join(ADAPTER, 'adapter_model.safetensors')]);
  await expect(page.getByTestId('adapter-card')).toContainText('Imported');

  await page.getByTestId('tab-samples').click();
  await page.getByTestId('sample-mode-chat').click();
  const label = page.getByTestId('chat-model');
  await expect(label).toHaveText('Answering: the model with the adapter');
  await page.getByTestId('chat-adapter').uncheck();
  await expect(label).toHaveText('Answering: the base model');
  await page.getByTestId('chat-adapter').check();
  await expect(label).toHaveText('Answering: the model with the adapter');

  await page.getByTestId('chat-system').fill('You answer with one SQL query.');
  const messages = page.getByTestId('chat-message');
  const first = 'How many customers are from Canada?';
  await page.getByTestId('chat-input').fill(first);
  await page.getByTestId('chat-input').press('Enter');
  await expect(messages).toHaveCount(2, { timeout: 240_000 });
  await expect(messages.nth(1)).toContainText('With the adapter');
  const answer1 = (await messages.nth(1).getByTestId('chat-message-text').textContent())!;
  expect(answer1.length).toBeGreaterThan(0);

  // Second turn with the base model.
  await page.getByTestId('chat-adapter').uncheck();
  const second = 'Only those from Toronto.';
  await page.getByTestId('chat-input').fill(second);
  // A longer answer, so that its text is seen streaming in before it is complete (the streamed
  // bubble exists only while the answer is generated).
  await page.locator('[data-testid=chat] input[type=number]').first().fill('160');
  await page.getByTestId('chat-send').click();
  await expect(page.getByTestId('chat-streaming-text')).toHaveText(/[^…\s]/);
  await expect(messages).toHaveCount(4, { timeout: 240_000 });
  await expect(messages.nth(3)).toContainText('Base model');
  expect(await messages.nth(0).getByTestId('chat-message-text').textContent()).toBe(first);
  expect(await messages.nth(2).getByTestId('chat-message-text').textContent()).toBe(second);
  const answer2 = (await messages.nth(3).getByTestId('chat-message-text').textContent())!;

  // The prompt the worker rendered for the second answer holds the whole conversation, in order.
  await page.getByTestId('chat').locator('details summary').click();
  const rendered = (await page.getByTestId('chat-rendered').textContent())!;
  const at = ['You answer with one SQL query.', first, answer1 === '(nothing)' ? '' : answer1, second].map((s) =>
    rendered.indexOf(s),
  );
  expect(
    at.every((i) => i >= 0),
    `rendered prompt:\n${rendered}`,
  ).toBe(true);
  expect([...at].sort((a, b) => a - b)).toEqual(at);
  await screenshot(page, testInfo, 'panel-samples-chat');

  // The same prompt through the command line: the same greedy answer.
  // @ts-expect-error: a plain .mjs module without types
  const { buildCli } = await import('../scripts/build-cli.mjs');
  // @ts-expect-error: a plain .mjs module without types
  const { gpuEnv } = await import('../scripts/gpu-env.mjs');
  await buildCli(['sample']);
  const r = spawnSync(
    process.execPath,
    [
      join(ROOT, 'dist-cli/sample.mjs'),
      ...['--model', join(ROOT, 'public/demo/model'), '--raw', '--prompt', rendered],
      ...['--max_new_tokens', '160', '--temperature', '0'],
    ],
    { encoding: 'utf8', env: gpuEnv(), cwd: ROOT },
  );
  expect(r.status, r.stderr).toBe(0);
  expect(answer2).toBe(r.stdout.trim() || '(nothing)');
  console.log(`chat: answer 1 "${answer1}", answer 2 "${answer2}" (npm run sample: "${r.stdout.trim()}")`);
});
