// Checkpoints: a run interrupted by a reload is offered for resumption, continues from its last
// checkpoint in the origin-private file system, and follows the same loss trajectory as the same
// run left uninterrupted (dropout seeds come from the step, the sampler and AdamW state restore).
// With save_steps set, checkpoints follow it; with the default settings a run is saved after its
// first step (then by time, on pause and at the end), and the page asks before it is left.

import { expect, test } from '@playwright/test';
import { openWithDemo, reloadDuringRun, screenshot, smallRun, stepLog, waitFor } from './helpers';

test('a reloaded run resumes from its checkpoint with the same losses as an uninterrupted run', async ({
  page,
}, testInfo) => {
  await page.setViewportSize({ width: 1360, height: 900 });
  await openWithDemo(page);
  await smallRun(page, { maxSteps: 6, evalSteps: 3, saveSteps: 2 });

  // The uninterrupted run, with a sample generated while it trains: the worker runs it between two
  // steps, with the adapter as it is then, and the run's losses are not disturbed (compared below).
  await page.getByTestId('start-training').click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="run-step"]')?.textContent === 'Step 1 / 6',
    null,
    {
      polling: 100,
    },
  );
  await page.getByTestId('tab-samples').click();
  await page.getByTestId('generate').click();
  const midRun = page.getByTestId('sample-result').first();
  await expect(midRun.getByTestId('sample-tuned')).toContainText(/With the adapter \(step [1-5]\)/, {
    timeout: 60_000,
  });
  console.log(`sample during training: ${await midRun.getByTestId('sample-tuned').locator('h3').textContent()}`);
  await page.getByTestId('tab-training').click();
  await waitFor(page, '[data-testid="stop-reason"]');
  const whole = await stepLog(page, 6);
  // every save_steps (2, 4), and the end's
  await expect(page.getByTestId('last-checkpoint')).toHaveText('step 6');

  // The same run again, interrupted by a reload right after its checkpoint at step 4.
  await page.getByTestId('start-training').click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="last-checkpoint"]')?.textContent === 'step 4',
    null,
    { polling: 50, timeout: 120_000 },
  );
  const stepAtReload = await page.getByTestId('run-step').textContent();
  expect(await reloadDuringRun(page)).toBe('beforeunload');

  // The studio offers the run (the finished one is not offered) and resumes it on its own model.
  const item = page.getByTestId('resume-item');
  await expect(item).toHaveCount(1);
  await expect(item).toHaveAttribute('data-step', '4');
  await expect(item).toContainText('stopped after step 4 of 6');
  await screenshot(page, testInfo, 'resume-offer');
  await page.getByTestId('resume-run').click();
  await waitFor(page, '[data-testid="stop-reason"]');
  await expect(page.getByTestId('panel-training')).toContainText('Resumed from the checkpoint at step 4');
  await expect(page.getByTestId('stop-reason')).toContainText('completed 6 steps');
  const resumed = await stepLog(page, 6);
  const diffs = resumed.map((r, i) => Math.abs(r.loss - whole[i].loss));
  const evalDiffs = resumed
    .filter((r) => r.evalLoss !== null)
    .map((r) => Math.abs(r.evalLoss! - whole.find((w) => w.step === r.step)!.evalLoss!));
  console.log(
    `reloaded at "${stepAtReload}"; uninterrupted ${whole.map((r) => r.loss.toFixed(6)).join(' ')}; ` +
      `resumed ${resumed.map((r) => r.loss.toFixed(6)).join(' ')}; max |loss diff| ${Math.max(...diffs)}, eval ${Math.max(...evalDiffs)}`,
  );
  expect(resumed.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
  // Steps 5 and 6 were computed after the reload; they match to float32 precision.
  for (let i = 0; i < 6; i++) expect(diffs[i]).toBeLessThanOrEqual(1e-6 * Math.max(1, whole[i].loss));
  for (const d of evalDiffs) expect(d).toBeLessThanOrEqual(1e-6);
  await expect(page.getByTestId('resume-item')).toHaveCount(0);
  // Both runs keep checkpoints in the browser until deleted.
  await expect(page.getByTestId('saved-run')).toHaveCount(2);
  await page.getByTestId('delete-run').first().click();
  await expect(page.getByTestId('saved-run')).toHaveCount(1);
});

test('with the default settings, a reload mid-run is asked about, and the run resumes from its automatic checkpoint', async ({
  page,
}, testInfo) => {
  test.setTimeout(300_000);
  await page.setViewportSize({ width: 1360, height: 900 });
  await openWithDemo(page);
  await smallRun(page, { maxSteps: 6, evalSteps: 3 });
  await expect(page.getByTestId('input-save_steps')).toHaveValue('0');
  await page.getByTestId('start-training').click();
  // The first checkpoint comes after the first step (then every 2 minutes of training).
  await page.waitForFunction(
    () => document.querySelector('[data-testid="last-checkpoint"]')?.textContent === 'step 1',
    null,
    { polling: 50, timeout: 120_000 },
  );
  expect(await reloadDuringRun(page)).toBe('beforeunload');

  const item = page.getByTestId('resume-item');
  await expect(item).toHaveCount(1);
  const step = Number(await item.getAttribute('data-step'));
  expect(step).toBeGreaterThanOrEqual(1);
  expect(step).toBeLessThan(6);
  await expect(item).toContainText(`stopped after step ${step} of 6`);
  await screenshot(page, testInfo, 'resume-offer-default');
  await page.getByTestId('resume-run').click();
  await waitFor(page, '[data-testid="stop-reason"]');
  await expect(page.getByTestId('panel-training')).toContainText(`Resumed from the checkpoint at step ${step}`);
  await expect(page.getByTestId('stop-reason')).toContainText('completed 6 steps');
  expect((await stepLog(page, 6)).map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
  await expect(page.getByTestId('last-checkpoint')).toHaveText('step 6');
  // A finished run is not offered again, and leaving the page no longer asks.
  await expect(page.getByTestId('resume-item')).toHaveCount(0);
  expect(await reloadDuringRun(page)).toBeNull();
});
