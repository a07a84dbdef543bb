// The benchmark page (issue 6): `npm run bench` in the browser's worker on this tab's adapter. A
// configuration that cannot fit says so before it runs; one that fits gives the same JSON line the
// command prints, with the engine's peak GPU bytes equal to its estimate and per-kernel times.

import { expect, test } from '@playwright/test';
import { bytesOf, downloads, screenshot } from './helpers';

test('the benchmark page times LoRA steps in the browser and refuses what cannot fit', async ({ page }, testInfo) => {
  await page.goto('/');
  await page.getByTestId('tab-bench').click();
  await expect(page.getByTestId('panel-bench')).toBeVisible();
  await expect(page.getByTestId('bench-estimate')).toContainText('GPU memory estimate:');

  // Qwen2.5-0.5B's shape at a sequence far beyond any binding: refused with what to change.
  await page.getByTestId('bench-shape').selectOption('qwen2.5-0.5b');
  await page.getByTestId('bench-batch').fill('64');
  await page.getByTestId('bench-seq').fill('4096');
  await expect(page.getByTestId('bench-problem')).toContainText('Does not fit this adapter:');
  await expect(page.getByTestId('bench-run')).toBeDisabled();

  await page.getByTestId('bench-shape').selectOption('tiny');
  await page.getByTestId('bench-batch').fill('2');
  await page.getByTestId('bench-seq').fill('32');
  await page.getByTestId('bench-steps').fill('2');
  await page.getByTestId('bench-warmup').fill('1');
  await expect(page.getByTestId('bench-estimate')).toBeVisible();
  await page.getByTestId('bench-run').click();
  await expect(page.getByTestId('bench-row')).toHaveCount(1, { timeout: 240_000 });
  await expect(page.getByTestId('bench-log')).toContainText('tiny: step 3/3');

  const [file] = await downloads(page, 1, () => page.getByTestId('bench-download').click());
  const lines = (await bytesOf(file)).toString('utf8').trim().split('\n');
  expect(lines).toHaveLength(1);
  const r = JSON.parse(lines[0]);
  expect(r).toMatchObject({ shape: 'tiny', targets: 'q_proj,v_proj', r: 8, batch: 2, seq: 32, steps: 2, warmup: 1 });
  expect(r.dims).toMatchObject({ hidden: 64, layers: 4, vocab: 1024 });
  expect(r.ms_steps).toHaveLength(2);
  const median = (r.ms_steps[0] + r.ms_steps[1]) / 2;
  expect(Math.abs(r.ms_per_step - median)).toBeLessThan(0.11);
  expect(r.tokens_per_s).toBeCloseTo((2 * 32) / (r.ms_per_step / 1000), -1);
  expect(Number.isFinite(r.final_loss) && r.final_loss > 0).toBe(true);
  // The engine allocates what it planned: its peak is the estimate, to the byte.
  expect(r.peak_bytes).toBe(r.estimate_bytes);
  // Chromium gives timestamp-query here too: each kernel family of the step is timed.
  const labels = r.kernels.map((k: { label: string }) => k.label);
  for (const l of ['lm_logits', 'q_proj fwd', 'attention', 'attention_backward_dq']) expect(labels).toContain(l);
  for (const k of r.kernels) expect(k.ms).toBeGreaterThanOrEqual(0);
  await expect(page.getByTestId('bench-results')).toContainText('per-kernel GPU time');
  await expect(page.getByTestId('bench-tokens')).toHaveText(r.tokens_per_s.toLocaleString('en-US'));
  await screenshot(page, testInfo, 'panel-bench');
});
