// A small but real byte-level BPE tokenizer (tokenizer.json + tokenizer_config.json) for the
// tiny test models, in the two pre-tokenizer styles llama.cpp knows by name: Llama 3
// ("llama-bpe": digits in runs of up to 3) and Qwen2 ("qwen2": single digits). The vocabulary is
// the printable ASCII bytes in GPT-2's byte-to-unicode spelling plus space (Ġ) and newline (Ċ),
// merges of frequent letter pairs, the family's special tokens, and a few ids left unused so
// that an exporter must pad the token list to vocab_size.

const LLAMA3_RE =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_RE =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

export type TinyTokenizerFamily = 'llama3' | 'qwen2';

const SPECIALS: Record<TinyTokenizerFamily, string[]> = {
  llama3: ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
  qwen2: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
};

export const TINY_CHAT_TEMPLATES: Record<TinyTokenizerFamily, string> = {
  llama3:
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
  qwen2:
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
};

/** tokenizer.json and tokenizer_config.json objects with at most `vocabSize - unused` tokens. */
export function tinyBpeTokenizer(
  family: TinyTokenizerFamily,
  vocabSize: number,
  unused = 3,
): { tokenizerJson: object; tokenizerConfig: object } {
  const specials = SPECIALS[family];
  const vocab: Record<string, number> = {};
  let next = specials.length; // specials take ids 0..k-1
  const add = (t: string) => {
    if (!(t in vocab)) vocab[t] = next++;
  };
  for (let b = 0x21; b <= 0x7e; b++) add(String.fromCharCode(b));
  add('Ġ');
  add('Ċ');
  const merges: [string, string][] = [];
  const letters = 'etaoinshrdlcumpy';
  const pairs: [string, string][] = [];
  for (const a of letters) pairs.push(['Ġ', a]);
  for (const a of letters) for (const b of letters) pairs.push([a, b]);
  const limit = vocabSize - unused;
  for (const [a, b] of pairs) {
    if (next >= limit) break;
    merges.push([a, b]);
    add(a + b);
  }
  if (next > limit) throw new Error(`tinyBpeTokenizer: vocab_size ${vocabSize} is too small`);
  const addedTokens = specials.map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: family === 'llama3' ? LLAMA3_RE : QWEN2_RE },
          behavior: 'Isolated',
          invert: false,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: family === 'llama3',
      vocab,
      merges,
    },
  };
  const tokenizerConfig =
    family === 'llama3'
      ? {
          bos_token: '<|begin_of_text|>',
          eos_token: '<|eot_id|>',
          add_bos_token: true,
          chat_template: TINY_CHAT_TEMPLATES.llama3,
          model_max_length: 2048,
        }
      : {
          bos_token: null,
          eos_token: '<|im_end|>',
          pad_token: '<|endoftext|>',
          add_bos_token: false,
          chat_template: TINY_CHAT_TEMPLATES.qwen2,
          model_max_length: 128,
        };
  return { tokenizerJson, tokenizerConfig };
}
