// A Hugging Face checkpoint folder (dropped, picked, on disk or downloaded from the Hub) as the
// engine's WeightSource. Opening reads config.json and every shard's safetensors header (a few
// KB each), checks every tensor the architecture needs against the config, and keeps the tensor
// data where it is: read(name) fetches one tensor's bytes when the engine uploads it.

import { type ModelConfig, expectedWeights } from '../engine/model/config';
import type { WeightDType, WeightInfo, WeightSource } from '../engine/model/weights';
import { type HfConfig, looksLikeRepoId, parseHfConfig } from './hf-config';
import { type SafetensorsFile, type TensorEntry, openSafetensors } from './safetensors';
import { type ByteSource, type FileSet, IoError, readJson } from './source';

export const SINGLE_WEIGHTS = 'model.safetensors';
export const WEIGHTS_INDEX = 'model.safetensors.index.json';
/** Text files the studio reads besides config.json (tokenizer and generation settings), when present. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
  'chat_template.jinja',
  'chat_template.json',
] as const;
const WEIGHT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16'];
/** Weight formats the studio cannot read, and how a person would recognise them. */
export const FOREIGN_WEIGHTS = /\.(bin|pth|pt|ckpt|gguf|onnx|h5|msgpack|npz)$/i;

export interface Checkpoint extends WeightSource {
  readonly config: ModelConfig;
  readonly hfConfig: HfConfig;
  /** The Hub repo id when it came from the Hub, else the folder name. */
  readonly nameOrPath: string;
  /**
   * What an adapter's base_model_name_or_path should say: the Hub repo id; for a folder, the
   * `_name_or_path` of its config.json when that is a repo id, else the folder name (never a
   * path on this machine).
   */
  readonly baseModelNameOrPath: string;
  /** The dtype holding most of the weight bytes. */
  readonly dtype: WeightDType;
  /** Bytes of every tensor the engine reads. */
  readonly totalBytes: number;
  /** The safetensors files the weights come from. */
  readonly weightFiles: readonly string[];
  /** The TOKENIZER_FILES present, by file name. */
  readonly tokenizerFiles: ReadonlyMap<string, ByteSource>;
  readAsF32(name: string): Promise<Float32Array>;
}

