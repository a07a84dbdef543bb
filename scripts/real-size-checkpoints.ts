// Random-weight checkpoints with the exact configurations of SmolLM2-135M and Qwen2.5-0.5B, as
// Hugging Face folders on disk, for the slow end-to-end test that loads real-size models in the
// tab (e2e/real-size.spec.ts). Generated at test time into .cache/real-size/ (never committed):
//   smollm2-135m/  config.json (SmolLM2-135M's), 2 bf16 shards + model.safetensors.index.json
//   qwen2.5-0.5b/  config.json (Qwen2.5-0.5B's), one bf16 model.safetensors (tied 151,936 x 896
//                  embedding: 272 MB, more than a 128 MiB storage binding)
// plus tokenizer files: a WordLevel tokenizer with the model's vocabulary size and its special
// tokens at their real ids. Weights come from the benchmark's RandomWeightSource (seeded, std
// 0.02, norms 1, biases 0), written one tensor at a time so no file is ever held whole in memory.
//
//   node --import tsx scripts/real-size-checkpoints.ts [outDir]     (skips a folder already complete)

import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { RandomWeightSource } from '../src/bench/random-weights';
import { SHAPES } from '../src/bench/shapes';
import { parseHfConfig } from '../src/io/hf-config';

export const REAL_SIZE_DIR = join(import.meta.dirname, '..', '.cache', 'real-size');

interface Spec {
  dir: string;
  hf: Record<string, unknown>;
  shards: number;
  /** Special tokens at their ids in the real tokenizer. */
  specials: Record<number, string>;
  bos: string;
  eos: string;
  params: number;
}

/** config.json of HuggingFaceTB/SmolLM2-135M and Qwen/Qwen2.5-0.5B, field for field. */
export const REAL_SIZE: Record<'smollm2-135m' | 'qwen2.5-0.5b', Spec> = {
  'smollm2-135m': {
    dir: 'smollm2-135m',
    shards: 2,
    params: 134_515_008,
    specials: { 0: '<|endoftext|>', 1: '<|im_start|>', 2: '<|im_end|>' },
    bos: '<|im_start|>',
    eos: '<|im_end|>',
    hf: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 0,
      eos_token_id: 0,
      hidden_act: 'silu',
      hidden_size: 576,
      initializer_range: 0.041666666666666664,
      intermediate_size: 1536,
      is_llama_config: true,
      max_position_embeddings: 8192,
      model_type: 'llama',
      num_attention_heads: 9,
      num_hidden_layers: 30,
      num_key_value_heads: 3,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_interleaved: false,
      rope_scaling: null,
      rope_theta: 100000,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      transformers_version: '4.40.1',
      use_cache: true,
      vocab_size: 49152,
    },
  },
  'qwen2.5-0.5b': {
    dir: 'qwen2.5-0.5b',
    shards: 1,
    params: 494_032_768,
    specials: { 151643: '<|endoftext|>', 151644: '<|im_start|>', 151645: '<|im_end|>' },
    bos: '<|endoftext|>',
    eos: '<|endoftext|>',
    hf: {
      architectures: ['Qwen2ForCausalLM'],
      attention_dropout: 0.0,
      bos_token_id: 151643,
      eos_token_id: 151643,
      hidden_act: 'silu',
      hidden_size: 896,
      initializer_range: 0.02,
      intermediate_size: 4864,
      max_position_embeddings: 32768,
      max_window_layers: 24,
      model_type: 'qwen2',
      num_attention_heads: 14,
      num_hidden_layers: 24,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      transformers_version: '4.40.1',
      use_cache: true,
      use_sliding_window: false,
      vocab_size: 151936,
    },
  },
};

