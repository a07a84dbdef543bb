// The recipe's train.py builds the same prompt text, input_ids and labels as the studio's
// ExampleEncoder: both sides write every training example of a run to JSON and the files must be
// equal. The Python side runs train.py --dump-examples with the test tokenizer module
// (testing/hf_tokenizer.py: the demo's byte-level BPE and jinja2 chat templates, with the Hugging
// Face API), since transformers is not installed here. So this proves that train.py's prompt
// logic equals the studio's for these tokenizers and templates; it does not run Hugging Face's
// own tokenizer (train.py checks that against studio_examples.json where it runs).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRecipe, exampleJson } from './recipe';
import { writeRecipeDir } from './write.node';
import { ExampleEncoder } from '../data/encode';
import {
  chatDatasetJsonl,
  GLUED_TEMPLATE,
  shortAnswersJsonl,
  HF_TOKENIZER_STUB,
  LAST_MARK_TEMPLATE,
  makeCase,
  QA_TEMPLATE,
  writeModelDir,
  type CaseOptions,
  type RecipeCase,
} from './testing/cases.node';
import { pythonWith, runPython, SYSTEM_PYTHON } from './testing/python.node';

const work = mkdtempSync(join(tmpdir(), 'recipe-identity-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The chat-template cases need jinja2 (apt: python3-jinja2); Alpaca prompts need nothing. */
const JINJA_PYTHON = pythonWith(['jinja2']);

interface Dump {
  add_bos: boolean;
  prompt_format: string;
  examples: {
    index: number;
    text: string;
    input_ids: number[];
    labels: number[];
    truncated: boolean;
    error?: string;
  }[];
}

function exported(c: RecipeCase): { recipeDir: string; modelDir: string } {
  const recipeDir = join(work, c.name, 'recipe');
  writeRecipeDir(recipeDir, buildRecipe(c.input));
  return { recipeDir, modelDir: writeModelDir(join(work, c.name, 'model'), c.modelFiles) };
}

/** train.py --dump-examples on every training example, and the studio's encoding of the same. */
function dumpBoth(python: string, c: RecipeCase): { py: Dump; ts: Dump; recipeDir: string; modelDir: string } {
  const { recipeDir, modelDir } = exported(c);
  const out = join(work, c.name, 'dump.json');
  const n = c.input.data.train.length;
  const r = runPython(python, [
    join(recipeDir, 'train.py'),
    '--dump-examples',
    String(n),
    out,
    '--model',
    modelDir,
    '--tokenizer-module',
    HF_TOKENIZER_STUB,
  ]);
  expect(r.status, r.stderr).toBe(0);
  const byIndex = new Map(c.input.dataset.records.map((x) => [x.index, x]));
  const ts: Dump = {
    add_bos: c.input.tokenizer.addBosToken,
    prompt_format: c.input.format.kind,
    examples: c.input.data.train.map((e, i) => exampleJson(e, byIndex.get(e.record)!, c.input.format, i)),
  };
  return { py: JSON.parse(readFileSync(out, 'utf8')) as Dump, ts, recipeDir, modelDir };
}

function expectIdentical(py: Dump, ts: Dump): void {
  expect(py.add_bos).toBe(ts.add_bos);
  expect(py.prompt_format).toBe(ts.prompt_format);
  expect(py.examples.length).toBe(ts.examples.length);
  // Example by example, so that a failure names the first one that differs.
  ts.examples.forEach((want, i) => expect(py.examples[i], `example ${i}`).toEqual(want));
}

const trained = (labels: number[]) => labels.filter((x) => x !== -100).length;

const ALPACA_CASES: CaseOptions[] = [
  { name: 'alpaca-prompt', chatTemplate: null, training: { max_seq_length: 192 } },
  {
    name: 'alpaca-prompt-train-on-inputs',
    chatTemplate: null,
    training: { max_seq_length: 192, train_on_inputs: true },
  },
];

describe('train.py encodes exactly as the studio (Alpaca prompt, no chat template)', () => {
  for (const o of ALPACA_CASES) {
    it(o.name, () => {
      const c = makeCase(o);
      const { py, ts } = dumpBoth(SYSTEM_PYTHON, c);
      expectIdentical(py, ts);
      expect(ts.prompt_format).toBe('alpaca');
      // At 192 tokens a few long prompts leave no room for the answer and the studio drops them.
      expect(ts.examples.length).toBeGreaterThan(340);
      expect(ts.examples.filter((e) => e.truncated).length).toBeGreaterThan(5);
      expect(ts.examples.some((e) => e.text.includes('### Input:\n'))).toBe(true);
      if (o.training?.train_on_inputs)
        expect(ts.examples.every((e) => trained(e.labels) === e.input_ids.length)).toBe(true);
      else expect(ts.examples.every((e) => trained(e.labels) < e.input_ids.length / 2)).toBe(true);
    });
  }
});

// Skipped only outside CI (npm test installs python3-jinja2 with apt; a missing one in CI fails).
describe.skipIf(JINJA_PYTHON === null && !process.env.CI)(
  `train.py encodes exactly as the studio (chat templates, ${JINJA_PYTHON})`,
  () => {
    const py = JINJA_PYTHON!;

    it("the demo: ChatML, the Alpaca dataset's input appended to the instruction, truncation at 96", () => {
      const c = makeCase({ name: 'demo-chatml', training: { max_seq_length: 96 } });
      const { py: p, ts } = dumpBoth(py, c);
      expectIdentical(p, ts);
      expect(ts.prompt_format).toBe('chat');
      expect(ts.add_bos).toBe(true);
      expect(ts.examples.filter((e) => e.truncated).length).toBeGreaterThan(10);
      expect(ts.examples.some((e) => e.text.includes('\n\nCREATE TABLE'))).toBe(true);
    });

    it('multi-turn conversations with and without a system prompt, validation split 0.2', () => {
      const c = makeCase({
        name: 'chatml-multiturn',
        dataset: { text: chatDatasetJsonl(60), name: 'chat.jsonl' },
        training: { max_seq_length: 128, val_split_fraction: 0.2 },
      });
      const { py: p, ts } = dumpBoth(py, c);
      expectIdentical(p, ts);
      expect(ts.examples.length).toBeGreaterThan(45);
      expect(ts.examples.filter((e) => e.truncated).length).toBeGreaterThan(10);
      // Two trained spans per record: the labels change from -100 to a token twice.
      const spans = (l: number[]) => l.filter((x, t) => x !== -100 && (t === 0 || l[t - 1] === -100)).length;
      expect(ts.examples.filter((e) => !e.truncated).every((e) => spans(e.labels) === 2)).toBe(true);
    });

    it('mask_history: multi-turn conversations train the last assistant turn only, on both sides', () => {
      const c = makeCase({
        name: 'chatml-multiturn-mask-history',
        dataset: { text: chatDatasetJsonl(60), name: 'chat.jsonl' },
        training: { max_seq_length: 256, mask_history: true },
      });
      const { py: p, ts } = dumpBoth(py, c);
      expectIdentical(p, ts);
      expect(ts.examples.length).toBeGreaterThan(45);
      const spans = (l: number[]) => l.filter((x, t) => x !== -100 && (t === 0 || l[t - 1] === -100)).length;
      expect(ts.examples.filter((e) => !e.truncated).every((e) => spans(e.labels) === 1)).toBe(true);
    });

    it('a template whose answers start inside a token (boundary search) and end without a special token (EOS inserted), BOS from the template', () => {
      const c = makeCase({
        name: 'qa-template',
        chatTemplate: QA_TEMPLATE,
        dataset: { text: chatDatasetJsonl(40), name: 'chat.jsonl' },
        training: { max_seq_length: 256 },
      });
      const { py: p, ts } = dumpBoth(py, c);
      expectIdentical(p, ts);
      const tok = c.input.tokenizer;
      // The template wrote BOS, so the encoder did not add a second one.
      expect(ts.examples.every((e) => e.text.startsWith('<|begin_of_text|>') && e.input_ids[1] !== 1019)).toBe(true);
      expect(ts.examples.every((e) => e.text.includes('<|end_of_text|>\n\n'))).toBe(true);
      // Some answer's first trained token carries the space before it: the span start moved left.
      const firstTrained = (l: number[]) => l.find((x) => x !== -100)!;
      const moved = ts.examples.filter((e) => {
        const after = e.labels.findIndex(
          (x, t) => x !== -100 && t > 0 && e.labels[t - 1] === -100 && tok.idToToken(x)!.startsWith('Ġ'),
        );
        return after >= 0;
      });
      expect(moved.length).toBeGreaterThan(5);
      expect(tok.idToToken(firstTrained(ts.examples[0].labels))).toBeDefined();
    });

    it('a template that renders the last message differently (assistant turns found by content)', () => {
      const c = makeCase({
        name: 'last-mark-template',
        chatTemplate: LAST_MARK_TEMPLATE,
        dataset: { text: chatDatasetJsonl(40), name: 'chat.jsonl' },
        training: { max_seq_length: 256 },
      });
      const { py: p, ts } = dumpBoth(py, c);
      expectIdentical(p, ts);
      expect(ts.examples.every((e) => e.text.includes('<|end_of_text|> [end]<|im_end|>'))).toBe(true);
    });

    it('a template that glues text to the answers, so a span end is not a clean boundary and moves right', () => {
      const c = makeCase({
        name: 'glued-template',
        chatTemplate: GLUED_TEMPLATE,
        dataset: { text: shortAnswersJsonl(40), name: 'short.jsonl' },
        training: { max_seq_length: 256 },
      });
      const { py: p, ts } = dumpBoth(py, c);
      expectIdentical(p, ts);
      // The studio's preview shows the trained text: "SELECT name" took the glued "s" with it.
      const enc = new ExampleEncoder(c.input.tokenizer, c.input.format, { maxSeqLength: 256, trainOnInputs: false });
      const trainedTexts = c.input.dataset.records.flatMap((r) =>
        enc
          .renderForPreview(r)
          .segments.filter((s) => s.trained)
          .map((s) => s.text),
      );
      expect(trainedTexts.filter((t) => t === 'SELECT names').length).toBeGreaterThan(3);
    });

    it('train.py --dry-run passes the studio check on the studio tokenizer and stops when an example differs', () => {
      const c = makeCase({ name: 'dry-run', training: { max_seq_length: 96 } });
      const { recipeDir, modelDir } = exported(c);
      const args = [
        join(recipeDir, 'train.py'),
        '--dry-run',
        '--model',
        modelDir,
        '--tokenizer-module',
        HF_TOKENIZER_STUB,
      ];
      const ok = runPython(py, args);
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toContain("studio check: the first 8 examples are identical to the studio's");
      expect(ok.stdout).toContain(
        `examples: ${c.input.data.train.length} train, ${c.input.data.val.length} validation`,
      );

      const path = join(recipeDir, 'studio_examples.json');
      const s = JSON.parse(readFileSync(path, 'utf8'));
      const t = s.examples[3].labels.findIndex((x: number) => x !== -100);
      s.examples[3].labels[t] = -100;
      writeFileSync(path, JSON.stringify(s));
      const bad = runPython(py, args);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain(`training example 3: labels differs at position ${t}`);
      const forced = runPython(py, [...args, '--skip-studio-check']);
      expect(forced.status, forced.stderr).toBe(0);
      expect(forced.stdout).toContain('studio check skipped on request');
    });
  },
);

describe('compare_curves.py', () => {
  it('lines up two metrics.jsonl files by step', () => {
    const c = makeCase({ name: 'curves', chatTemplate: null });
    const { recipeDir } = exported(c);
    const a = join(work, 'studio.jsonl');
    const b = join(work, 'hf.jsonl');
    const rows = (f: (s: number) => number) =>
      Array.from({ length: 20 }, (_, i) => JSON.stringify({ step: i + 1, epoch: 0, loss: f(i + 1) })).join('\n') +
      `\n${JSON.stringify({ step: 20, epoch: 1, eval_loss: f(20) + 0.5 })}\n`;
    writeFileSync(
      a,
      rows((s) => 3 - 0.1 * s),
    );
    writeFileSync(
      b,
      rows((s) => 3.05 - 0.1 * s),
    );
    const r = runPython(SYSTEM_PYTHON, [join(recipeDir, 'compare_curves.py'), a, b]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\s+1\s+2\.9000\s+2\.9500\s+-\s+-$/m);
    expect(r.stdout).toMatch(/^\s+0-10\s+%\s+2\.8500\s+2\.9000$/m);
    expect(r.stdout).toContain('last eval loss: studio 1.5000 (step 20), hf 1.5500 (step 20)');
  });
});
