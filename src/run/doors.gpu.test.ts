// The two front doors run the same application layer: one small run on the built-in demo, once
// through `npm run train` (the bundled CLI, as a user runs it) and once through the studio
// worker's API (the Studio facade in Node, on Dawn, with the demo served over HTTP as the page's
// origin serves it). The exported adapter (safetensors bytes), its adapter_config.json and the
// recipe files must be identical byte for byte: the zip's timestamps are the only thing left
// out, since the files are compared after unzipping. Sampling from the base model and the trained
// adapter gives the same prompt ids and the same tokens through both doors.

import { spawnSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/testing/cases.node';
import { nodeGpu } from '../engine/node/webgpu';
import { DEFAULT_HPARAMS, type Hparams } from '../config/hparams';
import { Studio } from '../worker/studio';
import type { TrainEvent } from '../worker/api';
import { ModelTokenizer } from '../data/tokenizer';

const work = mkdtempSync(join(tmpdir(), 'doors-'));
let server: Server;
let base: string;

beforeAll(async () => {
  // @ts-expect-error: a plain .mjs module without types
  const { buildCli } = await import('../../scripts/build-cli.mjs');
  await buildCli(['train', 'sample']);
  // The studio fetches demo/... from its own origin: serve public/ as Vite does.
  server = createServer((req, res) => {
    const path = join(REPO_ROOT, 'public', decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    try {
      const body = readFileSync(path);
      res.writeHead(200).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}, 120_000);
afterAll(() => {
  server?.close();
  rmSync(work, { recursive: true, force: true });
});

const FLAGS: Record<string, string> = {
  target_modules: 'q_proj,v_proj',
  r: '4',
  learning_rate: '3e-3',
  per_device_train_batch_size: '2',
  max_seq_length: '64',
  max_steps: '3',
  val_split_fraction: '0.25',
  eval_steps: '2',
  save_steps: '0',
  seed: '5',
};

const HPARAMS: Hparams = {
  lora: { ...DEFAULT_HPARAMS.lora, target_modules: ['q_proj', 'v_proj'], r: 4 },
  quantization: { ...DEFAULT_HPARAMS.quantization },
  training: {
    ...DEFAULT_HPARAMS.training,
    learning_rate: 3e-3,
    per_device_train_batch_size: 2,
    max_seq_length: 64,
    max_steps: 3,
    val_split_fraction: 0.25,
    eval_steps: 2,
    save_steps: 0,
    seed: 5,
  },
};

function filesUnder(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

describe('the same run through both doors', () => {
  it('gives the same adapter, adapter_config.json and recipe from `npm run train` and the studio worker', async () => {
    const records = JSON.parse(readFileSync(join(REPO_ROOT, 'public/demo/sql-demo.json'), 'utf8')).slice(0, 24);
    const dataText = JSON.stringify(records);
    const dataPath = join(work, 'sql-24.json');
    writeFileSync(dataPath, dataText);

    // The command line.
    const out = join(work, 'cli');
    const recipeDir = join(work, 'cli-recipe');
    const flags = Object.entries(FLAGS).flatMap(([k, v]) => [`--${k}`, v]);
    const cli = spawnSync(
      process.execPath,
      [
        join(REPO_ROOT, 'dist-cli', 'train.mjs'),
        ...['--model', 'public/demo/model', '--data', dataPath, '--out', out, '--export-recipe', recipeDir],
        ...flags,
      ],
      { encoding: 'utf8', cwd: REPO_ROOT, env: process.env },
    );
    expect(cli.stderr).toBe('');
    expect(cli.status).toBe(0);
    expect(cli.stdout).toContain('completed 3 steps');

    // The studio worker's API.
    const studio = new Studio(base, nodeGpu());
    const model = await studio.loadDemoModel();
    expect(model.baseModelNameOrPath).toBe('lora-studio-demo-sql');
    await studio.loadDataset(new Blob([dataText]), 'sql-24.json', null);
    const events: TrainEvent[] = [];
    const done = new Promise<TrainEvent>((resolve) => {
      void studio.start({ hparams: HPARAMS, fromImportedAdapter: false }, (e) => {
        events.push(e);
        if (e.status === 'done' || (e.status === 'error' && e.fatal)) resolve(e);
      });
    });
    const end = await done;
    expect(end).toMatchObject({ status: 'done', end: { kind: 'completed', step: 3 } });
    const started = events.find((e) => e.status === 'started');
    expect(started && started.status === 'started' && started.trainableLine).toBe(
      cli.stdout.split('\n').find((l) => l.startsWith('trainable params:')),
    );
    const adapter = await studio.exportAdapter('last');
    const recipe = await studio.exportRecipe(HPARAMS);

    // Byte for byte.
    expect(Buffer.from(adapter.safetensors).equals(readFileSync(join(out, 'adapter_model.safetensors')))).toBe(true);
    expect(adapter.config).toBe(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(JSON.parse(adapter.config).base_model_name_or_path).toBe('lora-studio-demo-sql');
    const zipped = new Map(
      Object.entries(unzipSync(recipe.zip)).map(([p, b]) => [p.replace(/^lora-studio-recipe\//, ''), Buffer.from(b)]),
    );
    const written = filesUnder(recipeDir);
    expect([...zipped.keys()].sort()).toEqual([...written.keys()].sort());
    for (const [path, bytes] of written) expect(zipped.get(path)!.equals(bytes), path).toBe(true);
    expect(JSON.parse(written.get('studio_run.json')!.toString()).base_model_name_or_path).toBe('lora-studio-demo-sql');

    // Sampling: the studio's Samples step and `npm run sample --adapter` read the same prompt and
    // generate the same tokens from the same adapter.
    const prompt = 'List all customers from Berlin.';
    const s = await studio.sample({ text: prompt, maxNewTokens: 8, temperature: 0, topP: 1, seed: 0 });
    expect(s.rendered).toBe(`<|im_start|>user\n${prompt}<|im_end|>\n<|im_start|>assistant\n`);
    const tok = ModelTokenizer.load(
      readFileSync(join(REPO_ROOT, 'public/demo/model/tokenizer.json'), 'utf8'),
      readFileSync(join(REPO_ROOT, 'public/demo/model/tokenizer_config.json'), 'utf8'),
    );
    const cliSample = (adapterArgs: string[]) => {
      const r = spawnSync(
        process.execPath,
        [
          join(REPO_ROOT, 'dist-cli', 'sample.mjs'),
          ...['--model', 'public/demo/model', '--prompt', prompt, '--max_new_tokens', '8', '--logprobs'],
          ...adapterArgs,
        ],
        { encoding: 'utf8', cwd: REPO_ROOT, env: process.env },
      );
      // stderr holds only the adapter line every CLI run starts with (stdout is the JSON).
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^gpu: /)]);
      const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(tok.decode(j.prompt_ids, { skipSpecialTokens: false })).toBe(`<|begin_of_text|>${s.rendered}`);
      return tok.decode(j.ids, { skipSpecialTokens: false });
    };
    expect(s.base?.text).toBe(cliSample([]));
    expect(s.tuned?.text).toBe(cliSample(['--adapter', out]));
  }, 600_000);
});
