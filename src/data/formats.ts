// The three instruction-dataset formats people bring (Alpaca, chat `messages`, ShareGPT
// `conversations`), recognized from a record's fields and normalized to one shape, so that
// templates and encoding see a conversation and never a file format. Tool use is read in both
// dialects people fine-tune with (ShareGPT's function_call/observation turns as LLaMA-Factory
// writes them, OpenAI's tool_calls and role "tool"), with the top-level tool definitions, into
// assistant turns that carry calls and tool turns that carry results. Every rejection names the
// record, its line where known, and the field.

export type DatasetFormat = 'alpaca' | 'chat' | 'sharegpt';
export const DATASET_FORMATS: readonly DatasetFormat[] = ['alpaca', 'chat', 'sharegpt'];

/** A function call the assistant makes; arguments are the parsed JSON object. */
export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
  /** OpenAI's call id, when the record has one. */
  id?: string;
}

export interface Turn {
  role: 'user' | 'assistant' | 'tool';
  /** For a tool-call turn: the text before the calls ('' when none). For a tool turn: the result. */
  content: string;
  /** Assistant turns only: the functions it calls (ShareGPT function_call, OpenAI tool_calls). */
  toolCalls?: ToolCall[];
  /** Tool turns only: the function's name and OpenAI's tool_call_id, when given. */
  name?: string;
  toolCallId?: string;
}

/** A record as templates see it: an optional system prompt, then user/assistant turns. */
export interface NormalizedRecord {
  system?: string;
  /**
   * Starting with 'user' and ending with an assistant turn without tool calls. An assistant turn
   * follows a user or tool turn; a tool turn follows an assistant turn with tool calls or another
   * tool turn; a user turn follows an assistant turn.
   */
  turns: Turn[];
  /** Tool (function) definitions the conversation may call, as the chat template receives them. */
  tools?: Record<string, unknown>[];
  /**
   * Alpaca's `input` (context for the instruction) when not empty. The Alpaca prompt gives it its
   * own "### Input:" section; for chat templates it is appended to the first user turn after a
   * blank line (see firstUserContent).
   */
  input?: string;
}

/** One problem with one record. `record` is 0-based; `line` is 1-based (null for JSON arrays without position). */
export interface RecordError {
  record: number;
  line: number | null;
  field: string | null;
  message: string;
}

/** Where a record came from, for messages: "record #3 (line 4)". */
export function recordLabel(record: number, line: number | null): string {
  return line === null ? `record #${record}` : `record #${record} (line ${line})`;
}

/** The format a record's fields say it is, or null when they name none. */
export function detectRecordFormat(raw: unknown): DatasetFormat | null {
  if (!isObject(raw)) return null;
  if ('conversations' in raw) return 'sharegpt';
  if ('messages' in raw) return 'chat';
  if ('instruction' in raw || 'output' in raw) return 'alpaca';
  return null;
}

/** The first user turn as chat templates see it: Alpaca's input follows the instruction. */
export function firstUserContent(r: NormalizedRecord): string {
  const c = r.turns[0].content;
  return r.input ? `${c}\n\n${r.input}` : c;
}

