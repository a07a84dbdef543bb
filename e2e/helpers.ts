// What the studio's end-to-end tests share: driving the page as a person would (drop a file, fill
// the form, press buttons), reading what it shows, measuring the main thread, and checking
// downloaded files.

import { readFileSync } from 'node:fs';
import type { Download, Page, TestInfo } from '@playwright/test';
import { expect } from '@playwright/test';

/**
 * Installed before the page's own scripts: a longtask observer (the browser reports every task
 * over 50 ms) and a 5 ms timer whose lateness bounds the longest task from above, so a run also
 * gets a figure when no task crossed 50 ms.
 */
export async function watchMainThread(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as {
      __longTasks: { start: number; duration: number }[];
      __lag: { from: number; max: number };
    };
    w.__longTasks = [];
    w.__lag = { from: Infinity, max: 0 };
    // Long animation frames, for the attribution of any long task (which script, how much rendering).
    const lf = window as unknown as { __frames: unknown[] };
    lf.__frames = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries() as unknown as {
        startTime: number;
        duration: number;
        renderStart: number;
        scripts: { invoker: string; sourceFunctionName: string; duration: number }[];
      }[]) {
        lf.__frames.push({
          start: Math.round(e.startTime),
          duration: Math.round(e.duration),
          renderMs: e.renderStart ? Math.round(e.startTime + e.duration - e.renderStart) : 0,
          scripts: e.scripts.map((x) => `${x.invoker} ${x.sourceFunctionName} ${Math.round(x.duration)}ms`),
        });
      }
    }).observe({ type: 'long-animation-frame', buffered: true });
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
    let expected = performance.now() + 5;
    const tick = () => {
      const now = performance.now();
      if (now >= w.__lag.from) w.__lag.max = Math.max(w.__lag.max, now - expected);
      expected = now + 5;
      setTimeout(tick, 5);
    };
    setTimeout(tick, 5);
  });
}

/** Starts the measurement window (page clock). */
export async function markMainThread(page: Page): Promise<number> {
  return page.evaluate(() => {
    const w = window as unknown as { __lag: { from: number; max: number } };
    w.__lag = { from: performance.now(), max: 0 };
    return w.__lag.from;
  });
}

export async function mainThreadReport(
  page: Page,
  from: number,
): Promise<{ longTasks: number[]; maxLagMs: number; longFrames: unknown[] }> {
  return page.evaluate((t0) => {
    const w = window as unknown as {
      __longTasks: { start: number; duration: number }[];
      __lag: { max: number };
      __frames: { start: number }[];
    };
    return {
      longTasks: w.__longTasks.filter((e) => e.start >= t0).map((e) => Math.round(e.duration)),
      maxLagMs: Math.round(w.__lag.max),
      longFrames: w.__frames.filter((e) => e.start >= t0),
    };
  }, from);
}

/**
 * Reloads the page, accepting the question the studio asks while a run is going; resolves with
 * the dialog's type ('beforeunload'), or null when the page did not ask.
 */
export async function reloadDuringRun(page: Page): Promise<string | null> {
  let asked: string | null = null;
  const onDialog = (d: import('@playwright/test').Dialog) => {
    asked = d.type();
    void d.accept();
  };
  page.on('dialog', onDialog);
  await page.reload();
  page.off('dialog', onDialog);
  return asked;
}

/** Waits for a condition with a cheap poll (Playwright's expect-polling does heavy DOM work on the main thread). */
export async function waitFor(page: Page, selector: string, timeout = 240_000): Promise<void> {
  await page.waitForFunction((s) => document.querySelector(s) !== null, selector, { polling: 500, timeout });
}

/** Drops a file on the page as a person dragging it from the desktop would: dragenter, dragover, drop. */
export async function dropFile(page: Page, path: string, name: string, type = 'application/json'): Promise<void> {
  const content = readFileSync(path, 'utf8');
  const dt = await page.evaluateHandle(
    ({ content, name, type }) => {
      const d = new DataTransfer();
      d.items.add(new File([content], name, { type }));
      return d;
    },
    { content, name, type },
  );
  for (const ev of ['dragenter', 'dragover', 'drop']) await page.dispatchEvent('main', ev, { dataTransfer: dt });
}

