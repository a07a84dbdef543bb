// Getting a base model's files into a FileSet (the built-in demo from the studio's own origin,
// dropped or picked files, a Hub download) and describing an opened model for the page.

import type { FileSet } from '../io/source';
import { FileSet as FileSetClass, blobSource } from '../io/source';
import { DEMO_NAME, type LoadedModel } from '../run/model';
import type { ModelSource, ModelSummary } from './api';

/** The demo's files under public/demo/model/ (src/run/model.ts DEMO_NAME is what adapters name it). */
export const DEMO_FILES = [
  'config.json',
  'generation_config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
];
export const DEMO_DATASET = 'sql-demo.json';

/** Fetches a file of the studio's own origin (the demo), naming it in any error. */
export async function fetchOwn(path: string, base: string): Promise<Blob> {
  const url = new URL(path, base);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`could not fetch ${path} from the studio (${e instanceof Error ? e.message : String(e)})`, {
      cause: e,
    });
  }
  if (!res.ok) throw new Error(`could not fetch ${path} from the studio: HTTP ${res.status}`);
  return res.blob();
}

export async function demoFileSet(base: string): Promise<FileSet> {
  const blobs = await Promise.all(DEMO_FILES.map((f) => fetchOwn(`demo/model/${f}`, base)));
  return new FileSetClass(
    DEMO_FILES.map((f, i) => [f, blobSource(blobs[i], f)]),
    DEMO_NAME,
  );
}

export function summarize(model: LoadedModel, source: ModelSource, files: FileSet, gpuBytes: number): ModelSummary {
  const c = model.checkpoint.config;
  const i = model.info;
  return {
    name: i.name,
    source,
    fingerprint: model.fingerprint,
    baseModelNameOrPath: i.baseModelNameOrPath,
    modelType: c.modelType,
    architecture: {
      llama: 'LlamaForCausalLM',
      mistral: 'MistralForCausalLM',
      qwen2: 'Qwen2ForCausalLM',
      gemma3_text: 'Gemma3ForCausalLM',
    }[c.modelType],
    numLayers: c.numLayers,
    hiddenSize: c.hiddenSize,
    numHeads: c.numHeads,
    numKvHeads: c.numKvHeads,
    headDim: c.headDim,
    intermediateSize: c.intermediateSize,
    vocabSize: c.vocabSize,
    maxPositionEmbeddings: c.maxPositionEmbeddings,
    params: i.params,
    dtype: i.dtype,
    weightBytes: i.weightBytes,
    tiedEmbeddings: c.tieWordEmbeddings,
    promptFormat: i.promptFormat,
    bos: i.bos,
    eos: i.eos,
    specialTokens: model.tokenizer.specialTokens.map((t) => t.content).sort((a, b) => b.length - a.length),
    files: files.paths(),
    gpuBytes,
  };
}
