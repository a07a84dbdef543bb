// The published chat templates of the new families, through the whole data path a person uses:
// a tiny checkpoint of each family (reference/cases) with a tokenizer that has the family's special
// tokens and its real chat template (Qwen3-0.6B's and Gemma 3's from tokenizer_config.json, SmolLM3-3B's
// as the chat_template.jinja file its repository ships, Phi-4-mini-instruct's), opened by openModel.
// What is checked is what the person gets: the text a training example holds (decoded from its
// ids) equals what Python's jinja2 renders the way transformers' apply_chat_template does, the
// trained tokens are exactly the assistant turns, the sampler's prompt equals the rendering with
// add_generation_prompt, and sampling stops at the family's end-of-turn token.

import { describe, expect, it } from 'vitest';
import type { DatasetRecord } from '../data/parse';
import { recordMessages, type ChatMessage } from '../data/template';
import { hasJinja2, pythonRender, templateVars, trainedRuns, type RenderCase } from '../data/testing/referee';
import type { ModelTokenizer } from '../data/tokenizer';
import { encodeData } from './data';
import { FAMILIES, familyModel } from './testing/families';
import { chatConversation, encodePrompt } from './sample';

function pyRender(source: string, tok: ModelTokenizer, cases: RenderCase[]) {
  return pythonRender(source, templateVars(tok), cases);
}

const rec = (index: number, turns: DatasetRecord['turns'], system?: string): DatasetRecord => ({
  index,
  line: index + 1,
  turns,
  ...(system ? { system } : {}),
});

const RECORDS: DatasetRecord[] = [
  rec(
    0,
    [
      { role: 'user', content: 'How many orders?' },
      { role: 'assistant', content: 'SELECT COUNT(*) FROM orders;' },
    ],
    'You write SQL.',
  ),
  rec(1, [
    { role: 'user', content: 'Name a colour.' },
    { role: 'assistant', content: 'Blue.' },
    { role: 'user', content: 'Another one?' },
    { role: 'assistant', content: 'Green.' },
  ]),
  // SmolLM3 reads /no_think in the system prompt; the others take it as text.
  rec(
    2,
    [
      { role: 'user', content: 'Say hi.' },
      { role: 'assistant', content: 'hi' },
    ],
    'Be brief. /no_think',
  ),
];

/** What each family trains for RECORDS, turn by turn (the template decides what a turn holds). */
const TRAINED: Record<string, string[][]> = {
  // Qwen3 writes an empty think block into the turn after the last user query; earlier turns bare.
  'tiny-qwen3': [
    ['<think>\n\n</think>\n\nSELECT COUNT(*) FROM orders;<|im_end|>'],
    ['Blue.<|im_end|>', '<think>\n\n</think>\n\nGreen.<|im_end|>'],
    ['<think>\n\n</think>\n\nhi<|im_end|>'],
  ],
  'tiny-gemma3': [
    ['SELECT COUNT(*) FROM orders;<end_of_turn>'],
    ['Blue.<end_of_turn>', 'Green.<end_of_turn>'],
    ['hi<end_of_turn>'],
  ],
  // SmolLM3 thinks by default (no think block written); /no_think puts an empty one in the prompt.
  'tiny-smollm3': [
    ['SELECT COUNT(*) FROM orders;<|im_end|>'],
    ['Blue.<|im_end|>', 'Green.<|im_end|>'],
    ['hi<|im_end|>'],
  ],
  // Phi-4-mini ends a finished conversation with eos_token after the last <|end|>.
  'tiny-phi3': [
    ['SELECT COUNT(*) FROM orders;<|end|><|endoftext|>'],
    ['Blue.<|end|>', 'Green.<|end|><|endoftext|>'],
    ['hi<|end|><|endoftext|>'],
  ],
};

// Skipped only outside CI without python3-jinja2 (scripts/setup.mjs --for test installs it).

