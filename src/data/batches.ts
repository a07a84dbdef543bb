// Examples to micro-batches the engine consumes, in the order Hugging Face's Trainer would use
// them: each epoch a fresh seeded shuffle (RandomSampler), micro-batches of
// per_device_train_batch_size (the last one of an epoch may be smaller: drop_last is false),
// gradient_accumulation_steps micro-batches per optimizer step, and a last step per epoch that
// takes the remainder (transformers >= 4.46: ceil(micro-batches / accumulation) steps per epoch).
// Padding is to the right, to the longest row rounded up to a multiple of 16 (fewer distinct
// shapes for the GPU) but never past max_seq_length.
//
// Packing (TRL's padding-free `packing`, LLaMA-Factory's `neat_packing`): the examples, in dataset
// order, fill rows of at most max_seq_length greedily (an example that does not fit starts the
// next row); the rows are packed once and then shuffled and batched as examples are without
// packing, so the step count is the same every epoch and the sampler state resumes as before.
// A packed row carries position ids that restart at 0 for each example; the engine turns them
// into a block-diagonal causal mask, and the first label of each example is IGNORE_INDEX, so no
// token is predicted from the previous example's: loss and gradients equal those unpacked.
//
// group_by_length (without packing): Hugging Face's LengthGroupedSampler. The epoch's shuffle is
// cut into megabatches of mult * batch size examples, mult = min(n / (4 * batch size), 50) (at
// least 1), each sorted by length, longest first, so micro-batches hold similar lengths.

import { Rng } from '../util/rng';
import { IGNORE_INDEX, type Batch, type Example } from './types';

/** Sequence lengths of padded batches are multiples of this (unless capped by max_seq_length). */
export const PAD_MULTIPLE = 16;

/** Targets of one row: positions t >= 1 with labels[t] != IGNORE_INDEX (the pair (t-1, t) is trained). */
function rowTargets(labels: Int32Array): number {
  let n = 0;
  for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE_INDEX) n++;
  return n;
}

/** Pads examples into one batch (rows in the given order). */
export function collate(examples: Example[], maxSeqLength: number, padTokenId: number): Batch {
  if (examples.length === 0) throw new RangeError('collate: no examples');
  let longest = 1;
  for (const e of examples) {
    if (e.inputIds.length > maxSeqLength) {
      throw new RangeError(
        `record #${e.record} has ${e.inputIds.length} tokens, more than max_seq_length ${maxSeqLength}`,
      );
    }
    longest = Math.max(longest, e.inputIds.length);
  }
  const seqLen = Math.max(longest, Math.min(maxSeqLength, Math.ceil(longest / PAD_MULTIPLE) * PAD_MULTIPLE));
  const B = examples.length;
  const inputIds = new Int32Array(B * seqLen).fill(padTokenId); // (B, seqLen)
  const labels = new Int32Array(B * seqLen).fill(IGNORE_INDEX); // (B, seqLen)
  let numTargets = 0;
  let numTokens = 0;
  examples.forEach((e, b) => {
    inputIds.set(e.inputIds, b * seqLen);
    labels.set(e.labels, b * seqLen);
    numTargets += rowTargets(e.labels);
    numTokens += e.inputIds.length;
  });
  return { inputIds, labels, batchSize: B, seqLen, numTargets, numTokens };
}

/**
 * Packs examples into rows of one micro-batch: row b concatenates rows[b]'s examples, positions
 * restart at 0 for each (positionIds), the first label of each example is IGNORE_INDEX (it would
 * be predicted from the previous example's last token), and the padding after the last example
 * is a segment of its own. numTargets and numTokens are those of the same examples unpacked.
 */
export function collatePacked(rows: Example[][], maxSeqLength: number, padTokenId: number): Batch {
  if (rows.length === 0 || rows.some((r) => r.length === 0)) throw new RangeError('collatePacked: an empty row');
  let longest = 1;
  for (const r of rows) {
    const n = r.reduce((s, e) => s + e.inputIds.length, 0);
    if (n > maxSeqLength) {
      throw new RangeError(
        `records #${r.map((e) => e.record).join(', #')} have ${n} tokens together, more than max_seq_length ${maxSeqLength}`,
      );
    }
    longest = Math.max(longest, n);
  }
  const seqLen = Math.max(longest, Math.min(maxSeqLength, Math.ceil(longest / PAD_MULTIPLE) * PAD_MULTIPLE));
  const B = rows.length;
  const inputIds = new Int32Array(B * seqLen).fill(padTokenId);
  const labels = new Int32Array(B * seqLen).fill(IGNORE_INDEX);
  const positionIds = new Int32Array(B * seqLen);
  let numTargets = 0;
  let numTokens = 0;
  rows.forEach((r, b) => {
    let t = 0;
    for (const e of r) {
      const n = e.inputIds.length;
      inputIds.set(e.inputIds, b * seqLen + t);
      labels.set(e.labels, b * seqLen + t);
      if (n > 0) labels[b * seqLen + t] = IGNORE_INDEX;
      for (let i = 0; i < n; i++) positionIds[b * seqLen + t + i] = i;
      numTargets += rowTargets(e.labels);
      numTokens += n;
      t += n;
    }
    for (let i = 0; t + i < seqLen; i++) positionIds[b * seqLen + t + i] = i;
  });
  return { inputIds, labels, batchSize: B, seqLen, numTargets, numTokens, positionIds };
}

