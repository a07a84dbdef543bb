// "Run it" exports in the tab (issue 17): after a short run, the Export step streams a Q8_0 GGUF
// and its Ollama Modelfile into the folder the user picks (here the picker answers with a folder
// of the origin-private file system, a real FileSystemDirectoryHandle), with a progress bar. The
// GGUF is byte for byte the one `npm run export` writes from the same base and the adapter the
// tab downloads, and the Modelfile names it.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { bytesOf, downloads, openWithDemo, screenshot, smallRun, waitFor } from './helpers';

test('the Export step streams a GGUF + Modelfile into a picked folder, identical to the CLI export', async ({
  page,
}, testInfo) => {
  test.setTimeout(240_000);
  await openWithDemo(page);
  await smallRun(page, { maxSteps: 2, evalSteps: 0 });
  await page.getByTestId('start-training').click();
  await waitFor(page, '[data-testid="stop-reason"]');
  await page.getByTestId('tab-export').click();

  // The adapter the tab holds, as PEFT files, for the CLI to export from.
  const files = await downloads(page, 2, () => page.getByTestId('download-last').click());
  const adapterDir = mkdtempSync(join(tmpdir(), 'export-adapter-'));
  for (const d of files) writeFileSync(join(adapterDir, d.suggestedFilename()), await bytesOf(d));

  await page.evaluate(() => {
    (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker =
      async () => (await navigator.storage.getDirectory()).getDirectoryHandle('picked', { create: true });
  });
  const card = page.getByTestId('runit-card');
  await card.getByTestId('runit-format').selectOption('gguf');
  await card.getByTestId('runit-outtype').selectOption('q8_0');
  await card.getByTestId('runit-export').click();
  await expect(page.getByTestId('runit-result')).toContainText('Saved merged-q8_0.gguf, Modelfile into picked.');
  await card.scrollIntoViewIfNeeded();
  await screenshot(page, testInfo, 'panel-export-runit');
  const got = await page.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked');
    const read = async (n: string) =>
      new Uint8Array(await (await (await dir.getFileHandle(n)).getFile()).arrayBuffer());
    return {
      gguf: Array.from(await read('merged-q8_0.gguf')),
      modelfile: new TextDecoder().decode(await read('Modelfile')),
    };
  });
  expect(got.modelfile).toContain('FROM ./merged-q8_0.gguf');
  expect(got.modelfile).toContain('PARAMETER stop "<|im_end|>"');

  const out = mkdtempSync(join(tmpdir(), 'export-cli-'));
  execFileSync(
    process.execPath,
    [
      'scripts/cli.mjs',
      'export',
      '--model',
      'public/demo/model',
      '--adapter',
      adapterDir,
      '--out',
      out,
      '--format',
      'gguf',
      '--outtype',
      'q8_0',
      '--name',
      'lora-studio-demo-sql',
    ],
    { stdio: 'pipe' },
  );
  const cli = readFileSync(join(out, 'merged-q8_0.gguf'));
  expect(got.gguf.length).toBe(cli.length);
  expect(Buffer.from(got.gguf).equals(cli)).toBe(true);
  expect(got.modelfile).toBe(readFileSync(join(out, 'Modelfile'), 'utf8'));
});
