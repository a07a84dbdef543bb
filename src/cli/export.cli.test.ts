// `npm run export` as a user runs it (bundled by scripts/build-cli.mjs; no GPU needed): a merged
// folder whose weights differ from the base's exactly where the adapter applies, a GGUF with its
// Modelfile, and bad input that ends with one line and a non-zero exit code.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/testing/cases.node';
import { openSafetensors } from '../io/safetensors';
import { bytesSource } from '../io/source';

const work = mkdtempSync(join(tmpdir(), 'cli-export-'));
const demoModel = join(REPO_ROOT, 'public/demo/model');
const adapter = join(REPO_ROOT, 'reference/cases/demo/adapter_init');
const otherAdapter = join(REPO_ROOT, 'reference/cases/tiny-qwen2/adapter_init');

function exportCli(args: string[]) {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist-cli', 'export.mjs'), ...args], {
    encoding: 'utf8',
    cwd: REPO_ROOT,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(async () => {
  // @ts-expect-error: a plain .mjs module without types
  const { buildCli } = await import('../../scripts/build-cli.mjs');
  await buildCli(['export']);
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm run export', () => {
  it('writes the merged folder: the base files, and weights changed only where the adapter applies', async () => {
    const out = join(work, 'merged');
    const r = exportCli(['--model', demoModel, '--adapter', adapter, '--out', out, '--format', 'merged']);
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(readdirSync(demoModel).sort());
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'])
      expect(readFileSync(join(out, f))).toEqual(readFileSync(join(demoModel, f)));
    const a = await openSafetensors(bytesSource(readFileSync(join(demoModel, 'model.safetensors')), 'base'));
    const b = await openSafetensors(bytesSource(readFileSync(join(out, 'model.safetensors')), 'merged'));
    const changed: string[] = [];
    for (const name of a.tensors.keys())
      if (!Buffer.from(await a.read(name)).equals(Buffer.from(await b.read(name)))) changed.push(name);
    // the demo case's adapter: r 8 on q_proj and v_proj of 4 layers
    expect(changed.sort()).toEqual(
      [0, 1, 2, 3].flatMap((l) => ['q_proj', 'v_proj'].map((m) => `model.layers.${l}.self_attn.${m}.weight`)).sort(),
    );
  });

  it('writes a GGUF and a Modelfile, and says how to run it in Ollama', () => {
    const out = join(work, 'gguf');
    const r = exportCli([
      '--model',
      demoModel,
      '--adapter',
      adapter,
      '--out',
      out,
      '--format',
      'gguf',
      '--outtype',
      'q8_0',
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`wrote merged-q8_0.gguf, Modelfile to ${out}`);
    expect(r.out).toContain('ollama create my-model -f Modelfile');
    expect(readFileSync(join(out, 'merged-q8_0.gguf')).subarray(0, 4).toString()).toBe('GGUF');
    expect(readFileSync(join(out, 'Modelfile'), 'utf8')).toContain('FROM ./merged-q8_0.gguf');
  });

  it.each([
    [['--format', 'merged', '--model', demoModel, '--out', 'x'], 2, '--format merged needs --adapter DIR'],
    [
      ['--format', 'gguf', '--model', demoModel, '--out', 'x', '--outtype', 'q4_0'],
      2,
      '--outtype must be one of f32, f16, bf16, q8_0 (got "q4_0")',
    ],
    [
      ['--format', 'onnx', '--model', demoModel, '--out', 'x'],
      2,
      '--format must be one of merged, gguf, gguf-lora (got "onnx")',
    ],
    [
      ['--format', 'merged', '--model', demoModel, '--adapter', otherAdapter, '--out', join(work, 'bad')],
      1,
      'the adapter was trained for a different base model',
    ],
  ])('refuses %j with one line (exit %i)', (args, code, message) => {
    const r = exportCli(args as string[]);
    expect(r.code).toBe(code);
    expect(r.err.split('\n')[0]).toContain(message);
  });
});
