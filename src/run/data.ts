// A dataset file read (readDataset) and turned into what a run trains on: every record rendered with the model's
// template and tokenized with its labels masked (encodeData: the slow part, which the studio keeps
// while only the split changes), a seeded train/validation split with statistics (splitData),
// the records that could not be encoded (named, never silently dropped), and the preview rows.

import type { Example } from '../data/types';
import { IGNORE_INDEX } from '../data/types';
import {
  DatasetError,
  parseDatasetStream,
  type DatasetRecord,
  type ParsedDataset,
  type StreamParseOptions,
} from '../data/parse';
import { recordText, type RecordError } from '../data/formats';
import { ExampleEncoder, encodeDataset, type PreviewSegment } from '../data/encode';
import { splitTrainVal } from '../data/split';
import { datasetStats, tokenizerFit, FIT_SAMPLE, type DatasetStats, type TokenizerFit } from '../data/stats';
import type { TrainingHparams } from '../config/hparams';
import type { LoadedModel } from './model';

type EncodeOptions = Pick<TrainingHparams, 'max_seq_length' | 'train_on_inputs'> &
  Partial<Pick<TrainingHparams, 'mask_history'>>;
type SplitOptions = Pick<TrainingHparams, 'val_split_fraction' | 'seed'>;

/** Every record encoded for one model, max_seq_length and train_on_inputs. */
export interface EncodedData {
  examples: Example[];
  /** Examples with at least one trained token, in record order (the others cannot be trained on). */
  usable: Example[];
  errors: RecordError[];
  /** Records in the dataset. */
  records: number;
  /** Record numbers (0-based, in the file) whose trained part max_seq_length cut away entirely. */
  cutAway: number[];
  /** How well the model's tokenizer suits the text. */
  fit: TokenizerFit;
}

export interface PreparedData {
  train: Example[];
  val: Example[];
  /** Statistics over all encoded records (train + validation). */
  stats: DatasetStats;
  /** Records that failed to render or tokenize (parse errors are the dataset's own). */
  encodeErrors: RecordError[];
  records: number;
  /** Encoded records with nothing to train on (all masked), left out of both splits. */
  withoutTargets: number;
  /** Of those, the record numbers whose trained part max_seq_length cut away entirely. */
  cutAway: number[];
  fit: TokenizerFit;
}

/**
 * Reads a dataset file as a stream (JSON or JSONL, format detected unless given). A file whose
 * records all fail says the first few problems in one message.
 */
export async function readDataset(stream: ReadableStream<Uint8Array>, o: StreamParseOptions): Promise<ParsedDataset> {
  try {
    return await parseDatasetStream(stream, o);
  } catch (e) {
    if (e instanceof DatasetError && e.errors.length > 1) {
      const more = e.errors
        .slice(1, 4)
        .map((x) => x.message)
        .join('; ');
      throw new Error(`${e.message}; then: ${more}${e.errors.length > 4 ? '; …' : ''}`, { cause: e });
    }
    throw e;
  }
}

export function encoderFor(model: LoadedModel, t: EncodeOptions): ExampleEncoder {
  return new ExampleEncoder(model.tokenizer, model.format, {
    maxSeqLength: t.max_seq_length,
    trainOnInputs: t.train_on_inputs,
    maskHistory: t.mask_history ?? false,
  });
}

type Records = ParsedDataset | DatasetRecord[];
type Progress = (done: number, total: number) => void;

/** Every record rendered with the model's template and tokenized, labels masked (the slow part). */
export function encodeData(dataset: Records, model: LoadedModel, t: EncodeOptions, onProgress?: Progress): EncodedData {
  const records = Array.isArray(dataset) ? dataset : dataset.records;
  const { examples, errors } = encodeDataset(records, encoderFor(model, t), onProgress);
  const usable = examples.filter(hasTargets);
  const cutAway = examples.filter((e) => e.truncated && !hasTargets(e)).map((e) => e.record);
  const fit = tokenizerFit(records.slice(0, FIT_SAMPLE).map(recordText), model.tokenizer);
  return { examples, usable, errors, records: records.length, cutAway, fit };
}

