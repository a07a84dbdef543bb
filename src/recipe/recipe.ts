// A studio run exported as a folder that Hugging Face transformers + PEFT + Accelerate run: for
// people who prototype here and then want the same fine-tune on a bigger GPU, several GPUs or a
// bigger model. The recipe carries the run exactly where it can by construction (the records of
// each split, the hyperparameters, the first encoded examples as a check) and leaves the rest to
// train.py, whose prompt and label rules follow src/data/template.ts and encode.ts line for line.
// Pure: no DOM and no Node, so the worker builds it for the Export panel (zipRecipe gives the one
// download) and the CLI writes the same map to a folder (write.node.ts).

import { zipSync, type Zippable } from 'fflate';
import { type Hparams, resolveTargets, targetRegex, withDefaults } from '../config/hparams';
import type { DatasetFormat, NormalizedRecord } from '../data/formats';
import type { DatasetRecord } from '../data/parse';
import type { PromptFormat } from '../data/template';
import type { ModelTokenizer } from '../data/tokenizer';
import type { Example } from '../data/types';
import { BatchSampler } from '../data/batches';
import { warmupSteps } from '../engine/train/schedule';
import type { PreparedData } from '../run/data';
import type { RunConfig } from '../run/run';
import type { LinearModule } from '../engine/model/config';
import trainPy from './templates/train.py?raw';
import comparePy from './templates/compare_curves.py?raw';
import readmeTemplate from './templates/README.md?raw';
import accelerateYaml from './templates/accelerate_config.yaml?raw';
import deepspeedYaml from './templates/accelerate_deepspeed_zero2.yaml?raw';
import dsZero2 from './templates/ds_zero2.json?raw';
import requirements from './templates/requirements.txt?raw';

/** Bumped when studio_run.json changes shape. */
export const RECIPE_VERSION = 1;
/** Training examples written to studio_examples.json, which train.py must reproduce. */
export const STUDIO_EXAMPLES = 8;
/** Skipped records listed by name in studio_run.json (the rest are counted). */
const MAX_LISTED_SKIPS = 100;

/** Every path a recipe holds. */
export const RECIPE_PATHS = [
  'README.md',
  'train.py',
  'compare_curves.py',
  'studio_run.json',
  'studio_examples.json',
  'data/train.jsonl',
  'data/validation.jsonl',
  'requirements.txt',
  'accelerate_config.yaml',
  'accelerate_deepspeed_zero2.yaml',
  'ds_zero2.json',
] as const;

export interface RecipeInput {
  /** The studio's run: hyperparameters and the base model id adapters will name. */
  run: RunConfig;
  /** The model family's linear modules ("all-linear"; config.ts linearModules); Llama's when absent. */
  linearModules?: readonly LinearModule[];
  /** The model's tokenizer and prompt format the data was encoded with (LoadedModel's). */
  tokenizer: ModelTokenizer;
  format: PromptFormat;
  /** The parsed dataset: its records are looked up by index for the split files. */
  dataset: { name: string; format: DatasetFormat; records: readonly DatasetRecord[] };
  /** prepareData's result for this dataset, model and hparams.training. */
  data: Pick<PreparedData, 'train' | 'val' | 'encodeErrors' | 'records'>;
}

/** Path -> contents. */
export type RecipeFiles = Map<string, string | Uint8Array>;

/** What studio_examples.json holds per example (train.py --dump-examples writes the same). */
export interface EncodedExampleJson {
  index: number;
  text: string;
  input_ids: number[];
  labels: number[];
  truncated: boolean;
}

export class RecipeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecipeError';
  }
}

