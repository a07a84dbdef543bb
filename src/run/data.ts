// A parsed dataset turned into what a run trains on: every record rendered with the model's
// template and tokenized with its labels masked, a seeded train/validation split, statistics,
// and the records that could not be encoded (named, never silently dropped).

import { IGNORE_INDEX, type Example } from '../data/types';
import type { ParsedDataset, DatasetRecord } from '../data/parse';
import type { RecordError } from '../data/formats';
import { ExampleEncoder, encodeDataset } from '../data/encode';
import { splitTrainVal } from '../data/split';
import { datasetStats, type DatasetStats } from '../data/stats';
import type { TrainingHparams } from '../config/hparams';
import type { LoadedModel } from './model';

export interface PreparedData {
  train: Example[];
  val: Example[];
  /** Statistics over all encoded records (train + validation). */
  stats: DatasetStats;
  /** Records that failed to render or tokenize (parse errors are the dataset's own). */
  encodeErrors: RecordError[];
  records: number;
}

export function encoderFor(
  model: LoadedModel,
  t: Pick<TrainingHparams, 'max_seq_length' | 'train_on_inputs'>,
): ExampleEncoder {
  return new ExampleEncoder(model.tokenizer, model.format, {
    maxSeqLength: t.max_seq_length,
    trainOnInputs: t.train_on_inputs,
  });
}

export function prepareData(
  dataset: ParsedDataset | DatasetRecord[],
  model: LoadedModel,
  t: TrainingHparams,
  onProgress?: (done: number, total: number) => void,
): PreparedData {
  const records = Array.isArray(dataset) ? dataset : dataset.records;
  const { examples, errors } = encodeDataset(records, encoderFor(model, t), onProgress);
  if (examples.length === 0) throw new Error('no record of the dataset could be encoded for this model');
  const usable = examples.filter((e) => hasTargets(e));
  if (usable.length === 0) throw new Error('every record is masked out entirely: there is nothing to train on');
  const split = splitTrainVal(usable.length, t.val_split_fraction, t.seed);
  return {
    train: split.train.map((i) => usable[i]),
    val: split.val.map((i) => usable[i]),
    stats: datasetStats(examples),
    encodeErrors: errors,
    records: records.length,
  };
}

function hasTargets(e: Example): boolean {
  for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== IGNORE_INDEX) return true;
  return false;
}