/** The train/validation split of the usable examples; refuses a dataset with nothing to train on. */
export function splitData(enc: EncodedData, t: SplitOptions): PreparedData {
  if (enc.examples.length === 0) throw new Error('no record of the dataset could be encoded for this model');
  if (enc.usable.length === 0) throw new Error('every record is masked out entirely: there is nothing to train on');
  const split = splitTrainVal(enc.usable.length, t.val_split_fraction, t.seed);
  return {
    train: split.train.map((i) => enc.usable[i]),
    val: split.val.map((i) => enc.usable[i]),
    stats: datasetStats(enc.examples),
    encodeErrors: enc.errors,
    records: enc.records,
    withoutTargets: enc.examples.length - enc.usable.length,
    cutAway: enc.cutAway,
    fit: enc.fit,
  };
}

/** "Records #3, #17 … (n in all)": record numbers for a message, the first `max` of them. */
export function recordList(records: number[], max = 10): string {
  const shown = records.slice(0, max).map((r) => `#${r}`);
  return records.length > max ? `${shown.join(', ')} … (${records.length} in all)` : shown.join(', ');
}

/**
 * What a person must be told about the prepared data besides the statistics: records whose
 * trained part truncation removed (they are left out) and a tokenizer that does not suit the text.
 */
export function dataNotes(d: Pick<PreparedData, 'cutAway' | 'fit'>, maxSeqLength: number): string[] {
  const notes: string[] = [];
  if (d.cutAway.length > 0) {
    const n = d.cutAway.length;
    notes.push(
      `${n === 1 ? 'record' : 'records'} ${recordList(d.cutAway)}: max_seq_length ${maxSeqLength} cuts away every trained token, so ${n === 1 ? 'it is' : 'they are'} left out of training; raise max_seq_length or shorten ${n === 1 ? 'it' : 'them'}`,
    );
  }
  notes.push(...d.fit.warnings);
  return notes;
}

/** encodeData, then splitData: what the CLI and the tests prepare in one go. */
export function prepareData(dataset: Records, model: LoadedModel, t: TrainingHparams, onProgress?: Progress) {
  return splitData(encodeData(dataset, model, t, onProgress), t);
}

/**
 * The padded sequence length a run's buffers are sized for: the longest example rounded up to a
 * multiple of 16, at most max_seq_length.
 */
export function paddedSeqLength(data: Pick<PreparedData, 'train' | 'val'>, maxSeqLength: number): number {
  let longest = 1;
  for (const e of data.train) longest = Math.max(longest, e.inputIds.length);
  for (const e of data.val) longest = Math.max(longest, e.inputIds.length);
  return Math.min(maxSeqLength, Math.ceil(longest / 16) * 16);
}

export interface PreviewRow {
  /** Position among the good records. */
  position: number;
  /** 0-based record number in the file, and its line. */
  record: number;
  line: number;
  segments: PreviewSegment[];
  numTokens: number;
  numTrained: number;
  truncated: boolean;
  /** The record's tool definitions (pretty JSON), when it has any. */
  tools?: string[];
  /** Set when this record cannot be rendered for the model. */
  error?: string;
}

/** Records [start, start + count) rendered as the model will read them (at most 200). */
export function previewRecords(
  records: DatasetRecord[],
  model: LoadedModel,
  t: EncodeOptions,
  start: number,
  count: number,
): PreviewRow[] {
  const enc = encoderFor(model, t);
  const rows: PreviewRow[] = [];
  const end = Math.min(records.length, start + Math.min(count, 200));
  for (let i = Math.max(0, start); i < end; i++) {
    const r = records[i];
    try {
      rows.push({ position: i, record: r.index, line: r.line, ...enc.renderForPreview(r) });
    } catch (e) {
      rows.push({
        position: i,
        record: r.index,
        line: r.line,
        segments: [],
        numTokens: 0,
        numTrained: 0,
        truncated: false,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }
  return rows;
}

function hasTargets(e: Example): boolean {
  for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== IGNORE_INDEX) return true;
  return false;
}
