// GGUF exports for llama.cpp, Ollama and LM Studio, as llama.cpp's own converters write them:
//   - the model (merged with an adapter, or the base alone) as one file, F32, F16, BF16 or Q8_0
//     (convert_hf_to_gguf.py: 1-D tensors stay F32; a row length that is not a multiple of 32
//     falls back from Q8_0 to F16), with the byte-level BPE tokenizer and the chat template inside;
//   - the adapter alone as a LoRA GGUF (convert_lora_to_gguf.py) for `--lora` and Ollama's ADAPTER.
// Facts the converters encode and llama.cpp needs (checked by loading these files into llama.cpp
// in src/run/export.gpu.test.ts):
//   - scalar hyperparameters are u32 / f32; head_count_kv, context_length, the RMS epsilon and
//     tokenizer.ggml.merges are required; rope.freq_base and tokenizer.ggml.pre silently matter;
//     an untied model must carry output.weight or llama.cpp ties the head without a word.
//   - the token list is padded to vocab_size with "[PAD<i>]" (type 5, unused); special added
//     tokens are type 3 (control), other added tokens 4 (user-defined), the rest 1 (normal).
//   - llama architecture (llama, mistral; not qwen2): q_proj and k_proj rows go from Hugging
//     Face's rotate-half order to llama.cpp's interleaved one (LlamaModel.permute), k with the KV
//     head count; a LoRA's lora_b rows of q and k get the same permutation.
//   - qwen3 (Qwen3Model, a Qwen2Model): no permutation; q_norm / k_norm are attn_q_norm /
//     attn_k_norm; key_length carries the explicit head_dim. smollm3 (SmolLM3Model, a LlamaModel):
//     permuted like llama; llama.cpp hard-codes its NoPE layers as every fourth
//     (n_no_rope_layer_step = 4, no GGUF key), so any other no_rope_layers is refused.
//   - Llama 3 rope_scaling is a rope_freqs.weight tensor of head_dim/2 factors, not metadata.
//   - a LoRA GGUF's scale is adapter.lora.alpha / r (r from the tensors), so rsLoRA, whose scale
//     is alpha / sqrt(r), is written with alpha · sqrt(r).
//   - phi3 architecture (Phi3MiniModel): the fused qkv_proj is attn_qkv and gate_up_proj is ffn_up
//     (gate rows first, as llama.cpp's fused SwiGLU splits it), no q/k permutation (NEOX rope);
//     rope.dimension_count is the rotary dim, sliding_window 0 when absent, and longrope becomes
//     rope_factors_long / rope_factors_short tensors plus rope.scaling.attn_factor and
//     rope.scaling.original_context_length.
//   - gemma3 architecture (Gemma3Model, for gemma3_text): every RMSNorm weight, q_norm and k_norm
//     included, is written as 1 + w (computed in f32); post_attention_layernorm is
//     post_attention_norm, pre_feedforward_layernorm ffn_norm, post_feedforward_layernorm
//     post_ffw_norm; no q/k permutation (NEOX rope); the head stays tied to token_embd. llama.cpp
//     (v0.4.0, node-llama-cpp 3.21.1) reads attention.sliding_window, makes layer i sliding when
//     i % P < P - 1 for attention.sliding_window_pattern P (default 6; the converter does not
//     write it, this exporter does), rotates the sliding layers with rope.freq_base_swa (default
//     10000) and masks keys at distance >= sliding_window, as transformers does. It scales queries
//     by 1/sqrt(key_length) (1/sqrt(embedding_length / head_count) for 62 layers, its 27B) and
//     ignores query_pre_attn_scalar, so a config where they differ is refused, as is any
//     layer_types that no period P gives, and rope_scaling. Without tokenizer.model the converter
//     writes a gpt2 (byte-level BPE) vocabulary, as this exporter does; Gemma's own SentencePiece
//     tokenizer is refused (ggufTokenizerMetadata).

