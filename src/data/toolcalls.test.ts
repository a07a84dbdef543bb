// Tool calls in both dialects (ShareGPT function_call/observation + tools; OpenAI tool_calls,
// role tool + tools) through real chat templates: the Qwen2.5-Instruct and Llama-3.1-Instruct
// templates as published (testing/templates/), rendered by @huggingface/jinja, must equal what
// Python's jinja2 renders the way transformers' apply_chat_template does
// (testing/render_chat_template.py); and the labels train exactly the assistant turns, tool calls
// included, never the tool results or prompts.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { detectRecordFormat, normalizeRecord, recordText, type DatasetFormat, type NormalizedRecord } from './formats';
import { AlpacaFormat, ChatFormat, ChatTemplate, recordMessages } from './template';
import { ExampleEncoder } from './encode';
import { tokenizerFit } from './stats';
import type { ModelTokenizer } from './tokenizer';
import { hasJinja2, pythonRender, templateVars, trainedRuns, type RenderCase } from './testing/referee';
import { demoFiles, demoTokenizer, llama2LikeTokenizer, qwenLikeTokenizer } from './testing/fixtures';

const HERE = join(dirname(fileURLToPath(import.meta.url)), 'testing');
const QWEN25 = readFileSync(join(HERE, 'templates', 'qwen2.5-instruct.jinja'), 'utf8');
const LLAMA31 = readFileSync(join(HERE, 'templates', 'llama-3.1-instruct.jinja'), 'utf8');

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

/** LLaMA-Factory's glaive_toolcall shape: tools as a JSON string, function_call/observation turns. */
const SHAREGPT_TOOL = {
  conversations: [
    { from: 'human', value: 'What is the weather in Paris?' },
    { from: 'function_call', value: '{"name": "get_weather", "arguments": {"city": "Paris"}}' },
    { from: 'observation', value: '{"temperature": 21, "sky": "clear"}' },
    { from: 'gpt', value: 'It is 21 degrees and clear in Paris.' },
  ],
  tools: JSON.stringify([WEATHER_TOOL.function]),
};

