// `npm run train -- ... --export-recipe DIR --recipe-only` writes exactly the recipe buildRecipe
// makes for the same model, dataset and flags, and exits without opening the GPU.

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hparamsFromFlags, parseArgv } from './args';
import { parseDataset } from '../data/parse';
import { fileSetFromDir } from '../io/source.node';
import { prepareData } from '../run/data';
import { openModel } from '../run/model';
import { buildRecipe } from '../recipe/recipe';

const ROOT = join(import.meta.dirname, '..', '..');
const MODEL = join(ROOT, 'public/demo/model');
const DATA = join(ROOT, 'public/demo/sql-demo.json');
const FLAGS = ['--max_seq_length', '128', '--r', '4', '--target_modules', 'all-linear', '--seed', '3'];

const work = mkdtempSync(join(tmpdir(), 'cli-recipe-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist-cli', 'train.mjs'), ...args], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .sort();
}

describe('train --export-recipe --recipe-only', () => {
  beforeAll(() => {
    const b = spawnSync(process.execPath, [join(ROOT, 'scripts/build-cli.mjs'), 'train'], { encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`building the train program failed: ${b.stderr}`);
  }, 300_000);

  it("writes buildRecipe's files for the run the flags describe, and does not train", async () => {
    const dir = join(work, 'recipe');
    const r = cli(['--model', MODEL, '--data', DATA, '--export-recipe', dir, '--recipe-only', ...FLAGS]);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toContain(`recipe: 11 files -> ${dir}`);
    expect(r.out).not.toContain('gpu:');

    const model = await openModel(await fileSetFromDir(MODEL));
    const dataset = parseDataset(readFileSync(DATA), { name: 'sql-demo.json' });
    const hparams = hparamsFromFlags(parseArgv(FLAGS, new Set()).flags, new Set());
    const data = prepareData(dataset, model, hparams.training);
    const files = buildRecipe({
      run: { hparams, baseModelNameOrPath: model.info.baseModelNameOrPath },
      tokenizer: model.tokenizer,
      format: model.format,
      dataset,
      data,
    });
    expect(listFiles(dir)).toEqual([...files.keys()].sort());
    for (const [path, contents] of files) expect(readFileSync(join(dir, path), 'utf8'), path).toBe(contents);
    expect(JSON.parse(readFileSync(join(dir, 'studio_run.json'), 'utf8')).hparams.lora.r).toBe(4);
  });

  it('names a local folder by the path given (as PEFT does), the built-in demo by its one name', () => {
    const copy = join(work, 'my-model');
    mkdirSync(copy, { recursive: true });
    for (const f of readdirSync(MODEL)) copyFileSync(join(MODEL, f), join(copy, f));
    const config = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8'));
    delete config._name_or_path;
    writeFileSync(join(copy, 'config.json'), JSON.stringify(config));
    const named = (model: string) => {
      const dir = join(work, `named-${Math.random().toString(36).slice(2)}`);
      const r = cli(['--model', model, '--data', DATA, '--export-recipe', dir, '--recipe-only', ...FLAGS]);
      expect(r.status, r.err).toBe(0);
      return JSON.parse(readFileSync(join(dir, 'studio_run.json'), 'utf8')).base_model_name_or_path;
    };
    expect(named(copy)).toBe(copy);
    expect(named(MODEL)).toBe('lora-studio-demo-sql');
  });

  it('refuses --recipe-only without a folder', () => {
    const r = cli(['--model', MODEL, '--data', DATA, '--recipe-only']);
    expect(r.status).toBe(2);
    expect(r.err).toContain('--export-recipe needs a folder');
  });
});