import {
  type Gemma3Options,
  type ModelConfig,
  expectedWeights,
  linearPrefix,
  normOffset,
  rotaryDim,
} from '../engine/model/config';
import type { LoraSlot } from '../engine/model/lora';
import {
  type GgmlType,
  type GgufTensor,
  type GgufValue,
  Q8_0_BLOCK,
  bool,
  encodeTensor,
  f32,
  i32s,
  str,
  strs,
  tensorBytes,
  u32,
  writeGguf,
} from '../io/gguf';
import { parseHfConfig } from '../io/hf-config';
import type { FolderSink } from '../io/sink';
import { type FileSet, IoError, readJson, readText } from '../io/source';
import { ModelTokenizer } from '../data/tokenizer';
import { resolveChatTemplate } from '../data/template';
import { toF32 } from '../io/safetensors';
import {
  type BaseTensor,
  type ExportProgress,
  type MergeAdapter,
  baseTensors,
  rowChunks,
  slotFor,
  tensorF32,
} from './export-merged';

export type GgufOutType = 'f32' | 'f16' | 'bf16' | 'q8_0';
export const GGUF_OUTTYPES: readonly GgufOutType[] = ['f32', 'f16', 'bf16', 'q8_0'];
const TYPE_OF: Record<GgufOutType, GgmlType> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0' };
/** llama_ftype (general.file_type) per outtype. */
const FILE_TYPE: Record<GgufOutType, number> = { f32: 0, f16: 1, q8_0: 7, bf16: 32 };

export type GgufArch = 'llama' | 'qwen2' | 'qwen3' | 'smollm3' | 'phi3' | 'gemma3';

/** llama.cpp's architecture name: Mistral runs as llama (MistralForCausalLM -> LlamaModel), gemma3_text as gemma3. */
export function ggufArch(c: ModelConfig): GgufArch {
  if (c.modelType === 'gemma3_text') return 'gemma3';
  if (c.modelType === 'qwen2' || c.modelType === 'qwen3' || c.modelType === 'smollm3' || c.modelType === 'phi3')
    return c.modelType;
  return 'llama';
}

/** q_proj / k_proj rows go to llama.cpp's interleaved RoPE order (LlamaModel.permute) for these. */
function permutesQk(arch: GgufArch): boolean {
  return arch === 'llama' || arch === 'smollm3';
}

/** Refuses what llama.cpp would load but run differently from transformers. */
export function checkGgufSupport(c: ModelConfig): void {
  if (c.gemma3) checkGemma3(c, c.gemma3);
  if (c.ropeScaling && c.ropeScaling.ropeType !== (c.modelType === 'phi3' ? 'longrope' : 'llama3'))
    throw new Error(`rope_scaling type ${c.ropeScaling.ropeType} cannot be exported to GGUF here`);
  if (c.modelType === 'smollm3' && c.ropeLayers) {
    const l = c.ropeLayers.findIndex((rope, i) => rope !== ((i + 1) % 4 !== 0));
    if (l >= 0)
      throw new Error(
        `GGUF export: this SmolLM3 ${c.ropeLayers[l] ? 'rotates' : 'does not rotate'} layer ${l} (no_rope_layers), ` +
          `but llama.cpp skips RoPE on exactly every fourth layer (3, 7, 11, ...); its GGUF would run differently`,
      );
  }
}

/**
 * The sliding-window period P llama.cpp's gemma3 needs for these layers (layer i slides when
 * i % P < P - 1; P = 0: every layer slides), or null when no P gives them.
 */
export function gemma3SlidingPeriod(sliding: readonly boolean[]): number | null {
  const firstFull = sliding.indexOf(false);
  const p = firstFull < 0 ? 0 : firstFull + 1;
  return sliding.every((s, i) => s === (p === 0 || i % p < p - 1)) ? p : null;
}

