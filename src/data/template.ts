// How a record becomes the text the model reads: through the model's own chat template (Jinja,
// from tokenizer_config.json or chat_template.jinja, rendered with @huggingface/jinja the way
// transformers' apply_chat_template does), or through the Alpaca prompt when the model has none.
// Besides the text, rendering reports the character spans of the assistant turns (through their
// end-of-turn token, tool-call turns included), which encode.ts maps to tokens to decide what the
// loss is taken on, and where the tool results are, for the preview. Tool definitions go in as
// `tools`, calls as `tool_calls` with object arguments, results as role "tool" messages, as
// transformers passes them (testing/render_chat_template.py is the referee).

import { Template } from '@huggingface/jinja';
import { firstUserContent, type NormalizedRecord } from './formats';
import type { ModelTokenizer } from './tokenizer';

/** A message as transformers' apply_chat_template hands it to the template. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** Present only on tool-call turns; arguments are objects (as transformers passes them). */
  tool_calls?: { type: 'function'; id?: string; function: { name: string; arguments: Record<string, unknown> } }[];
  name?: string;
  tool_call_id?: string;
}

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** What a span of rendered text is, for the preview: an answer, a tool call, a tool result. */
export type SpanKind = 'answer' | 'call' | 'result';

/** A rendered record: the full text and the [start, end) character spans the loss is taken on. */
export interface RenderedRecord {
  text: string;
  /** One per assistant turn, in order. */
  spans: [number, number][];
  /** Per span: a plain answer or a turn with tool calls. */
  kinds: ('answer' | 'call')[];
  /** Where the tool results are (not trained), as far as they are found in the text. */
  results: [number, number][];
}

/** A way to turn records into model text. */
export interface PromptFormat {
  readonly kind: 'chat' | 'alpaca';
  /** The whole record, with the spans of every assistant turn. */
  render(r: NormalizedRecord): RenderedRecord;
  /** The prompt for generating the record's last assistant turn (everything before it). */
  renderPrompt(r: NormalizedRecord): string;
}

/**
 * The chat template source: a separate chat_template.jinja file wins (transformers saves it
 * there since v4.50), else tokenizer_config.json's chat_template, which is a string or a list of
 * {name, template} (the one named "default" is used, or the given name). null: none.
 */
export function resolveChatTemplate(
  tokenizerConfig: Record<string, unknown>,
  chatTemplateFile?: string | null,
  name = 'default',
): string | null {
  if (typeof chatTemplateFile === 'string' && chatTemplateFile.trim() !== '') return chatTemplateFile;
  const t = tokenizerConfig.chat_template;
  if (t === undefined || t === null) return null;
  if (typeof t === 'string') return t.trim() === '' ? null : t;
  if (Array.isArray(t)) {
    const named = new Map<string, string>();
    for (const [i, e] of t.entries()) {
      const o = e as Record<string, unknown>;
      if (typeof o !== 'object' || o === null || typeof o.name !== 'string' || typeof o.template !== 'string') {
        throw new TemplateError(`tokenizer_config.json: chat_template[${i}] must be {"name": ..., "template": ...}`);
      }
      named.set(o.name, o.template);
    }
    const chosen = named.get(name);
    if (chosen === undefined) {
      throw new TemplateError(
        `tokenizer_config.json has chat templates named ${[...named.keys()].map((k) => `"${k}"`).join(', ')} but none named "${name}"`,
      );
    }
    return chosen;
  }
  throw new TemplateError('tokenizer_config.json: chat_template must be a string or a list of named templates');
}

/** The messages a record stands for, as chat templates receive them. */
export function recordMessages(r: NormalizedRecord): ChatMessage[] {
  const m: ChatMessage[] = [];
  if (r.system !== undefined) m.push({ role: 'system', content: r.system });
  r.turns.forEach((t, i) => {
    const msg: ChatMessage = { role: t.role, content: i === 0 ? firstUserContent(r) : t.content };
    if (t.toolCalls) {
      msg.tool_calls = t.toolCalls.map((c) => ({
        type: 'function' as const,
        ...(c.id === undefined ? {} : { id: c.id }),
        function: { name: c.name, arguments: c.arguments },
      }));
    }
    if (t.name !== undefined) msg.name = t.name;
    if (t.toolCallId !== undefined) msg.tool_call_id = t.toolCallId;
    m.push(msg);
  });
  return m;
}

