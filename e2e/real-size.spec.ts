// @slow: real-size models in the tab (issue 14). Random-weight checkpoints with the exact
// configurations of SmolLM2-135M (2 bf16 shards + model.safetensors.index.json, 269 MB) and
// Qwen2.5-0.5B (one bf16 file, 988 MB, a tied 151,936 x 896 embedding larger than a 128 MiB
// binding), generated into .cache/real-size/ by scripts/real-size-checkpoints.ts, are loaded
// through the local mock Hub and as a folder chosen with "Choose folder…" (a dropped folder
// cannot be synthesized: the page walks the FileSystemEntry objects only a real drag gives). The
// page must show the right parameter count and a memory estimate; the test prints each phase's
// time and the tab's peak memory (renderer process RSS, page and worker together, and the page's
// JS heap) and checks that the tab never grew by the checkpoint's size (files are read in slices).
// Skipped unless PW_SLOW=1 (see playwright.config.ts): `npm run test:slow`.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Browser, type Page } from '@playwright/test';
import { type MockHub, startMockHub } from '../src/io/testing/mock-hub.node';
import { generate, REAL_SIZE } from '../scripts/real-size-checkpoints';

type Name = keyof typeof REAL_SIZE;
const NAMES = Object.keys(REAL_SIZE) as Name[];
const dirs = {} as Record<Name, string>;
let hub: MockHub;

test.beforeAll(async () => {
  test.setTimeout(1_200_000);
  for (const n of NAMES) dirs[n] = await generate(n);
  const repos: Parameters<typeof startMockHub>[0]['repos'] = {};
  for (const n of NAMES) {
    const files = new Map(
      readdirSync(dirs[n])
        .filter((f) => !f.startsWith('.'))
        .map((f) => [f, new Uint8Array(readFileSync(join(dirs[n], f)))]),
    );
    repos[`random/${n}`] = { files };
  }
  hub = await startMockHub({ repos });
});

test.afterAll(() => hub?.close());

const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** Resident memory of this browser's renderer and GPU processes (CDP SystemInfo + /proc). */
async function rss(browser: Browser): Promise<{ renderer: number; gpu: number }> {
  const cdp = await browser.newBrowserCDPSession();
  const { processInfo } = (await cdp.send('SystemInfo.getProcessInfo')) as {
    processInfo: { type: string; id: number }[];
  };
  await cdp.detach();
  const of = (pid: number) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  };
  let renderer = 0;
  let gpu = 0;
  for (const p of processInfo) {
    if (p.type === 'renderer') renderer += of(p.id);
    if (p.type === 'GPU') gpu += of(p.id);
  }
  return { renderer, gpu };
}

/**
 * Runs `load` and samples, every 250 ms until the model card shows: the loading phase the page
 * shows, the renderer's and the GPU process's RSS, and the page's JS heap.
 */
async function measure(page: Page, browser: Browser, load: () => Promise<void>) {
  const before = await rss(browser);
  const t0 = Date.now();
  const phases: Record<string, number> = {};
  let peak = { renderer: 0, gpu: 0, heap: 0 };
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const [r, s] = await Promise.all([
        rss(browser),
        page.evaluate(() => ({
          text: document.querySelector('.load-progress')?.textContent ?? '',
          heap: (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0,
        })),
      ]);
      const phase = s.text.startsWith('Downloading')
        ? 'download'
        : s.text.startsWith('Copying')
          ? 'upload to GPU'
          : s.text
            ? 'reading'
            : null;
      if (phase && !(phase in phases)) phases[phase] = Date.now() - t0;
      peak = {
        renderer: Math.max(peak.renderer, r.renderer),
        gpu: Math.max(peak.gpu, r.gpu),
        heap: Math.max(peak.heap, s.heap),
      };
      await new Promise((res) => setTimeout(res, 250));
    }
  })();
  await load();
  await expect(page.getByTestId('model-card')).toBeVisible({ timeout: 1_200_000 });
  phases.loaded = Date.now() - t0;
  done = true;
  await sampler;
  return { before, peak, phases };
}

for (const name of NAMES) {
  const spec = REAL_SIZE[name];
  for (const via of ['mock Hub', 'chosen folder'] as const) {
    test(`@slow ${name} loads in the tab from the ${via}: parameter count, estimate, memory`, async ({
      page,
      browser,
    }) => {
      test.setTimeout(1_800_000);
      const bytes = readdirSync(dirs[name])
        .filter((f) => f.endsWith('.safetensors'))
        .reduce((a, f) => a + statSync(join(dirs[name], f)).size, 0);
      await page.goto('/');
      await expect(page.getByTestId('gpu-selftest')).toHaveAttribute('data-ok', 'true');
      const m = await measure(page, browser, async () => {
        if (via === 'mock Hub') {
          await page.getByRole('button', { name: 'Show advanced settings' }).click();
          await page.getByTestId('hub-endpoint').fill(hub.url);
          await page.getByTestId('hub-repo').fill(`random/${name}`);
          await page.getByTestId('hub-download').click();
        } else {
          await page.getByTestId('model-folder-input').setInputFiles(dirs[name]);
        }
      });
      await expect(page.getByTestId('model-error')).toHaveCount(0);
      await expect(page.getByTestId('model-params')).toContainText(spec.params.toLocaleString('en-US'));
      await expect(page.getByTestId('memory-total')).toContainText(/\d/);
      const estimate = await page.getByTestId('memory-total').textContent();
      const grew = m.peak.renderer - m.before.renderer;
      console.log(
        `${name} via ${via}: weights ${mb(bytes)}; phases (ms from the click) ${JSON.stringify(m.phases)}; ` +
          `renderer RSS ${mb(m.before.renderer)} -> peak ${mb(m.peak.renderer)} (+${mb(grew)}), ` +
          `GPU process peak ${mb(m.peak.gpu)}, page JS heap peak ${mb(m.peak.heap)}; estimate "${estimate?.trim()}"`,
      );
      // Read in slices: the tab never holds the checkpoint whole, let alone twice.
      expect(grew).toBeLessThan(bytes);
    });
  }
}