/** OpenAI fine-tuning shape: arguments as a JSON string, role tool with tool_call_id, tools as a list. */
const OPENAI_TOOL = {
  messages: [
    { role: 'system', content: 'You answer with live data.' },
    { role: 'user', content: 'Weather in Oslo?' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Oslo"}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'call_1', name: 'get_weather', content: '{"temperature": -3}' },
    { role: 'assistant', content: 'It is -3 degrees in Oslo.' },
  ],
  tools: [WEATHER_TOOL],
};

/** Two calls at once (a list in one function_call), two observations, text with no system prompt. */
const SHAREGPT_PARALLEL = {
  conversations: [
    { from: 'human', value: 'Weather in Paris and in Rome?' },
    {
      from: 'function_call',
      value:
        '[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}]',
    },
    { from: 'observation', value: '{"temperature": 21}' },
    { from: 'observation', value: '{"temperature": 25}' },
    { from: 'gpt', value: 'Paris has 21 degrees, Rome 25.' },
  ],
  tools: [WEATHER_TOOL.function],
};

const MULTI = {
  messages: [
    { role: 'user', content: 'Name a colour.' },
    { role: 'assistant', content: 'Blue.' },
    { role: 'user', content: 'Another one?' },
    { role: 'assistant', content: 'Green.' },
  ],
};

function norm(raw: unknown, format: DatasetFormat): NormalizedRecord {
  const r = normalizeRecord(raw, format, 0, 1);
  if (!r.ok) throw new Error(r.error.message);
  return r.record;
}

const RECORDS: [string, NormalizedRecord][] = [
  ['ShareGPT tool call', norm(SHAREGPT_TOOL, 'sharegpt')],
  ['OpenAI tool call', norm(OPENAI_TOOL, 'chat')],
  ['multi-turn chat', norm(MULTI, 'chat')],
];

/** Llama 3-style tokenizer: the demo BPE with Llama 3's header and end-of-turn tokens added. */
function llama3LikeTokenizer(): ModelTokenizer {
  const { tokenizerJson } = demoFiles();
  const added = [...(tokenizerJson.added_tokens as Record<string, unknown>[])];
  const base = Math.max(...added.map((a) => a.id as number)) + 1;
  ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'].forEach((content, i) =>
    added.push({
      id: base + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    }),
  );
  return demoTokenizer({ bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' }, { added_tokens: added });
}

const TEMPLATES: { name: string; source: string; tokenizer: () => ModelTokenizer }[] = [
  { name: 'Qwen2.5-Instruct', source: QWEN25, tokenizer: qwenLikeTokenizer },
  { name: 'Llama-3.1-Instruct', source: LLAMA31, tokenizer: llama3LikeTokenizer },
];

type Case = RenderCase;

describe('tool-call records normalize from both dialects', () => {
  it('reads ShareGPT function_call/observation and a tools JSON string', () => {
    const r = norm(SHAREGPT_TOOL, 'sharegpt');
    expect(r.tools).toEqual([WEATHER_TOOL.function]);
    expect(r.turns.map((t) => t.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    expect(r.turns[1]).toEqual({
      role: 'assistant',
      content: '',
      toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }],
    });
    expect(r.turns[2].content).toBe('{"temperature": 21, "sky": "clear"}');
  });

  it('reads OpenAI tool_calls with string arguments, role tool and a tools list', () => {
    const r = norm(OPENAI_TOOL, 'chat');
    expect(r.system).toBe('You answer with live data.');
    expect(r.tools).toEqual([WEATHER_TOOL]);
    expect(r.turns[1].toolCalls).toEqual([{ name: 'get_weather', arguments: { city: 'Oslo' }, id: 'call_1' }]);
    expect(r.turns[2]).toEqual({
      role: 'tool',
      content: '{"temperature": -3}',
      name: 'get_weather',
      toolCallId: 'call_1',
    });
    // Object arguments are taken as they are.
    const obj = structuredClone(OPENAI_TOOL) as { messages: { tool_calls?: { function: { arguments: unknown } }[] }[] };
    obj.messages[2].tool_calls![0].function.arguments = { city: 'Oslo' };
    expect(norm(obj, 'chat').turns[1].toolCalls?.[0].arguments).toEqual({ city: 'Oslo' });
  });

  it('names the record and field for malformed tool data', () => {
    const err = (raw: unknown, f: DatasetFormat) => {
      const r = normalizeRecord(raw, f, 2, 3);
      return r.ok ? null : r.error;
    };
    const badCall = structuredClone(SHAREGPT_TOOL);
    badCall.conversations[1].value = '{"name": "get_weather", "arguments": ';
    expect(err(badCall, 'sharegpt')).toMatchObject({ field: 'conversations[1].value' });
    expect(err(badCall, 'sharegpt')!.message).toMatch(
      /^record #2 \(line 3\): field "conversations\[1\].value" must be a JSON function call/,
    );
    expect(err({ ...SHAREGPT_TOOL, tools: '[{' }, 'sharegpt')).toMatchObject({ field: 'tools' });
    const orphan = { conversations: [SHAREGPT_TOOL.conversations[0], SHAREGPT_TOOL.conversations[2]] };
    expect(err(orphan, 'sharegpt')!.message).toContain('"observation" but an assistant turn was expected');
    const endsWithCall = { messages: OPENAI_TOOL.messages.slice(0, 3) };
    expect(err(endsWithCall, 'chat')!.message).toContain('ends with a tool call');
    const badArgs = structuredClone(OPENAI_TOOL);
    (badArgs.messages[2].tool_calls as { function: { arguments: unknown } }[])[0].function.arguments = '[1]';
    expect(err(badArgs, 'chat')).toMatchObject({ field: 'messages[2].tool_calls[0].function.arguments' });
  });
});

// Skipped only outside CI without python3-jinja2 (scripts/setup.mjs --for test installs it).

describe.each(TEMPLATES)('$name as published', ({ source, tokenizer }) => {
  it.skipIf(!hasJinja2 && !process.env.CI)(
    'renders every record exactly as Python jinja2 does for apply_chat_template',
    () => {
      const tok = tokenizer();
      const t = new ChatTemplate(source, tok);
      const cases: Case[] = [];
      for (const [, r] of RECORDS) {
        const m = recordMessages(r);
        cases.push({ messages: m, tools: r.tools ?? null, add_generation_prompt: false });
        cases.push({ messages: m.slice(0, -1), tools: r.tools ?? null, add_generation_prompt: true });
      }
      const vars = templateVars(tok);
      const parallel = recordMessages(norm(SHAREGPT_PARALLEL, 'sharegpt'));
      cases.push({ messages: parallel, tools: SHAREGPT_PARALLEL.tools, add_generation_prompt: false });
      const py = pythonRender(source, vars, cases);
      cases.forEach((c, i) => {
        if (py[i].error !== undefined) {
          // The template refuses the record (raise_exception): the same words on both sides.
          expect(() => t.render(c.messages, c.add_generation_prompt, c.tools ?? undefined)).toThrow(py[i].error);
          return;
        }
        expect(t.render(c.messages, c.add_generation_prompt, c.tools ?? undefined)).toBe(py[i].text);
      });
      // Qwen2.5 writes both calls and both results; Llama 3.1 refuses more than one call at once.
      const last = py[py.length - 1];
      if (source === QWEN25) {
        expect(last.text).toContain('{"name": "get_weather", "arguments": {"city": "Rome"}}');
        expect(last.text).toContain('<tool_response>\n{"temperature": 21}\n</tool_response>\n<tool_response>');
      } else expect(last.error).toBe('This model only supports single tool-calls at once!');
      expect(py.slice(0, -1).every((x) => x.error === undefined)).toBe(true);
      // The tool definitions and the call are in the text as the template writes them.
      expect(py[0].text).toContain('get_weather');
      expect(py[2].text).toContain('get_weather');
    },
  );
});

describe('labels of tool-call records', () => {
  const encode = (tok: ModelTokenizer, source: string, r: NormalizedRecord, maskHistory = false) => {
    const enc = new ExampleEncoder(tok, new ChatFormat(new ChatTemplate(source, tok), tok), {
      maxSeqLength: 4096,
      trainOnInputs: false,
      maskHistory,
    });
    const e = enc.encode(r, 0);
    return { runs: trainedRuns(tok, e.inputIds, e.labels), preview: enc.renderForPreview(r) };
  };

  it('Qwen2.5: trains the tool call and the answer, not the tool result or the prompt', () => {
    const tok = qwenLikeTokenizer();
    const { runs, preview } = encode(tok, QWEN25, RECORDS[0][1]);
    expect(runs).toEqual([
      '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>',
      'It is 21 degrees and clear in Paris.<|im_end|>',
    ]);
    const kinds = preview.segments.filter((s) => s.kind).map((s) => [s.kind, s.trained, s.text]);
    expect(kinds).toEqual([
      ['call', true, '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>'],
      ['result', false, '{"temperature": 21, "sky": "clear"}'],
    ]);
    expect(preview.tools).toEqual([JSON.stringify(WEATHER_TOOL.function, null, 2)]);
  });

  it('Qwen2.5: two calls in one turn are one trained span; both results are masked', () => {
    const tok = qwenLikeTokenizer();
    const { runs, preview } = encode(tok, QWEN25, norm(SHAREGPT_PARALLEL, 'sharegpt'));
    expect(runs).toEqual([
      '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n' +
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call><|im_end|>',
      'Paris has 21 degrees, Rome 25.<|im_end|>',
    ]);
    expect(preview.segments.filter((s) => s.kind === 'result').map((s) => [s.text, s.trained])).toEqual([
      ['{"temperature": 21}', false],
      ['{"temperature": 25}', false],
    ]);
  });

  it('Llama 3.1: trains the JSON call and the answer, each through <|eot_id|>', () => {
    const tok = llama3LikeTokenizer();
    const { runs, preview } = encode(tok, LLAMA31, RECORDS[1][1]);
    // Llama 3.1 writes the result through tojson: the preview marks it as written.
    expect(preview.segments.filter((s) => s.kind === 'result').map((s) => s.text)).toEqual([
      '"{\\"temperature\\": -3}"',
    ]);
    expect(runs).toEqual([
      '{"name": "get_weather", "parameters": {"city": "Oslo"}}<|eot_id|>',
      'It is -3 degrees in Oslo.<|eot_id|>',
    ]);
  });

  it('trains every assistant turn by default and only the last with mask_history', () => {
    const tok = qwenLikeTokenizer();
    expect(encode(tok, QWEN25, RECORDS[2][1]).runs).toEqual(['Blue.<|im_end|>', 'Green.<|im_end|>']);
    expect(encode(tok, QWEN25, RECORDS[2][1], true).runs).toEqual(['Green.<|im_end|>']);
    expect(encode(tok, QWEN25, RECORDS[0][1], true).runs).toEqual(['It is 21 degrees and clear in Paris.<|im_end|>']);
  });

  it('refuses a record whose tools or calls the template ignores, naming why', () => {
    const tok = qwenLikeTokenizer();
    const plainChatml =
      "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    const f = new ChatFormat(new ChatTemplate(plainChatml, tok), tok);
    expect(() => f.render(RECORDS[0][1])).toThrow(
      'the chat template does not write the tool call "get_weather" (assistant message 1): it ignores tool_calls, so the call cannot be trained; use a model whose chat template supports tools',
    );
    const noCalls = { ...RECORDS[2][1], tools: [WEATHER_TOOL] };
    expect(() => f.render(noCalls)).toThrow('the chat template does not write the tool definitions (no "get_weather"');
  });

  it('without a template: the documented plain rendering, calls trained and results masked', () => {
    const tok = demoTokenizer();
    const f = new AlpacaFormat(tok);
    const r = f.render(RECORDS[0][1]);
    const eos = tok.eos!.content;
    expect(r.text).toBe(
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.' +
        `\n\n### Tools:\n${JSON.stringify(WEATHER_TOOL.function)}` +
        '\n\n### Instruction:\nWhat is the weather in Paris?\n\n### Response:\n' +
        `{"name":"get_weather","arguments":{"city":"Paris"}}${eos}` +
        '\n\n### Tool result:\n{"temperature": 21, "sky": "clear"}\n\n### Response:\n' +
        `It is 21 degrees and clear in Paris.${eos}`,
    );
    expect(r.spans.map(([s, e]) => r.text.slice(s, e))).toEqual([
      `{"name":"get_weather","arguments":{"city":"Paris"}}${eos}`,
      `It is 21 degrees and clear in Paris.${eos}`,
    ]);
    expect(r.kinds).toEqual(['call', 'answer']);
    expect(r.results.map(([s, e]) => r.text.slice(s, e))).toEqual(['{"temperature": 21, "sky": "clear"}']);
  });
});

describe('tokenizer fit', () => {
  it('flags English through the demo SQL tokenizer by its characters per token', () => {
    const text = recordText(
      norm(
        {
          instruction: 'Please describe the weather forecast for tomorrow afternoon in plain words.',
          output: 'Tomorrow afternoon brings scattered showers and a cool breeze from the north.',
        },
        'alpaca',
      ),
    );
    const fit = tokenizerFit([text], demoTokenizer());
    expect(fit.characters).toBe(text.length);
    expect(fit.charsPerToken).toBeLessThan(2);
    expect(fit.warnings).toHaveLength(1);
    expect(fit.warnings[0]).toContain(`${fit.charsPerToken.toFixed(2)} characters per token`);
    expect(fit.warnings[0]).toContain('general-purpose tokenizer');
  });

  it('flags byte-fallback tokens above the threshold, with the share', () => {
    const tok = llama2LikeTokenizer();
    const fit = tokenizerFit(['select name from users where city = ünïcödé'], tok);
    expect(fit.unknownOrBytes).toBeGreaterThan(0);
    expect(
      fit.warnings.some((w) =>
        w.startsWith(`${(fit.unknownShare * 100).toFixed(1)}% of the tokens are unknown or byte-fallback`),
      ),
    ).toBe(true);
  });
});

describe("the README's Formats examples", () => {
  it('are records each dialect reads', () => {
    const readme = readFileSync(join(HERE, '..', '..', '..', 'README.md'), 'utf8');
    const formats = readme.slice(readme.indexOf('## Formats'), readme.indexOf('## Numerics'));
    const blocks = [...formats.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]) as unknown);
    expect(blocks.map((b) => detectRecordFormat(b))).toEqual(['alpaca', 'chat', 'sharegpt']);
    const turns = blocks.map((b) => norm(b, detectRecordFormat(b)!).turns.map((t) => (t.toolCalls ? 'call' : t.role)));
    expect(turns).toEqual([
      ['user', 'assistant'],
      ['user', 'call', 'tool', 'assistant'],
      ['user', 'call', 'tool', 'assistant'],
    ]);
  });
});
