// A ShareGPT dataset with a tool call and English chats, through the demo model (a small SQL
// tokenizer and a ChatML template without tool support): the panel names the record the template
// cannot render (its own raise_exception message), says the text does not suit the tokenizer (with the figure), and
// previews the multi-turn chats with every assistant turn trained, or only the last with
// mask_history.

import { expect, test } from '@playwright/test';
import { loadDemoModel, screenshot } from './helpers';

test('a tool record the template refuses is named; a poor tokenizer fit is said; mask_history trains the last turn', async ({
  page,
}, testInfo) => {
  await page.setViewportSize({ width: 1360, height: 900 });
  await page.goto('/');
  await loadDemoModel(page);
  await page.getByTestId('tab-dataset').click();
  await page.getByTestId('dataset-input').setInputFiles('e2e/fixtures/tools-dataset.jsonl');
  await expect(page.getByTestId('dataset-records')).toHaveText('4');

  const encodeRows = page.getByTestId('encode-errors').getByTestId('error-row');
  await expect(encodeRows).toHaveCount(1);
  await expect(encodeRows.first()).toHaveAttribute('data-record', '0');
  // The demo's template refuses the tool role itself (raise_exception); its words are shown.
  await expect(encodeRows.first()).toContainText(
    'the chat template failed: Only system, user and assistant roles are supported, not tool',
  );

  const notes = page.getByTestId('data-notes');
  await expect(notes).toContainText('characters per token with this tokenizer');
  await expect(notes).toContainText('A model with a general-purpose tokenizer suits this text better.');
  const figure = /the text comes to (\d+\.\d\d) characters per token/.exec((await notes.textContent()) ?? '');
  expect(Number(figure?.[1])).toBeLessThan(2);

  // Record #1: two assistant turns, both trained by default.
  const row = page.locator('[data-testid="preview-row"][data-record="1"]');
  await expect(row.locator('[data-trained="true"]')).toHaveCount(2);
  await expect(row.locator('[data-trained="true"]').first()).toContainText('Try a readable survey');
  await screenshot(page, testInfo, 'dataset-tools');

  await page.getByTestId('tab-hparams').click();
  await page.getByTestId('input-mask_history').check();
  await page.getByTestId('tab-dataset').click();
  await expect(row.locator('[data-trained="true"]')).toHaveCount(1);
  await expect(row.locator('[data-trained="true"]')).toContainText('Then a short introduction');
});
