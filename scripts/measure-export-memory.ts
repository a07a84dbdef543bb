// Peak memory of the exports (src/run/export.ts, the code the tab's worker and `npm run export`
// both run) for a Qwen2.5-0.5B-shaped model: a BF16 checkpoint of random weights served lazily
// (nothing of it is held), a rank-16 all-linear adapter, and sinks that count bytes instead of
// keeping them. Prints the peak V8 heap, ArrayBuffer and RSS figures seen at every write.
//   node --import tsx scripts/measure-export-memory.ts [merged|gguf-f16|gguf-q8_0|gguf-lora ...]

import { SHAPES } from '../src/bench/shapes';
import { expectedWeights } from '../src/engine/model/config';
import { LoraLayout } from '../src/engine/model/lora';
import { LINEAR_MODULES } from '../src/engine/model/config';
import type { FolderSink } from '../src/io/sink';
import { FileSet, bytesSource, type ByteSource } from '../src/io/source';
import { tinyBpeTokenizer } from '../src/io/testing/bpe-tokenizer';
import { runExport, type ExportRequest } from '../src/run/export';

const c = SHAPES['qwen2.5-0.5b'];
const peak = { heap: 0, arrayBuffers: 0, rss: 0 };
const sample = () => {
  const m = process.memoryUsage();
  peak.heap = Math.max(peak.heap, m.heapUsed);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  peak.rss = Math.max(peak.rss, m.rss);
};

/** model.safetensors of random BF16 weights (about ±0.01), generated for each read. */
function lazyCheckpoint(): ByteSource {
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
  const size = head.length + off;
  return {
    name: 'model.safetensors',
    size,
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

function countingFolder(): FolderSink & { bytes: number } {
  const f = {
    bytes: 0,
    async file() {
      return {
        write: async (b: Uint8Array) => {
          f.bytes += b.byteLength;
          sample();
        },
        close: async () => {},
      };
    },
  };
  return f;
}

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
const base = new FileSet(
  [
    ['config.json', bytesSource(enc.encode(JSON.stringify(hf)), 'config.json')],
    ['model.safetensors', lazyCheckpoint()],
    ['tokenizer.json', bytesSource(enc.encode(JSON.stringify(tok.tokenizerJson)), 'tokenizer.json')],
    ['tokenizer_config.json', bytesSource(enc.encode(JSON.stringify(tok.tokenizerConfig)), 'tokenizer_config.json')],
  ],
  'qwen2.5-0.5b-shaped',
);
const layout = new LoraLayout(c, {
  r: 16,
  lora_alpha: 32,
  lora_dropout: 0,
  target_modules: [...LINEAR_MODULES],
  use_rslora: false,
});
const adapter = { layout, flat: layout.init(1).map((v, i) => (i % 7 === 0 ? v : v * 0.5)) };
const KINDS: Record<string, ExportRequest> = {
  merged: { format: 'merged' },
  'gguf-f16': { format: 'gguf', outType: 'f16' },
  'gguf-q8_0': { format: 'gguf', outType: 'q8_0' },
  'gguf-lora': { format: 'gguf-lora', outType: 'f16' },
};
const mb = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
for (const kind of process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(KINDS)) {
  global.gc?.();
  const before = process.memoryUsage();
  Object.assign(peak, { heap: 0, arrayBuffers: 0, rss: 0 });
  const out = countingFolder();
  const t0 = performance.now();
  await runExport(base, adapter, out, KINDS[kind]);
  console.log(
    `${kind}: wrote ${mb(out.bytes)} in ${((performance.now() - t0) / 1000).toFixed(0)} s; peak V8 heap ${mb(peak.heap)}, ` +
      `ArrayBuffers ${mb(peak.arrayBuffers)}, RSS ${mb(peak.rss)} (before: heap ${mb(before.heapUsed)}, RSS ${mb(before.rss)})`,
  );
}
