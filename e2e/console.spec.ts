// A whole short demo run without one console error or warning (issue 14: the charts logged React
// "two children with the same key" errors at steps 1 and 2 and drew two y labels at one gridline).
// The run is watched from the first page load to the end, while the user switches steps and
// turns the log scale on and off, then a one-step run while the smoothing slider sweeps every
// weight; every chart's y labels are read back: unique and apart.

import { spawn, type ChildProcess } from 'node:child_process';
import { expect, test, type ConsoleMessage } from '@playwright/test';
import { openWithDemo, smallRun, waitFor } from './helpers';

// React reports duplicate keys and most misuse only in its development build, so this spec runs
// against Vite's dev server (as `npm start` serves the studio), beside the preview server the
// other specs use.
const devPort = Number(process.env.PW_PORT ?? 4173) + 100;
let dev: ChildProcess | null = null;

test.beforeAll(async () => {
  dev = spawn('node_modules/.bin/vite', ['--port', String(devPort), '--strictPort'], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${devPort}/`)).ok) break;
    } catch {
      if (i > 240) throw new Error(`the Vite dev server did not answer on port ${devPort}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
});
test.afterAll(() => {
  dev?.kill();
});
test.use({ baseURL: `http://127.0.0.1:${devPort}` });

/** Each chart's y tick labels as drawn: text and vertical position. */
async function yLabels(page: import('@playwright/test').Page) {
  return page.locator('[data-chart]').evaluateAll((charts) =>
    charts.map((c) => ({
      chart: c.getAttribute('data-chart'),
      ticks: Array.from(c.querySelectorAll('.chart-y-ticks text.tick')).map((t) => ({
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

  // A one-step run without evaluation leaves one point per line: the raw and the smoothed loss agree up to a float
  // rounding that depends on the smoothing weight, the degenerate range that made equal ticks.
  // Every weight from 0 to 0.99 is tried, as a user dragging the slider would.
  await page.getByTestId('tab-hparams').click();
  await page.getByTestId('input-max_steps').fill('1');
  await page.getByTestId('input-eval_steps').fill('0');
  await page.getByTestId('start-training').click();
  await waitFor(page, '[data-testid="stop-reason"]');
  await expect(page.locator('[data-chart="loss"]')).toHaveAttribute('data-points', '1');
  const slider = page.getByRole('slider');
  await slider.focus();
  await slider.press('Home');
  for (let i = 0; i < 99; i++) await slider.press('ArrowRight');
  await expect(slider).toHaveAttribute('aria-valuetext', '0.99');
  expectReadable(await yLabels(page));

  console.log(`console errors and warnings during the run: ${messages.length}`);
  expect(messages).toEqual([]);
});