/** The query scale llama.cpp's gemma3 uses, as q · s^-0.5: key_length, or hidden / heads at 62 layers (its 27B). */
export function gemma3LlamaCppQueryScalar(c: ModelConfig): number {
  return c.numLayers === 62 ? Math.floor(c.hiddenSize / c.numHeads) : c.headDim;
}

function checkGemma3(c: ModelConfig, g: Gemma3Options): void {
  const want = gemma3LlamaCppQueryScalar(c);
  if (g.queryPreAttnScalar !== want)
    throw new Error(
      `GGUF export: this Gemma 3 has query_pre_attn_scalar ${g.queryPreAttnScalar}, but llama.cpp's gemma3 scales ` +
        `queries by 1/sqrt(${want}) (${c.numLayers === 62 ? 'hidden_size / num_attention_heads' : 'head_dim'}) whatever the config says; ` +
        `its GGUF would run differently (export the merged safetensors folder instead)`,
    );
  if (g.slidingLayers.some((s) => s) && gemma3SlidingPeriod(g.slidingLayers) === null) {
    const types = g.slidingLayers.map((s) => (s ? 'S' : 'F')).join('');
    throw new Error(
      `GGUF export: this Gemma 3's layer_types (${types}, S sliding, F full) is not "every P-th layer full" ` +
        `(layer i sliding when i % P < P - 1), the only pattern llama.cpp's gemma3 can run; its GGUF would run differently`,
    );
  }
  if (c.ropeScaling)
    throw new Error(
      `GGUF export: this Gemma 3 has rope_scaling ${c.ropeScaling.ropeType}, which is not exported to GGUF here ` +
        `(export the merged safetensors folder and convert it with llama.cpp's convert_hf_to_gguf.py)`,
    );
}

const GEMMA3_PARTS: Record<string, string> = {
  post_attention_layernorm: 'post_attention_norm',
  pre_feedforward_layernorm: 'ffn_norm',
  post_feedforward_layernorm: 'post_ffw_norm',
};

/** The GGUF name of a Hugging Face tensor (gguf-py's tensor_mapping for these architectures). */
export function ggufTensorName(hf: string, arch: GgufArch = 'llama'): string | null {
  if (hf === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (hf === 'model.norm.weight') return 'output_norm.weight';
  if (hf === 'lm_head.weight') return 'output.weight';
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hf);
  if (!m) return null;
  const part: Record<string, string> = {
    input_layernorm: 'attn_norm',
    'self_attn.q_proj': 'attn_q',
    'self_attn.k_proj': 'attn_k',
    'self_attn.v_proj': 'attn_v',
    'self_attn.o_proj': 'attn_output',
    'self_attn.q_norm': 'attn_q_norm',
    'self_attn.k_norm': 'attn_k_norm',
    'self_attn.qkv_proj': 'attn_qkv',
    'mlp.gate_up_proj': 'ffn_up',
    post_attention_layernorm: 'ffn_norm',
    'mlp.gate_proj': 'ffn_gate',
    'mlp.up_proj': 'ffn_up',
    'mlp.down_proj': 'ffn_down',
  };
  const p = (arch === 'gemma3' ? GEMMA3_PARTS[m[2]] : undefined) ?? part[m[2]];
  return p ? `blk.${m[1]}.${p}.${m[3]}` : null;
}

/**
 * LlamaModel.permute: per head, rows reshaped as (2, head_dim / 2) and swapped, so rotate-half
 * pairs (i, i + d/2) become adjacent (2i, 2i + 1). x is [rows, cols] row-major.
 */
export function permuteRows(x: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  const hd = rows / nHead;
  const half = hd / 2;
  const out = new Float32Array(x.length);
  for (let h = 0; h < nHead; h++)
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < half; j++) {
        const from = (h * hd + i * half + j) * cols;
        const to = (h * hd + 2 * j + i) * cols;
        out.set(x.subarray(from, from + cols), to);
      }
  return out;
}

