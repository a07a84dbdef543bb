// The dataset benchmark: training throughput that counts only real (non-padding) tokens, on the
// lengths of an instruction dataset, with padded batches and with packed rows in one run, so the
// two figures come from the same machine at the same moment. The model is the bench's
// random-weight shape; the records are tokenized one token per whitespace-separated word, each
// word hashed into the shape's vocabulary (the lengths, the prompt/completion split and the
// batching are what the figures depend on, and they need no real tokenizer). The prompt
// (instruction and input) is masked, the output is trained, as the studio does for Alpaca.
//
// Besides the throughput, the loss of the same examples is evaluated both ways with the same
// weights before training: packing must not change it.
//
// generateAlpacaLike() is the shipped dataset: deterministic records whose token counts have the
// spread of a typical Alpaca file (a short instruction, an optional input, and an output of
// log-normal length: median a third of 512, a long tail cut at 512).

import type { GpuContext } from '../engine/gpu/context';
import { uploadWeights } from '../engine/model/gpu-weights';
import { Trainer, type BatchSource } from '../engine/train/trainer';
import { BatchSampler, collate, collatePacked, packRows } from '../data/batches';
import { IGNORE_INDEX, type Batch, type Example } from '../data/types';
import type { TrainingHparams } from '../config/hparams';
import { Rng } from '../util/rng';
import { RandomWeightSource } from './random-weights';
import { SHAPES } from './shapes';
import { benchMemoryInput, benchSchedule, checkBenchFits, type TrainBenchOptions } from './train';

export interface AlpacaRecord {
  instruction: string;
  input: string;
  output: string;
}

const WORDS = (
  'the a of to and in is for that with on as it be by this are from or an at which you can your ' +
  'write explain list describe give summarize translate classify compare suggest create find make ' +
  'data model function value number list table report email story poem plan answer question idea ' +
  'people city water energy history science market health music language computer program example ' +
  'first second simple short detailed clear important different common useful possible better ' +
  'because however therefore also often usually while when where how what why who each other'
).split(' ');

function words(rng: Rng, n: number): string {
  return Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]).join(' ');
}

/**
 * n Alpaca-style records, a pure function of seed. Token counts (words, plus one for the end of
 * the text): instruction 6-25, input empty for 60% of records else 5-60, output log-normal
 * around 145 (sigma 0.8); a record's total is capped at maxLen tokens.
 */
export function generateAlpacaLike(n: number, seed = 0, maxLen = 512): AlpacaRecord[] {
  const rng = new Rng(seed);
  const out: AlpacaRecord[] = [];
  for (let i = 0; i < n; i++) {
    const ni = 6 + rng.int(20);
    const nin = rng.uniform(0, 1) < 0.6 ? 0 : 5 + rng.int(56);
    const room = Math.max(1, maxLen - ni - nin - 1);
    const no = Math.max(1, Math.min(room, Math.round(145 * Math.exp(0.8 * rng.normal()))));
    out.push({ instruction: words(rng, ni), input: words(rng, nin), output: words(rng, no) });
  }
  return out;
}

/** Reads Alpaca JSONL (instruction, optional input, output); names the line of a bad record. */
export function parseAlpacaJsonl(text: string, what: string): AlpacaRecord[] {
  const out: AlpacaRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      throw new Error(`${what} line ${i + 1}: not JSON`);
    }
    const o = r as Record<string, unknown>;
    if (typeof o?.instruction !== 'string' || typeof o.output !== 'string') {
      throw new Error(`${what} line ${i + 1}: an Alpaca record needs string "instruction" and "output" fields`);
    }
    out.push({ instruction: o.instruction, input: typeof o.input === 'string' ? o.input : '', output: o.output });
  });
  if (out.length === 0) throw new Error(`${what}: no records`);
  return out;
}

function hashWord(w: string, vocab: number): number {
  let h = 2166136261;
  for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 16777619);
  return 3 + ((h >>> 0) % (vocab - 3)); // 0..2: pad, bos, eos
}

/** One token per word (hashed into the vocabulary) and an end token; prompt masked, truncated to maxSeq. */
export function tokenizeAlpaca(records: AlpacaRecord[], vocab: number, maxSeq: number): Example[] {
  return records.map((r, record) => {
    const prompt = `${r.instruction} ${r.input}`.split(/\s+/).filter(Boolean);
    const answer = r.output.split(/\s+/).filter(Boolean);
    const ids = [...prompt, ...answer].map((w) => hashWord(w, vocab));
    ids.push(2);
    const n = Math.min(ids.length, maxSeq);
    const inputIds = Int32Array.from(ids.slice(0, n));
    const labels = Int32Array.from(inputIds, (id, t) => (t < prompt.length ? IGNORE_INDEX : id));
    return { inputIds, labels, record, truncated: ids.length > maxSeq };
  });
}

export interface DatasetBenchOptions extends TrainBenchOptions {
  records: AlpacaRecord[];
  /** The dataset's name in the report (a path, or "generated"). */
  dataset: string;
  /** Which settings to run: padded batches, packed rows, or both (in that order). */
  modes: ('padded' | 'packed')[];
  /** Examples whose loss is compared between the settings (the first ones of the dataset). */
  lossExamples?: number;
}

export interface DatasetBenchMode {
  mode: 'padded' | 'packed';
  steps: number;
  /** Real (non-padding) tokens per second over the timed steps. */
  real_tokens_per_s: number;
  /** Token slots (rows x padded length) per second: real and padding. */
  slot_tokens_per_s: number;
  /** Share of the timed steps' token slots that are padding. */
  padding_share: number;
  ms_per_step: number;
  /** Mean token loss of the first lossExamples examples, collated this way, before training. */
  loss: number;
  final_loss: number;
}

