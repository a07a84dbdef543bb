// The contract between the page and the studio worker: every value that crosses the Comlink
// boundary, and the worker's methods. The page imports only types from here (and from the engine's
// plain-data types), never engine code, so the main thread stays small and the worker owns the GPU.
//
// Progress follows transformers.js: callbacks receive objects tagged by `status`. Training reports
// once per optimizer step. Errors reject the call with a message that names what and where; the
// worker keeps everything it had loaded.

import type { SelfTestResult } from '../engine/selftest';
import type { StepMetrics } from '../engine/train/trainer';
import type { DatasetFormat, RecordError } from '../data/formats';
import type { DatasetStats, TokenizerFit } from '../data/stats';
import type { PreviewSegment } from '../data/encode';
import type { AdapterLora, Hparams, LoraHparams } from '../config/hparams';
import type { TrainBenchOptions, TrainBenchResult } from '../bench/train';
import type { SessionEvent } from '../run/session';
import type { SavedRun } from '../run/checkpoints';
import type { RunEstimate } from '../run/plan';
import type { PreviewRow } from '../run/data';
import type { Turn, ValidationPrompt } from '../run/sample';

export type {
  StepMetrics,
  DatasetFormat,
  RecordError,
  DatasetStats,
  PreviewSegment,
  SelfTestResult,
  PreviewRow,
  Turn,
  ValidationPrompt,
};

/** The adapter limits a model's size runs into, as the device granted them. */
export interface GpuLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
  minStorageBufferOffsetAlignment: number;
}

export interface GpuInfo {
  selftest: SelfTestResult;
  limits: GpuLimits;
  isCpu: boolean;
  subgroups: boolean;
}

/** Where a base model came from; stored with checkpoints so a resumed run can find it again. */
export type ModelSource =
  | { kind: 'demo' }
  | { kind: 'hub'; repo: string; revision: string; endpoint: string }
  | { kind: 'files'; name: string };

export interface ModelSummary {
  name: string;
  source: ModelSource;
  /** A fingerprint of the weights (config + sizes): a resumed run checks it is the same model. */
  fingerprint: string;
  baseModelNameOrPath: string;
  modelType: string;
  /** The family the studio recognised, e.g. "Qwen3 (qwen3)" (model/config.ts familyLabel). */
  family: string;
  architecture: string;
  numLayers: number;
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  params: number;
  dtype: string;
  weightBytes: number;
  tiedEmbeddings: boolean;
  promptFormat: 'chat' | 'alpaca';
  bos: string | null;
  eos: string | null;
  /** Every special token's text, longest first (the preview marks them). */
  specialTokens: string[];
  files: string[];
  /** GPU memory held by the uploaded weights. */
  gpuBytes: number;
}

export interface DatasetSummary {
  name: string;
  bytes: number;
  container: 'json' | 'jsonl';
  format: DatasetFormat;
  formatDetected: boolean;
  /** Good records. */
  records: number;
  /** Records in the file, good and bad. */
  totalRecords: number;
  errorCount: number;
  /** The first problems, each naming its record, line and field. */
  errors: RecordError[];
  /** Changes whenever the records change (a new file or a format override). */
  revision: number;
}

export interface PrepareOptions {
  max_seq_length: number;
  train_on_inputs: boolean;
  mask_history?: boolean;
  val_split_fraction: number;
  seed: number;
}

export interface PreparedSummary {
  stats: DatasetStats;
  train: number;
  val: number;
  /** Records that could not be rendered or tokenized for this model. */
  encodeErrors: RecordError[];
  /** Encoded records with nothing to train on (all masked), left out of both splits. */
  withoutTargets: number;
  /** Record numbers whose trained part max_seq_length cut away (the first 200). */
  cutAway: number[];
  /** How well the tokenizer suits the text. */
  fit: TokenizerFit;
  /** What the person must be told (cut-away records, a poor tokenizer fit), as run/data's dataNotes says it. */
  notes: string[];
  datasetRevision: number;
}

/** Trainable parameters, steps and GPU memory (the engine's allocation plan) for hyperparameters. */
export type Estimate = RunEstimate;
export type MemoryEstimate = RunEstimate['memory'];