/** LlamaModel.generate_extra_tensors: the Llama 3 rope_scaling factors per frequency. */
export function llama3RopeFreqs(c: ModelConfig): Float32Array {
  const rs = c.ropeScaling!;
  if (rs.ropeType !== 'llama3') throw new Error(`llama3RopeFreqs: rope_scaling is ${rs.ropeType}, not llama3`);
  const dim = c.headDim;
  const lowWavelen = rs.originalMaxPositionEmbeddings / rs.lowFreqFactor;
  const highWavelen = rs.originalMaxPositionEmbeddings / rs.highFreqFactor;
  const out = new Float32Array(dim / 2);
  const f = Math.fround;
  for (let k = 0; k < dim / 2; k++) {
    // The converter iterates over a float32 tensor, so every step is a float32 operation.
    const freq = f(1 / f(c.ropeTheta ** f((2 * k) / dim)));
    const wavelen = f(f(2 * Math.PI) / freq);
    if (wavelen < highWavelen) out[k] = 1;
    else if (wavelen > lowWavelen) out[k] = rs.factor;
    else {
      const smooth = f(
        f(f(rs.originalMaxPositionEmbeddings / wavelen) - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor),
      );
      out[k] = f(1 / f(f(f(1 - smooth) / rs.factor) + smooth));
    }
  }
  return out;
}

/** The storage type of one tensor for an outtype, as convert_hf_to_gguf.py chooses it. */
export function tensorType(shape: readonly number[], out: GgufOutType): GgmlType {
  if (shape.length <= 1) return 'F32';
  if (out === 'q8_0' && shape[shape.length - 1] % Q8_0_BLOCK !== 0) return 'F16';
  return TYPE_OF[out];
}

interface TokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  chatTemplate: string | null;
}

async function tokenizerFiles(files: FileSet): Promise<TokenizerFiles> {
  const tokenizerJson = (await readJson(
    files.require('tokenizer.json', 'a GGUF carries the tokenizer: the model needs its tokenizer.json'),
  )) as Record<string, unknown>;
  const tokenizerConfig = (await readJson(files.require('tokenizer_config.json'))) as Record<string, unknown>;
  const jinja = files.get('chat_template.jinja');
  const chatTemplate = resolveChatTemplate(tokenizerConfig, jinja ? await readText(jinja) : null);
  return { tokenizerJson, tokenizerConfig, chatTemplate };
}

/** llama.cpp's pre-tokenizer name from tokenizer.json's pre_tokenizer (the split regex). */
export function ggufPreTokenizer(tokenizerJson: Record<string, unknown>): string {
  const pre = JSON.stringify(tokenizerJson.pre_tokenizer ?? null);
  // GPT-4o's split (Phi-4-mini): case-aware letter runs before the digit groups Llama 3 also has
  if (pre.includes('[\\\\p{Lu}\\\\p{Lt}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]')) return 'gpt-4o';
  if (pre.includes('\\\\p{N}{1,3}')) return 'llama-bpe';
  if (pre.includes('\\\\p{N}')) return 'qwen2';
  const p = tokenizerJson.pre_tokenizer as { type?: string; use_regex?: boolean } | null;
  if (p?.type === 'ByteLevel' && p.use_regex !== false) return 'gpt-2';
  throw new Error(
    `tokenizer.json's pre_tokenizer (${pre.slice(0, 120)}) is not one llama.cpp knows here (Llama 3, Qwen2 or GPT-2 byte-level BPE)`,
  );
}

