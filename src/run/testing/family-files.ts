// The new families' tiny checkpoints (reference/cases) as a person's model folder: a small BPE
// tokenizer with the family's special tokens and its published chat template (Qwen3-0.6B's and
// Gemma 3's in tokenizer_config.json, SmolLM3-3B's as its chat_template.jinja file, Phi-4-mini's),
// and generation_config.json's end-of-turn ids where the family has them. Node only.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tinyBpeTokenizer } from '../../io/testing/bpe-tokenizer';
import PHI4_TEMPLATE from '../../io/fixtures/phi-4-mini-instruct.chat_template.json';

const REPO_ROOT = join(import.meta.dirname, '../../..');

const TEMPLATES = join(REPO_ROOT, 'src/data/testing/templates');
const template = (name: string) => readFileSync(join(TEMPLATES, name), 'utf8');

export interface Special {
  content: string;
  /** false for added tokens that are not special (Qwen3's <think>, </think>, ...). */
  special?: boolean;
}

export interface Family {
  name: string;
  base: 'llama3' | 'qwen2';
  /** The first ones take the base tokenizer's special ids 0.., the rest the last ids of the vocabulary. */
  specials: Special[];
  config: Record<string, unknown>;
  /** Where the template travels: tokenizer_config.json's chat_template or a chat_template.jinja file. */
  template: { in: 'config' | 'file'; source: string };
  generationEos?: string[];
  endOfTurn: string;
  /** How the template's generation prompt ends (what the sampler's prompt ends with). */
  generationPrompt: string;
}

export const FAMILIES: Family[] = [
  {
    name: 'tiny-qwen3',
    base: 'qwen2',
    specials: [
      { content: '<|endoftext|>' },
      { content: '<|im_start|>' },
      { content: '<|im_end|>' },
      { content: '<tool_call>', special: false },
      { content: '</tool_call>', special: false },
      { content: '<tool_response>', special: false },
      { content: '</tool_response>', special: false },
      { content: '<think>', special: false },
      { content: '</think>', special: false },
    ],
    config: { bos_token: null, eos_token: '<|im_end|>', pad_token: '<|endoftext|>', add_bos_token: false },
    template: { in: 'config', source: template('qwen3.jinja') },
    endOfTurn: '<|im_end|>',
    generationPrompt: '<|im_start|>assistant\n',
  },
  {
    name: 'tiny-gemma3',
    base: 'qwen2',
    specials: [
      { content: '<pad>' },
      { content: '<eos>' },
      { content: '<bos>' },
      { content: '<unk>' },
      { content: '<start_of_turn>' },
      { content: '<end_of_turn>' },
    ],
    config: { bos_token: '<bos>', eos_token: '<eos>', pad_token: '<pad>', unk_token: '<unk>', add_bos_token: true },
    template: { in: 'config', source: template('gemma-3-it.jinja') },
    // gemma-3-*-it generation_config.json: eos_token_id [1, 106] (<eos>, <end_of_turn>)
    generationEos: ['<eos>', '<end_of_turn>'],
    endOfTurn: '<end_of_turn>',
    generationPrompt: '<start_of_turn>model\n',
  },
  {
    name: 'tiny-smollm3',
    base: 'llama3',
    specials: [
      { content: '<|begin_of_text|>' },
      { content: '<|end_of_text|>' },
      { content: '<|im_end|>' },
      { content: '<|im_start|>' },
      { content: '<think>', special: false },
      { content: '</think>', special: false },
    ],
    config: { bos_token: null, eos_token: '<|im_end|>', pad_token: '<|im_end|>', add_bos_token: false },
    template: { in: 'file', source: template('smollm3.jinja') },
    endOfTurn: '<|im_end|>',
    generationPrompt: '<|im_start|>assistant\n',
  },
  {
    name: 'tiny-phi3',
    base: 'qwen2',
    specials: [
      { content: '<unk>' },
      { content: '<s>' },
      { content: '<|endoftext|>' },
      { content: '<|system|>' },
      { content: '<|user|>' },
      { content: '<|assistant|>' },
      { content: '<|end|>' },
    ],
    config: {
      bos_token: '<|endoftext|>',
      eos_token: '<|endoftext|>',
      pad_token: '<|endoftext|>',
      add_bos_token: false,
    },
    template: { in: 'config', source: PHI4_TEMPLATE.chat_template },
    // Phi-4-mini-instruct generation_config.json: eos_token_id [200020, 199999] (<|end|>, <|endoftext|>)
    generationEos: ['<|end|>', '<|endoftext|>'],
    endOfTurn: '<|end|>',
    generationPrompt: '<|assistant|>',
  },
];

/** The tiny BPE tokenizer of `f.base` with the family's special tokens and chat template. */
function familyTokenizer(f: Family, vocabSize: number) {
  const baseSpecials = f.base === 'llama3' ? 5 : 3;
  if (f.specials.length < baseSpecials) throw new Error(`${f.name}: name all ${baseSpecials} base special tokens`);
  const extra = f.specials.length - baseSpecials;
  const t = tinyBpeTokenizer(f.base, vocabSize, extra + 2) as {
    tokenizerJson: { added_tokens: Record<string, unknown>[] };
    tokenizerConfig: Record<string, unknown>;
  };
  const ids = new Map<string, number>();
  const added = f.specials.map((s, i) => {
    const id = i < baseSpecials ? i : vocabSize - (f.specials.length - i);
    ids.set(s.content, id);
    return { ...t.tokenizerJson.added_tokens[0], id, content: s.content, special: s.special ?? true };
  });
  const tokenizerJson = { ...t.tokenizerJson, added_tokens: added };
  const tokenizerConfig: Record<string, unknown> = { model_max_length: 4096, ...f.config };
  if (f.template.in === 'config') tokenizerConfig.chat_template = f.template.source;
  return { tokenizerJson, tokenizerConfig, ids };
}

/** The folder's files: config.json, model.safetensors, the tokenizer files, generation_config.json. */
export function familyFiles(f: Family): { files: [string, Uint8Array][]; ids: Map<string, number> } {
  const dir = join(REPO_ROOT, 'reference/cases', f.name, 'model');
  const config = readFileSync(join(dir, 'config.json'));
  const t = familyTokenizer(f, (JSON.parse(config.toString()) as { vocab_size: number }).vocab_size);
  const enc = new TextEncoder();
  const files: [string, Uint8Array][] = [
    ['config.json', config],
    ['model.safetensors', readFileSync(join(dir, 'model.safetensors'))],
    ['tokenizer.json', enc.encode(JSON.stringify(t.tokenizerJson))],
    ['tokenizer_config.json', enc.encode(JSON.stringify(t.tokenizerConfig))],
  ];
  if (f.template.in === 'file') files.push(['chat_template.jinja', enc.encode(f.template.source)]);
  if (f.generationEos) {
    const gen = { eos_token_id: f.generationEos.map((s) => t.ids.get(s)) };
    files.push(['generation_config.json', enc.encode(JSON.stringify(gen))]);
  }
  return { files, ids: t.ids };
}