export async function setField(page: Page, name: string, value: string | number): Promise<void> {
  await page.getByTestId(`input-${name}`).fill(String(value));
}

export async function loadDemoModel(page: Page): Promise<void> {
  await page.getByTestId('empty-demo-model').click();
  await expect(page.getByTestId('model-card')).toBeVisible();
}

/** A fresh studio with the demo model and the demo dataset loaded and encoded. */
export async function openWithDemo(page: Page): Promise<void> {
  await page.goto('/');
  await loadDemoModel(page);
  await page.getByTestId('tab-dataset').click();
  await page.getByTestId('load-demo-dataset').click();
  await expect(page.getByTestId('stat-val')).toBeVisible();
}

/** The studio's settings for a run short enough for SwiftShader. */
export async function smallRun(
  page: Page,
  o: { maxSteps: number; evalSteps: number; saveSteps?: number },
): Promise<void> {
  await page.getByTestId('tab-hparams').click();
  await page.getByTestId('demo-preset').click();
  await setField(page, 'max_steps', o.maxSteps);
  await setField(page, 'eval_steps', o.evalSteps);
  // save_steps stays at its default (0: the automatic checkpoints) unless a test sets it.
  if (o.saveSteps !== undefined) await setField(page, 'save_steps', o.saveSteps);
  await setField(page, 'per_device_train_batch_size', 2);
  await setField(page, 'max_seq_length', 64);
  await setField(page, 'val_split_fraction', 0.02);
  await expect(page.getByTestId('total-steps')).toContainText(String(o.maxSteps));
}

export interface LogRow {
  step: number;
  loss: number;
  evalLoss: number | null;
}

/**
 * The step log as the page shows it (logging_steps 1: one row per optimizer step), oldest first,
 * once it shows `count` rows (the log follows the run a moment later than the run bar).
 */
export async function stepLog(page: Page, count: number): Promise<LogRow[]> {
  await expect(page.getByTestId('step-log').locator('tbody tr')).toHaveCount(count);
  const rows = await page
    .getByTestId('step-log')
    .locator('tbody tr')
    .evaluateAll((trs) =>
      trs.map((tr) => ({
        step: Number(tr.getAttribute('data-step')),
        loss: Number(tr.getAttribute('data-loss')),
        evalLoss: tr.getAttribute('data-eval-loss') ? Number(tr.getAttribute('data-eval-loss')) : null,
      })),
    );
  return rows.sort((a, b) => a.step - b.step);
}

/** Clicks and collects `count` downloads. */
export async function downloads(page: Page, count: number, click: () => Promise<void>): Promise<Download[]> {
  const got: Download[] = [];
  const on = (d: Download) => got.push(d);
  page.on('download', on);
  await click();
  await expect.poll(() => got.length, { timeout: 240_000 }).toBe(count);
  page.off('download', on);
  return got;
}

export async function bytesOf(d: Download): Promise<Buffer> {
  return readFileSync(await d.path());
}

/** The JSON header of a safetensors file, after checking the layout the format requires. */
export function safetensorsHeader(
  b: Buffer,
): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> {
  const n = Number(b.readBigUInt64LE(0));
  expect(8 + n).toBeLessThanOrEqual(b.length);
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
  const { __metadata__, ...tensors } = header;
  expect(__metadata__).toEqual({ format: 'pt' });
  let end = 0;
  for (const t of Object.values(tensors) as { dtype: string; shape: number[]; data_offsets: [number, number] }[]) {
    const bytes = t.shape.reduce((a, x) => a * x, 1) * (t.dtype === 'F32' ? 4 : 2);
    expect(t.data_offsets[1] - t.data_offsets[0]).toBe(bytes);
    end = Math.max(end, t.data_offsets[1]);
  }
  expect(8 + n + end).toBe(b.length);
  return tensors;
}

export async function screenshot(page: Page, testInfo: TestInfo, name: string): Promise<string> {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
  return path;
}