const STRFTIME = '__strftime_now_c';
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** Python's datetime.strftime in the C locale, local time, for the directives templates use. */
export function strftimeC(d: Date, format: string): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  return format.replace(/%([a-zA-Z%])/g, (all, c: string) => {
    switch (c) {
      case 'Y':
        return String(d.getFullYear());
      case 'y':
        return p2(d.getFullYear() % 100);
      case 'm':
        return p2(d.getMonth() + 1);
      case 'd':
        return p2(d.getDate());
      case 'B':
        return MONTHS[d.getMonth()];
      case 'b':
        return MONTHS[d.getMonth()].slice(0, 3);
      case 'A':
        return DAYS[d.getDay()];
      case 'a':
        return DAYS[d.getDay()].slice(0, 3);
      case 'H':
        return p2(d.getHours());
      case 'I':
        return p2(d.getHours() % 12 || 12);
      case 'p':
        return d.getHours() < 12 ? 'AM' : 'PM';
      case 'M':
        return p2(d.getMinutes());
      case 'S':
        return p2(d.getSeconds());
      case 'j': {
        const start = new Date(d.getFullYear(), 0, 1);
        return String(
          Math.round((new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() - start.getTime()) / 864e5) + 1,
        ).padStart(3, '0');
      }
      case '%':
        return '%';
      default:
        return all;
    }
  });
}

/** A parsed chat template with the variables transformers passes to it. */
export class ChatTemplate {
  private readonly template: Template;
  private readonly vars: Record<string, unknown>;