/** A record in the recipe's JSONL: Alpaca fields for Alpaca datasets, chat `messages` otherwise. */
export function recordJson(r: NormalizedRecord, format: DatasetFormat): Record<string, unknown> {
  if (r.tools !== undefined || r.turns.some((t) => t.role === 'tool' || t.toolCalls)) {
    const index = (r as { index?: number }).index;
    throw new RecipeError(
      `${index === undefined ? 'the record' : `record #${index}`} has tool definitions or tool calls, which the recipe's train.py does not render yet; train tool-use datasets in the studio or the CLI`,
    );
  }
  if (format === 'alpaca' || r.input !== undefined) {
    if (r.turns.length !== 2) {
      throw new RecipeError(
        `an Alpaca record has ${r.turns.length} turns; it can only have an instruction and an output`,
      );
    }
    const o: Record<string, string> = {
      instruction: r.turns[0].content,
      input: r.input ?? '',
      output: r.turns[1].content,
    };
    if (r.system !== undefined) o.system = r.system;
    return o;
  }
  const messages = r.turns.map((t) => ({ role: t.role, content: t.content }));
  return { messages: r.system !== undefined ? [{ role: 'system', content: r.system }, ...messages] : messages };
}

const jsonl = (rows: unknown[]) => rows.map((x) => JSON.stringify(x) + '\n').join('');
const json = (x: unknown) => JSON.stringify(x, null, 2) + '\n';

/** The studio's encoding of an example, with the text it was rendered to (BOS added by the encoder excluded). */
export function exampleJson(
  e: Example,
  record: NormalizedRecord,
  format: PromptFormat,
  index: number,
): EncodedExampleJson {
  return {
    index,
    text: format.render(record).text,
    input_ids: Array.from(e.inputIds),
    labels: Array.from(e.labels),
    truncated: e.truncated,
  };
}

/** Replaces every {{name}}; a placeholder without a value is a bug and throws. */
export function fillTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    if (!(k in values)) throw new RecipeError(`README template: no value for {{${k}}}`);
    return String(values[k]);
  });
}

const fmtValue = (v: unknown) => (Array.isArray(v) ? v.join(', ') : String(v));

/** Where each studio hyperparameter goes in train.py. */
const HPARAM_TARGETS: Record<string, string> = {
  r: 'LoraConfig.r',
  lora_alpha: 'LoraConfig.lora_alpha',
  lora_dropout: 'LoraConfig.lora_dropout',
  target_modules: 'LoraConfig.target_modules (resolved list, or the regex string)',
  use_rslora: 'LoraConfig.use_rslora',
  use_dora: 'LoraConfig.use_dora',
  layers_to_transform: 'LoraConfig.layers_to_transform (when set)',
  rank_pattern: 'LoraConfig.rank_pattern (when not empty)',
  alpha_pattern: 'LoraConfig.alpha_pattern (when not empty)',
  init_lora_weights:
    'LoraConfig.init_lora_weights (PiSSA: the init saved to pissa_init/, the adapter saved with path_initial_model_for_weight_conversion)',
  loraplus_lr_ratio: 'peft.optimizers.create_loraplus_optimizer passed to Trainer(optimizers=...) (when above 1)',
  learning_rate: 'TrainingArguments.learning_rate',
  lr_scheduler_type: 'TrainingArguments.lr_scheduler_type',
  warmup_ratio: 'TrainingArguments.warmup_ratio (a warmup_steps below 1 in transformers >= 5.2)',
  warmup_steps: 'TrainingArguments.warmup_steps (wins when above 0)',
  per_device_train_batch_size: 'TrainingArguments.per_device_train_batch_size and per_device_eval_batch_size',
  gradient_accumulation_steps: 'TrainingArguments.gradient_accumulation_steps',
  num_train_epochs: 'TrainingArguments.num_train_epochs',
  max_steps: 'TrainingArguments.max_steps',
  max_seq_length: 'train.py truncation and padding cap',
  weight_decay: 'TrainingArguments.weight_decay',
  adam_beta1: 'TrainingArguments.adam_beta1',
  adam_beta2: 'TrainingArguments.adam_beta2',
  adam_epsilon: 'TrainingArguments.adam_epsilon',
  max_grad_norm: 'TrainingArguments.max_grad_norm',
  seed: 'TrainingArguments.seed and data_seed; transformers.set_seed before the LoRA init',
  logging_steps: 'TrainingArguments.logging_steps',
  eval_steps: 'TrainingArguments.eval_strategy "steps" + eval_steps (0: "no", evaluated after the last step)',
  save_steps: 'TrainingArguments.save_strategy "steps" + save_steps (0: "no")',
  val_split_fraction: 'already applied: data/validation.jsonl',
  train_on_inputs: 'train.py label masking',
  mask_history: 'train.py label masking (last assistant turn only)',
  early_stopping_patience: 'EarlyStoppingCallback + load_best_model_at_end, metric_for_best_model "eval_loss"',
  early_stopping_threshold: 'EarlyStoppingCallback.early_stopping_threshold',
  gradient_checkpointing: 'TrainingArguments.gradient_checkpointing (use_reentrant False)',
  packing:
    'not applied: train.py pads each batch (packing changes the speed, not the loss or gradients; the padding-free equivalent is TRL SFTConfig(packing=True, padding_free=True) or transformers DataCollatorWithFlattening)',
  group_by_length: 'TrainingArguments.group_by_length',
  load_in_4bit: 'BitsAndBytesConfig.load_in_4bit + prepare_model_for_kbit_training',
  bnb_4bit_quant_type: 'BitsAndBytesConfig.bnb_4bit_quant_type (when load_in_4bit)',
};