/**
 * Greedy packing in the given order: each example joins the current row while the row stays
 * within maxSeqLength, otherwise it starts the next row. Returns rows of example positions.
 */
export function packRows(lengths: readonly number[], maxSeqLength: number): number[][] {
  const rows: number[][] = [];
  let cur: number[] = [];
  let used = 0;
  lengths.forEach((n, i) => {
    if (n > maxSeqLength)
      throw new RangeError(`example ${i} has ${n} tokens, more than max_seq_length ${maxSeqLength}`);
    if (cur.length > 0 && used + n > maxSeqLength) {
      rows.push(cur);
      cur = [];
      used = 0;
    }
    cur.push(i);
    used += n;
  });
  if (cur.length > 0) rows.push(cur);
  return rows;
}

/**
 * Hugging Face's get_length_grouped_indices on a given permutation: megabatches of mult * batchSize
 * positions (mult = min(floor(n / (4 * batchSize)), 50), at least 1), each sorted by length,
 * longest first (a stable sort, as Python's sorted).
 */
export function lengthGrouped(perm: readonly number[], lengths: readonly number[], batchSize: number): number[] {
  const mult = Math.max(1, Math.min(Math.floor(lengths.length / (batchSize * 4)), 50));
  const size = mult * batchSize;
  const out: number[] = [];
  for (let i = 0; i < perm.length; i += size) {
    out.push(...perm.slice(i, i + size).sort((a, b) => lengths[b] - lengths[a]));
  }
  return out;
}

/** Validation batches in dataset order, no shuffle. */
export function evalBatches(examples: Example[], batchSize: number, maxSeqLength: number, padTokenId: number): Batch[] {
  const out: Batch[] = [];
  for (let i = 0; i < examples.length; i += batchSize) {
    out.push(collate(examples.slice(i, i + batchSize), maxSeqLength, padTokenId));
  }
  return out;
}

export interface SamplerOptions {
  /** per_device_train_batch_size */
  batchSize: number;
  gradientAccumulationSteps: number;
  maxSeqLength: number;
  padTokenId: number;
  seed: number;
  /** Pack several examples into each row (see the header). */
  packing?: boolean;
  /** Without packing: Hugging Face's length-grouped sampling (see the header). */
  groupByLength?: boolean;
}

/** Where the sampler stands; restore() continues exactly from here. */
export interface SamplerState {
  /** 0-based epoch of the next micro-batch. */
  epoch: number;
  /** Index of the next micro-batch within that epoch. */
  microBatch: number;
  /** Optimizer steps handed out so far. */
  step: number;
  /** Checked on restore: the state belongs to this dataset and seed. */
  numExamples: number;
  seed: number;
  /** Packed rows or examples (absent in states saved before packing existed: false). */
  packing?: boolean;
}

export interface StepBatches {
  /** 0-based epoch and step index within it. */
  epoch: number;
  stepInEpoch: number;
  /** 1-based global optimizer step. */
  step: number;
  microBatches: Batch[];
  /** Sum over the micro-batches: the loss of the step is the summed token loss / numTargets. */
  numTargets: number;
}

