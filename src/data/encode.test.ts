import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeDataset, EncodeError, ExampleEncoder, type EncodeOptions } from './encode';
import type { NormalizedRecord } from './formats';
import { parseDataset } from './parse';
import { promptFormatFor } from './template';
import { tokenizerFit } from './stats';
import { BOS_CHATML, demoTokenizer, llama2LikeTokenizer, qwenLikeTokenizer } from './testing/fixtures';
import { ModelTokenizer } from './tokenizer';
import { IGNORE_INDEX, type Example } from './types';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BOS = 1019;
const EOS = 1020;
const IM_END = 1022;

const single: NormalizedRecord = {
  turns: [
    { role: 'user', content: 'How many orders are shipped?' },
    { role: 'assistant', content: "SELECT COUNT(*) FROM orders WHERE status = 'shipped';" },
  ],
};
const multi: NormalizedRecord = {
  system: 'You write SQL for the shop database.',
  turns: [
    { role: 'user', content: 'List the products.' },
    { role: 'assistant', content: 'SELECT name FROM products;' },
    { role: 'user', content: 'Only the cheap ones.' },
    { role: 'assistant', content: 'SELECT name FROM products WHERE price < 10;' },
  ],
};

const opts = (o: Partial<EncodeOptions> = {}): EncodeOptions => ({ maxSeqLength: 512, trainOnInputs: false, ...o });
const encoderFor = (t: ModelTokenizer, o: Partial<EncodeOptions> = {}) =>
  new ExampleEncoder(t, promptFormatFor(t), opts(o));
const trained = (e: Example) => Array.from(e.labels).filter((x) => x !== IGNORE_INDEX);
/** Maximal runs of trained positions, decoded. */
function trainedRuns(t: ModelTokenizer, e: Example): string[] {
  const runs: number[][] = [];
  let cur: number[] | null = null;
  e.labels.forEach((l) => {
    if (l === IGNORE_INDEX) cur = null;
    else {
      if (!cur) runs.push((cur = []));
      cur.push(l);
    }
  });
  return runs.map((r) => t.decode(r));
}
const count = (a: Int32Array, x: number) => a.filter((v) => v === x).length;