export interface DatasetBenchResult {
  dataset: string;
  records: number;
  shape: string;
  batch: number;
  max_seq_length: number;
  lengths: { median: number; p90: number; max: number; mean: number };
  modes: DatasetBenchMode[];
  /** packed real tokens/s over padded (when both ran). */
  packed_over_padded?: number;
  /** |loss packed - loss padded| / loss padded (when both ran). */
  loss_rel_diff?: number;
}

class SamplerSource implements BatchSource {
  constructor(private readonly sampler: BatchSampler) {}
  get epoch(): number {
    return this.sampler.state().epoch;
  }
  nextStep(): Batch[] {
    return this.sampler.nextStep().microBatches;
  }
  state(): unknown {
    return this.sampler.state();
  }
  restore(): void {}
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

export async function benchDataset(ctx: GpuContext, o: DatasetBenchOptions): Promise<DatasetBenchResult> {
  const log = o.log ?? (() => {});
  const config = SHAPES[o.shape];
  checkBenchFits(ctx, o);
  const examples = tokenizeAlpaca(o.records, config.vocabSize, o.seq);
  const lengths = examples.map((e) => e.inputIds.length).sort((a, b) => a - b);
  const weights = await uploadWeights(ctx, config, new RandomWeightSource(config, o.dtype, o.seed ?? 0), undefined, {
    nf4: o.nf4,
  });
  const nLoss = Math.min(o.lossExamples ?? 64, examples.length);
  const lossSet = examples.slice(0, nLoss);
  const modes: DatasetBenchMode[] = [];
  try {
    for (const mode of o.modes) {
      const packing = mode === 'packed';
      const training: TrainingHparams = {
        ...benchSchedule(o),
        per_device_train_batch_size: o.batch,
        max_seq_length: o.seq,
      };
      const sampler = new BatchSampler(examples, {
        batchSize: o.batch,
        gradientAccumulationSteps: 1,
        maxSeqLength: o.seq,
        padTokenId: 0,
        seed: o.seed ?? 0,
        packing,
      });
      const trainer = new Trainer(ctx, {
        config,
        weights,
        lora: benchMemoryInput(ctx.caps, o).lora,
        training,
        train: new SamplerSource(sampler),
        totalSteps: o.warmup + o.steps,
        evalBatches: [],
        maxBatch: o.batch,
        maxSeq: o.seq,
        gradientCheckpointing: o.checkpointing,
      });
      try {
        const evalBatches: Batch[] = [];
        if (packing) {
          const rows = packRows(
            lossSet.map((e) => e.inputIds.length),
            o.seq,
          );
          for (let i = 0; i < rows.length; i += o.batch) {
            evalBatches.push(
              collatePacked(
                rows.slice(i, i + o.batch).map((r) => r.map((j) => lossSet[j])),
                o.seq,
                0,
              ),
            );
          }
        } else {
          for (let i = 0; i < nLoss; i += o.batch) evalBatches.push(collate(lossSet.slice(i, i + o.batch), o.seq, 0));
        }
        const loss = await trainer.evaluate(evalBatches);
        let ms = 0;
        let real = 0;
        let slots = 0;
        let finalLoss = NaN;
        for (let s = 0; s < o.warmup + o.steps; s++) {
          const before = sampler.state();
          const m = await trainer.trainStep();
          finalLoss = m.loss;
          if (!Number.isFinite(m.loss)) throw new Error(`${mode}: step ${s + 1} gave a non-finite loss`);
          // What the step trained: re-collate it from the sampler state it started at.
          const replay = new BatchSampler(examples, sampler.opts);
          replay.restore(before);
          const step = replay.nextStep();
          const stepReal = step.microBatches.reduce((n, b) => n + b.numTokens, 0);
          const stepSlots = step.microBatches.reduce((n, b) => n + b.batchSize * b.seqLen, 0);
          if (s >= o.warmup) {
            ms += m.stepMs;
            real += stepReal;
            slots += stepSlots;
          }
          log(
            `${mode}: step ${s + 1}/${o.warmup + o.steps} ${m.stepMs.toFixed(1)} ms, ${stepReal}/${stepSlots} real tokens, loss ${m.loss.toFixed(4)}`,
          );
        }
        modes.push({
          mode,
          steps: o.steps,
          real_tokens_per_s: Math.round((real / (ms / 1000)) * 100) / 100,
          slot_tokens_per_s: Math.round((slots / (ms / 1000)) * 100) / 100,
          padding_share: Math.round((1 - real / slots) * 1e4) / 1e4,
          ms_per_step: Math.round((ms / o.steps) * 100) / 100,
          loss,
          final_loss: Math.round(finalLoss * 1e4) / 1e4,
        });
      } finally {
        trainer.destroy();
      }
    }
  } finally {
    weights.arena.destroy();
  }
  const padded = modes.find((m) => m.mode === 'padded');
  const packed = modes.find((m) => m.mode === 'packed');
  return {
    dataset: o.dataset,
    records: examples.length,
    shape: o.shape,
    batch: o.batch,
    max_seq_length: o.seq,
    lengths: {
      median: pct(lengths, 0.5),
      p90: pct(lengths, 0.9),
      max: lengths[lengths.length - 1],
      mean: Math.round((lengths.reduce((a, b) => a + b, 0) / lengths.length) * 10) / 10,
    },
    modes,
    ...(padded && packed
      ? {
          packed_over_padded: Math.round((packed.real_tokens_per_s / padded.real_tokens_per_s) * 1000) / 1000,
          loss_rel_diff: Math.abs(packed.loss - padded.loss) / padded.loss,
        }
      : {}),
  };
}