/** 32-bit mix of (seed, epoch) into an independent seed (murmur3 finalizer). */
function epochSeed(seed: number, epoch: number): number {
  let h = (seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class BatchSampler {
  readonly microBatchesPerEpoch: number;
  readonly stepsPerEpoch: number;
  /** What is shuffled and batched: one example each, or (packing) the examples of a packed row. */
  readonly units: number[][];
  /** Tokens of the longest unit (a packed row's total): the longest sequence a micro-batch holds. */
  readonly longestUnit: number;
  private epoch = 0;
  private microBatch = 0;
  private step = 0;
  private order: number[] | null = null;
  private orderEpoch = -1;

  constructor(
    private readonly examples: Example[],
    readonly opts: SamplerOptions,
  ) {
    const { batchSize, gradientAccumulationSteps: gas } = opts;
    if (examples.length === 0) throw new RangeError('BatchSampler: the training split is empty');
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError(`per_device_train_batch_size must be >= 1, not ${batchSize}`);
    if (!Number.isInteger(gas) || gas < 1) throw new RangeError(`gradient_accumulation_steps must be >= 1, not ${gas}`);
    const lengths = examples.map((e) => e.inputIds.length);
    this.units = opts.packing ? packRows(lengths, opts.maxSeqLength) : lengths.map((_, i) => [i]);
    this.longestUnit = Math.max(1, ...this.units.map((u) => u.reduce((s, i) => s + lengths[i], 0)));
    this.microBatchesPerEpoch = Math.ceil(this.units.length / batchSize);
    this.stepsPerEpoch = Math.ceil(this.microBatchesPerEpoch / gas);
  }

  /** Optimizer steps of a run: max_steps when > 0, else ceil(num_train_epochs * stepsPerEpoch) (as transformers). */
  totalSteps(numTrainEpochs: number, maxSteps = -1): number {
    return maxSteps > 0 ? maxSteps : Math.ceil(numTrainEpochs * this.stepsPerEpoch);
  }

  /**
   * The shuffled unit positions of an epoch (a pure function of seed and epoch): example
   * positions, or packed-row positions with packing.
   */
  epochOrder(epoch: number): number[] {
    if (this.orderEpoch !== epoch) {
      let order = new Rng(epochSeed(this.opts.seed, epoch)).shuffle(
        Array.from({ length: this.units.length }, (_, i) => i),
      );
      if (this.opts.groupByLength && !this.opts.packing) {
        order = lengthGrouped(
          order,
          this.examples.map((e) => e.inputIds.length),
          this.opts.batchSize,
        );
      }
      this.order = order;
      this.orderEpoch = epoch;
    }
    return this.order!;
  }

  /** The micro-batches of the next optimizer step; epochs follow one another without end. */
  nextStep(): StepBatches {
    const { batchSize, gradientAccumulationSteps: gas, maxSeqLength, padTokenId } = this.opts;
    const epoch = this.epoch;
    const stepInEpoch = Math.floor(this.microBatch / gas);
    const order = this.epochOrder(epoch);
    const microBatches: Batch[] = [];
    const end = Math.min(this.microBatchesPerEpoch, (stepInEpoch + 1) * gas);
    for (let m = this.microBatch; m < end; m++) {
      const units = order.slice(m * batchSize, (m + 1) * batchSize).map((u) => this.units[u]);
      microBatches.push(
        this.opts.packing
          ? collatePacked(
              units.map((u) => u.map((i) => this.examples[i])),
              maxSeqLength,
              padTokenId,
            )
          : collate(
              units.map((u) => this.examples[u[0]]),
              maxSeqLength,
              padTokenId,
            ),
      );
    }
    this.microBatch = end;
    if (this.microBatch >= this.microBatchesPerEpoch) {
      this.epoch++;
      this.microBatch = 0;
    }
    this.step++;
    return {
      epoch,
      stepInEpoch,
      step: this.step,
      microBatches,
      numTargets: microBatches.reduce((s, b) => s + b.numTargets, 0),
    };
  }

  state(): SamplerState {
    return {
      epoch: this.epoch,
      microBatch: this.microBatch,
      step: this.step,
      numExamples: this.examples.length,
      seed: this.opts.seed,
      packing: !!this.opts.packing,
    };
  }

  restore(s: SamplerState): void {
    if (s.numExamples !== this.examples.length || s.seed !== this.opts.seed) {
      throw new RangeError(
        `cannot resume: the saved state is for ${s.numExamples} examples with seed ${s.seed}, ` +
          `this run has ${this.examples.length} with seed ${this.opts.seed}`,
      );
    }
    if (!!s.packing !== !!this.opts.packing) {
      throw new RangeError(
        `cannot resume: the saved state is for a run ${s.packing ? 'with' : 'without'} packing, this run is ${this.opts.packing ? 'with' : 'without'}`,
      );
    }
    const gas = this.opts.gradientAccumulationSteps;
    if (s.microBatch < 0 || s.microBatch >= this.microBatchesPerEpoch || s.microBatch % gas !== 0 || s.epoch < 0) {
      throw new RangeError(
        `cannot resume: micro-batch ${s.microBatch} of epoch ${s.epoch} is not the start of an optimizer step`,
      );
    }
    this.epoch = s.epoch;
    this.microBatch = s.microBatch;
    this.step = s.step;
  }
}
