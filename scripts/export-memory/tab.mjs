// Peak JS heap of a Qwen2.5-0.5B-shaped export in Chromium (the tab's case): bundles
// browser.ts with esbuild, serves it from a loopback origin (a secure context, so the
// origin-private file system is there) through Playwright's routing, runs each export into a
// FileSystemDirectoryHandle, and prints the peak performance.memory.usedJSHeapSize.
//   node scripts/export-memory/tab.mjs [merged gguf-f16 gguf-q8_0 gguf-lora]

import { build } from 'esbuild';
import { chromium } from '@playwright/test';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const bundle = await build({
  entryPoints: [join(here, 'browser.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  logLevel: 'warning',
});
const js = bundle.outputFiles[0].text;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--enable-precise-memory-info', '--no-sandbox', '--js-flags=--expose-gc'],
});
const page = await browser.newPage();
const origin = 'http://127.0.0.1:4599';
await page.route(`${origin}/**`, (route) => {
  const url = new URL(route.request().url());
  if (url.pathname === '/m.js') return route.fulfill({ contentType: 'text/javascript', body: js });
  return route.fulfill({
    contentType: 'text/html',
    body: '<!doctype html><script type="module" src="/m.js"></script>',
  });
});
await page.goto(`${origin}/`);
await page.waitForFunction(() => typeof globalThis.measureExport === 'function');
const mb = (x) => `${(x / 2 ** 20).toFixed(0)} MiB`;
const kinds = process.argv.slice(2);
for (const kind of kinds.length ? kinds : ['merged', 'gguf-f16', 'gguf-q8_0', 'gguf-lora']) {
  await page.evaluate(() => globalThis.gc?.());
  const r = await page.evaluate((k) => globalThis.measureExport(k), kind);
  console.log(
    `tab ${kind}: wrote ${mb(r.bytes)} in ${r.seconds.toFixed(0)} s into the origin-private file system; ` +
      `peak JS heap ${mb(r.peakHeap)} (before: ${mb(r.beforeHeap)})`,
  );
}
await browser.close();
