// Early stopping and the best adapter (issue 8), in the studio: the form says what early stopping
// needs; a run whose validation loss cannot improve by the threshold stops at the step the rule
// predicts, says why and where; the chart and the export name the best step.

import { expect, test } from '@playwright/test';
import { openWithDemo, setField, smallRun, stepLog, waitFor } from './helpers';

test('a run that cannot improve stops early at the predicted step and offers the best adapter', async ({ page }) => {
  await openWithDemo(page);
  await smallRun(page, { maxSteps: 6, evalSteps: 1 });
  await setField(page, 'val_split_fraction', 0);
  await setField(page, 'early_stopping_patience', 1);
  await expect(page.getByTestId('error-early_stopping_patience')).toHaveText(
    'early stopping needs a validation split (val_split_fraction > 0)',
  );
  await setField(page, 'val_split_fraction', 0.02);
  // No decrease of the validation loss is larger than 10: the first evaluation sets the best, the
  // second counts as no improvement, and with patience 1 the run stops there, at step 2.
  await setField(page, 'early_stopping_threshold', 10);
  await expect(page.getByTestId('start-training')).toBeEnabled();
  await page.getByTestId('start-training').click();
  await waitFor(page, '[data-testid="stop-reason"]');
  const reason = page.getByTestId('stop-reason');
  await expect(reason).toHaveAttribute('data-kind', 'early_stopping');
  await expect(reason).toHaveAttribute('data-step', '2');
  const log = await stepLog(page, 2);
  const best = log[1].evalLoss! < log[0].evalLoss! ? log[1] : log[0];
  await expect(reason).toContainText(
    `stopped early at step 2: validation loss did not improve; best was ${best.evalLoss!.toFixed(4)} at step ${best.step}`,
  );
  await expect(page.locator('[data-chart="loss"] .marker-label')).toHaveText(`best ${best.evalLoss!.toFixed(4)}`);
  // "Evaluate now" measures the adapter the run ended with: the last step's validation loss.
  await page.getByTestId('evaluate-now').click();
  await expect(page.getByTestId('evaluated')).toHaveText(`Validation loss at step 2: ${log[1].evalLoss!.toFixed(4)}`);
  await page.getByTestId('tab-export').click();
  await expect(page.getByTestId('export-best')).toContainText(
    `step ${best.step}, validation loss ${best.evalLoss!.toFixed(4)}`,
  );
  await expect(page.getByTestId('export-last')).toContainText(`step 2, validation loss ${log[1].evalLoss!.toFixed(4)}`);
});