/** tokenizer.ggml.* and the chat template, from the Hugging Face tokenizer files. */
export function ggufTokenizerMetadata(c: ModelConfig, t: TokenizerFiles): Map<string, GgufValue> {
  const model = t.tokenizerJson.model as {
    type?: string;
    vocab?: Record<string, number>;
    merges?: (string | [string, string])[];
    byte_fallback?: boolean;
  };
  if (model?.type !== 'BPE' || !model.vocab || !model.merges)
    throw new Error(
      `tokenizer.json has a ${model?.type ?? 'missing'} model; GGUF export supports byte-level BPE tokenizers (Llama 3, Qwen2, GPT-2 style)`,
    );
  // llama.cpp reads these as a SentencePiece ("llama") vocabulary with per-token scores, which the
  // converter takes from tokenizer.model; tokenizer.json has no scores to write
  if (model.byte_fallback)
    throw new Error(
      `tokenizer.json is SentencePiece-style BPE (byte_fallback, as Gemma's, Llama 2's and Mistral's); GGUF export writes ` +
        `byte-level BPE vocabularies only. Export the merged safetensors folder and convert it with llama.cpp's ` +
        `convert_hf_to_gguf.py, which reads tokenizer.model`,
    );
  const tok = ModelTokenizer.load(t.tokenizerJson, t.tokenizerConfig);
  const byId = new Map<number, { text: string; type: number }>();
  for (const [text, id] of Object.entries(model.vocab)) byId.set(id, { text, type: 1 });
  for (const a of (t.tokenizerJson.added_tokens ?? []) as { id: number; content: string; special?: boolean }[])
    byId.set(a.id, { text: a.content, type: a.special ? 3 : 4 });
  const n = c.vocabSize;
  if (tok.vocabSize > n)
    throw new Error(`the tokenizer has ${tok.vocabSize} tokens but config.json's vocab_size is ${n}`);
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < n; i++) {
    const e = byId.get(i);
    tokens.push(e ? e.text : `[PAD${i}]`);
    types.push(e ? e.type : 5);
  }
  const merges = model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const meta = new Map<string, GgufValue>([
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str(ggufPreTokenizer(t.tokenizerJson))],
    ['tokenizer.ggml.tokens', strs(tokens)],
    ['tokenizer.ggml.token_type', i32s(types)],
    ['tokenizer.ggml.merges', strs(merges)],
  ]);
  const bosId = tok.bos?.id ?? c.bosTokenId;
  if (bosId !== null) meta.set('tokenizer.ggml.bos_token_id', u32(bosId));
  const eosId = tok.eos?.id ?? c.eosTokenIds[0];
  if (eosId !== undefined) meta.set('tokenizer.ggml.eos_token_id', u32(eosId));
  if (tok.pad) meta.set('tokenizer.ggml.padding_token_id', u32(tok.pad.id));
  meta.set('tokenizer.ggml.add_bos_token', bool(tok.addBosToken));
  meta.set('tokenizer.ggml.add_eos_token', bool(tok.addEosToken));
  if (t.chatTemplate) meta.set('tokenizer.chat_template', str(t.chatTemplate));
  return meta;
}

/** general.* and <arch>.* hyperparameters (TextModel / LlamaModel / Qwen2Model set_gguf_parameters). */
export function ggufModelMetadata(c: ModelConfig, name: string, fileType: number): Map<string, GgufValue> {
  const a = ggufArch(c);
  if (a === 'phi3') return phi3Metadata(c, name, fileType);
  const meta = new Map<string, GgufValue>([
    ['general.architecture', str(a)],
    ['general.type', str('model')],
    ['general.name', str(name)],
    ['general.file_type', u32(fileType)],
    [`${a}.vocab_size`, u32(c.vocabSize)],
    [`${a}.block_count`, u32(c.numLayers)],
    [`${a}.context_length`, u32(c.maxPositionEmbeddings)],
    [`${a}.embedding_length`, u32(c.hiddenSize)],
    [`${a}.feed_forward_length`, u32(c.intermediateSize)],
    [`${a}.attention.head_count`, u32(c.numHeads)],
    [`${a}.attention.head_count_kv`, u32(c.numKvHeads)],
    [`${a}.attention.key_length`, u32(c.headDim)],
    [`${a}.attention.value_length`, u32(c.headDim)],
    [`${a}.rope.dimension_count`, u32(c.headDim)],
    [`${a}.rope.freq_base`, f32(c.ropeTheta)],
    [`${a}.attention.layer_norm_rms_epsilon`, f32(c.rmsNormEps)],
  ]);
  const g = c.gemma3;
  if (g) {
    // Gemma3Model.set_gguf_parameters, plus the period llama.cpp otherwise assumes to be 6
    const period = gemma3SlidingPeriod(g.slidingLayers);
    if (g.slidingLayers.some((s) => s) && period !== null) {
      meta.set('gemma3.attention.sliding_window', u32(g.slidingWindow));
      meta.set('gemma3.attention.sliding_window_pattern', u32(period));
    }
    meta.set('gemma3.rope.freq_base_swa', f32(g.ropeLocalTheta));
  }
  return meta;
}

