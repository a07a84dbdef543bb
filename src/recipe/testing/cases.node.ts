// Runs for the recipe tests: the demo tokenizer under several chat templates (the demo's
// ChatML, none so the Alpaca prompt is used, templates that exercise the encoder's boundary
// search, content-search fallback and EOS insertion), with the demo dataset or a multi-turn chat
// dataset made from it, prepared exactly as the studio prepares a run.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_HPARAMS, type Hparams, type TrainingHparams } from '../../config/hparams';
import { parseDataset, type ParsedDataset } from '../../data/parse';
import { promptFormatFor } from '../../data/template';
import { ModelTokenizer } from '../../data/tokenizer';
import { prepareData, type PreparedData } from '../../run/data';
import type { LoadedModel } from '../../run/model';
import type { RecipeInput } from '../recipe';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
export const DEMO_MODEL = join(ROOT, 'public/demo/model');
export const DEMO_DATASET = join(ROOT, 'public/demo/sql-demo.json');
export const HF_TOKENIZER_STUB = join(ROOT, 'src/recipe/testing/hf_tokenizer.py');

const demoTokenizerJson = () => readFileSync(join(DEMO_MODEL, 'tokenizer.json'), 'utf8');
const demoTokenizerConfig = () => JSON.parse(readFileSync(join(DEMO_MODEL, 'tokenizer_config.json'), 'utf8'));

/** Question/Answer turns with a trailing space before the answer (as Llama 2's "[/INST] " has):
 * a word after it is tokenized with its leading space, so the span start is not a clean token
 * boundary. No end-of-turn token: the last answer gets EOS inserted. Writes bos_token itself. */
export const QA_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}\n\n" +
  "{% elif m['role'] == 'user' %}Question: {{ m['content'] }}\n{% else %}Answer: {{ m['content'] }}\n\n" +
  '{% endif %}{% endfor %}{% if add_generation_prompt %}Answer: {% endif %}';

/** ChatML that marks the last message, so a prefix of the conversation is not a prefix of its
 * rendering: the assistant turns are found by searching for their content. */
export const LAST_MARK_TEMPLATE =
  "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}{% if loop.last %} [end]{% endif %}" +
  '<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';

/** A template that glues a letter to every assistant message and marks the last one (so turns are
 * found by content): an answer ending in "name" is followed by "s", and the byte-level BPE merges
 * " names" into one token, so the span end is not a clean boundary and moves right. Artificial:
 * real templates end turns with a special token or whitespace, but the encoder handles this case. */
export const GLUED_TEMPLATE =
  "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}{% if m['role'] == 'assistant' %}s{% endif %}" +
  '{% if loop.last %} [end]{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';

/** Short answers for GLUED_TEMPLATE: the first selected column without a plural s, then a table. */
export function shortAnswersJsonl(n: number): string {
  const demo = JSON.parse(readFileSync(DEMO_DATASET, 'utf8')) as { instruction: string; output: string }[];
  return demo
    .slice(0, n)
    .map((r) => {
      const col = (/^SELECT\s+(.*?)\s+FROM/.exec(r.output)?.[1] ?? 'name').split(',')[0].trim().replace(/s$/, '');
      const messages = [
        { role: 'user', content: r.instruction },
        { role: 'assistant', content: `SELECT ${col}` },
        { role: 'user', content: 'And the table?' },
        { role: 'assistant', content: 'customers' },
      ];
      return JSON.stringify({ messages });
    })
    .join('\n');
}

export const SQL_SYSTEM = 'You are a helpful assistant that writes SQL for the shop database.';

/** A multi-turn chat dataset from the demo's records: a system prompt on two thirds of them, the
 * query, then a follow-up question answered with the query's first selected column. */
export function chatDatasetJsonl(n: number): string {
  const demo = JSON.parse(readFileSync(DEMO_DATASET, 'utf8')) as {
    instruction: string;
    input: string;
    output: string;
  }[];
  return demo
    .slice(0, n)
    .map((r, i) => {
      const first = /^SELECT\s+([^\s,]+)/.exec(r.output)?.[1] ?? 'the query';
      const messages = [
        ...(i % 3 === 0 ? [] : [{ role: 'system', content: SQL_SYSTEM }]),
        { role: 'user', content: r.input ? `${r.instruction}\n\n${r.input}` : r.instruction },
        { role: 'assistant', content: r.output },
        { role: 'user', content: 'Which column comes first in the answer?' },
        { role: 'assistant', content: `${first} comes first.` },
      ];
      return JSON.stringify({ messages });
    })
    .join('\n');
}

export interface RecipeCase {
  name: string;
  input: RecipeInput;
  /** tokenizer.json and tokenizer_config.json of the model, for the Python side. */
  modelFiles: Map<string, string>;
}

export interface CaseOptions {
  name: string;
  /** The demo's chat template (undefined), none (null), or another one. */
  chatTemplate?: string | null;
  dataset?: { text: string; name: string };
  training?: Partial<TrainingHparams>;
  lora?: Partial<Hparams['lora']>;
  quantization?: Partial<Hparams['quantization']>;
}

export function makeCase(o: CaseOptions): RecipeCase {
  const config = demoTokenizerConfig();
  if (o.chatTemplate === null) delete config.chat_template;
  else if (o.chatTemplate !== undefined) config.chat_template = o.chatTemplate;
  const tokJson = demoTokenizerJson();
  const tokenizer = ModelTokenizer.load(tokJson, config);
  const format = promptFormatFor(tokenizer);
  const ds = o.dataset ?? { text: readFileSync(DEMO_DATASET, 'utf8'), name: 'sql-demo.json' };
  const dataset: ParsedDataset = parseDataset(ds.text, { name: ds.name });
  const hparams: Hparams = {
    lora: { ...DEFAULT_HPARAMS.lora, ...o.lora },
    training: { ...DEFAULT_HPARAMS.training, ...o.training },
    quantization: { ...DEFAULT_HPARAMS.quantization, ...o.quantization },
  };
  // prepareData reads only the tokenizer and the format of the model.
  const data: PreparedData = prepareData(dataset, { tokenizer, format } as LoadedModel, hparams.training);
  return {
    name: o.name,
    input: { run: { hparams, baseModelNameOrPath: 'demo/model' }, tokenizer, format, dataset, data },
    modelFiles: new Map([
      ['tokenizer.json', tokJson],
      ['tokenizer_config.json', JSON.stringify(config, null, 2)],
    ]),
  };
}

export function writeModelDir(dir: string, files: Map<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return dir;
}