export async function openCheckpoint(files: FileSet): Promise<Checkpoint> {
  const configSrc = files.require('config.json', 'a checkpoint folder has config.json beside its .safetensors weights');
  const hfConfig = parseHfConfig(await readJson(configSrc, 16 * 1024 * 1024), 'config.json');
  const config = hfConfig.model;

  // name -> the safetensors file that should hold it
  const shards = new Map<string, SafetensorsFile>();
  const locate = await weightLocations(files, shards);
  const shardNames = [...new Set(locate.values())].sort();
  const missingShards = shardNames.filter((s) => !files.has(s));
  if (missingShards.length > 0) {
    const holds = (s: string) => [...locate].find(([, f]) => f === s)![0];
    throw new IoError(
      `${WEIGHTS_INDEX}: ${missingShards.map((s) => `shard ${s} (holding ${holds(s)}, ...)`).join(', ')} ` +
        `${missingShards.length === 1 ? 'is' : 'are'} missing from ${files.name}`,
      missingShards[0],
    );
  }
  await Promise.all(
    shardNames.filter((s) => !shards.has(s)).map(async (s) => shards.set(s, await openSafetensors(files.get(s)!))),
  );

  const problems: { file: string; msg: string }[] = [];
  const problem = (file: string, msg: string) => problems.push({ file, msg });
  const found = new Map<string, { file: SafetensorsFile; entry: TensorEntry }>();
  for (const w of expectedWeights(config)) {
    // One file holds everything (or should); an index may simply not map a tensor.
    const fileName = shards.has(SINGLE_WEIGHTS) ? SINGLE_WEIGHTS : locate.get(w.name);
    const expected = `[${w.shape.join(', ')}]`;
    if (!fileName) {
      problem(WEIGHTS_INDEX, `tensor ${w.name} (shape ${expected}) is missing: ${WEIGHTS_INDEX} maps no shard to it`);
      continue;
    }
    const file = shards.get(fileName)!;
    const entry = file.tensors.get(w.name);
    if (!entry) {
      problem(fileName, `${fileName}: tensor ${w.name} (shape ${expected}) is missing`);
      continue;
    }
    if (!WEIGHT_DTYPES.includes(entry.dtype)) {
      problem(
        fileName,
        `${fileName}: tensor ${w.name} has dtype ${entry.dtype}; only F32, F16 and BF16 weights are supported (not quantized ones)`,
      );
      continue;
    }
    if (entry.shape.length !== w.shape.length || entry.shape.some((d, i) => d !== w.shape[i])) {
      problem(
        fileName,
        `${fileName}: tensor ${w.name} has shape [${entry.shape.join(', ')}], but config.json implies ${expected}`,
      );
      continue;
    }
    found.set(w.name, { file, entry });
  }
  if (problems.length > 0) {
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more problems)` : '';
    throw new IoError(
      `checkpoint ${files.name} does not match its config.json: ${problems
        .slice(0, 5)
        .map((p) => p.msg)
        .join('; ')}${more}`,
      problems[0].file,
    );
  }

  const bytesByDtype = new Map<WeightDType, number>();
  let totalBytes = 0;
  for (const { entry } of found.values()) {
    totalBytes += entry.byteLength;
    bytesByDtype.set(
      entry.dtype as WeightDType,
      (bytesByDtype.get(entry.dtype as WeightDType) ?? 0) + entry.byteLength,
    );
  }
  const dtype = [...bytesByDtype].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';

  const tokenizerFiles = new Map<string, ByteSource>();
  for (const f of TOKENIZER_FILES) if (files.has(f)) tokenizerFiles.set(f, files.get(f)!);

  const nameOrPath = files.hubRepoId ?? files.name;
  const baseModelNameOrPath =
    files.hubRepoId ?? (hfConfig.nameOrPath && looksLikeRepoId(hfConfig.nameOrPath) ? hfConfig.nameOrPath : files.name);
  const lookup = (name: string) => {
    const t = found.get(name);
    if (!t) throw new IoError(`checkpoint ${nameOrPath}: the engine reads no weight named ${name}`, name);
    return t;
  };
  const list: WeightInfo[] = [...found].map(([name, { entry }]) => ({
    name,
    dtype: entry.dtype as WeightDType,
    shape: entry.shape,
  }));

  return {
    config,
    hfConfig,
    nameOrPath,
    baseModelNameOrPath,
    dtype,
    totalBytes,
    weightFiles: shardNames,
    tokenizerFiles,
    list: () => list.map((w) => ({ ...w, shape: [...w.shape] })),
    read: async (name) => {
      const { file } = lookup(name);
      return file.read(name);
    },
    readRange: async (name, offset, length) => {
      const { file } = lookup(name);
      return file.readRange(name, offset, length);
    },
    readAsF32: async (name) => {
      const { file } = lookup(name);
      return file.readAsF32(name);
    },
  };
}

/** Where each tensor lives: model.safetensors, or the shards named by the index's weight_map. */
async function weightLocations(files: FileSet, opened: Map<string, SafetensorsFile>): Promise<Map<string, string>> {
  if (files.has(SINGLE_WEIGHTS)) {
    const f = await openSafetensors(files.get(SINGLE_WEIGHTS)!);
    opened.set(SINGLE_WEIGHTS, f);
    return new Map([...f.tensors.keys()].map((n) => [n, SINGLE_WEIGHTS]));
  }
  if (files.has(WEIGHTS_INDEX)) {
    const index = await readJson(files.get(WEIGHTS_INDEX)!, 64 * 1024 * 1024);
    const map = (index as { weight_map?: unknown } | null)?.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) {
      throw new IoError(
        `${WEIGHTS_INDEX}: must be an object with a "weight_map" of tensor name -> shard file`,
        WEIGHTS_INDEX,
      );
    }
    const out = new Map<string, string>();
    for (const [name, shard] of Object.entries(map)) {
      if (typeof shard !== 'string' || !shard.endsWith('.safetensors')) {
        throw new IoError(
          `${WEIGHTS_INDEX}: weight_map["${name}"] must name a .safetensors file (got ${JSON.stringify(shard)})`,
          WEIGHTS_INDEX,
        );
      }
      out.set(name, shard);
    }
    return out;
  }
  const paths = files.paths();
  const foreign = paths.filter((p) => FOREIGN_WEIGHTS.test(p) && !p.includes('/'));
  const other = paths.filter((p) => p.endsWith('.safetensors'));
  if (other.length > 0) {
    throw new IoError(
      `${files.name} has ${other.join(', ')} but neither ${SINGLE_WEIGHTS} nor ${WEIGHTS_INDEX}: ` +
        'the weights must be saved with transformers (save_pretrained) naming',
      other[0],
    );
  }
  if (foreign.length > 0) {
    throw new IoError(
      `${files.name} has weights only as ${foreign.join(', ')}; LoRA Studio reads safetensors: ` +
        'convert with `model.save_pretrained(dir, safe_serialization=True)` or the Hub\'s "Convert to Safetensors" Space',
      foreign[0],
    );
  }
  throw new IoError(
    `${files.name} has no weights: expected ${SINGLE_WEIGHTS} or ${WEIGHTS_INDEX} with its shards`,
    SINGLE_WEIGHTS,
  );
}