/** Phi3MiniModel.set_gguf_parameters (+ the attention factor of generate_extra_tensors). */
function phi3Metadata(c: ModelConfig, name: string, fileType: number): Map<string, GgufValue> {
  const rs = c.ropeScaling;
  const orig = rs?.ropeType === 'longrope' ? rs.originalMaxPositionEmbeddings : c.maxPositionEmbeddings;
  const meta = new Map<string, GgufValue>([
    ['general.architecture', str('phi3')],
    ['general.type', str('model')],
    ['general.name', str(name)],
    ['general.file_type', u32(fileType)],
    ['phi3.context_length', u32(c.maxPositionEmbeddings)],
    ['phi3.rope.scaling.original_context_length', u32(orig)],
    ['phi3.embedding_length', u32(c.hiddenSize)],
    ['phi3.feed_forward_length', u32(c.intermediateSize)],
    ['phi3.block_count', u32(c.numLayers)],
    ['phi3.attention.head_count', u32(c.numHeads)],
    ['phi3.attention.head_count_kv', u32(c.numKvHeads)],
    ['phi3.attention.layer_norm_rms_epsilon', f32(c.rmsNormEps)],
    ['phi3.rope.dimension_count', u32(rotaryDim(c))],
    ['phi3.rope.freq_base', f32(c.ropeTheta)],
    ['phi3.attention.sliding_window', u32(c.slidingWindow ?? 0)],
  ]);
  if (rs?.ropeType === 'longrope') {
    // the converter's own formula (it ignores rope_scaling.attention_factor)
    const scale = c.maxPositionEmbeddings / orig;
    const att = scale > 1 ? Math.sqrt(1 + Math.log(scale) / Math.log(orig)) : 1;
    meta.set('phi3.rope.scaling.attn_factor', f32(att));
  }
  return meta;
}

/**
 * general.name as llama.cpp can load it. llama.cpp sets token attributes by the model's name: a
 * name containing "phi-3" or "phi3" (any case) makes it look up "</s>", "<unk>", "<s>" and
 * "<|endoftext|>" by text, and the load fails ("error loading model vocabulary: _Map_base::at")
 * when the vocabulary lacks one of them (Phi-4-mini's does, and so may a fine-tune's folder name).
 * Such a name is written with "phi 3" instead; any other name is kept.
 */
export function llamaCppSafeName(name: string, tokens: readonly string[]): string {
  if (!/phi-?3/i.test(name)) return name;
  const have = new Set(tokens);
  if (['</s>', '<unk>', '<s>', '<|endoftext|>'].every((t) => have.has(t))) return name;
  return name.replace(/phi-?3/gi, (m) => `${m[0]}${m[1]}${m[2]} 3`);
}

export interface GgufExportOptions {
  outType: GgufOutType;
  /** general.name (default: the base folder's name). */
  name?: string;
  onProgress?: (p: ExportProgress) => void;
}

