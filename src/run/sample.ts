// Sampling, for both front doors: a conversation rendered into the prompt ids the model reads
// (the chat template with its generation prompt, or the Alpaca prompt; BOS by the tokenizer's
// one rule), and generation from those ids with the base model and/or an adapter. The studio's
// Samples step and `npm run sample` call these two functions and only present the results.

import { Arena } from '../engine/gpu/arena';
import type { GpuContext } from '../engine/gpu/context';
import type { GpuWeights } from '../engine/model/gpu-weights';
import type { LoraLayout } from '../engine/model/lora';
import { DECODE_MAX_LEN } from '../engine/kernels/decode';
import { Generator, type GenerateResult } from '../engine/sample/generator';
import { firstUserContent, type NormalizedRecord, type Turn as RecordTurn } from '../data/formats';
import type { DatasetRecord } from '../data/parse';
import type { Example } from '../data/types';
import type { LoadedModel } from './model';

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

/** What to generate the next assistant turn of: turns alternate and end with the user's. */
export interface Conversation {
  system?: string;
  /** A dataset record's turns may include tool calls and results (then the last may be a tool result). */
  turns: (Turn | RecordTurn)[];
  /** Alpaca's `input` of a dataset record (context for its instruction), when it has one. */
  input?: string;
  /** A dataset record's tool definitions. */
  tools?: Record<string, unknown>[];
}

export interface EncodedPrompt {
  /** The prompt text exactly as the model reads it, BOS excepted when the tokenizer adds it. */
  text: string;
  ids: number[];
}

/**
 * The prompt ids for the next assistant turn: the chat template rendered with the generation
 * prompt (or the Alpaca prompt without a template), BOS as tokenizer_config.json says. With
 * `raw`, the last user turn's text is read as is (no template), BOS still by the same rule.
 */
export function encodePrompt(
  model: Pick<LoadedModel, 'tokenizer' | 'format'>,
  c: Conversation,
  opts: { raw?: boolean } = {},
): EncodedPrompt {
  const last = c.turns[c.turns.length - 1];
  if (!last || (last.role !== 'user' && last.role !== 'tool'))
    throw new Error('the conversation must end with a user turn or a tool result');
  if (!last.content.trim()) throw new Error('the prompt is empty');
  let text: string;
  if (opts.raw) {
    text = last.content;
  } else {
    // renderPrompt renders everything before the record's last (assistant) turn.
    const record: NormalizedRecord = {
      ...(c.system ? { system: c.system } : {}),
      ...(c.input ? { input: c.input } : {}),
      ...(c.tools ? { tools: c.tools } : {}),
      turns: [...c.turns, { role: 'assistant', content: '' }],
    };
    text = model.format.renderPrompt(record);
  }
  return { text, ids: model.tokenizer.encodeRendered(text).ids };
}

/** The conversation a dataset record asks for: its turns before the last assistant answer. */
export function conversationOf(r: NormalizedRecord): Conversation {
  let end = r.turns.length;
  while (end > 0 && r.turns[end - 1].role === 'assistant') end--;
  return {
    system: r.system,
    input: r.input,
    ...(r.tools ? { tools: r.tools } : {}),
    turns: r.turns.slice(0, end).map((t) => ({ ...t })),
  };
}

/**
 * A chat as typed in the Samples step: the turns so far (user and model alternating, from the
 * user's to the user's new message) and an optional system prompt. Throws, naming the turn, when
 * they do not alternate or a user turn is empty.
 */
export function chatConversation(turns: readonly Turn[], system?: string): Conversation {
  if (turns.length === 0) throw new Error('the conversation is empty: type a message');
  turns.forEach((t, i) => {
    const want = i % 2 === 0 ? 'user' : 'assistant';
    if (t.role !== want) throw new Error(`chat turn ${i + 1} is from the ${t.role}; expected the ${want}`);
    if (typeof t.content !== 'string') throw new Error(`chat turn ${i + 1} has no text`);
    if (t.role === 'user' && !t.content.trim()) throw new Error(`chat turn ${i + 1} (the user's) is empty`);
  });
  if (turns.length % 2 === 0) throw new Error('the conversation must end with a user turn for the model to answer');
  const sys = system?.trim();
  return { ...(sys ? { system: sys } : {}), turns: turns.map((t) => ({ role: t.role, content: t.content })) };
}