export type LoadStatus =
  | { status: 'initiate'; task: 'model' | 'dataset' | 'adapter'; name: string }
  | {
      status: 'download';
      file: string;
      loaded: number;
      total: number;
      filesDone: number;
      filesTotal: number;
      bytesLoaded: number;
      bytesTotal: number;
    }
  | { status: 'upload'; tensor: string; bytesDone: number; bytesTotal: number }
  | { status: 'parse'; bytesRead: number; totalBytes: number | null }
  | { status: 'encode'; done: number; total: number }
  | { status: 'ready' };

export type { StopKind, RunEnd, BestInfo } from '../run/session';

export type TrainEvent =
  | {
      status: 'started';
      runId: string;
      /** The run's hyperparameters (an imported adapter's r, alpha and targets applied). */
      hparams: Hparams;
      /** The imported adapter the run continues, if any. */
      fromAdapter: string | null;
      totalSteps: number;
      stepsPerEpoch: number;
      trainableLine: string;
      train: number;
      val: number;
      /** Metrics up to the checkpoint a resumed run starts from (empty for a new run). */
      history: StepMetrics[];
      resumedFrom: number | null;
      activeMs: number;
      gpuBytes: number;
    }
  | SessionEvent;

export interface StartOptions {
  hparams: Hparams;
  /** Start from the imported adapter's weights instead of PEFT's initialization. */
  fromImportedAdapter: boolean;
}

export type CheckpointInfo = SavedRun<ModelSource>;

export interface SampleRequest {
  /** A record of the dataset (its 0-based number in the file), free text, or a conversation. */
  record?: number;
  text?: string;
  /** Chat: the turns so far, alternating from the user's and ending with the user's new message. */
  turns?: Turn[];
  /** Chat: an optional system message. */
  system?: string;
  /** Which model answers: both side by side (the default), the base alone, or with the adapter alone. */
  models?: 'both' | 'base' | 'adapter';
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
}

export interface SampleOutput {
  /** The generated text as decoded, special tokens included. */
  text: string;
  /** The answer alone: special tokens (the end-of-turn one) left out, as a chat history keeps it. */
  reply: string;
  tokens: number;
  stoppedBy: string;
  ms: number;
}

export interface SampleResult {
  prompt: string;
  /** The prompt as the model reads it (template applied). */
  rendered: string;
  reference: string | null;
  /** null when only the adapter was asked (models: 'adapter'). */
  base: SampleOutput | null;
  /** null when there is no adapter yet, or only the base was asked. */
  tuned: SampleOutput | null;
  /** Where the adapter's weights came from: "step 12", "imported adapter". */
  adapterLabel: string | null;
}

export interface ExportedAdapterFiles {
  safetensors: Uint8Array;
  config: string;
  step: number;
  evalLoss: number | null;
}

/** A merged / GGUF export: the files written into the picked folder, or Blobs to download. */
export interface ExportedModel {
  files: string[];
  downloads: { name: string; blob: Blob }[] | null;
}

export interface ImportedAdapterSummary {
  name: string;
  lora: AdapterLora;
  params: number;
}

export type SampleToken = (side: 'base' | 'tuned', text: string) => void;

/** The Export panel's recipe: a zip of the folder `npm run train -- --export-recipe DIR` writes. */
export interface ExportedRecipe {
  zip: Uint8Array;
  /** Paths inside the zip's top folder. */
  files: string[];
  train: number;
  val: number;
  baseModel: string;
}

/** One configuration of the benchmark (`npm run bench`'s flags); targets may be 'all-linear'. */
export type BenchRequest = Omit<TrainBenchOptions, 'targets' | 'log' | 'budgetBytes' | 'seed'> & {
  targets: LoraHparams['target_modules'];
};

export type BenchResult = TrainBenchResult;

export interface BenchEstimate {
  bytes: number;
  /** The estimate's parts, as the CLI prints them. */
  text: string;
  /** Why the configuration cannot run on this adapter (what to change), or null. */
  problem: string | null;
}
