// What run/data reports to both doors besides the split: records whose trained part truncation
// removes (named by record number, never dropped silently) and the tokenizer's fit to the text.

import { describe, expect, it } from 'vitest';
import type { DatasetRecord } from '../data/parse';
import { ChatFormat, ChatTemplate } from '../data/template';
import { BOS_CHATML, qwenLikeTokenizer } from '../data/testing/fixtures';
import { dataNotes, encodeData, recordList, splitData } from './data';
import type { LoadedModel } from './model';

const tok = qwenLikeTokenizer();
const model = {
  tokenizer: tok,
  format: new ChatFormat(new ChatTemplate(BOS_CHATML, tok), tok),
} as unknown as LoadedModel;

const rec = (index: number, user: string, answer: string): DatasetRecord => ({
  index,
  line: index + 1,
  turns: [
    { role: 'user', content: user },
    { role: 'assistant', content: answer },
  ],
});

describe('encodeData reports', () => {
  const records = [
    rec(0, 'count orders', 'SELECT COUNT(*) FROM orders;'),
    rec(1, 'select the name from users where id = 1 '.repeat(8), 'SELECT name FROM users WHERE id = 1;'),
    rec(2, 'list users', 'SELECT * FROM users;'),
  ];
  const t = { max_seq_length: 48, train_on_inputs: false, val_split_fraction: 0, seed: 1 };

  it('names the record whose trained part max_seq_length cuts away, and leaves it out', () => {
    const enc = encodeData(records, model, t);
    expect(enc.cutAway).toEqual([1]);
    const data = splitData(enc, t);
    expect(data.withoutTargets).toBe(1);
    expect(data.train.map((e) => e.record)).toEqual([0, 2]);
    const notes = dataNotes(data, 48);
    expect(notes[0]).toBe(
      'record #1: max_seq_length 48 cuts away every trained token, so it is left out of training; raise max_seq_length or shorten it',
    );
  });

  it('measures the tokenizer fit on the records and warns below 2 characters per token', () => {
    const enc = encodeData(records, model, t);
    expect(enc.fit.records).toBe(3);
    expect(enc.fit.tokens).toBeGreaterThan(0);
    const notes = dataNotes({ cutAway: [], fit: enc.fit }, 48);
    expect(notes).toEqual(enc.fit.warnings);
    expect(enc.fit.charsPerToken < 2).toBe(notes.some((n) => n.includes('characters per token')));
  });

  it('lists at most ten record numbers', () => {
    expect(recordList([3, 17])).toBe('#3, #17');
    expect(recordList(Array.from({ length: 12 }, (_, i) => i))).toBe(
      '#0, #1, #2, #3, #4, #5, #6, #7, #8, #9 … (12 in all)',
    );
  });
});
