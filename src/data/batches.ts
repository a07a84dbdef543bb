// Examples to micro-batches the engine consumes, in the order Hugging Face's Trainer would use
// them: each epoch a fresh seeded shuffle (RandomSampler), micro-batches of
// per_device_train_batch_size (the last one of an epoch may be smaller: drop_last is false),
// gradient_accumulation_steps micro-batches per optimizer step, and a last step per epoch that
// takes the remainder (transformers >= 4.46: ceil(micro-batches / accumulation) steps per epoch).
// Padding is to the right, to the longest row rounded up to a multiple of 16 (fewer distinct
// shapes for the GPU) but never past max_seq_length.

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
    this.microBatchesPerEpoch = Math.ceil(examples.length / batchSize);
    this.stepsPerEpoch = Math.ceil(this.microBatchesPerEpoch / gas);
  }

  /** Optimizer steps of a run: max_steps when > 0, else ceil(num_train_epochs * stepsPerEpoch) (as transformers). */
  totalSteps(numTrainEpochs: number, maxSteps = -1): number {
    return maxSteps > 0 ? maxSteps : Math.ceil(numTrainEpochs * this.stepsPerEpoch);
  }

  /** The shuffled example positions of an epoch (a pure function of seed and epoch). */
  epochOrder(epoch: number): number[] {
    if (this.orderEpoch !== epoch) {
      this.order = new Rng(epochSeed(this.opts.seed, epoch)).shuffle(
        Array.from({ length: this.examples.length }, (_, i) => i),
      );
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
      const rows = order.slice(m * batchSize, (m + 1) * batchSize).map((i) => this.examples[i]);
      microBatches.push(collate(rows, maxSeqLength, padTokenId));
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
    };
  }

  restore(s: SamplerState): void {
    if (s.numExamples !== this.examples.length || s.seed !== this.opts.seed) {
      throw new RangeError(
        `cannot resume: the saved state is for ${s.numExamples} examples with seed ${s.seed}, ` +
          `this run has ${this.examples.length} with seed ${this.opts.seed}`,
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
