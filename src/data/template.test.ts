import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { NormalizedRecord } from './formats';
import {
  ALPACA_PREAMBLE,
  ALPACA_PREAMBLE_INPUT,
  AlpacaFormat,
  ChatFormat,
  ChatTemplate,
  promptFormatFor,
  recordMessages,
  resolveChatTemplate,
  strftimeC,
  TemplateError,
} from './template';
import { BOS_CHATML, demoTokenizer, qwenLikeTokenizer } from './testing/fixtures';

const single: NormalizedRecord = {
  turns: [
    { role: 'user', content: 'How many orders?' },
    { role: 'assistant', content: 'SELECT COUNT(*) FROM orders;' },
  ],
};
const multi: NormalizedRecord = {
  system: 'You write SQL.',
  turns: [
    { role: 'user', content: 'u1' },
    { role: 'assistant', content: 'a1' },
    { role: 'user', content: 'u2' },
    { role: 'assistant', content: 'a2' },
  ],
};
const slice = (r: { text: string; spans: [number, number][] }) => r.spans.map(([s, e]) => r.text.slice(s, e));

describe('resolveChatTemplate', () => {
  it('takes a string, a named list, or a separate chat_template.jinja (which wins)', () => {
    expect(resolveChatTemplate({ chat_template: 'A' })).toBe('A');
    expect(resolveChatTemplate({})).toBeNull();
    expect(resolveChatTemplate({ chat_template: ' ' })).toBeNull();
    const list = {
      chat_template: [
        { name: 'tool_use', template: 'T' },
        { name: 'default', template: 'D' },
      ],
    };
    expect(resolveChatTemplate(list)).toBe('D');
    expect(resolveChatTemplate(list, null, 'tool_use')).toBe('T');
    expect(resolveChatTemplate(list, '{{ x }}')).toBe('{{ x }}');
    expect(() => resolveChatTemplate({ chat_template: [{ name: 'rag', template: 'R' }] })).toThrow(
      'tokenizer_config.json has chat templates named "rag" but none named "default"',
    );
    expect(() => resolveChatTemplate({ chat_template: [{ name: 1 }] })).toThrow(TemplateError);
    expect(() => resolveChatTemplate({ chat_template: 5 })).toThrow(TemplateError);
  });
});

describe('ChatTemplate', () => {
  it("renders the demo's ChatML template with and without the generation prompt", () => {
    const t = demoTokenizer();
    const tpl = new ChatTemplate(resolveChatTemplate(t.config)!, t);
    const msgs = recordMessages(single);
    expect(tpl.render(msgs, false)).toBe(
      '<|im_start|>user\nHow many orders?<|im_end|>\n<|im_start|>assistant\nSELECT COUNT(*) FROM orders;<|im_end|>\n',
    );
    expect(tpl.render(msgs.slice(0, 1), true)).toBe(
      '<|im_start|>user\nHow many orders?<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('passes bos_token and eos_token, and reports raise_exception and syntax errors clearly', () => {
    const t = demoTokenizer();
    expect(new ChatTemplate('{{ bos_token }}|{{ eos_token }}', t).render([], false)).toBe(
      '<|begin_of_text|>|<|end_of_text|>',
    );
    const demo = new ChatTemplate(resolveChatTemplate(t.config)!, t);
    expect(() => demo.render([{ role: 'tool' as 'user', content: 'x' }], false)).toThrow(
      'the chat template failed: Only system, user and assistant roles are supported, not tool',
    );
    expect(() => new ChatTemplate('{% for %}', t)).toThrow(/^the chat template could not be parsed: /);
  });
});

describe('ChatFormat', () => {
  it('finds the assistant span through <|im_end|>, without the newline after it', () => {
    const t = demoTokenizer();
    const r = promptFormatFor(t).render(single);
    expect(slice(r)).toEqual(['SELECT COUNT(*) FROM orders;<|im_end|>']);
    expect(r.text.slice(0, r.spans[0][0]).endsWith('<|im_start|>assistant\n')).toBe(true);
  });

  it('finds every assistant turn of a multi-turn chat with a system prompt', () => {
    const r = promptFormatFor(demoTokenizer()).render(multi);
    expect(r.text.startsWith('<|im_start|>system\nYou write SQL.<|im_end|>\n')).toBe(true);
    expect(slice(r)).toEqual(['a1<|im_end|>', 'a2<|im_end|>']);
  });

  it('appends the Alpaca input to the first user turn', () => {
    const r = promptFormatFor(demoTokenizer()).render({ ...single, input: 'CREATE TABLE orders (id INTEGER);' });
    expect(r.text).toContain('<|im_start|>user\nHow many orders?\n\nCREATE TABLE orders (id INTEGER);<|im_end|>');
  });

  it('inserts EOS after the last answer when the template ends turns without a special token', () => {
    const t = demoTokenizer({
      chat_template:
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}",
    });
    const r = promptFormatFor(t).render(single);
    expect(r.text).toBe('user: How many orders?\nassistant: SELECT COUNT(*) FROM orders;<|end_of_text|>\n');
    expect(slice(r)).toEqual(['SELECT COUNT(*) FROM orders;<|end_of_text|>']);
  });

  it('falls back to finding the content when a template renders history differently', () => {
    // Earlier assistant turns get a "[old] " mark once the conversation goes on, so the rendering
    // through a1 is not a prefix of the whole; the content search still finds a1 and its <|im_end|>.
    const mark =
      "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['role'] == 'assistant' and not loop.last %}[old] {% endif %}" +
      "{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    const r = promptFormatFor(demoTokenizer({ chat_template: mark })).render(multi);
    expect(r.text).toContain('[old] a1<|im_end|>');
    expect(slice(r)).toEqual(['a1<|im_end|>', 'a2<|im_end|>']);
    // When the content itself is rewritten it cannot be found, and the message says so.
    const upper = mark.replace(
      "[old] {% endif %}{{ m['content'] }}",
      "{{ m['content'] | upper }}{% else %}{{ m['content'] }}{% endif %}",
    );
    expect(upper).not.toBe(mark);
    expect(() => promptFormatFor(demoTokenizer({ chat_template: upper })).render(multi)).toThrow(
      'the rendered text does not contain assistant message 2 as written, so its tokens cannot be found',
    );
  });

  it('a template that writes bos_token keeps it in the text', () => {
    const r = promptFormatFor(demoTokenizer({ chat_template: BOS_CHATML })).render(single);
    expect(r.text.startsWith('<|begin_of_text|><|im_start|>user\n')).toBe(true);
    expect(slice(r)).toEqual(['SELECT COUNT(*) FROM orders;<|im_end|>']);
  });

  it('renders the prompt for generation', () => {
    expect(promptFormatFor(qwenLikeTokenizer()).renderPrompt(multi)).toBe(
      '<|im_start|>system\nYou write SQL.<|im_end|>\n<|im_start|>user\nu1<|im_end|>\n<|im_start|>assistant\na1<|im_end|>\n<|im_start|>user\nu2<|im_end|>\n<|im_start|>assistant\n',
    );
  });
});