/** The answer a record gives (its last assistant turn), to compare a sample with. */
export function lastAnswer(r: NormalizedRecord): string {
  for (let i = r.turns.length - 1; i >= 0; i--) if (r.turns[i].role === 'assistant') return r.turns[i].content;
  return '';
}

export interface ValidationPrompt {
  /** Index into the validation split. */
  index: number;
  record: number;
  /** The user's text (what a person would type). */
  text: string;
  /** The answer the dataset gives. */
  reference: string;
}

/** The first `limit` prompts of the validation split (held out of training), with their answers. */
export function validationPrompts(
  val: Example[],
  records: readonly DatasetRecord[],
  limit: number,
): ValidationPrompt[] {
  return val.slice(0, limit).flatMap((e, index) => {
    const r = recordByNumber(records, e.record);
    return r ? [{ index, record: e.record, text: firstUserContent(r), reference: lastAnswer(r) }] : [];
  });
}

/** A record by its 0-based number in the file (the records are in file order, bad ones left out). */
export function recordByNumber(records: readonly DatasetRecord[], n: number): DatasetRecord | undefined {
  let lo = 0;
  let hi = records.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const x = records[mid].index;
    if (x === n) return records[mid];
    if (x < n) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

export interface SampleAdapter {
  layout: LoraLayout;
  /** The flat LoRA parameters (an imported adapter's, or a run's current ones). */
  flat: Float32Array;
}

export interface GenerationOptions {
  maxNewTokens: number;
  /** 0: greedy. */
  temperature: number;
  topP: number;
  seed: number;
  /** Called with every generated id so far, per side (a UI streams them). */
  onToken?: (side: Side, ids: readonly number[]) => void;
  /** Ends generation after the tokens already made (stoppedBy 'aborted'); later sides are skipped. */
  signal?: AbortSignal;
}

export type Side = 'base' | 'tuned';

export interface Sampled extends GenerateResult {
  ms: number;
}

/**
 * Generates from the prompt ids with the base model, the adapter, or both (each from the same
 * prompt and seed), stopping at the model's stop ids. Holds the GPU only for the call.
 */
export async function sample(
  ctx: GpuContext,
  model: LoadedModel,
  weights: GpuWeights,
  adapter: SampleAdapter | null,
  promptIds: number[],
  o: GenerationOptions,
  sides: Side[] = adapter ? ['base', 'tuned'] : ['base'],
): Promise<Partial<Record<Side, Sampled>>> {
  if (sides.includes('tuned') && !adapter) throw new Error('there is no adapter to sample with');
  const c = model.checkpoint.config;
  const maxLen = Math.min(DECODE_MAX_LEN, c.maxPositionEmbeddings, promptIds.length + o.maxNewTokens + 1);
  if (promptIds.length >= maxLen)
    throw new Error(`the prompt has ${promptIds.length} tokens; the model reads at most ${maxLen - 1}`);
  let arena: Arena | null = null;
  let lora: ConstructorParameters<typeof Generator>[3] = null;
  if (adapter) {
    arena = new Arena(ctx, 'sample adapter');
    const params = arena.add([adapter.layout.size], 'f32', 'sample adapter');
    arena.allocate();
    ctx.upload(params, adapter.flat);
    lora = { layout: adapter.layout, params };
  }
  const gen = new Generator(ctx, c, weights, lora, maxLen);
  const out: Partial<Record<Side, Sampled>> = {};
  try {
    for (const side of sides) {
      const t0 = performance.now();
      const ids: number[] = [];
      const what = side === 'base' ? 'generating with the base model' : 'generating with the adapter';
      const r = await ctx.checked(what, () =>
        gen.generate(promptIds, {
          maxNewTokens: o.maxNewTokens,
          temperature: o.temperature,
          topP: o.topP,
          seed: o.seed,
          signal: o.signal,
          stopIds: model.stopIds,
          withAdapter: side === 'tuned',
          onToken: (id) => {
            ids.push(id);
            o.onToken?.(side, ids);
          },
        }),
      );
      out[side] = { ...r, ms: performance.now() - t0 };
      if (o.signal?.aborted) break;
    }
  } finally {
    gen.destroy();
    arena?.destroy();
  }
  return out;
}