describe('ExampleEncoder', () => {
  it('trains on the answer and its <|im_end|> only, with one BOS from the tokenizer (demo, Llama 3 style)', () => {
    const t = demoTokenizer();
    const e = encoderFor(t).encode(single, 7);
    expect(e.record).toBe(7);
    expect(e.truncated).toBe(false);
    expect(e.inputIds[0]).toBe(BOS);
    expect(count(e.inputIds, BOS)).toBe(1);
    expect(trainedRuns(t, e)).toEqual(["SELECT COUNT(*) FROM orders WHERE status = 'shipped';<|im_end|>"]);
    // The end-of-turn token is trained; the newline after it is not.
    const lastTrained = e.labels.findLastIndex((l) => l !== IGNORE_INDEX);
    expect(e.labels[lastTrained]).toBe(IM_END);
    expect(lastTrained).toBe(e.labels.length - 2);
    expect(t.decode([e.inputIds[e.inputIds.length - 1]])).toBe('\n');
    // Labels are the input ids where trained (unshifted, HF convention).
    e.labels.forEach((l, i) => l !== IGNORE_INDEX && expect(l).toBe(e.inputIds[i]));
    // The whole sequence is the rendered text, tokenized once, after BOS.
    expect(Array.from(e.inputIds)).toEqual([BOS, ...t.encode(promptFormatFor(t).render(single).text)]);
  });

  it('adds no second BOS when the template writes bos_token itself', () => {
    const t = demoTokenizer({ chat_template: BOS_CHATML });
    const e = encoderFor(t).encode(single, 0);
    expect(e.inputIds[0]).toBe(BOS);
    expect(count(e.inputIds, BOS)).toBe(1);
    expect(trainedRuns(t, e)).toEqual(["SELECT COUNT(*) FROM orders WHERE status = 'shipped';<|im_end|>"]);
  });

  it('adds no BOS when the model has none (Qwen style)', () => {
    const t = qwenLikeTokenizer();
    const e = encoderFor(t).encode(single, 0);
    expect(e.inputIds[0]).toBe(1021); // <|im_start|>
    expect(count(e.inputIds, BOS)).toBe(0);
    expect(trained(e).at(-1)).toBe(IM_END);
  });

  it('trains every assistant turn of a multi-turn chat and masks system and user turns', () => {
    const t = demoTokenizer();
    const e = encoderFor(t).encode(multi, 0);
    expect(trainedRuns(t, e)).toEqual([
      'SELECT name FROM products;<|im_end|>',
      'SELECT name FROM products WHERE price < 10;<|im_end|>',
    ]);
  });

  it('trains on everything with train_on_inputs', () => {
    const t = demoTokenizer();
    const e = encoderFor(t, { trainOnInputs: true }).encode(multi, 0);
    expect(Array.from(e.labels)).toEqual(Array.from(e.inputIds));
  });

  it('truncates from the right to max_seq_length and marks it', () => {
    const t = demoTokenizer();
    const full = encoderFor(t).encode(multi, 0);
    const cut = encoderFor(t, { maxSeqLength: 30 }).encode(multi, 0);
    expect(full.inputIds.length).toBeGreaterThan(30);
    expect(cut.truncated).toBe(true);
    expect(Array.from(cut.inputIds)).toEqual(Array.from(full.inputIds.slice(0, 30)));
    expect(Array.from(cut.labels)).toEqual(Array.from(full.labels.slice(0, 30)));
    const exact = encoderFor(t, { maxSeqLength: full.inputIds.length }).encode(multi, 0);
    expect(exact.truncated).toBe(false);
    expect(() => encoderFor(t, { maxSeqLength: 1 })).toThrow(EncodeError);
  });

  it('uses the Alpaca prompt without a chat template and trains on the response and EOS', () => {
    const t = demoTokenizer({ chat_template: undefined });
    const e = encoderFor(t).encode({ ...single, input: 'CREATE TABLE orders (id INTEGER, status TEXT);' }, 0);
    expect(e.inputIds[0]).toBe(BOS);
    expect(trainedRuns(t, e)).toEqual(["SELECT COUNT(*) FROM orders WHERE status = 'shipped';<|end_of_text|>"]);
    expect(e.labels[e.labels.length - 1]).toBe(EOS);
    expect(t.decode(e.inputIds)).toContain(
      '### Input:\nCREATE TABLE orders (id INTEGER, status TEXT);\n\n### Response:\n',
    );
  });

  it('moves a boundary that a BPE merge straddles outward, training the straddling token', () => {
    // A template that glues turns together: "...name FR" + "OM customers;" tokenizes " FROM" as
    // one token across the turn boundary.
    const t = demoTokenizer({ chat_template: "{% for m in messages %}{{ m['content'] }}{% endfor %}" });
    expect(t.encode(' FROM')).toHaveLength(1);
    const r: NormalizedRecord = {
      turns: [
        { role: 'user', content: 'Write: SELECT name FR' },
        { role: 'assistant', content: 'OM customers;' },
      ],
    };
    const enc = encoderFor(t);
    const e = enc.encode(r, 0);
    expect(trainedRuns(t, e)).toEqual([' FROM customers;<|end_of_text|>']);
    checkPreview(t, enc, r);
    const p = enc.renderForPreview(r);
    expect(p.segments.filter((s) => s.trained).map((s) => s.text)).toEqual([' FROM customers;<|end_of_text|>']);
  });

  it('handles a Llama 2 style tokenizer and template: BOS written by the template, never doubled', () => {
    // Llama 2's template writes <s> before every user turn; the tokenizer would add one too.
    const t = llama2LikeTokenizer();
    expect(t.addBosToken).toBe(true);
    const e = encoderFor(t).encode(multi, 0);
    const bosAt = Array.from(e.inputIds.entries())
      .filter(([, id]) => id === 1)
      .map(([i]) => i);
    expect(bosAt[0]).toBe(0);
    expect(bosAt).toHaveLength(2); // one per user turn, as transformers tokenizes this template
    // Each answer is trained with the space before it and the ' </s>' the template writes after.
    const runs: number[][] = [];
    e.labels.forEach(
      (l, i) => l !== IGNORE_INDEX && (e.labels[i - 1] === IGNORE_INDEX ? runs.push([l]) : runs.at(-1)!.push(l)),
    );
    expect(runs.map((r) => r.map((id) => t.idToToken(id)).join('|'))).toEqual([
      '▁SELECT|▁|n|a|m|e|▁FROM|▁|p|r|o|d|u|c|t|s|;|▁|</s>',
      '▁SELECT|▁|n|a|m|e|▁FROM|▁|p|r|o|d|u|c|t|s|▁WHERE|▁|p|r|i|c|e|▁|<|▁|1|0|;|▁|</s>',
    ]);
    const enc = encoderFor(t);
    checkPreview(t, enc, multi, false);
    checkPreview(t, enc, single, false);
    checkPreview(t, encoderFor(t, { maxSeqLength: 40 }), multi, false);
    // The template refuses conversations that do not alternate, and the record is named.
    const bad = { turns: [{ role: 'assistant' as const, content: 'x' }] };
    expect(() => enc.encode(bad, 2)).toThrow('record #2: the chat template failed: Conversation roles must alternate');
  });

  it('names the record when its template refuses it', () => {
    const t = demoTokenizer({ chat_template: "{{ raise_exception('no ' + messages[0]['content']) }}" });
    expect(() => encoderFor(t).encode(single, 4, 9)).toThrow(
      'record #4 (line 9): the chat template failed: no How many orders are shipped?',
    );
  });
});

