import { describe, expect, it } from 'vitest';
import { IGNORE_INDEX } from '../data/types';
import { generateAlpacaLike, parseAlpacaJsonl, tokenizeAlpaca } from './dataset';

describe('the bench dataset', () => {
  it('generates the same Alpaca-like records for a seed, median about a third of 512 tokens', () => {
    const a = generateAlpacaLike(400, 0, 512);
    expect(generateAlpacaLike(400, 0, 512)).toEqual(a);
    expect(generateAlpacaLike(400, 1, 512)).not.toEqual(a);
    const lengths = tokenizeAlpaca(a, 1024, 512)
      .map((e) => e.inputIds.length)
      .sort((x, y) => x - y);
    const median = lengths[200];
    expect(median).toBeGreaterThan(512 / 3 - 25);
    expect(median).toBeLessThan(512 / 3 + 25);
    expect(lengths[399]).toBeLessThanOrEqual(512);
    expect(lengths[0]).toBeGreaterThanOrEqual(8);
    // A long tail: the longest records are several times the median.
    expect(lengths[Math.floor(0.95 * 400)]).toBeGreaterThan(2 * median);
  });

  it('tokenizes one token per word plus an end token, the prompt masked', () => {
    const [e] = tokenizeAlpaca([{ instruction: 'list three', input: 'big cities', output: 'paris rome' }], 100, 64);
    expect(e.inputIds.length).toBe(7);
    expect(e.inputIds[6]).toBe(2);
    expect(Array.from(e.labels.slice(0, 4))).toEqual([IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]);
    expect(Array.from(e.labels.slice(4))).toEqual(Array.from(e.inputIds.slice(4)));
    expect(e.inputIds[0]).toBe(
      tokenizeAlpaca([{ instruction: 'list', input: '', output: 'x' }], 100, 64)[0].inputIds[0],
    );
    for (const id of e.inputIds) expect(id >= 2 && id < 100).toBe(true);
    const [cut] = tokenizeAlpaca([{ instruction: 'a b c', input: '', output: 'd e f g' }], 100, 5);
    expect([cut.inputIds.length, cut.truncated]).toEqual([5, true]);
  });

  it('reads Alpaca JSONL and names the line of a bad record', () => {
    const r = parseAlpacaJsonl(
      '{"instruction":"i","input":"x","output":"o"}\n\n{"instruction":"j","output":"p"}\n',
      'f',
    );
    expect(r).toEqual([
      { instruction: 'i', input: 'x', output: 'o' },
      { instruction: 'j', input: '', output: 'p' },
    ]);
    expect(() => parseAlpacaJsonl('{"instruction":"i","output":"o"}\n{"text":"t"}', 'f.jsonl')).toThrow(
      'f.jsonl line 2: an Alpaca record needs string "instruction" and "output" fields',
    );
    expect(() => parseAlpacaJsonl('{oops', 'f.jsonl')).toThrow('f.jsonl line 1: not JSON');
  });
});
