// Everything the TypeScript half of the demo generator produces, as bytes in memory, so that
// generate.ts writes it and demo.test.ts checks that the committed files are exactly what it
// produces. Weights are not here: scripts/demo/pretrain.py makes them from pretrainTokens.

import { Tokenizer } from '@huggingface/tokenizers';
import { trainBpe, tokenizerJson, type SpecialTokenSpec } from './bpe';
import { pretrainingCorpus, sqlDataset, SCHEMA } from './sql';

export const DEMO_SEED = 20240611;
export const DEMO_RECORDS = 400;
export const DEMO_VOCAB_SIZE = 1024;
export const PRETRAIN_DOCS = 6000;

export const BOS = '<|begin_of_text|>';
export const EOS = '<|end_of_text|>';
export const IM_START = '<|im_start|>';
export const IM_END = '<|im_end|>';
export const PAD = '<|pad|>';
const SPECIALS = [BOS, EOS, IM_START, IM_END, PAD];

/** ChatML, as SmolLM2 and Qwen write it; unknown roles stop rendering with a message. */
export const CHAT_TEMPLATE =
  "{%- for message in messages %}{%- if message['role'] not in ['system', 'user', 'assistant'] %}" +
  "{{- raise_exception('Only system, user and assistant roles are supported, not ' + message['role']) }}{%- endif %}" +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

export const MODEL_DIR = 'public/demo/model';
export const DATASET_PATH = 'public/demo/sql-demo.json';
export const BAD_FIXTURE_PATH = 'e2e/fixtures/bad-dataset.jsonl';

export interface DemoBuild {
  /** Repository-relative path -> file content. */
  files: Map<string, string>;
  /** The pretraining corpus tokenized: per document BOS, text, EOS; concatenated. */
  pretrainTokens: Uint16Array;
  vocabSize: number;
  specialIds: Record<string, number>;
}

const json = (x: unknown) => JSON.stringify(x, null, 2) + '\n';

export function buildDemo(): DemoBuild {
  const dataset = sqlDataset(DEMO_RECORDS, DEMO_SEED);
  const docs = pretrainingCorpus(PRETRAIN_DOCS, DEMO_SEED + 1);

  // The tokenizer learns from the same domain: corpus, dataset, schema, and the chat roles.
  const bpeTexts = [
    ...docs,
    ...dataset.flatMap((r) => [r.instruction, r.input, r.output]),
    ...Object.values(SCHEMA),
    'system\nuser\nassistant\nYou are a helpful assistant that writes SQL for the shop database.',
  ];
  const bpe = trainBpe(bpeTexts, DEMO_VOCAB_SIZE - SPECIALS.length);
  if (bpe.vocab.size !== DEMO_VOCAB_SIZE - SPECIALS.length) {
    throw new Error(`the BPE corpus supports only ${bpe.vocab.size} tokens`);
  }
  const specials: SpecialTokenSpec[] = SPECIALS.map((content, i) => ({ content, id: bpe.vocab.size + i }));
  const specialIds = Object.fromEntries(specials.map((s) => [s.content, s.id]));
  const tokJson = tokenizerJson(bpe, specials, specials[0]);

  const tokConfig = {
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(
      specials.map((s) => [
        String(s.id),
        { content: s.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      ]),
    ),
    additional_special_tokens: [IM_START, IM_END],
    bos_token: BOS,
    chat_template: CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: EOS,
    model_input_names: ['input_ids', 'attention_mask'],
    model_max_length: 512,
    pad_token: PAD,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };

  // _name_or_path marks the folder as the built-in demo (src/run/model.ts DEMO_NAME): whichever
  // door loads it, adapters and recipes name their base model the same.
  const config = {
    _name_or_path: 'lora-studio-demo-sql',
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: specialIds[BOS],
    eos_token_id: specialIds[EOS],
    head_dim: 16,
    hidden_act: 'silu',
    hidden_size: 64,
    initializer_range: 0.02,
    intermediate_size: 176,
    max_position_embeddings: 512,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: 4,
    num_hidden_layers: 4,
    num_key_value_heads: 2,
    pad_token_id: specialIds[PAD],
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: null,
    rope_theta: 10000.0,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    transformers_version: '4.46.0',
    use_cache: true,
    vocab_size: DEMO_VOCAB_SIZE,
  };

  // The base model ends documents with <|end_of_text|>; the chat format ends turns with <|im_end|>.
  const generationConfig = {
    bos_token_id: specialIds[BOS],
    eos_token_id: [specialIds[EOS], specialIds[IM_END]],
    pad_token_id: specialIds[PAD],
    transformers_version: '4.46.0',
  };

  const files = new Map<string, string>();
  files.set(DATASET_PATH, json(dataset));
  files.set(`${MODEL_DIR}/tokenizer.json`, json(tokJson));
  files.set(`${MODEL_DIR}/tokenizer_config.json`, json(tokConfig));
  files.set(`${MODEL_DIR}/config.json`, json(config));
  files.set(`${MODEL_DIR}/generation_config.json`, json(generationConfig));
  files.set(BAD_FIXTURE_PATH, badFixture(dataset));

  // Tokenize with the real loader, exactly as the studio will.
  const tok = new Tokenizer(tokJson as object, tokConfig);
  const ids: number[] = [];
  for (const d of docs) {
    ids.push(specialIds[BOS], ...tok.encode(d, { add_special_tokens: false }).ids, specialIds[EOS]);
  }
  return { files, pretrainTokens: Uint16Array.from(ids), vocabSize: DEMO_VOCAB_SIZE, specialIds };
}

/**
 * A JSONL file for the end-to-end tests, with known good and bad lines:
 *   1, 2, 5, 8: good; 3: invalid JSON; 4: no "output"; 6: an array, not an object;
 *   7: "instruction" is a number; 9: blank (ignored); 10: good.
 */
function badFixture(d: { instruction: string; input: string; output: string }[]): string {
  const line = (x: unknown) => JSON.stringify(x);
  const lines = [
    line(d[0]),
    line(d[1]),
    '{"instruction": "Count the orders.", "input": "", "output": "SELECT COUNT(*) FROM orders;"',
    line({ instruction: d[2].instruction, input: d[2].input }),
    line(d[3]),
    line(['instruction', 'output']),
    line({ instruction: 42, input: '', output: d[4].output }),
    line(d[5]),
    '',
    line(d[6]),
  ];
  return lines.join('\n') + '\n';
}