/**
 * The consistency the preview promises: the kept text tokenizes to exactly the input ids, and
 * each trained segment covers exactly the unmasked labels (found by tokenizing the text up to the
 * segment's start and end, which works for every tokenizer). With `isolated`, also each trained
 * segment tokenized on its own (true for byte-level BPE, whose boundaries here are clean).
 */
function checkPreview(t: ModelTokenizer, enc: ExampleEncoder, r: NormalizedRecord, isolated = true) {
  const e = enc.encode(r, 0);
  const p = enc.renderForPreview(r);
  const kept = p.segments.filter((s) => !s.truncated);
  const ids = t.encode(kept.map((s) => s.text).join(''));
  expect(ids).toEqual(Array.from(e.inputIds));
  const fromSegments: number[] = [];
  let before = '';
  for (const s of kept) {
    const a = t.encode(before);
    const b = t.encode(before + s.text);
    expect(b.slice(0, a.length)).toEqual(a); // a clean boundary
    if (s.trained) fromSegments.push(...b.slice(a.length));
    before += s.text;
  }
  expect(fromSegments).toEqual(trained(e));
  if (isolated) expect(kept.filter((s) => s.trained).flatMap((s) => t.encode(s.text))).toEqual(trained(e));
  expect(p.numTrained).toBe(trained(e).length);
  expect(p.truncated).toBe(e.truncated);
}

