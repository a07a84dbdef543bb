// A base model ready to train or sample: the checkpoint (lazy tensors), its tokenizer and prompt
// format, and the frozen weights on the GPU. Shared by the worker and the command-line programs.

import type { GpuContext } from '../engine/gpu/context';
import { type GpuWeights, type UploadOptions, type UploadProgress, uploadWeights } from '../engine/model/gpu-weights';
import { baseParamCount, type ModelConfig } from '../engine/model/config';
import { openCheckpoint, type Checkpoint } from '../io/checkpoint';
import type { FileSet } from '../io/source';
import { readText } from '../io/source';
import { ModelTokenizer } from '../data/tokenizer';
import { type PromptFormat, promptFormatFor } from '../data/template';

export interface ModelInfo {
  name: string;
  /** What adapter_config.json's base_model_name_or_path will say. */
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
}

/** Opens the checkpoint and its tokenizer (no GPU work yet: cheap, and it validates everything). */
export async function openModel(files: FileSet): Promise<LoadedModel> {
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
  return {
    checkpoint,
    tokenizer,
    format,
    info: {
      name: checkpoint.nameOrPath,
      baseModelNameOrPath: checkpoint.baseModelNameOrPath,
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
  };
}

export function uploadModel(
  ctx: GpuContext,
  m: LoadedModel,
  onProgress?: (p: UploadProgress) => void,
  o: UploadOptions = {},
): Promise<GpuWeights> {
  return uploadWeights(ctx, m.checkpoint.config, m.checkpoint, onProgress, o);
}
