// A whole short demo run without one console error or warning (issue 14: the charts logged React
// "two children with the same key" errors at steps 1 and 2 and drew two y labels at one gridline).
// The run is watched from the first page load to the end, while the user switches steps and
// turns the log scale on and off; every chart's y labels are read back: unique, in order, apart.

import { expect, test, type ConsoleMessage } from '@playwright/test';
import { openWithDemo, smallRun, waitFor } from './helpers';

/** Each chart's y tick labels as drawn: text and vertical position. */
async function yLabels(page: import('@playwright/test').Page) {
  return page.locator('[data-chart]').evaluateAll((charts) =>
    charts.map((c) => ({
      chart: c.getAttribute('data-chart'),
      ticks: Array.from(c.querySelectorAll('.recharts-yAxis text.tick')).map((t) => ({
        text: t.textContent ?? '',
        y: Number(t.getAttribute('y')),
      })),
    })),
  );
}

function expectReadable(charts: Awaited<ReturnType<typeof yLabels>>) {
  for (const c of charts) {
    const texts = c.ticks.map((t) => t.text);
    expect(new Set(texts).size, `${c.chart}: ${texts.join(' ')}`).toBe(texts.length);
    const ys = c.ticks.map((t) => t.y).sort((a, b) => a - b);
    // 11 px labels: at least 12 px between neighbours
    for (let i = 1; i < ys.length; i++)
      expect(ys[i] - ys[i - 1], `${c.chart}: ${texts.join(' ')}`).toBeGreaterThanOrEqual(12);
  }
}

test('a short demo run logs no console error or warning, and every chart label is readable', async ({ page }) => {
  const messages: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error' || m.type() === 'warning') messages.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => messages.push(`pageerror: ${e.message}`));

  await openWithDemo(page);
  await smallRun(page, { maxSteps: 8, evalSteps: 2, saveSteps: 2 });
  await page.getByTestId('start-training').click();
  await waitFor(page, '[data-testid="run-step"]');
  // Steps 1 and 2 are where the duplicate keys appeared: read the labels as soon as charts draw.
  await expect(page.locator('[data-chart="loss"]')).toHaveAttribute('data-points', /^[1-9]/, { timeout: 240_000 });
  expectReadable(await yLabels(page));
  for (const tab of ['samples', 'hparams', 'dataset', 'training']) await page.getByTestId(`tab-${tab}`).click();
  await page.getByTestId('log-scale').check();
  await waitFor(page, '[data-testid="stop-reason"]');
  await expect(page.getByTestId('stop-reason')).toHaveAttribute('data-kind', 'completed');
  await expect(page.locator('[data-chart="loss"]')).toHaveAttribute('data-points', '8');
  expectReadable(await yLabels(page));
  await page.getByTestId('log-scale').uncheck();
  await expect(page.locator('[data-chart="lr"]')).toHaveAttribute('data-points', '8');
  expectReadable(await yLabels(page));
  await page.getByTestId('tab-export').click();
  await page.getByTestId('tab-training').click();
  await expect(page.getByTestId('last-checkpoint')).toBeVisible();

  console.log(`console errors and warnings during the run: ${messages.length}`);
  expect(messages).toEqual([]);
});