describe('renderForPreview', () => {
  it('splits the text into trained and untrained segments consistent with the labels', () => {
    const t = demoTokenizer();
    const enc = encoderFor(t);
    const p = enc.renderForPreview(single);
    expect(p.segments).toEqual([
      {
        text: '<|begin_of_text|><|im_start|>user\nHow many orders are shipped?<|im_end|>\n<|im_start|>assistant\n',
        trained: false,
        truncated: false,
      },
      { text: "SELECT COUNT(*) FROM orders WHERE status = 'shipped';<|im_end|>", trained: true, truncated: false },
      { text: '\n', trained: false, truncated: false },
    ]);
    for (const r of [single, multi, { ...single, input: 'CREATE TABLE orders (id INTEGER);' }]) checkPreview(t, enc, r);
  });

  it('stays consistent for every tokenizer variant, train_on_inputs and truncation', () => {
    const variants = [
      demoTokenizer(),
      qwenLikeTokenizer(),
      demoTokenizer({ chat_template: BOS_CHATML }),
      demoTokenizer({ chat_template: undefined }),
    ];
    for (const t of variants) {
      for (const o of [{}, { trainOnInputs: true }, { maxSeqLength: 40 }, { maxSeqLength: 40, trainOnInputs: true }]) {
        const enc = encoderFor(t, o);
        checkPreview(t, enc, single);
        checkPreview(t, enc, multi);
      }
    }
    const p = encoderFor(demoTokenizer(), { maxSeqLength: 40 }).renderForPreview(multi);
    expect(p.truncated).toBe(true);
    expect(p.segments.at(-1)!.truncated).toBe(true);
    expect(p.numTokens).toBeGreaterThan(40);
  });

  it('holds on the whole demo dataset, which encodes with no errors', () => {
    const t = demoTokenizer();
    const d = parseDataset(readFileSync(join(ROOT, 'public/demo/sql-demo.json')), { name: 'sql-demo.json' });
    const enc = encoderFor(t, { maxSeqLength: 256 });
    const progress: number[] = [];
    const { examples, errors } = encodeDataset(d.records, enc, (done) => progress.push(done));
    expect(errors).toEqual([]);
    expect(examples).toHaveLength(d.records.length);
    expect(progress.at(-1)).toBe(d.records.length);
    for (const [i, e] of examples.entries()) {
      expect(e.record).toBe(d.records[i].index);
      expect(e.truncated).toBe(false);
      expect(count(e.inputIds, BOS)).toBe(1);
      expect(trained(e).at(-1)).toBe(IM_END);
      expect(t.decode(trained(e))).toBe(d.records[i].turns[1].content + '<|im_end|>');
    }
    for (const r of d.records.slice(0, 40)) checkPreview(t, enc, r);
  });
});

describe('encodeDataset', () => {
  it('keeps the records that encode and names the ones that do not', () => {
    const t = demoTokenizer({
      chat_template:
        "{% if messages[0]['content'] == 'bad' %}{{ raise_exception('refused') }}{% endif %}{% for m in messages %}{{ m['content'] }}<|im_end|>{% endfor %}",
    });
    const recs = [
      { ...single, index: 0, line: 1 },
      {
        turns: [
          { role: 'user' as const, content: 'bad' },
          { role: 'assistant' as const, content: 'x' },
        ],
        index: 1,
        line: 2,
      },
      { ...single, index: 2, line: 3 },
    ];
    const { examples, errors } = encodeDataset(recs, encoderFor(t));
    expect(examples.map((e) => e.record)).toEqual([0, 2]);
    expect(errors).toEqual([
      { record: 1, line: 2, field: null, message: 'record #1 (line 2): the chat template failed: refused' },
    ]);
  });

  it('names a record with a word the tokenizer has no id for, and keeps the others', () => {
    // A WordLevel vocabulary whose unk_token is not in it: the library gives null for an unknown word.
    const words = ['count', 'the', 'orders', 'SELECT', '1', '</s>'];
    const t = ModelTokenizer.load(
      {
        version: '1.0',
        added_tokens: [
          {
            id: 5,
            content: '</s>',
            special: true,
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
          },
        ],
        pre_tokenizer: { type: 'Whitespace' },
        model: { type: 'WordLevel', vocab: Object.fromEntries(words.map((w, i) => [w, i])), unk_token: '[UNK]' },
      },
      { chat_template: "{% for m in messages %}{{ m['content'] }} {% endfor %}", eos_token: '</s>' },
    );
    const rec = (user: string, index: number) => ({
      turns: [
        { role: 'user' as const, content: user },
        { role: 'assistant' as const, content: 'SELECT 1' },
      ],
      index,
      line: index + 1,
    });
    const { examples, errors } = encodeDataset(
      [rec('count the orders', 0), rec('count the parcels', 1)],
      encoderFor(t),
    );
    expect(examples.map((e) => e.record)).toEqual([0]);
    expect(Array.from(examples[0].inputIds)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(trained(examples[0])).toEqual([3, 4, 5]);
    expect(errors).toEqual([
      {
        record: 1,
        line: 2,
        field: null,
        message:
          'record #1 (line 2): the tokenizer has no id for "parcels": tokenizer.json\'s WordLevel vocabulary lacks it, ' +
          'and lacks the unk_token that would stand in for it',
      },
    ]);
    // the tokenizer-fit figures count the texts it can encode
    const fit = tokenizerFit(['count the orders', 'count the parcels'], t);
    expect([fit.characters, fit.tokens]).toEqual([16, 3]);
  });
});