class FieldError extends Error {
  constructor(
    readonly field: string | null,
    message: string,
  ) {
    super(message);
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? 'an object' : `a ${typeof x}`;
}

function requiredString(obj: Record<string, unknown>, key: string, path: string, allowEmpty = false): string {
  if (!(key in obj) || obj[key] === undefined) throw new FieldError(path, `field "${path}" is missing`);
  const v = obj[key];
  if (typeof v !== 'string') throw new FieldError(path, `field "${path}" must be a string, not ${typeName(v)}`);
  if (!allowEmpty && v.trim() === '') throw new FieldError(path, `field "${path}" is empty`);
  return v;
}

function optionalString(obj: Record<string, unknown>, key: string, path: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new FieldError(path, `field "${path}" must be a string, not ${typeName(v)}`);
  return v;
}

/** Message content: a string, or OpenAI-style parts [{type: 'text', text}] joined. */
function messageContent(m: Record<string, unknown>, key: string, path: string): string {
  const v = m[key];
  if (Array.isArray(v)) {
    const texts = v.map((p, i) => {
      if (!isObject(p) || p.type !== 'text' || typeof p.text !== 'string') {
        throw new FieldError(
          `${path}[${i}]`,
          `field "${path}[${i}]" must be a text part {"type": "text", "text": "..."}`,
        );
      }
      return p.text;
    });
    const s = texts.join('');
    if (s.trim() === '') throw new FieldError(path, `field "${path}" is empty`);
    return s;
  }
  return requiredString(m, key, path);
}

function alpaca(raw: Record<string, unknown>): NormalizedRecord {
  const instruction = requiredString(raw, 'instruction', 'instruction');
  const input = optionalString(raw, 'input', 'input');
  const output = requiredString(raw, 'output', 'output');
  const system = optionalString(raw, 'system', 'system');
  const r: NormalizedRecord = {
    turns: [
      { role: 'user', content: instruction },
      { role: 'assistant', content: output },
    ],
  };
  if (system && system.trim() !== '') r.system = system;
  if (input && input.trim() !== '') r.input = input;
  return r;
}

type Role = 'system' | 'user' | 'assistant' | 'function_call' | 'tool';

const SHAREGPT_ROLES: Record<string, Role> = {
  system: 'system',
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  function_call: 'function_call',
  observation: 'tool',
};

/** A JSON object given as an object or as a JSON string of one. */
function jsonObject(v: unknown, path: string): Record<string, unknown> {
  let x = v;
  if (typeof v === 'string') {
    try {
      x = JSON.parse(v);
    } catch (e) {
      throw new FieldError(path, `field "${path}" is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!isObject(x)) throw new FieldError(path, `field "${path}" must be a JSON object, not ${typeName(x)}`);
  return x;
}

/** One call {name, arguments}; arguments an object or a JSON string of one (OpenAI sends a string). */
function toolCall(c: unknown, path: string, id?: string): ToolCall {
  if (!isObject(c)) throw new FieldError(path, `field "${path}" must be an object with "name" and "arguments"`);
  const name = requiredString(c, 'name', `${path}.name`);
  const args = c.arguments === undefined || c.arguments === null ? {} : jsonObject(c.arguments, `${path}.arguments`);
  return id === undefined ? { name, arguments: args } : { name, arguments: args, id };
}

/** ShareGPT function_call value: a JSON object {name, arguments} or a list of them, as a string. */
function sharegptCalls(m: Record<string, unknown>, path: string): ToolCall[] {
  const v = requiredString(m, 'value', path);
  let x: unknown;
  try {
    x = JSON.parse(v);
  } catch (e) {
    throw new FieldError(
      path,
      `field "${path}" must be a JSON function call {"name": ..., "arguments": {...}}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const list = Array.isArray(x) ? x : [x];
  if (list.length === 0) throw new FieldError(path, `field "${path}" is an empty list of function calls`);
  return list.map((c, i) => toolCall(c, Array.isArray(x) ? `${path}[${i}]` : path));
}

/** OpenAI tool_calls: [{id?, type: "function", function: {name, arguments}}]. */
function openaiCalls(v: unknown, path: string): ToolCall[] {
  if (!Array.isArray(v)) throw new FieldError(path, `field "${path}" must be a list, not ${typeName(v)}`);
  if (v.length === 0) throw new FieldError(path, `field "${path}" is empty`);
  return v.map((c, i) => {
    const at = `${path}[${i}]`;
    if (!isObject(c) || !isObject(c.function))
      throw new FieldError(`${at}.function`, `field "${at}.function" must be an object with "name" and "arguments"`);
    return toolCall(c.function, `${at}.function`, typeof c.id === 'string' ? c.id : undefined);
  });
}

/** Top-level tools: a list of definitions, or a JSON string of one (LLaMA-Factory's ShareGPT). */
function toolList(raw: Record<string, unknown>): Record<string, unknown>[] | undefined {
  let v = raw.tools;
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch (e) {
      throw new FieldError('tools', `field "tools" is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!Array.isArray(v))
    throw new FieldError('tools', `field "tools" must be a list of tool definitions, not ${typeName(v)}`);
  return v.map((t, i) => {
    if (!isObject(t)) throw new FieldError(`tools[${i}]`, `field "tools[${i}]" must be an object, not ${typeName(t)}`);
    return t;
  });
}

interface Dialect {
  listField: string;
  roleKey: string;
  contentKey: string;
  roleOf: (v: string) => Role | undefined;
  roleHelp: string;
  /** The calls of an assistant message, or undefined when it makes none. */
  calls: (m: Record<string, unknown>, at: string, role: Role) => ToolCall[] | undefined;
}

const CAN_FOLLOW: Record<'user' | 'assistant' | 'tool', string[]> = {
  user: ['', 'assistant'],
  assistant: ['user', 'tool'],
  tool: ['call', 'tool'],
};

/** Shared by chat and ShareGPT: a list of messages with a leading system message at most. */
function conversation(list: unknown, d: Dialect): NormalizedRecord {
  const { listField, roleKey, contentKey } = d;
  if (list === undefined) throw new FieldError(listField, `field "${listField}" is missing`);
  if (!Array.isArray(list))
    throw new FieldError(listField, `field "${listField}" must be a list, not ${typeName(list)}`);
  if (list.length === 0) throw new FieldError(listField, `field "${listField}" is empty`);
  const r: NormalizedRecord = { turns: [] };
  list.forEach((m, i) => {
    const at = `${listField}[${i}]`;
    if (!isObject(m))
      throw new FieldError(
        at,
        `field "${at}" must be an object with "${roleKey}" and "${contentKey}", not ${typeName(m)}`,
      );
    const roleRaw = requiredString(m, roleKey, `${at}.${roleKey}`);
    const role = d.roleOf(roleRaw);
    if (!role)
      throw new FieldError(`${at}.${roleKey}`, `field "${at}.${roleKey}" is "${roleRaw}"; expected ${d.roleHelp}`);
    if (role === 'system') {
      if (i !== 0)
        throw new FieldError(`${at}.${roleKey}`, `field "${at}.${roleKey}": a system message may only come first`);
      const s = messageContent(m, contentKey, `${at}.${contentKey}`);
      r.system = s;
      return;
    }
    const turnRole = role === 'function_call' ? 'assistant' : role;
    const prev = r.turns[r.turns.length - 1];
    const prevKind = !prev ? '' : prev.toolCalls ? 'call' : prev.role;
    if (!CAN_FOLLOW[turnRole].includes(prevKind)) {
      const expected =
        prevKind === ''
          ? 'a user turn'
          : prevKind === 'call'
            ? 'a tool result'
            : prevKind === 'user'
              ? 'an assistant turn'
              : prevKind === 'tool'
                ? 'an assistant turn or a tool result'
                : 'a user turn';
      throw new FieldError(
        `${at}.${roleKey}`,
        `field "${at}.${roleKey}" is "${roleRaw}" but ${expected} was expected (turns must alternate user, assistant; tool results only follow a tool call)`,
      );
    }
    const calls = turnRole === 'assistant' ? d.calls(m, at, role) : undefined;
    if (calls) {
      const c = m[contentKey];
      const text =
        role === 'function_call' || c === undefined || c === null || c === ''
          ? ''
          : messageContent(m, contentKey, `${at}.${contentKey}`);
      r.turns.push({ role: 'assistant', content: text, toolCalls: calls });
      return;
    }
    const turn: Turn = { role: turnRole, content: messageContent(m, contentKey, `${at}.${contentKey}`) };
    if (turnRole === 'tool') {
      if (typeof m.name === 'string') turn.name = m.name;
      if (typeof m.tool_call_id === 'string') turn.toolCallId = m.tool_call_id;
    }
    r.turns.push(turn);
  });
  if (r.turns.length === 0) throw new FieldError(listField, `field "${listField}" has no user or assistant turn`);
  const last = r.turns[r.turns.length - 1];
  if (last.role !== 'assistant' || last.toolCalls) {
    const what = last.toolCalls ? 'a tool call' : `a ${last.role} turn`;
    throw new FieldError(
      `${listField}[${list.length - 1}]`,
      `the conversation ends with ${what} (${listField}[${list.length - 1}]); it must end with an assistant turn to train on`,
    );
  }
  return r;
}

function withTools(raw: Record<string, unknown>, r: NormalizedRecord): NormalizedRecord {
  const tools = toolList(raw);
  if (tools) r.tools = tools;
  return r;
}

function chat(raw: Record<string, unknown>): NormalizedRecord {
  return withTools(
    raw,
    conversation(raw.messages, {
      listField: 'messages',
      roleKey: 'role',
      contentKey: 'content',
      roleOf: (v) => (v === 'system' || v === 'user' || v === 'assistant' || v === 'tool' ? v : undefined),
      roleHelp: 'system, user, assistant or tool',
      calls: (m, at) =>
        m.tool_calls === undefined || m.tool_calls === null ? undefined : openaiCalls(m.tool_calls, `${at}.tool_calls`),
    }),
  );
}

function sharegpt(raw: Record<string, unknown>): NormalizedRecord {
  return withTools(
    raw,
    conversation(raw.conversations, {
      listField: 'conversations',
      roleKey: 'from',
      contentKey: 'value',
      roleOf: (v) => SHAREGPT_ROLES[v],
      roleHelp: 'human, gpt, system, function_call or observation',
      calls: (m, at, role) => (role === 'function_call' ? sharegptCalls(m, `${at}.value`) : undefined),
    }),
  );
}

const NORMALIZERS: Record<DatasetFormat, (raw: Record<string, unknown>) => NormalizedRecord> = {
  alpaca,
  chat,
  sharegpt,
};

const FORMAT_FIELDS: Record<DatasetFormat, string> = {
  alpaca: '"instruction" and "output"',
  chat: '"messages"',
  sharegpt: '"conversations"',
};

/**
 * Normalizes one raw record of a known format. `record` and `line` only label errors.
 * Returns the record or the first problem found in it.
 */
export function normalizeRecord(
  raw: unknown,
  format: DatasetFormat,
  record: number,
  line: number | null,
): { ok: true; record: NormalizedRecord } | { ok: false; error: RecordError } {
  const fail = (field: string | null, message: string) => ({
    ok: false as const,
    error: { record, line, field, message: `${recordLabel(record, line)}: ${message}` },
  });
  if (!isObject(raw)) return fail(null, `must be a JSON object, not ${typeName(raw)}`);
  const own = detectRecordFormat(raw);
  if (own !== null && own !== format) {
    return fail(
      null,
      `looks like ${own} (has ${FORMAT_FIELDS[own]}) but the dataset is ${format} (needs ${FORMAT_FIELDS[format]})`,
    );
  }
  try {
    return { ok: true, record: NORMALIZERS[format](raw) };
  } catch (e) {
    if (e instanceof FieldError) return fail(e.field, e.message);
    throw e;
  }
}

/** The record's own text (no template): what tokenizer-fit figures are measured on. */
export function recordText(r: NormalizedRecord): string {
  const parts: string[] = [];
  if (r.system) parts.push(r.system);
  for (const t of r.turns) {
    if (t.content) parts.push(t.content);
    for (const c of t.toolCalls ?? []) parts.push(JSON.stringify({ name: c.name, arguments: c.arguments }));
  }
  if (r.input) parts.push(r.input);
  return parts.join('\n');
}