  constructor(source: string, tokenizer: Pick<ModelTokenizer, 'bos' | 'eos' | 'pad' | 'unk' | 'config'>) {
    try {
      // strftime_now as transformers has it (Python's strftime in the C locale): the library's own
      // formats month names in the browser's language, so "%B" would differ from transformers'.
      this.template = new Template(source.replace(/\bstrftime_now(\s*\()/g, `${STRFTIME}$1`));
    } catch (e) {
      throw new TemplateError(`the chat template could not be parsed: ${e instanceof Error ? e.message : String(e)}`);
    }
    const extra = tokenizer.config.additional_special_tokens;
    this.vars = {
      bos_token: tokenizer.bos?.content ?? null,
      eos_token: tokenizer.eos?.content ?? null,
      pad_token: tokenizer.pad?.content ?? null,
      unk_token: tokenizer.unk?.content ?? null,
      additional_special_tokens: Array.isArray(extra) ? extra : [],
      [STRFTIME]: (format: string) => strftimeC(new Date(), format),
    };
  }

  /** As apply_chat_template: `tools` is passed always (null when the record has none). */
  render(messages: ChatMessage[], addGenerationPrompt: boolean, tools?: Record<string, unknown>[]): string {
    try {
      return this.template.render({
        ...this.vars,
        messages,
        tools: tools ?? null,
        add_generation_prompt: addGenerationPrompt,
      });
    } catch (e) {
      // raise_exception(msg) is the library's global (it may not be redeclared); it throws an
      // Error carrying the template's own message, which is what the person needs to read.
      throw new TemplateError(`the chat template failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

/**
 * Chat-template rendering with assistant spans found by rendering prefixes: for assistant
 * message k, the conversation up to k with add_generation_prompt=true ends where the turn
 * starts, and the conversation through k ends where it ends (trailing whitespace after the
 * end-of-turn token excluded). When a template renders history differently once more turns
 * follow (so prefixes are not prefixes), the turn is found by searching for its content (or, when
 * a reasoning template such as Qwen3's drops an earlier turn's <think> part, for what follows it).
 * If the last turn's span does not end in a special token, EOS is inserted after it: the model
 * must learn to stop.
 */
export class ChatFormat implements PromptFormat {
  readonly kind = 'chat';
  private readonly specials: string[];

  constructor(
    readonly template: ChatTemplate,
    private readonly tokenizer: Pick<ModelTokenizer, 'eos' | 'specialTokens'>,
  ) {
    // Longest first, so "<|im_end|>" is preferred to a shorter token it may contain.
    this.specials = tokenizer.specialTokens.map((t) => t.content).sort((a, b) => b.length - a.length);
  }

  render(r: NormalizedRecord): RenderedRecord {
    const messages = recordMessages(r);
    const render = (upTo: number, gen: boolean) => this.template.render(messages.slice(0, upTo), gen, r.tools);
    let text = render(messages.length, false);
    const spans: [number, number][] = [];
    const kinds: ('answer' | 'call')[] = [];
    const results: [number, number][] = [];
    let searchFrom = 0;
    for (let k = 0; k < messages.length; k++) {
      if (messages[k].role === 'tool') {
        // As written, or as a JSON string (templates that pass results through tojson, as Llama 3.1's).
        for (const shown of [messages[k].content, JSON.stringify(messages[k].content)]) {
          const at = messages[k].content === '' ? -1 : text.indexOf(shown, searchFrom);
          if (at < 0) continue;
          results.push([at, at + shown.length]);
          searchFrom = at + shown.length;
          break;
        }
        continue;
      }
      if (messages[k].role !== 'assistant') continue;
      const prompt = render(k, true);
      const through = render(k + 1, false).trimEnd();
      let start: number;
      let end: number;
      if (
        text.startsWith(prompt) &&
        text.startsWith(through) &&
        through.length > prompt.length &&
        prompt.length >= searchFrom
      ) {
        start = prompt.length;
        end = through.length;
      } else {
        // Reasoning templates (Qwen3, DeepSeek-R1) drop the <think> part of earlier turns and
        // keep what follows </think>, its leading newlines removed.
        let content = messages[k].content;
        start = content === '' ? -1 : text.indexOf(content, searchFrom);
        const answer = content.includes('</think>')
          ? content.slice(content.lastIndexOf('</think>') + 8).replace(/^\n+/, '')
          : '';
        if (start < 0 && answer !== '') {
          content = answer;
          start = text.indexOf(content, searchFrom);
        }
        if (start < 0) {
          throw new TemplateError(
            `the rendered text does not contain assistant message ${k} as written, so its tokens cannot be found`,
          );
        }
        end = start + content.length;
        const tail = this.specials.find((s) => text.startsWith(s, end));
        if (tail) end += tail.length;
      }
      for (const c of messages[k].tool_calls ?? []) {
        if (!text.slice(start, end).includes(c.function.name)) {
          throw new TemplateError(
            `the chat template does not write the tool call "${c.function.name}" (assistant message ${k}): it ignores tool_calls, so the call cannot be trained; use a model whose chat template supports tools`,
          );
        }
      }
      spans.push([start, end]);
      kinds.push(messages[k].tool_calls ? 'call' : 'answer');
      searchFrom = end;
    }
    const names = (r.tools ?? []).map((t) => {
      const f = (typeof t.function === 'object' && t.function !== null ? t.function : t) as Record<string, unknown>;
      return typeof f.name === 'string' ? f.name : null;
    });
    // Outside the assistant turns (templates put them in the system prompt, the first user turn,
    // or before the last user turn as Mistral's does).
    let prompts = '';
    let from = 0;
    for (const [st, en] of spans) {
      prompts += text.slice(from, st);
      from = en;
    }
    prompts += text.slice(from);
    const missing = names.find((n) => n !== null && !prompts.includes(n));
    if (missing) {
      throw new TemplateError(
        `the chat template does not write the tool definitions (no "${missing}" outside the assistant turns): it ignores tools; use a model whose chat template supports tools`,
      );
    }
    const last = spans[spans.length - 1];
    if (last && !this.specials.some((s) => text.slice(last[0], last[1]).endsWith(s))) {
      const eos = this.tokenizer.eos;
      if (!eos) {
        throw new TemplateError(
          'the chat template ends the assistant turn without a special token and the tokenizer has no eos_token; the model could not learn to stop',
        );
      }
      text = text.slice(0, last[1]) + eos.content + text.slice(last[1]);
      last[1] += eos.content.length;
    }
    return { text, spans, kinds, results };
  }

  renderPrompt(r: NormalizedRecord): string {
    const messages = recordMessages(r);
    return this.template.render(messages.slice(0, messages.length - 1), true, r.tools);
  }
}

export const ALPACA_PREAMBLE_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. ' +
  'Write a response that appropriately completes the request.';
export const ALPACA_PREAMBLE =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.';

/**
 * The Stanford Alpaca prompt, for models without a chat template:
 *   {preamble}\n\n### Instruction:\n{instruction}\n\n[### Input:\n{input}\n\n]### Response:\n{output}{eos}
 * A system prompt replaces the preamble. Further turns repeat the Instruction/Response pair.
 * The loss spans are each response and its EOS.
 *
 * Tool use, in the same plain style: the definitions follow the preamble as
 * "\n\n### Tools:\n" and one JSON object per line; a tool-call turn is its text (if any) and one
 * line {"name": ..., "arguments": {...}} per call, then EOS (trained like any response); each tool
 * result is "\n\n### Tool result:\n{content}" (not trained), and "\n\n### Response:\n" follows the
 * last result of a run.
 */
export class AlpacaFormat implements PromptFormat {
  readonly kind = 'alpaca';
  private readonly eos: string;

  constructor(tokenizer: Pick<ModelTokenizer, 'eos'>) {
    if (!tokenizer.eos) {
      throw new TemplateError(
        'the model has no chat template and its tokenizer has no eos_token, which the Alpaca prompt ends responses with',
      );
    }
    this.eos = tokenizer.eos.content;
  }

  private prompt(r: NormalizedRecord, turns: number): RenderedRecord {
    let text = r.system ?? (r.input ? ALPACA_PREAMBLE_INPUT : ALPACA_PREAMBLE);
    if (r.tools) text += `\n\n### Tools:\n${r.tools.map((t) => JSON.stringify(t)).join('\n')}`;
    const spans: [number, number][] = [];
    const kinds: ('answer' | 'call')[] = [];
    const results: [number, number][] = [];
    for (let i = 0; i < turns; i++) {
      const t = r.turns[i];
      if (t.role === 'user') {
        text += `\n\n### Instruction:\n${t.content}\n\n`;
        if (i === 0 && r.input) text += `### Input:\n${r.input}\n\n`;
        text += '### Response:\n';
      } else if (t.role === 'tool') {
        text += '\n\n### Tool result:\n';
        results.push([text.length, text.length + t.content.length]);
        text += t.content;
        if (r.turns[i + 1]?.role !== 'tool') text += '\n\n### Response:\n';
      } else {
        const start = text.length;
        const calls = (t.toolCalls ?? []).map((c) => JSON.stringify({ name: c.name, arguments: c.arguments }));
        text += [...(t.content === '' ? [] : [t.content]), ...calls].join('\n') + this.eos;
        spans.push([start, text.length]);
        kinds.push(t.toolCalls ? 'call' : 'answer');
      }
    }
    return { text, spans, kinds, results };
  }

  render(r: NormalizedRecord): RenderedRecord {
    return this.prompt(r, r.turns.length);
  }

  renderPrompt(r: NormalizedRecord): string {
    return this.prompt(r, r.turns.length - 1).text;
  }
}

/** The model's chat template when it has one, the Alpaca prompt otherwise. */
export function promptFormatFor(tokenizer: ModelTokenizer, chatTemplateFile?: string | null): PromptFormat {
  const source = resolveChatTemplate(tokenizer.config, chatTemplateFile);
  return source === null ? new AlpacaFormat(tokenizer) : new ChatFormat(new ChatTemplate(source, tokenizer), tokenizer);
}