describe.each(FAMILIES)('$name with its published chat template', (f) => {
  it.skipIf(!hasJinja2 && !process.env.CI)(
    'trains on text equal to apply_chat_template, labels on the assistant turns only',
    async () => {
      const { model } = await familyModel(f);
      expect(model.info.promptFormat).toBe('chat');
      const tok = model.tokenizer;
      const enc = encodeData(RECORDS, model, { max_seq_length: 4096, train_on_inputs: false });
      expect(enc.errors).toEqual([]);
      const py = pyRender(
        f.template.source,
        tok,
        RECORDS.map((r) => ({ messages: recordMessages(r), tools: null, add_generation_prompt: false })),
      );
      enc.examples.forEach((e, i) => {
        expect(py[i].error).toBeUndefined();
        // ids decode to the rendered text; a tokenizer that adds BOS adds it only where the template did not
        const text = tok.decode(Array.from(e.inputIds));
        const want = py[i].text!;
        expect(text).toBe(tok.addBosToken && !want.startsWith(tok.bos!.content) ? tok.bos!.content + want : want);
        expect(trainedRuns(tok, e.inputIds, e.labels)).toEqual(TRAINED[f.name][i]);
      });
      // the template's own markers are single special tokens, never spelled out in bytes
      const turnEnd = tok.encode(f.endOfTurn, { addSpecialTokens: false });
      expect(turnEnd).toHaveLength(1);
      expect(Array.from(enc.examples[1].inputIds).filter((id) => id === turnEnd[0]).length).toBeGreaterThanOrEqual(2);
    },
  );

  it.skipIf(!hasJinja2 && !process.env.CI)(
    "prompts the sampler as apply_chat_template(add_generation_prompt=True) and stops at the family's end of turn",
    async () => {
      const { model, ids } = await familyModel(f);
      const tok = model.tokenizer;
      const conv = chatConversation(
        [
          { role: 'user', content: 'Name a colour.' },
          { role: 'assistant', content: 'Blue.' },
          { role: 'user', content: 'Another one?' },
        ],
        'Answer in one word.',
      );
      const p = encodePrompt(model, conv);
      const messages: ChatMessage[] = [
        { role: 'system', content: 'Answer in one word.' },
        { role: 'user', content: 'Name a colour.' },
        { role: 'assistant', content: 'Blue.' },
        { role: 'user', content: 'Another one?' },
      ];
      const [want] = pyRender(f.template.source, tok, [{ messages, tools: null, add_generation_prompt: true }]);
      expect(p.text).toBe(want.text);
      expect(tok.decode(p.ids)).toBe(
        tok.addBosToken && !want.text!.startsWith(tok.bos!.content) ? tok.bos!.content + want.text! : want.text!,
      );
      expect(model.stopIds).toContain(ids.get(f.endOfTurn));
    },
  );
});

describe('what the published templates write', () => {
  it('Gemma 3 folds the system prompt into the first user turn and names the assistant "model"', async () => {
    const { model } = await familyModel(FAMILIES[1]);
    const p = encodePrompt(model, chatConversation([{ role: 'user', content: 'Hi' }], 'Be brief.'));
    expect(p.text).toBe('<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n');
    // the template writes <bos> itself, so the tokenizer adds no second one
    expect(p.ids.filter((id) => id === model.tokenizer.bos!.id)).toHaveLength(1);
  });

  it('SmolLM3 writes its metadata header with the date and the reasoning mode', async () => {
    const { model } = await familyModel(FAMILIES[2]);
    const think = encodePrompt(model, chatConversation([{ role: 'user', content: 'Hi' }], 'Be brief.'));
    expect(think.text).toMatch(
      /^<\|im_start\|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\nToday Date: \d\d [A-Z][a-z]+ \d{4}\nReasoning Mode: \/think\n\n## Custom Instructions\n\nBe brief\.\n\n<\|im_start\|>user\nHi<\|im_end\|>\n<\|im_start\|>assistant\n$/,
    );
    const noThink = encodePrompt(model, chatConversation([{ role: 'user', content: 'Hi' }], 'Be brief. /no_think'));
    expect(noThink.text).toContain('Reasoning Mode: /no_think\n\n## Custom Instructions\n\nBe brief.\n\n');
    expect(noThink.text.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n')).toBe(true);
  });

  it('Qwen3 keeps reasoning only in the turns after the last user query', async () => {
    const { model } = await familyModel(FAMILIES[0]);
    const r = rec(0, [
      { role: 'user', content: 'Two plus two?' },
      { role: 'assistant', content: '<think>\nsmall sum\n</think>\n\nFour.' },
      { role: 'user', content: 'Times three?' },
      { role: 'assistant', content: '<think>\n4 x 3\n</think>\n\nTwelve.' },
    ]);
    const d = encodeData([r], model, { max_seq_length: 4096, train_on_inputs: false });
    expect(d.errors).toEqual([]);
    const [e] = d.examples;
    const text = model.tokenizer.decode(Array.from(e.inputIds));
    expect(text).toBe(
      '<|im_start|>user\nTwo plus two?<|im_end|>\n<|im_start|>assistant\nFour.<|im_end|>\n' +
        '<|im_start|>user\nTimes three?<|im_end|>\n<|im_start|>assistant\n<think>\n4 x 3\n</think>\n\nTwelve.<|im_end|>\n',
    );
    expect(trainedRuns(model.tokenizer, e.inputIds, e.labels)).toEqual([
      'Four.<|im_end|>',
      '<think>\n4 x 3\n</think>\n\nTwelve.<|im_end|>',
    ]);
  });
});
