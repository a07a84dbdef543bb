// A base model ready to train or sample: the checkpoint (lazy tensors), its tokenizer and prompt
// format, the ids that end a generated answer, the name exports give it, and the frozen weights
// on the GPU. Both front doors open every model here: the studio's demo, dropped folder and Hub
// download, and the CLI's --model folder.

import type { GpuContext } from '../engine/gpu/context';
import { type GpuWeights, type UploadOptions, type UploadProgress, uploadWeights } from '../engine/model/gpu-weights';
import { baseParamCount, type ModelConfig } from '../engine/model/config';
import { openCheckpoint, type Checkpoint } from '../io/checkpoint';
import type { FileSet } from '../io/source';
import { readJson, readText } from '../io/source';
import { ModelTokenizer } from '../data/tokenizer';
import { type PromptFormat, promptFormatFor } from '../data/template';

/**
 * The built-in demo's name in every export, whichever door loaded it. Its config.json carries it
 * as `_name_or_path` (scripts/demo/files.ts writes it), which is how a folder is recognised as
 * the demo.
 */
export const DEMO_NAME = 'lora-studio-demo-sql';

/** Where a base model came from: it decides what base_model_name_or_path says. */
export type ModelOrigin =
  | { kind: 'demo' }
  | { kind: 'hub'; repo: string }
  /** Files dropped or picked in the browser: the folder's name is all that is known. */
  | { kind: 'files' }
  /** A folder on disk, named by the path the user gave (as PEFT writes from_pretrained's argument). */
  | { kind: 'path'; path: string };

export interface ModelInfo {
  name: string;
  /** What adapter_config.json's base_model_name_or_path, the recipe and training_config.json say. */
  baseModelNameOrPath: string;
  modelType: string;
  config: ModelConfig;
  params: number;
  dtype: string;
  weightBytes: number;
  vocabSize: number;
  promptFormat: 'chat' | 'alpaca';
  bos: string | null;
  eos: string | null;
}

export interface LoadedModel {
  checkpoint: Checkpoint;
  tokenizer: ModelTokenizer;
  format: PromptFormat;
  info: ModelInfo;
  /** Token ids that end a generated answer: config.json's, generation_config.json's and the tokenizer's eos. */
  stopIds: number[];
  /** config.json plus the weight and tokenizer files' sizes: a resumed run checks it is the same model. */
  fingerprint: string;
}

/**
 * base_model_name_or_path: the demo's fixed name; the Hub repo id; the path the user gave; for
 * dropped files, the checkpoint's rule (a repo id in config.json's `_name_or_path`, else the
 * folder's name).
 */
export function baseModelName(checkpoint: Checkpoint, origin: ModelOrigin): string {
  if (origin.kind === 'demo' || checkpoint.hfConfig.nameOrPath === DEMO_NAME) return DEMO_NAME;
  if (origin.kind === 'hub') return origin.repo;
  if (origin.kind === 'path') return origin.path;
  return checkpoint.baseModelNameOrPath;
}

/** Opens the checkpoint and its tokenizer (no GPU work yet: cheap, and it validates everything). */
export async function openModel(files: FileSet, origin: ModelOrigin = { kind: 'files' }): Promise<LoadedModel> {
  const checkpoint = await openCheckpoint(files);
  const tf = checkpoint.tokenizerFiles;
  const tokJson = tf.get('tokenizer.json');
  const tokConfig = tf.get('tokenizer_config.json');
  if (!tokJson)
    throw new Error(`${files.name}: tokenizer.json is missing (the model's own fast tokenizer is required)`);
  if (!tokConfig) throw new Error(`${files.name}: tokenizer_config.json is missing`);
  const tokenizer = ModelTokenizer.load(await readText(tokJson), await readText(tokConfig));
  const jinja = tf.get('chat_template.jinja');
  const format = promptFormatFor(tokenizer, jinja ? await readText(jinja) : null);
  const c = checkpoint.config;
  const model: LoadedModel = {
    checkpoint,
    tokenizer,
    format,
    info: {
      name: checkpoint.nameOrPath,
      baseModelNameOrPath: baseModelName(checkpoint, origin),
      modelType: c.modelType,
      config: c,
      params: baseParamCount(c),
      dtype: checkpoint.dtype,
      weightBytes: checkpoint.totalBytes,
      vocabSize: c.vocabSize,
      promptFormat: format.kind,
      bos: tokenizer.bos?.content ?? null,
      eos: tokenizer.eos?.content ?? null,
    },
    stopIds: [],
    fingerprint: await fingerprint(files),
  };
  model.stopIds = await stopIds(model);
  return model;
}

export function uploadModel(
  ctx: GpuContext,
  m: LoadedModel,
  onProgress?: (p: UploadProgress) => void,
  o: UploadOptions = {},
): Promise<GpuWeights> {
  return uploadWeights(ctx, m.checkpoint.config, m.checkpoint, onProgress, o);
}

/** config.json plus every file's size: equal for the same checkpoint, different for almost any other. */
async function fingerprint(files: FileSet): Promise<string> {
  const config = JSON.stringify(await readJson(files.require('config.json'), 16 * 1024 * 1024));
  const sizes = files
    .paths()
    .filter((p) => p.endsWith('.safetensors') || p === 'tokenizer.json')
    .map((p) => `${p}:${files.get(p)!.size}`)
    .join(',');
  let h = 0x811c9dc5;
  for (const ch of `${config}|${sizes}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `${h.toString(16).padStart(8, '0')}-${sizes.length}`;
}

async function stopIds(model: LoadedModel): Promise<number[]> {
  const ids = new Set<number>(model.checkpoint.config.eosTokenIds);
  if (model.tokenizer.eos) ids.add(model.tokenizer.eos.id);
  const gen = model.checkpoint.tokenizerFiles.get('generation_config.json');
  if (gen) {
    try {
      const g = (await readJson(gen, 1 << 20)) as { eos_token_id?: unknown };
      const e = g.eos_token_id;
      for (const id of Array.isArray(e) ? e : [e]) if (Number.isInteger(id)) ids.add(id as number);
    } catch {
      // generation_config.json is optional; an unreadable one only loses extra stop ids
    }
  }
  return [...ids];
}
