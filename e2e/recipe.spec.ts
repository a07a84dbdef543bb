// "Export recipe" (issue 7) in the studio: before any training, the Export step downloads the run
// as a Hugging Face + Accelerate folder, zipped. Its files are exactly, byte for byte, those the
// command-line trainer writes for the same model, data and hyperparameters (`npm run train --
// --export-recipe DIR --recipe-only`), which the recipe's own tests check against train.py in Python.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { unzipSync } from 'fflate';
import { expect, test } from '@playwright/test';
import { bytesOf, downloads, openWithDemo, setField } from './helpers';

function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

test('the Export step downloads the recipe the CLI writes for the same run', async ({ page }) => {
  await openWithDemo(page);
  await page.getByTestId('tab-hparams').click();
  await setField(page, 'r', 4);
  await setField(page, 'learning_rate', '3e-3');
  await setField(page, 'max_steps', 6);
  await setField(page, 'seed', 7);
  await expect(page.getByTestId('total-steps')).toContainText('6');

  await page.getByTestId('tab-export').click();
  const card = page.getByTestId('recipe-card');
  await expect(card).toContainText('It uses the settings of the Hyperparameters step (no run yet).');
  const [zip] = await downloads(page, 1, () => page.getByTestId('download-recipe').click());
  expect(zip.suggestedFilename()).toBe('run_recipe.zip');
  await expect(page.getByTestId('recipe-result')).toContainText(
    'Downloaded run_recipe.zip: 11 files, 360 training and 40 validation records',
  );
  const entries = unzipSync(new Uint8Array(await bytesOf(zip)));
  const got = new Map(
    Object.entries(entries).map(([p, b]) => [p.replace(/^lora-studio-recipe\//, ''), new TextDecoder().decode(b)]),
  );

  const dir = mkdtempSync(join(tmpdir(), 'recipe-cli-'));
  execFileSync(
    process.execPath,
    [
      'scripts/cli.mjs',
      'train',
      '--model',
      'public/demo/model',
      '--data',
      'public/demo/sql-demo.json',
      '--export-recipe',
      dir,
      '--recipe-only',
      '--r',
      '4',
      '--learning_rate',
      '3e-3',
      '--max_steps',
      '6',
      '--seed',
      '7',
    ],
    { stdio: 'pipe' },
  );
  const want = filesUnder(dir);
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  const run = JSON.parse(got.get('studio_run.json')!);
  expect(run.base_model_name_or_path).toBe('lora-studio-demo-sql');
  expect(run.hparams.lora.r).toBe(4);
  expect(run.hparams.training).toMatchObject({ learning_rate: 0.003, max_steps: 6, seed: 7 });
  expect(run.schedule.total_steps).toBe(6);
  // Both doors name the demo the same: every file is the CLI's, byte for byte.
  for (const [path, text] of want) expect(got.get(path), path).toBe(text);
  expect(got.get('data/train.jsonl')!.trim().split('\n')).toHaveLength(360);
  expect(got.get('data/validation.jsonl')!.trim().split('\n')).toHaveLength(40);
});