function tokenizerJson(vocabSize: number, specials: Record<number, string>): object {
  const vocab: Record<string, number> = {};
  for (let i = 0; i < vocabSize; i++) vocab[specials[i] ?? `t${i}`] = i;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: Object.entries(specials).map(([id, content]) => ({
      id: Number(id),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: null,
    // WordPiece over whole words (no "##" pieces in the vocabulary): a word of the vocabulary is its
    // id, any other word the unknown token. (@huggingface/tokenizers has no WordLevel model: it
    // gave unknown words no id at all, which a typed prompt then carried to the sampler.)
    model: {
      type: 'WordPiece',
      vocab,
      unk_token: specials[Number(Object.keys(specials)[0])],
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
    },
  };
}

/** Writes one safetensors file tensor by tensor: header first (offsets known from the shapes). */
async function writeShard(path: string, src: RandomWeightSource, names: string[]): Promise<number> {
  const infos = src.list().filter((w) => names.includes(w.name));
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const w of infos) {
    const bytes = w.shape.reduce((a, b) => a * b, 1) * 2;
    header[w.name] = { dtype: 'BF16', shape: w.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = openSync(`${path}.part`, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, Buffer.from(json, 'utf8'));
  for (const w of infos) writeSync(fd, await src.read(w.name));
  closeSync(fd);
  renameSync(`${path}.part`, path);
  return offset;
}

/** Writes one model's folder unless it is complete; returns its path. */
export async function generate(name: keyof typeof REAL_SIZE, outDir = REAL_SIZE_DIR): Promise<string> {
  const spec = REAL_SIZE[name];
  const dir = join(outDir, spec.dir);
  const done = join(dir, '.complete');
  if (existsSync(done) && readFileSync(done, 'utf8') === JSON.stringify(spec.hf)) {
    writeTokenizer(dir, spec); // small: always as this script writes it now
    return dir;
  }
  mkdirSync(dir, { recursive: true });
  const config = parseHfConfig(spec.hf).model;
  // the benchmark's shape is the same architecture: a check that this config is the real one
  const shape = SHAPES[name];
  for (const k of ['hiddenSize', 'numLayers', 'numHeads', 'numKvHeads', 'intermediateSize', 'vocabSize'] as const)
    if (config[k] !== shape[k]) throw new Error(`${name}: ${k} ${config[k]} is not the benchmark's ${shape[k]}`);
  const src = new RandomWeightSource(config, 'BF16', 0);
  const all = src.list();
  const params = all.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
  if (params !== spec.params) throw new Error(`${name}: ${params} parameters, expected ${spec.params}`);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec.hf, null, 2));
  if (spec.shards === 1) {
    await writeShard(
      join(dir, 'model.safetensors'),
      src,
      all.map((w) => w.name),
    );
  } else {
    // contiguous runs of tensors of about equal bytes, as save_pretrained shards them
    const total = params * 2;
    const groups: string[][] = Array.from({ length: spec.shards }, () => []);
    let acc = 0;
    for (const w of all) {
      const i = Math.min(spec.shards - 1, Math.floor((acc / total) * spec.shards));
      groups[i].push(w.name);
      acc += w.shape.reduce((x, y) => x * y, 1) * 2;
    }
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < spec.shards; s++) {
      const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(spec.shards).padStart(5, '0')}.safetensors`;
      await writeShard(join(dir, file), src, groups[s]);
      for (const n of groups[s]) weightMap[n] = file;
    }
    const sorted = Object.fromEntries(
      Object.keys(weightMap)
        .sort()
        .map((k) => [k, weightMap[k]]),
    );
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: total }, weight_map: sorted }, null, 2),
    );
  }
  writeTokenizer(dir, spec);
  writeFileSync(done, JSON.stringify(spec.hf));
  return dir;
}

function writeTokenizer(dir: string, spec: Spec): void {
  const vocab = spec.hf.vocab_size as number;
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(vocab, spec.specials)));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({ bos_token: spec.bos, eos_token: spec.eos, model_max_length: 2048 }, null, 2),
  );
  writeFileSync(
    join(dir, 'generation_config.json'),
    JSON.stringify({ bos_token_id: spec.hf.bos_token_id, eos_token_id: spec.hf.eos_token_id }, null, 2),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2] ?? REAL_SIZE_DIR;
  for (const name of Object.keys(REAL_SIZE) as (keyof typeof REAL_SIZE)[]) {
    const t0 = performance.now();
    const dir = await generate(name, out);
    console.log(`${name}: ${dir} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
}
