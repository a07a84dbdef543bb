// A model from the Hugging Face Hub, here a local server that answers like the Hub (the same mock
// the io tests use), with byte progress; a private repo without a token fails with the Hub's
// reason while the model loaded before stays; with the token it loads.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { type MockHub, startMockHub } from '../src/io/testing/mock-hub.node';

let hub: MockHub;

test.beforeAll(async () => {
  const dir = 'public/demo/model';
  const files = new Map(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
  hub = await startMockHub({
    tokens: ['hf_good'],
    // 505 KB of weights in 8 KB pieces 15 ms apart: about a second, so progress can be seen.
    throttle: { chunkBytes: 8192, delayMs: 15 },
    repos: {
      'lora-studio/demo-sql': { files },
      'org/private-sql': { files, private: true, allowedTokens: ['hf_good'] },
    },
  });
});

test.afterAll(() => hub.close());

test('downloads from the Hub with progress; a private repo needs its token; a failure keeps the model', async ({
  page,
}) => {
  await page.goto('/');
  await page.getByRole('button', { name: 'Show advanced settings' }).click();
  await page.getByTestId('hub-endpoint').fill(hub.url);
  await page.getByTestId('hub-repo').fill('lora-studio/demo-sql');
  await page.getByTestId('hub-download').click();
  // Progress: the bar shows bytes received, part-way through the weights.
  const partial = await page.waitForFunction(
    () => {
      const bar = document.querySelector('[data-testid="download-bar"]');
      const now = Number(bar?.getAttribute('aria-valuenow'));
      const max = Number(bar?.getAttribute('aria-valuemax'));
      const text = document.querySelector('[data-testid="hub-progress"]')?.textContent ?? '';
      // part-way through the weights file itself
      const m = /model\.safetensors \(([\d.]+) KiB of ([\d.]+) KiB\)/.exec(text);
      return bar && m && Number(m[1]) < Number(m[2]) ? { now, max, text } : null;
    },
    null,
    { polling: 'raf', timeout: 120_000 },
  );
  const p = (await partial.jsonValue())!;
  console.log(`download progress seen: ${p.now} of ${p.max} bytes (${p.text})`);
  expect(p.text).toMatch(/^Downloading model\.safetensors \([\d.]+ KiB of 493\.0 KiB\) · file 5 of 5/);
  await expect(page.getByTestId('model-card')).toContainText('Model: lora-studio/demo-sql');
  await expect(page.getByTestId('model-params')).toContainText('250,432');
  const fetched = hub.requests.filter((r) => r.path.includes('/resolve/')).map((r) => r.path.split('/').pop());
  expect(fetched.sort()).toEqual([
    'config.json',
    'generation_config.json',
    'model.safetensors',
    'tokenizer.json',
    'tokenizer_config.json',
  ]);

  // A private repo without a token: the Hub's reason, and the model loaded before is still there.
  await page.getByRole('heading', { name: 'Load a different model' }).click();
  await page.getByTestId('hub-repo').fill('org/private-sql');
  await page.getByTestId('hub-download').click();
  await expect(page.getByTestId('model-error')).toContainText('Hub repo "org/private-sql" was not found (HTTP 401)');
  await expect(page.getByTestId('model-error')).toContainText('add an access token');
  await expect(page.getByTestId('model-error')).toContainText(/ — still using lora-studio\/demo-sql$/);
  await expect(page.getByTestId('model-loaded')).toContainText('Model loaded: lora-studio/demo-sql.');
  await expect(page.getByTestId('model-card')).toContainText('Model: lora-studio/demo-sql');

  await page.getByTestId('hub-token').fill('hf_good');
  await page.getByTestId('hub-download').click();
  await expect(page.getByTestId('model-card')).toContainText('Model: org/private-sql');
  await expect(page.getByTestId('model-error')).toHaveCount(0);
  expect(hub.requests.some((r) => r.authorization === 'Bearer hf_good')).toBe(true);

  // The endpoint is remembered; the token is not.
  await page.reload();
  await page.getByRole('button', { name: 'Show advanced settings' }).click();
  await expect(page.getByTestId('hub-endpoint')).toHaveValue(hub.url);
  await expect(page.getByTestId('hub-token')).toHaveValue('');
});
