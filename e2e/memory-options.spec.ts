// QLoRA and gradient checkpointing in the studio: the Hyperparameters panel has both controls
// with their one-line explanations; the memory estimate lists each option not yet on with the
// total it would give, and turning one on gives exactly that total; a run with both trains on the
// NF4 base (the GPU buffers it holds are the estimate), and sampling works on it; the settings
// survive a reload.

import { expect, test } from '@playwright/test';
import { openWithDemo, smallRun, stepLog, waitFor } from './helpers';

test('gradient checkpointing and 4-bit: suggested with their effect, applied, trained on and sampled from', async ({
  page,
}) => {
  test.setTimeout(240_000);
  await openWithDemo(page);
  await smallRun(page, { maxSteps: 2, evalSteps: 0 });
  await expect(page.getByTestId('field-gradient_checkpointing')).toContainText(
    "recompute each layer's activations in the backward pass",
  );
  await expect(page.getByTestId('field-load_in_4bit')).toContainText('4-bit NF4 (QLoRA)');
  await expect(page.getByTestId('input-bnb_4bit_quant_type')).toHaveValue('nf4');

  // The estimate for the data as encoded with max_seq_length 64 (348 records keep a trained token)
  // and 2% held out: the split shows once the encoding for these settings is done.
  await expect(page.getByTestId('examples-split')).toHaveText('341 · 7');
  const estimate = page.getByTestId('memory-estimate');
  const suggestions = page.getByTestId('memory-suggestions').locator('li');
  await expect(suggestions).toHaveCount(2);
  const plain = (await estimate.textContent())!;
  const [ckptLine, nf4Line] = await suggestions.allTextContents();
  expect(ckptLine).toMatch(new RegExp(`^turn on gradient checkpointing: ${plain} -> \\d`));
  expect(nf4Line).toMatch(new RegExp(`^load the base in 4-bit \\(NF4\\): ${plain} -> \\d`));

  // Turning checkpointing on gives the total it promised; only the 4-bit suggestion is left.
  await page.getByTestId('input-gradient_checkpointing').check();
  await expect(estimate).toHaveText(ckptLine.split(' -> ')[1]);
  await expect(suggestions).toHaveCount(1);
  await expect(suggestions.first()).toContainText('load the base in 4-bit (NF4)');
  await page.getByTestId('input-load_in_4bit').check();
  await expect(page.getByTestId('memory-suggestions')).toHaveCount(0);
  const both = (await estimate.textContent())!;
  expect(both).not.toBe(ckptLine.split(' -> ')[1]);

  // The run quantizes the loaded base and trains on it: what it holds is the estimate.
  await page.getByTestId('start-training').click();
  await waitFor(page, '[data-testid="stop-reason"]');
  await expect(page.getByTestId('stop-reason')).toHaveAttribute('data-kind', 'completed');
  const log = await stepLog(page, 2);
  for (const r of log) expect(Number.isFinite(r.loss)).toBe(true);
  await expect(page.getByTestId('gpu-held')).toHaveText(both);

  // Sampling from the NF4 base, with and without the adapter.
  await page.getByTestId('tab-samples').click();
  await page.getByTestId('generate').click();
  const result = page.getByTestId('sample-result').first();
  await expect(result).toBeVisible({ timeout: 120_000 });
  await expect(result.getByTestId('sample-tuned')).toContainText('With the adapter (step 2)');
  expect((await result.getByTestId('sample-base-text').textContent())!.length).toBeGreaterThan(0);
  expect((await result.getByTestId('sample-tuned-text').textContent())!.length).toBeGreaterThan(0);

  // Kept in the browser like every other setting.
  await page.reload();
  await page.getByTestId('tab-hparams').click();
  await expect(page.getByTestId('input-load_in_4bit')).toBeChecked();
  await expect(page.getByTestId('input-gradient_checkpointing')).toBeChecked();
});
