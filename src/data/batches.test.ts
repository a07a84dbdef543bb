import { describe, expect, it } from 'vitest';
import {
  BatchSampler,
  collate,
  collatePacked,
  evalBatches,
  lengthGrouped,
  packRows,
  PAD_MULTIPLE,
  type SamplerOptions,
} from './batches';
import { binWidth, datasetStats, MAX_BINS } from './stats';
import { splitTrainVal } from './split';
import { IGNORE_INDEX, type Example } from './types';

/** Example of length len whose ids encode (record, position); the last `trained` positions have labels. */
function ex(record: number, len: number, trained: number, truncated = false): Example {
  const inputIds = Int32Array.from({ length: len }, (_, t) => 1000 * (record + 1) + t);
  const labels = Int32Array.from({ length: len }, (_, t) => (t >= len - trained ? inputIds[t] : IGNORE_INDEX));
  return { inputIds, labels, record, truncated };
}

describe('splitTrainVal', () => {
  it('is deterministic per seed, disjoint, complete and sorted', () => {
    const a = splitTrainVal(100, 0.1, 42);
    expect(splitTrainVal(100, 0.1, 42)).toEqual(a);
    expect(splitTrainVal(100, 0.1, 43).val).not.toEqual(a.val);
    expect(a.val).toHaveLength(10);
    expect(a.train).toHaveLength(90);
    expect([...a.train, ...a.val].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(a.val).toEqual([...a.val].sort((x, y) => x - y));
  });

  it('holds out ceil(n * fraction), at least 1 and never everything', () => {
    expect(splitTrainVal(2, 0.01, 1).val).toHaveLength(1);
    expect(splitTrainVal(3, 0.5, 1).val).toHaveLength(2);
    expect(splitTrainVal(2, 0.5, 1)).toMatchObject({ val: [expect.any(Number)], train: [expect.any(Number)] });
    expect(splitTrainVal(100, 0.07, 1).val).toHaveLength(7); // not 8 from 7.000000000000001
    expect(splitTrainVal(1, 0.5, 1)).toEqual({ train: [0], val: [] });
    expect(splitTrainVal(10, 0, 1)).toEqual({ train: Array.from({ length: 10 }, (_, i) => i), val: [] });
    expect(splitTrainVal(0, 0.1, 1)).toEqual({ train: [], val: [] });
    expect(() => splitTrainVal(10, 1, 1)).toThrow(RangeError);
    expect(() => splitTrainVal(-1, 0.1, 1)).toThrow(RangeError);
  });
});

describe('datasetStats', () => {
  it('gives lengths, percentiles, histogram, truncation and the masked share', () => {
    const examples = [ex(0, 10, 3), ex(1, 20, 5, true), ex(2, 30, 0), ex(3, 40, 40)];
    const s = datasetStats(examples);
    expect(s.records).toBe(4);
    expect(s.length).toEqual({ min: 10, median: 25, p95: 38.5, max: 40, mean: 25 });
    expect(s.truncated).toBe(1);
    expect(s.withoutTargets).toBe(1);
    expect(s.totalTokens).toBe(100);
    // targets skip position 0: 3 + 5 + 0 + 39
    expect(s.trainedTokens).toBe(47);
    expect(s.maskedShare).toBeCloseTo(52 / 100, 12);
    expect(s.histogram.reduce((a, b) => a + b.count, 0)).toBe(4);
    expect(s.histogram[0]).toEqual({ lo: 10, hi: 12, count: 1 });
    expect(s.histogram.at(-1)).toEqual({ lo: 40, hi: 42, count: 1 });
    for (const b of s.histogram) expect(b.hi - b.lo).toBe(2);
  });

  it('chooses 1/2/5 x 10^k bins, at most MAX_BINS', () => {
    expect(binWidth(0, 19)).toBe(1);
    expect(binWidth(0, 20)).toBe(2);
    expect(binWidth(5, 900)).toBe(50);
    expect(binWidth(7, 7)).toBe(1);
    const lengths = [3, 17, 250, 251, 1999];
    const s = datasetStats(lengths.map((l, i) => ex(i, l, 1)));
    expect(s.histogram.length).toBeLessThanOrEqual(MAX_BINS);
    for (const l of lengths) expect(s.histogram.some((b) => b.lo <= l && l < b.hi && b.count > 0)).toBe(true);
  });

  it('handles no examples', () => {
    expect(datasetStats([])).toMatchObject({ records: 0, histogram: [], maskedShare: 0, length: { min: 0, max: 0 } });
  });
});

describe('collate / evalBatches', () => {
  it('pads right to a multiple of 16, pad id on inputs, IGNORE_INDEX on labels, and counts targets and tokens', () => {
    const b = collate([ex(0, 5, 2), ex(1, 18, 18)], 512, 7);
    expect(b.batchSize).toBe(2);
    expect(b.seqLen).toBe(32);
    expect(Array.from(b.inputIds.slice(0, 5))).toEqual([1000, 1001, 1002, 1003, 1004]);
    expect(Array.from(b.inputIds.slice(5, 32))).toEqual(new Array(27).fill(7));
    expect(Array.from(b.labels.slice(5, 32))).toEqual(new Array(27).fill(IGNORE_INDEX));
    expect(Array.from(b.inputIds.slice(32, 50))).toEqual(Array.from(ex(1, 18, 18).inputIds));
    // targets: row 0 has 2 (positions 3, 4); row 1 has 17 (positions 1..17, position 0 never is one)
    expect(b.numTargets).toBe(2 + 17);
    expect(b.numTokens).toBe(5 + 18);
  });

  it("counts a record's own tokens, even those equal to the pad id at its end (pad = eos)", () => {
    const e = {
      inputIds: Int32Array.of(5, 6, 7, 7),
      labels: new Int32Array(4).fill(IGNORE_INDEX),
      record: 0,
      truncated: false,
    };
    const b = collate([e, ex(1, 3, 2)], 512, 7);
    expect(b.seqLen).toBe(16);
    expect(b.numTokens).toBe(4 + 3);
  });

  it('caps the padded length at max_seq_length', () => {
    expect(collate([ex(0, 20, 1)], 24, 0).seqLen).toBe(24);
    expect(collate([ex(0, 16, 1)], 24, 0).seqLen).toBe(16);
    expect(() => collate([ex(0, 30, 1)], 24, 0)).toThrow('record #0 has 30 tokens, more than max_seq_length 24');
  });

  it('evaluates in order with a smaller last batch', () => {
    const examples = Array.from({ length: 5 }, (_, i) => ex(i, 3 + i, 2));
    const batches = evalBatches(examples, 2, 64, 0);
    expect(batches.map((b) => b.batchSize)).toEqual([2, 2, 1]);
    expect(batches.map((b) => b.inputIds[0])).toEqual([1000, 3000, 5000]);
    expect(batches.every((b) => b.seqLen === PAD_MULTIPLE)).toBe(true);
  });
});

describe('BatchSampler', () => {
  const examples = Array.from({ length: 10 }, (_, i) => ex(i, 4 + (i % 5), 2));
  const o: SamplerOptions = { batchSize: 3, gradientAccumulationSteps: 2, maxSeqLength: 64, padTokenId: 0, seed: 42 };
  const rowsOf = (s: { microBatches: { inputIds: Int32Array; batchSize: number; seqLen: number }[] }) =>
    s.microBatches.map((b) => Array.from({ length: b.batchSize }, (_, r) => b.inputIds[r * b.seqLen] / 1000 - 1));

  it('has ceil(micro-batches / accumulation) steps per epoch, the last taking the remainder', () => {
    const s = new BatchSampler(examples, o);
    expect(s.microBatchesPerEpoch).toBe(4); // 3 + 3 + 3 + 1
    expect(s.stepsPerEpoch).toBe(2);
    expect(s.totalSteps(3)).toBe(6);
    expect(s.totalSteps(1.5)).toBe(3);
    expect(s.totalSteps(3, 5)).toBe(5);
    const a = s.nextStep();
    const b = s.nextStep();
    expect([a.epoch, a.stepInEpoch, a.step, b.epoch, b.stepInEpoch, b.step]).toEqual([0, 0, 1, 0, 1, 2]);
    expect(rowsOf(a).map((r) => r.length)).toEqual([3, 3]);
    expect(rowsOf(b).map((r) => r.length)).toEqual([3, 1]);
    // Every example once per epoch, in the epoch's shuffled order.
    const seen = [...rowsOf(a), ...rowsOf(b)].flat();
    expect(seen).toEqual(s.epochOrder(0));
    expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(a.numTargets).toBe(a.microBatches.reduce((n, m) => n + m.numTargets, 0));
    expect(a.numTargets).toBe(6 * 2);
    expect(s.nextStep().epoch).toBe(1);
  });

  it('reshuffles every epoch, deterministically per seed', () => {
    const s = new BatchSampler(examples, o);
    const e0 = [...s.epochOrder(0)];
    const e1 = [...s.epochOrder(1)];
    expect(e1).not.toEqual(e0);
    expect(new BatchSampler(examples, o).epochOrder(1)).toEqual(e1);
    expect(new BatchSampler(examples, { ...o, seed: 7 }).epochOrder(0)).not.toEqual(e0);
  });

  it('resumes exactly from state()', () => {
    const a = new BatchSampler(examples, o);
    for (let i = 0; i < 3; i++) a.nextStep();
    const saved = JSON.parse(JSON.stringify(a.state()));
    const rest = Array.from({ length: 4 }, () => a.nextStep());
    const b = new BatchSampler(examples, o);
    b.restore(saved);
    const again = Array.from({ length: 4 }, () => b.nextStep());
    expect(again.map((s) => [s.epoch, s.stepInEpoch, s.step, s.numTargets])).toEqual(
      rest.map((s) => [s.epoch, s.stepInEpoch, s.step, s.numTargets]),
    );
    expect(again.map(rowsOf)).toEqual(rest.map(rowsOf));
    expect(again[0].microBatches[0].inputIds).toEqual(rest[0].microBatches[0].inputIds);
    expect(() => new BatchSampler(examples.slice(1), o).restore(saved)).toThrow(/saved state is for 10 examples/);
    expect(() => b.restore({ ...saved, microBatch: 1 })).toThrow(/not the start of an optimizer step/);
  });

  it('refuses an empty split and bad sizes', () => {
    expect(() => new BatchSampler([], o)).toThrow('BatchSampler: the training split is empty');
    expect(() => new BatchSampler(examples, { ...o, batchSize: 0 })).toThrow(RangeError);
    expect(() => new BatchSampler(examples, { ...o, gradientAccumulationSteps: 1.5 })).toThrow(RangeError);
  });
});

describe('packing', () => {
  it('packRows fills rows greedily in order, starting a new row when the next example does not fit', () => {
    expect(packRows([5, 3, 8, 2, 2, 10, 1], 10)).toEqual([[0, 1], [2, 3], [4], [5], [6]]);
    expect(packRows([4, 4, 2], 10)).toEqual([[0, 1, 2]]);
    expect(() => packRows([4, 11], 10)).toThrow(/example 1 has 11 tokens, more than max_seq_length 10/);
  });

  it('collatePacked: positions restart per example, each first label is masked, targets as unpacked', () => {
    const a = ex(0, 5, 3); // trained positions 2..4
    const b = ex(1, 3, 3); // all labelled, label[0] is never a target
    const c = ex(2, 4, 1);
    const batch = collatePacked([[a, b], [c]], 64, 0);
    expect([batch.batchSize, batch.seqLen, batch.numTokens]).toEqual([2, 16, 12]);
    const row0 = Array.from(batch.inputIds.slice(0, 8));
    expect(row0).toEqual([1000, 1001, 1002, 1003, 1004, 2000, 2001, 2002]);
    expect(Array.from(batch.positionIds!.slice(0, 10))).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 0, 1]);
    expect(Array.from(batch.positionIds!.slice(16, 22))).toEqual([0, 1, 2, 3, 0, 1]);
    const I = IGNORE_INDEX;
    expect(Array.from(batch.labels.slice(0, 9))).toEqual([I, I, 1002, 1003, 1004, I, 2001, 2002, I]);
    // The same examples unpacked train the same targets (t >= 1 of each example).
    expect(batch.numTargets).toBe(collate([a, b, c], 64, 0).numTargets);
    expect(batch.numTargets).toBe(3 + 2 + 1);
    expect(() => collatePacked([[a, b, c]], 10, 0)).toThrow(/records #0, #1, #2 have 12 tokens together/);
  });

  it('the sampler packs once, shuffles packed rows each epoch, counts steps from rows, and resumes', () => {
    const examples = Array.from({ length: 12 }, (_, i) => ex(i, 3 + ((i * 7) % 11), 2));
    const o: SamplerOptions = {
      batchSize: 2,
      gradientAccumulationSteps: 1,
      maxSeqLength: 24,
      padTokenId: 0,
      seed: 3,
      packing: true,
    };
    const s = new BatchSampler(examples, o);
    const lengths = examples.map((e) => e.inputIds.length);
    expect(s.units).toEqual(packRows(lengths, 24));
    expect(s.units.length).toBeLessThan(12);
    expect(s.microBatchesPerEpoch).toBe(Math.ceil(s.units.length / 2));
    expect(s.longestUnit).toBe(Math.max(...s.units.map((u) => u.reduce((n, i) => n + lengths[i], 0))));
    const epoch = Array.from({ length: s.stepsPerEpoch }, () => s.nextStep());
    // Every example exactly once per epoch, each batch within max_seq_length.
    const seen: number[] = [];
    for (const st of epoch) {
      for (const b of st.microBatches) {
        expect(b.seqLen).toBeLessThanOrEqual(24);
        for (let i = 0; i < b.inputIds.length; i++) {
          if (b.positionIds![i] === 0 && b.inputIds[i] !== 0) seen.push(b.inputIds[i] / 1000 - 1);
        }
      }
    }
    expect(seen.sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(epoch.reduce((n, st) => n + st.numTargets, 0)).toBe(12 * 2);
    const saved = JSON.parse(JSON.stringify(s.state()));
    expect(saved.packing).toBe(true);
    const next = s.nextStep();
    const r = new BatchSampler(examples, o);
    r.restore(saved);
    expect(r.nextStep().microBatches[0].inputIds).toEqual(next.microBatches[0].inputIds);
    expect(() => new BatchSampler(examples, { ...o, packing: false }).restore(saved)).toThrow(
      /saved state is for a run with packing, this run is without/,
    );
  });

  it("group_by_length: Hugging Face's megabatches, each sorted longest first", () => {
    const lengths = [5, 1, 9, 3, 7, 2, 8, 4, 6, 0];
    // n = 10, batch 1: mult = min(floor(10 / 4), 50) = 2, megabatches of 2.
    expect(lengthGrouped([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], lengths, 1)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(lengthGrouped([1, 0, 3, 2, 5, 4, 7, 6, 9, 8], lengths, 1)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // batch 3: mult = max(1, floor(10 / 12)) = 1, megabatches of 3.
    expect(lengthGrouped([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], lengths, 3)).toEqual([8, 7, 9, 6, 4, 5, 2, 3, 1, 0]);
    const examples = Array.from({ length: 400 }, (_, i) => ex(i, 2 + ((i * 37) % 50), 1));
    const o: SamplerOptions = { batchSize: 2, gradientAccumulationSteps: 1, maxSeqLength: 64, padTokenId: 0, seed: 1 };
    const g = new BatchSampler(examples, { ...o, groupByLength: true });
    const plain = new BatchSampler(examples, o);
    // The same examples per epoch, in megabatches of 50 * 2 sorted by length.
    const order = g.epochOrder(0);
    expect([...order].sort((x, y) => x - y)).toEqual([...plain.epochOrder(0)].sort((x, y) => x - y));
    for (let m = 0; m < 4; m++) {
      const mb = order.slice(m * 100, (m + 1) * 100);
      expect(mb.map((i) => examples[i].inputIds.length)).toEqual(
        mb.map((i) => examples[i].inputIds.length).sort((x, y) => y - x),
      );
      expect([...mb].sort((x, y) => x - y)).toEqual(
        plain
          .epochOrder(0)
          .slice(m * 100, (m + 1) * 100)
          .sort((x, y) => x - y),
      );
    }
    // Less padding than without grouping.
    const padded = (s: BatchSampler) => {
      let n = 0;
      for (let i = 0; i < s.stepsPerEpoch; i++) for (const b of s.nextStep().microBatches) n += b.batchSize * b.seqLen;
      return n;
    };
    expect(padded(g)).toBeLessThan(padded(plain));
  });
});