/** The model (merged with `adapter` when given) as one GGUF file named `fileName` in `out`. */
export async function exportGguf(
  base: FileSet,
  adapter: MergeAdapter | null,
  out: FolderSink,
  fileName: string,
  opts: GgufExportOptions,
): Promise<{ bytes: number }> {
  const hf = parseHfConfig(await readJson(base.require('config.json')), 'config.json');
  const c = hf.model;
  checkGgufSupport(c);
  const meta = ggufModelMetadata(c, opts.name ?? base.name, FILE_TYPE[opts.outType]);
  for (const [k, v] of ggufTokenizerMetadata(c, await tokenizerFiles(base))) meta.set(k, v);
  const vocab = meta.get('tokenizer.ggml.tokens');
  const name = meta.get('general.name');
  if (vocab?.type === 'string[]' && name?.type === 'string')
    meta.set('general.name', str(llamaCppSafeName(name.value, vocab.value)));

  const all = await baseTensors(base, c);
  const byName = new Map(all.map((t) => [t.entry.name, t]));
  const arch = ggufArch(c);
  const tensors: GgufTensor[] = [];
  if (c.ropeScaling?.ropeType === 'longrope') {
    for (const [kind, factors] of [
      ['long', c.ropeScaling.longFactor],
      ['short', c.ropeScaling.shortFactor],
    ] as const) {
      const v = Float32Array.from(factors);
      tensors.push({
        name: `rope_factors_${kind}.weight`,
        type: 'F32',
        shape: [v.length],
        data: async () => encodeTensor(v, 'F32'),
      });
    }
  }
  if (c.ropeScaling?.ropeType === 'llama3') {
    const freqs = llama3RopeFreqs(c);
    tensors.push({
      name: 'rope_freqs.weight',
      type: 'F32',
      shape: [freqs.length],
      data: async () => encodeTensor(freqs, 'F32'),
    });
  }
  for (const w of expectedWeights(c)) {
    const t = byName.get(w.name);
    const g = ggufTensorName(w.name, arch);
    if (!t || !g) throw new IoError(`${base.name}: tensor ${w.name} is missing`, w.name);
    // Gemma's RMSNorms scale by (1 + w); llama.cpp's by the stored weight
    const shift = normOffset(c) !== 0 && w.name.endsWith('norm.weight') ? normOffset(c) : 0;
    const type = tensorType(w.shape, opts.outType);
    const permute =
      permutesQk(arch) && /self_attn\.(q|k)_proj\.weight$/.test(w.name)
        ? w.name.includes('q_proj')
          ? c.numHeads
          : c.numKvHeads
        : 0;
    const merged = adapter !== null && slotFor(adapter.layout, w.name) !== undefined;
    tensors.push({
      name: g,
      type,
      shape: w.shape,
      data:
        merged || permute || shift
          ? async () => {
              let x: Float32Array = await tensorF32(t, adapter);
              if (permute) x = permuteRows(x, w.shape[0], w.shape[1], permute);
              if (shift) x = x.map((v) => v + shift);
              return encodeTensor(finite(x, w.name), type);
            }
          : () => encodeChunks(t, type),
    });
  }
  return writeTensors(out, fileName, meta, tensors, opts.onProgress);
}

function finite(x: Float32Array, name: string): Float32Array {
  const bad = x.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`GGUF export: ${name} holds ${x[bad]} at index ${bad}; nothing usable was exported`);
  return x;
}

/** An untouched tensor converted a few rows at a time, so the largest (the embeddings) is never whole. */
async function* encodeChunks(t: BaseTensor, type: GgmlType): AsyncGenerator<Uint8Array> {
  for await (const bytes of rowChunks(t)) {
    const dt = t.entry.dtype;
    if (dt !== 'F32' && dt !== 'F16' && dt !== 'BF16')
      throw new IoError(
        `${t.entry.name} has dtype ${dt}; only F32, F16 and BF16 weights can be exported`,
        t.entry.name,
      );
    yield encodeTensor(finite(toF32(bytes, dt, t.entry.name), t.entry.name), type);
  }
}

