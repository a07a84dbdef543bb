// Getting a base model's files into a FileSet (the built-in demo from the studio's own origin,
// dropped or picked files, a Hub download) and describing an opened model for the page.

import type { FileSet } from '../io/source';
import { FileSet as FileSetClass, blobSource, readJson } from '../io/source';
import type { LoadedModel } from '../run/model';
import type { ModelSource, ModelSummary } from './api';

/** The demo's files under public/demo/model/, and the name adapters trained on it will name. */
export const DEMO_FILES = [
  'config.json',
  'generation_config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
];
export const DEMO_NAME = 'lora-studio-demo-sql';
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

/** config.json plus every file's size: equal for the same checkpoint, different for almost any other. */
export async function fingerprint(files: FileSet): Promise<string> {
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

/** Token ids that end a generated answer: config.json's and generation_config.json's eos, and the tokenizer's. */
export async function stopIds(model: LoadedModel): Promise<number[]> {
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

export function summarize(
  model: LoadedModel,
  source: ModelSource,
  fp: string,
  files: FileSet,
  gpuBytes: number,
): ModelSummary {
  const c = model.checkpoint.config;
  const i = model.info;
  return {
    name: i.name,
    source,
    fingerprint: fp,
    baseModelNameOrPath: i.baseModelNameOrPath,
    modelType: c.modelType,
    architecture: { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM' }[c.modelType],
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
