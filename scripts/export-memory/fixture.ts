// A Qwen2.5-0.5B-shaped export for measuring memory: a BF16 checkpoint of random weights served
// lazily (each read generates its bytes; nothing of the checkpoint is held), its tokenizer, and a
// rank-16 all-linear adapter, run through src/run/export.ts, the code the tab's worker and
// `npm run export` both run. `sample` is called at every read and every write.

import { SHAPES } from '../../src/bench/shapes';
import { LINEAR_MODULES, expectedWeights } from '../../src/engine/model/config';
import { LoraLayout } from '../../src/engine/model/lora';
import type { FolderSink } from '../../src/io/sink';
import { FileSet, bytesSource, type ByteSource } from '../../src/io/source';
import { tinyBpeTokenizer } from '../../src/io/testing/bpe-tokenizer';
import { runExport, type ExportRequest } from '../../src/run/export-model';

const c = SHAPES['qwen2.5-0.5b'];

export const KINDS: Record<string, ExportRequest> = {
  merged: { format: 'merged' },
  'gguf-f16': { format: 'gguf', outType: 'f16' },
  'gguf-q8_0': { format: 'gguf', outType: 'q8_0' },
  'gguf-lora': { format: 'gguf-lora', outType: 'f16' },
};

/** model.safetensors of random BF16 weights (about ±0.01), generated for each read. */
function lazyCheckpoint(sample: () => void): ByteSource {
  const weights = expectedWeights(c).sort((a, b) => (a.name < b.name ? -1 : 1));
  let off = 0;
  const parts = ['"__metadata__":{"format":"pt"}'];
  for (const w of weights) {
    const n = w.shape.reduce((a, b) => a * b, 1) * 2;
    parts.push(`"${w.name}":{"dtype":"BF16","shape":[${w.shape.join(',')}],"data_offsets":[${off},${off + n}]}`);
    off += n;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const hn = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + hn).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(hn), true);
  head.set(json, 8);
  return {
    name: 'model.safetensors',
    size: head.length + off,
    async read(offset, length) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        const p = offset + i;
        if (p < head.length) out[i] = head[p];
        else {
          const k = (p - head.length) >> 1;
          const h = Math.imul(k ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
          out[i] = (p - head.length) & 1 ? 0x3c | (h & 0x80) : h & 0x7f;
        }
      }
      sample();
      return out;
    },
  };
}

export function shapedBase(sample: () => void): FileSet {
  const enc = new TextEncoder();
  const tok = tinyBpeTokenizer('qwen2', c.vocabSize);
  const hf = {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    vocab_size: c.vocabSize,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    torch_dtype: 'bfloat16',
  };
  const text = (name: string, o: object): [string, ByteSource] => [
    name,
    bytesSource(enc.encode(JSON.stringify(o)), name),
  ];
  return new FileSet(
    [
      text('config.json', hf),
      ['model.safetensors', lazyCheckpoint(sample)],
      text('tokenizer.json', tok.tokenizerJson),
      text('tokenizer_config.json', tok.tokenizerConfig),
    ],
    'qwen2.5-0.5b-shaped',
  );
}

export function shapedAdapter() {
  const layout = new LoraLayout(c, {
    r: 16,
    lora_alpha: 32,
    lora_dropout: 0,
    target_modules: [...LINEAR_MODULES],
    use_rslora: false,
  });
  // B is zero at PEFT's initialisation; give it values so the merge does real work.
  const flat = layout.init(1).map((v, i) => (v === 0 ? ((i % 13) - 6) * 1e-3 : v));
  return { layout, flat };
}

/** Runs one export kind into `out`, returning the bytes written and the seconds taken. */
export async function measuredExport(
  kind: string,
  out: FolderSink,
  sample: () => void,
): Promise<{ bytes: number; seconds: number }> {
  const req = KINDS[kind];
  if (!req) throw new Error(`unknown export kind ${kind} (one of ${Object.keys(KINDS).join(', ')})`);
  let bytes = 0;
  const counted: FolderSink = {
    async file(name) {
      const f = await out.file(name);
      return {
        write: async (b) => {
          bytes += b.byteLength;
          await f.write(b);
          sample();
        },
        close: () => f.close(),
      };
    },
  };
  const t0 = performance.now();
  await runExport(shapedBase(sample), shapedAdapter(), counted, req);
  return { bytes, seconds: (performance.now() - t0) / 1000 };
}