/** requirements.txt: bitsandbytes too when the base is loaded in 4-bit. */
export function requirementsFor(h: Hparams): string {
  return h.quantization.load_in_4bit
    ? `${requirements}# load_in_4bit (QLoRA): the 4-bit kernels, on a CUDA GPU\nbitsandbytes>=0.43\n`
    : requirements;
}

/** The studio CLI flags that reproduce this run's hyperparameters. */
function studioFlags(h: Hparams): string {
  const flags: string[] = [];
  for (const group of [h.lora, h.training, h.quantization] as Record<string, unknown>[]) {
    for (const [k, v] of Object.entries(group)) {
      if (typeof v === 'boolean') {
        if (v) flags.push(`--${k}`);
      } else if (v === null || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)) {
        continue; // layers_to_transform null, empty rank_pattern / alpha_pattern: the default
      } else if (typeof v === 'object' && !Array.isArray(v)) flags.push(`--${k} '${JSON.stringify(v)}'`);
      else if (typeof v === 'string' && /[^\w,.-]/.test(v)) flags.push(`--${k} '${v}'`);
      else flags.push(`--${k} ${Array.isArray(v) ? v.join(',') : String(v)}`);
    }
  }
  return flags.join(' ');
}

/** The recipe's files for a prepared run. Throws RecipeError when the inputs disagree. */
export function buildRecipe(input: RecipeInput): RecipeFiles {
  const { run, tokenizer, format, dataset, data } = input;
  const h = run.hparams;
  const t = h.training;
  const byIndex = new Map(dataset.records.map((r) => [r.index, r]));
  const recordOf = (e: Example): DatasetRecord => {
    const r = byIndex.get(e.record);
    if (!r) throw new RecipeError(`example of record #${e.record} has no record in ${dataset.name}`);
    return r;
  };
  const trainRecords = data.train.map(recordOf);
  const valRecords = data.val.map(recordOf);

  // Records the studio did not train on: failed to encode, or nothing left to train after masking.
  const used = new Set([...data.train, ...data.val].map((e) => e.record));
  const errors = new Map(data.encodeErrors.map((e) => [e.record, e.message]));
  const skipped = dataset.records
    .filter((r) => !used.has(r.index))
    .map((r) => ({
      record: r.index,
      line: r.line,
      reason: errors.get(r.index) ?? 'every token is masked out: nothing to train on',
    }));

  const sampler = new BatchSampler(data.train, {
    batchSize: t.per_device_train_batch_size,
    gradientAccumulationSteps: t.gradient_accumulation_steps,
    maxSeqLength: t.max_seq_length,
    padTokenId: tokenizer.padId,
    seed: t.seed,
    packing: t.packing,
    groupByLength: t.group_by_length,
  });
  const totalSteps = sampler.totalSteps(t.num_train_epochs, t.max_steps);

  const studioRun = {
    recipe_version: RECIPE_VERSION,
    base_model_name_or_path: run.baseModelNameOrPath,
    // One key order whichever door built the hyperparameters, so both write the same bytes.
    hparams: withDefaults(h),
    peft: {
      target_modules: targetRegex(h.lora.target_modules) ?? resolveTargets(h.lora.target_modules, input.linearModules),
      bias: 'none',
      task_type: 'CAUSAL_LM',
    },
    schedule: {
      processes: 1,
      steps_per_epoch: sampler.stepsPerEpoch,
      total_steps: totalSteps,
      warmup_steps: warmupSteps(totalSteps, t.warmup_steps, t.warmup_ratio),
    },
    dataset: {
      name: dataset.name,
      format: dataset.format,
      records: data.records,
      train: trainRecords.length,
      validation: valRecords.length,
      skipped: skipped.length,
      skipped_records: skipped.slice(0, MAX_LISTED_SKIPS),
    },
    tokenizer: {
      prompt_format: format.kind,
      vocab_size: tokenizer.vocabSize,
      bos_token: tokenizer.bos?.content ?? null,
      bos_token_id: tokenizer.bos?.id ?? null,
      eos_token: tokenizer.eos?.content ?? null,
      eos_token_id: tokenizer.eos?.id ?? null,
      pad_token_id: tokenizer.padId,
      add_bos_token: tokenizer.addBosToken,
    },
  };

  const studioExamples = {
    add_bos: tokenizer.addBosToken,
    prompt_format: format.kind,
    examples: data.train.slice(0, STUDIO_EXAMPLES).map((e, i) => exampleJson(e, trainRecords[i], format, i)),
  };

  const hparamRows = (['lora', 'training', 'quantization'] as const).flatMap((g) =>
    Object.entries(h[g]).map(([k, v]) => `| ${k} | ${fmtValue(v)} | ${HPARAM_TARGETS[k] ?? 'train.py'} |`),
  );
  const readme = fillTemplate(readmeTemplate, {
    title: `LoRA fine-tune of ${run.baseModelNameOrPath} on ${dataset.name}`,
    base_model: run.baseModelNameOrPath,
    dataset_name: dataset.name,
    dataset_format: dataset.format,
    records_read: data.records,
    skipped_count: skipped.length,
    prompt_format: format.kind === 'chat' ? "the model's chat template" : 'Alpaca (the model has no chat template)',
    total_steps: totalSteps,
    train_count: trainRecords.length,
    val_count: valRecords.length,
    studio_examples: studioExamples.examples.length,
    seed: t.seed,
    val_fraction: t.val_split_fraction,
    max_seq_length: t.max_seq_length,
    gas: t.gradient_accumulation_steps,
    global_batch: t.per_device_train_batch_size * t.gradient_accumulation_steps,
    studio_flags: studioFlags(h),
    hparam_rows: hparamRows.join('\n'),
  });

  const files: RecipeFiles = new Map();
  files.set('README.md', readme);
  files.set('train.py', trainPy);
  files.set('compare_curves.py', comparePy);
  files.set('studio_run.json', json(studioRun));
  files.set('studio_examples.json', json(studioExamples));
  files.set('data/train.jsonl', jsonl(trainRecords.map((r) => recordJson(r, dataset.format))));
  files.set('data/validation.jsonl', jsonl(valRecords.map((r) => recordJson(r, dataset.format))));
  files.set('requirements.txt', requirementsFor(h));
  files.set('accelerate_config.yaml', accelerateYaml);
  files.set('accelerate_deepspeed_zero2.yaml', deepspeedYaml);
  files.set('ds_zero2.json', dsZero2);
  return files;
}

/** Files that are programs: executable in the zip and on disk. */
export const EXECUTABLE = new Set(['train.py', 'compare_curves.py']);

/** One .zip of the recipe, its files under `root/` (the folder a person gets when unpacking it). */
export function zipRecipe(files: RecipeFiles, root = 'lora-studio-recipe', mtime: Date = new Date()): Uint8Array {
  const enc = new TextEncoder();
  const tree: Zippable = {};
  for (const [path, contents] of files) {
    const bytes = typeof contents === 'string' ? enc.encode(contents) : contents;
    // Unix permissions live in the high 16 bits of the external attributes (os 3 = Unix).
    const mode = EXECUTABLE.has(path) ? 0o100755 : 0o100644;
    tree[root ? `${root}/${path}` : path] = [bytes, { os: 3, attrs: mode * 0x10000, mtime }];
  }
  return zipSync(tree, { level: 6 });
}