describe('AlpacaFormat', () => {
  const noTemplate = () => demoTokenizer({ chat_template: undefined });

  it('is used when the model has no chat template, with the standard texts and EOS after the response', () => {
    const f = promptFormatFor(noTemplate());
    expect(f).toBeInstanceOf(AlpacaFormat);
    const r = f.render(single);
    expect(r.text).toBe(
      `${ALPACA_PREAMBLE}\n\n### Instruction:\nHow many orders?\n\n### Response:\nSELECT COUNT(*) FROM orders;<|end_of_text|>`,
    );
    expect(slice(r)).toEqual(['SELECT COUNT(*) FROM orders;<|end_of_text|>']);
    expect(ALPACA_PREAMBLE).toBe(
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.',
    );
  });

  it('gives the input its own section and lets a system prompt replace the preamble', () => {
    const f = promptFormatFor(noTemplate());
    expect(f.render({ ...single, input: 'ctx' }).text).toBe(
      `${ALPACA_PREAMBLE_INPUT}\n\n### Instruction:\nHow many orders?\n\n### Input:\nctx\n\n### Response:\nSELECT COUNT(*) FROM orders;<|end_of_text|>`,
    );
    const m = f.render(multi);
    expect(
      m.text.startsWith(
        'You write SQL.\n\n### Instruction:\nu1\n\n### Response:\na1<|end_of_text|>\n\n### Instruction:\nu2',
      ),
    ).toBe(true);
    expect(slice(m)).toEqual(['a1<|end_of_text|>', 'a2<|end_of_text|>']);
    expect(f.renderPrompt(single)).toBe(`${ALPACA_PREAMBLE}\n\n### Instruction:\nHow many orders?\n\n### Response:\n`);
  });

  it('needs an EOS token', () => {
    expect(() => new AlpacaFormat({ eos: null })).toThrow(/has no eos_token/);
  });

  it('ChatFormat is chosen when there is a template', () => {
    expect(promptFormatFor(demoTokenizer())).toBeInstanceOf(ChatFormat);
  });
});

describe('strftime_now as transformers has it', () => {
  it("formats like Python's strftime in the C locale, whatever the browser's language", () => {
    const fmt = '%A %a %d %B %b %Y %y %m %H %I %p %M %S %j %%';
    const dates: [number, number, number, number, number, number][] = [
      [2026, 0, 5, 0, 7, 9],
      [2025, 5, 30, 13, 59, 1],
      [2024, 11, 31, 23, 0, 59],
    ];
    const py = spawnSync(
      '/usr/bin/python3',
      [
        '-c',
        'import sys, json, datetime\n' +
          'for y, mo, d, h, mi, s in json.loads(sys.argv[2]):\n' +
          '    print(datetime.datetime(y, mo + 1, d, h, mi, s).strftime(sys.argv[1]))',
        fmt,
        JSON.stringify(dates),
      ],
      { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
    );
    expect(py.status).toBe(0);
    expect(dates.map((a) => strftimeC(new Date(...a), fmt))).toEqual(py.stdout.trim().split('\n'));
  });

  it('is what a template calling strftime_now gets', () => {
    const t = new ChatTemplate("{{ strftime_now('%d %B %Y') }}", demoTokenizer());
    const before = strftimeC(new Date(), '%d %B %Y');
    const got = t.render([{ role: 'user', content: 'x' }], false);
    expect([before, strftimeC(new Date(), '%d %B %Y')]).toContain(got);
    expect(got).toMatch(
      /^\d\d (January|February|March|April|May|June|July|August|September|October|November|December) \d{4}$/,
    );
  });
});
