// A malformed dataset: the studio names every bad record (record, line, field), keeps the good
// ones, lets the user decide to continue with them, and survives a file it cannot read at all
// without losing what was loaded.

import { writeFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { dropFile, loadDemoModel, screenshot } from './helpers';

test('bad records are listed by record, line and field; the good ones stay usable', async ({ page }, testInfo) => {
  await page.setViewportSize({ width: 1360, height: 900 });
  await page.goto('/');
  await loadDemoModel(page);

  // The file picker this time (the drop is covered by the main flow and below).
  await page.getByTestId('tab-dataset').click();
  await page.getByTestId('dataset-input').setInputFiles('e2e/fixtures/bad-dataset.jsonl');
  await expect(page.getByTestId('dataset-records')).toHaveText('5');
  await expect(page.getByTestId('dataset-error-count')).toHaveText('4');
  await expect(page.getByTestId('dataset-errors-alert')).toContainText('4 records of 9 could not be read');
  const rows = page.getByTestId('dataset-errors').getByTestId('error-row');
  await expect(rows).toHaveCount(4);
  const table = await rows.evaluateAll((trs) =>
    trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent!.trim())),
  );
  expect(table.map((r) => r.slice(0, 3))).toEqual([
    ['#2', '3', '—'],
    ['#3', '4', 'output'],
    ['#5', '6', '—'],
    ['#6', '7', 'instruction'],
  ]);
  expect(table[0][3]).toContain('not valid JSON');
  expect(table[1][3]).toBe('field "output" is missing');
  expect(table[2][3]).toBe('must be a JSON object, not an array');
  expect(table[3][3]).toBe('field "instruction" must be a string, not a number');

  // Training waits for the user's decision.
  await expect(page.getByTestId('start-training')).toBeDisabled();
  await expect(page.getByTestId('start-blocker')).toContainText('the dataset has bad records');
  await screenshot(page, testInfo, 'dataset-errors');
  await page.getByTestId('accept-good-records').click();
  await expect(page.getByTestId('dataset-errors-alert')).toContainText('Training uses the 5 good records');
  await expect(page.getByTestId('start-training')).toBeEnabled();
  // The good records, as the model reads them: lines 1, 2, 5, 8 and 10 (the blank line 9 is no record).
  await expect(page.getByTestId('preview-row')).toHaveCount(5);
  const heads = await page.getByTestId('preview-row').locator('.record-head > span:first-child').allTextContents();
  expect(heads).toEqual([
    'Record #0 · line 1',
    'Record #1 · line 2',
    'Record #4 · line 5',
    'Record #7 · line 8',
    'Record #8 · line 10',
  ]);
  await expect(page.getByTestId('stat-train')).toHaveText('4');
  await expect(page.getByTestId('stat-val')).toHaveText('1');

  // A file that cannot be read at all: a clear message, and everything loaded before stays.
  const broken = testInfo.outputPath('broken.json');
  writeFileSync(broken, '[{"instruction": "a", "output": "b"},\n {"instruction": "c", "output": ]\n');
  await dropFile(page, broken, 'broken.json');
  await expect(page.getByTestId('dataset-error')).toContainText('broken.json is not valid JSON at line 2');
  await expect(page.getByTestId('dataset-records')).toHaveText('5');
  await expect(page.getByTestId('preview-row')).toHaveCount(5);
  // The worker is alive and still has the model: it renders and generates.
  await page.getByTestId('tab-samples').click();
  await page.getByTestId('sample-choice').selectOption('custom');
  await page.getByTestId('sample-custom').fill('How many customers are from Canada?');
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('sample-result').getByTestId('sample-base-text')).not.toBeEmpty({ timeout: 240_000 });
});
