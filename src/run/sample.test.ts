// The prompt ids sampling feeds the model, decoded back to text: the user's words inside the chat
// template with its generation prompt (or the Alpaca prompt), BOS exactly once where the
// tokenizer config asks for it, and nothing else. The CLI's --logprobs test (cli.gpu.test.ts)
// checks the same through `npm run sample` on the demo.

import { describe, expect, it } from 'vitest';
import { promptFormatFor } from '../data/template';
import type { ModelTokenizer } from '../data/tokenizer';
import { BOS_CHATML, demoTokenizer, qwenLikeTokenizer } from '../data/testing/fixtures';
import { ALPACA_PREAMBLE } from '../data/template';
import { conversationOf, encodePrompt, recordByNumber, validationPrompts, type Conversation } from './sample';
import type { DatasetRecord } from '../data/parse';
import type { Example } from '../data/types';

/** Llama 3's chat template (the header and end-of-turn markers), which writes bos_token itself. */
const LLAMA3_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

const ask = (content: string, system?: string): Conversation => ({ system, turns: [{ role: 'user', content }] });

function decoded(t: ModelTokenizer, c: Conversation, raw = false): { text: string; ids: number[] } {
  const p = encodePrompt({ tokenizer: t, format: promptFormatFor(t) }, c, { raw });
  return { text: t.decode(p.ids, { skipSpecialTokens: false }), ids: p.ids };
}

describe('encodePrompt', () => {
  it('demo (ChatML, BOS from the tokenizer): BOS, the user turn, then the generation prompt', () => {
    const t = demoTokenizer();
    const p = decoded(t, ask('List all customers from Berlin.'));
    expect(p.text).toBe(
      '<|begin_of_text|><|im_start|>user\nList all customers from Berlin.<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(p.ids.filter((id) => id === t.bos!.id)).toHaveLength(1);
    const other = decoded(t, ask('How many orders were placed in 2023?'));
    expect(other.ids).not.toEqual(p.ids);
    expect(other.text).toContain('How many orders were placed in 2023?');
    expect(decoded(t, ask('Count the rows.', 'You write SQL.')).text).toBe(
      '<|begin_of_text|><|im_start|>system\nYou write SQL.<|im_end|>\n<|im_start|>user\nCount the rows.<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('Qwen style (ChatML, no BOS in the tokenizer config): no BOS at all', () => {
    const t = qwenLikeTokenizer();
    expect(t.bos).toBeNull();
    expect(decoded(t, ask('List all customers from Berlin.')).text).toBe(
      '<|im_start|>user\nList all customers from Berlin.<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('Llama 3 style (the template writes bos_token, the tokenizer adds BOS too): BOS exactly once', () => {
    const t = demoTokenizer({ chat_template: LLAMA3_TEMPLATE });
    const p = decoded(t, ask('List all customers from Berlin.'));
    expect(p.text).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nList all customers from Berlin.<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    expect(p.ids[0]).toBe(t.bos!.id);
    expect(p.ids.filter((id) => id === t.bos!.id)).toHaveLength(1);
    // A ChatML template that writes bos_token: the same rule.
    const c = demoTokenizer({ chat_template: BOS_CHATML });
    expect(decoded(c, ask('Hi')).text).toBe('<|begin_of_text|><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('no chat template: the Alpaca prompt up to "### Response:"', () => {
    const t = demoTokenizer({ chat_template: undefined });
    expect(decoded(t, ask('How many orders?')).text).toBe(
      `<|begin_of_text|>${ALPACA_PREAMBLE}\n\n### Instruction:\nHow many orders?\n\n### Response:\n`,
    );
  });

  it('a conversation: every turn, then the generation prompt; a record drops its last answer', () => {
    const t = demoTokenizer();
    const chat: Conversation = {
      turns: [
        { role: 'user', content: 'Count customers.' },
        { role: 'assistant', content: 'SELECT COUNT(*) FROM customers;' },
        { role: 'user', content: 'Only in Berlin.' },
      ],
    };
    const want =
      '<|begin_of_text|><|im_start|>user\nCount customers.<|im_end|>\n<|im_start|>assistant\nSELECT COUNT(*) FROM customers;<|im_end|>\n' +
      '<|im_start|>user\nOnly in Berlin.<|im_end|>\n<|im_start|>assistant\n';
    expect(decoded(t, chat).text).toBe(want);
    const record = { turns: [...chat.turns, { role: 'assistant' as const, content: "... WHERE city = 'Berlin';" }] };
    expect(decoded(t, conversationOf(record)).text).toBe(want);
    expect(() => decoded(t, { turns: chat.turns.slice(0, 2) })).toThrow('the conversation must end with a user turn');
  });

  it('raw: the text as is (no template), BOS by the same rule', () => {
    const t = demoTokenizer();
    expect(decoded(t, ask('SELECT name FROM'), true).text).toBe('<|begin_of_text|>SELECT name FROM');
    expect(decoded(t, ask('<|begin_of_text|>SELECT'), true).text).toBe('<|begin_of_text|>SELECT');
    expect(decoded(qwenLikeTokenizer(), ask('SELECT name FROM'), true).text).toBe('SELECT name FROM');
  });
});

describe('validation prompts', () => {
  // Records 0, 2 and 5 of a file whose records 1, 3 and 4 were bad.
  const records: DatasetRecord[] = [0, 2, 5].map((index) => ({
    index,
    line: index + 1,
    turns: [
      { role: 'user', content: `question ${index}` },
      { role: 'assistant', content: `answer ${index}` },
    ],
    ...(index === 5 ? { input: 'CREATE TABLE t (x INT);' } : {}),
  }));

  it('finds records by their number in the file, and shows what the user would type with the answer', () => {
    expect(recordByNumber(records, 2)?.turns[0].content).toBe('question 2');
    expect(recordByNumber(records, 3)).toBeUndefined();
    const val = [{ record: 5 }, { record: 0 }, { record: 3 }] as Example[];
    expect(validationPrompts(val, records, 2)).toEqual([
      { index: 0, record: 5, text: 'question 5\n\nCREATE TABLE t (x INT);', reference: 'answer 5' },
      { index: 1, record: 0, text: 'question 0', reference: 'answer 0' },
    ]);
  });
});