async function writeTensors(
  out: FolderSink,
  fileName: string,
  meta: Map<string, GgufValue>,
  tensors: GgufTensor[],
  onProgress?: (p: ExportProgress) => void,
): Promise<{ bytes: number }> {
  const sink = await out.file(fileName);
  let done = 0;
  const sizes = new Map<string, number>();
  for (const t of tensors) sizes.set(t.name, tensorBytes(t));
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  const bytes = await writeGguf(sink, meta, tensors, (_i, _n, name) => {
    done += sizes.get(name)!;
    onProgress?.({ file: fileName, bytesDone: done, bytesTotal: total });
  });
  return { bytes };
}

/** The LoRA alpha to write so that llama.cpp's alpha / r equals the adapter's scaling. */
export function ggufLoraAlpha(adapter: MergeAdapter): number {
  return adapter.layout.scaling * adapter.layout.spec.r;
}

/**
 * A llama.cpp LoRA adapter is W x + (alpha / r) · B A x and nothing else: DoRA's per-row
 * magnitude m / ||W + s B A|| has no place in it (convert_lora_to_gguf.py reads lora_A/lora_B
 * only), so a DoRA adapter exports merged ("gguf" or "merged") instead.
 */
export function assertGgufLoraExpressible(adapter: MergeAdapter): void {
  if (adapter.layout.spec.use_dora)
    throw new Error(
      'a DoRA adapter (use_dora) cannot be a llama.cpp LoRA GGUF: llama.cpp adds scale · B·A·x and has no magnitude vector; export the merged model ("gguf" or "merged") instead',
    );
}

/** The adapter alone as a GGUF LoRA (F32 tensors, as PEFT saved them). */
export async function exportGgufLora(
  adapter: MergeAdapter,
  out: FolderSink,
  fileName: string,
  opts: { name?: string; onProgress?: (p: ExportProgress) => void } = {},
): Promise<{ bytes: number }> {
  assertGgufLoraExpressible(adapter);
  const c = adapter.layout.config;
  checkGgufSupport(c);
  const arch = ggufArch(c);
  const meta = new Map<string, GgufValue>([
    ['general.architecture', str(arch)],
    ['general.type', str('adapter')],
    ['general.name', str(opts.name ?? 'adapter')],
    ['adapter.type', str('lora')],
    ['adapter.lora.alpha', f32(ggufLoraAlpha(adapter))],
  ]);
  const alpha = ggufLoraAlpha(adapter);
  const tensors: GgufTensor[] = [];
  for (const s of adapter.layout.slots) {
    const base = ggufTensorName(slotTensorName(s), arch)!;
    const r = s.r;
    const a = adapter.flat.slice(s.offsetA, s.offsetA + r * s.inFeatures);
    let b: Float32Array = adapter.flat.slice(s.offsetB, s.offsetB + s.outFeatures * r);
    // llama.cpp scales every tensor by alpha / (its rank): a slot whose rank_pattern / alpha_pattern
    // gives another scaling carries the difference in B
    const fix = s.scaling / (alpha / r);
    if (Math.abs(fix - 1) > 1e-12) b = b.map((x) => x * fix);
    if (permutesQk(arch) && (s.module === 'q_proj' || s.module === 'k_proj'))
      b = permuteRows(b, s.outFeatures, r, s.module === 'q_proj' ? c.numHeads : c.numKvHeads);
    for (const [v, name] of [
      [a, `${base}.lora_a`],
      [b, `${base}.lora_b`],
    ] as const) {
      const bad = v.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0)
        throw new Error(`GGUF LoRA: ${name} holds ${v[bad]}; the adapter is not finite and was not exported`);
    }
    tensors.push({
      name: `${base}.lora_a`,
      type: 'F32',
      shape: [r, s.inFeatures],
      data: async () => encodeTensor(a, 'F32'),
    });
    tensors.push({
      name: `${base}.lora_b`,
      type: 'F32',
      shape: [s.outFeatures, r],
      data: async () => encodeTensor(b, 'F32'),
    });
  }
  return writeTensors(out, fileName, meta, tensors, opts.onProgress);
}

function slotTensorName(s: LoraSlot): string {
  return `model.layers.${s.layer}.${linearPrefix(s.module)}.${s.module}.weight`;
}
