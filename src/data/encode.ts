// Records to training examples: render (template.ts), tokenize the whole text once, and map the
// assistant spans' character boundaries to token boundaries so that exactly the assistant turns
// (through their end-of-turn token) are trained and the rest is masked with -100.
//
// @huggingface/tokenizers gives no character offsets, so a boundary at character c is located by
// tokenizing text[0, c): when that is a prefix of the full tokenization, the boundary is clean
// and falls after that many tokens. (Fast path: tokenize the pieces between boundaries and check
// their concatenation equals the full tokenization; then every boundary is clean at once.) When
// a token straddles the boundary (a BPE merge across it), the boundary is moved outward to the
// nearest clean one: left for a span start, right for a span end, so a straddling token counts as
// trained (the model must produce it to produce the answer). The preview uses the same moved
// boundaries, so its trained text is exactly the trained tokens.
//
// BOS: added once, by ModelTokenizer.encodeRendered's rule (the one sampling prompts use too): not
// when the rendered text already starts with the BOS token (the template wrote bos_token),
// otherwise when the tokenizer adds BOS (ModelTokenizer.addBosToken). EOS from the post-processor
// (add_eos_token) is not appended: the template's end-of-turn token (or the EOS the Alpaca prompt
// and ChatFormat add) ends the answer.

import { recordLabel, type NormalizedRecord, type RecordError } from './formats';
import type { DatasetRecord } from './parse';
import { TemplateError, type PromptFormat, type RenderedRecord } from './template';
import { UnknownTokenError, type ModelTokenizer } from './tokenizer';
import { IGNORE_INDEX, type Example } from './types';

export interface EncodeOptions {
  /** Longer token sequences are cut from the right to this length. */
  maxSeqLength: number;
  /** Train on the whole text (prompt included), not only on the assistant turns. */
  trainOnInputs: boolean;
  /** Train on the last assistant turn only (LLaMA-Factory's mask_history); default: every one. */
  maskHistory?: boolean;
}

export interface PreviewSegment {
  text: string;
  /** The loss is taken on these tokens. */
  trained: boolean;
  /** Past max_seq_length: cut off, the model never sees it. */
  truncated: boolean;
  /** Part of an assistant turn with tool calls ('call') or of a tool result ('result'); absent otherwise. */
  kind?: 'call' | 'result';
}

export interface Preview {
  /** The text exactly as the model reads it (BOS included), split where training starts and stops. */
  segments: PreviewSegment[];
  /** Tokens before truncation. */
  numTokens: number;
  /** Tokens with a label (after truncation). */
  numTrained: number;
  truncated: boolean;
  /** The record's tool definitions, one JSON text each, when it has any. */
  tools?: string[];
}

export class EncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}

/** How far (in characters) a boundary may move to find a clean token boundary. */
const MAX_SHIFT = 64;

interface Aligned {
  rendered: RenderedRecord;
  /** Token ids of the text, BOS included when added. */
  ids: number[];
  bosAdded: boolean;
  /** Trained spans as [startChar, endChar, startToken, endToken) of the text (token indices count BOS). */
  spans: [number, number, number, number][];
}

const isPrefix = (p: number[], f: number[]) => p.length <= f.length && p.every((x, i) => x === f[i]);

export class ExampleEncoder {
  constructor(
    readonly tokenizer: ModelTokenizer,
    readonly format: PromptFormat,
    readonly opts: EncodeOptions,
  ) {
    if (!Number.isInteger(opts.maxSeqLength) || opts.maxSeqLength < 2) {
      throw new EncodeError(`max_seq_length must be a whole number of at least 2, not ${opts.maxSeqLength}`);
    }
  }

  /** One record to one example. Throws EncodeError naming the record. */
  encode(record: NormalizedRecord, index: number, line: number | null = null): Example {
    const a = this.align(record, index, line);
    const n = a.ids.length;
    const labels = new Int32Array(n).fill(IGNORE_INDEX);
    if (this.opts.trainOnInputs) labels.set(a.ids);
    else for (const [, , s, e] of a.spans) for (let t = s; t < e; t++) labels[t] = a.ids[t];
    const max = this.opts.maxSeqLength;
    const inputIds = Int32Array.from(a.ids);
    return {
      inputIds: n > max ? inputIds.slice(0, max) : inputIds,
      labels: n > max ? labels.slice(0, max) : labels,
      record: index,
      truncated: n > max,
    };
  }

  /** The text as the model sees it, in trained and untrained segments consistent with encode(). */
  renderForPreview(record: NormalizedRecord): Preview {
    const a = this.align(record, 0, null);
    const text = a.rendered.text;
    const max = this.opts.maxSeqLength;
    const truncated = a.ids.length > max;
    // Character where the kept tokens end (the whole text when nothing is cut).
    const cut = truncated ? this.charAtToken(text, a.ids, max - (a.bosAdded ? 1 : 0), a.bosAdded) : text.length;
    const cuts = new Set<number>([0, text.length, cut]);
    const trainedChars: [number, number][] = this.opts.trainOnInputs
      ? [[0, text.length]]
      : a.spans.map(([s, e]) => [s, e]);
    // What each stretch of text is (answers, tool calls, tool results), trained or not.
    // (the turns' spans as trained: boundaries moved to token boundaries unless everything is trained)
    const turnChars = this.opts.trainOnInputs ? a.rendered.spans : a.spans.map(([s, e]): [number, number] => [s, e]);
    const kinds: [number, number, 'call' | 'result'][] = [
      ...a.rendered.results.map(([s, e]): [number, number, 'call' | 'result'] => [s, e, 'result']),
      ...turnChars
        .filter((_, k) => a.rendered.kinds[k] === 'call')
        .map(([s, e]): [number, number, 'call' | 'result'] => [s, e, 'call']),
    ];
    for (const [s, e] of [...trainedChars, ...kinds]) {
      cuts.add(s);
      cuts.add(e);
    }
    const points = [...cuts].sort((x, y) => x - y);
    const segments: PreviewSegment[] = [];
    const bos = this.tokenizer.bos;
    if (a.bosAdded && bos) segments.push({ text: bos.content, trained: this.opts.trainOnInputs, truncated: false });
    for (let i = 0; i + 1 < points.length; i++) {
      const [s, e] = [points[i], points[i + 1]];
      if (s === e) continue;
      const trained = trainedChars.some(([ts, te]) => s >= ts && e <= te);
      const kind = kinds.find(([ks, ke]) => s >= ks && e <= ke)?.[2];
      const past = s >= cut;
      const prev = segments[segments.length - 1];
      const piece = text.slice(s, e);
      if (prev && prev.trained === (trained && !past) && prev.truncated === past && prev.kind === kind)
        prev.text += piece;
      else segments.push({ text: piece, trained: trained && !past, truncated: past, ...(kind ? { kind } : {}) });
    }
    let numTrained = 0;
    const kept = Math.min(max, a.ids.length);
    if (this.opts.trainOnInputs) numTrained = kept;
    else for (const [, , s, e] of a.spans) numTrained += Math.max(0, Math.min(e, kept) - s);
    const tools = record.tools?.map((t) => JSON.stringify(t, null, 2));
    return { segments, numTokens: a.ids.length, numTrained, truncated, ...(tools ? { tools } : {}) };
  }

  private align(record: NormalizedRecord, index: number, line: number | null): Aligned {
    const where = recordLabel(index, line);
    let rendered: RenderedRecord;
    try {
      rendered = this.format.render(record);
    } catch (e) {
      if (e instanceof TemplateError) throw new EncodeError(`${where}: ${e.message}`);
      throw e;
    }
    if (this.opts.maskHistory && rendered.spans.length > 1) {
      // Only the last assistant turn is trained; the earlier ones stay in the text as context.
      rendered = { ...rendered, spans: rendered.spans.slice(-1), kinds: rendered.kinds.slice(-1) };
    }
    const { text } = rendered;
    const tok = this.tokenizer;
    let encoded: { ids: number[]; bosAdded: boolean };
    try {
      encoded = tok.encodeRendered(text);
    } catch (e) {
      if (e instanceof UnknownTokenError) throw new EncodeError(`${where}: ${e.message}`);
      throw e;
    }
    const { ids, bosAdded } = encoded;
    const off = bosAdded ? 1 : 0;
    const full = bosAdded ? ids.slice(1) : ids;
    if (this.opts.trainOnInputs) return { rendered, ids, bosAdded, spans: [] };

    // Fast path: every boundary clean.
    const points = [...new Set(rendered.spans.flat())].sort((x, y) => x - y);
    const tokenAt = new Map<number, number>();
    let concat: number[] = [];
    let prev = 0;
    for (const p of [...points, text.length]) {
      if (p > prev) concat = concat.concat(tok.encode(text.slice(prev, p)));
      tokenAt.set(p, concat.length);
      prev = p;
    }
    const clean = concat.length === full.length && isPrefix(concat, full);
    const spans: [number, number, number, number][] = [];
    let floor = 0;
    for (const [k, [s, e]] of rendered.spans.entries()) {
      let cs = s;
      let ce = e;
      let ts: number;
      let te: number;
      if (clean) {
        ts = tokenAt.get(s)!;
        te = tokenAt.get(e)!;
      } else {
        [cs, ts] = this.cleanBoundary(text, full, s, -1, floor, where);
        [ce, te] = this.cleanBoundary(text, full, e, +1, rendered.spans[k + 1]?.[0] ?? text.length, where);
      }
      spans.push([cs, ce, ts + off, te + off]);
      floor = ce;
    }
    return { rendered, ids, bosAdded, spans };
  }

  /** Nearest character position from c in direction dir (not past limit) where tokenization is clean. */
  private cleanBoundary(
    text: string,
    full: number[],
    c: number,
    dir: -1 | 1,
    limit: number,
    where: string,
  ): [number, number] {
    for (let k = 0; k <= MAX_SHIFT; k++) {
      const p = c + dir * k;
      if (dir < 0 ? p < limit : p > limit) break;
      if (p === text.length) return [p, full.length];
      const pre = this.tokenizer.encode(text.slice(0, p));
      if (isPrefix(pre, full)) return [p, pre.length];
    }
    throw new EncodeError(
      `${where}: no token boundary within ${MAX_SHIFT} characters of character ${c}; the tokenizer merges across the turn boundary`,
    );
  }

  /** The character where token `n` (of the text's own tokens) starts: the longest clean prefix of at most n tokens. */
  private charAtToken(text: string, ids: number[], n: number, bosAdded: boolean): number {
    const full = bosAdded ? ids.slice(1) : ids;
    let lo = 0;
    let hi = text.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.tokenizer.encode(text.slice(0, mid)).length <= n) lo = mid;
      else hi = mid - 1;
    }
    for (let p = lo; p > 0; p--) {
      const pre = this.tokenizer.encode(text.slice(0, p));
      if (pre.length <= n && isPrefix(pre, full)) return p;
    }
    return 0;
  }
}

/**
 * Encodes parsed records. A record that cannot be encoded (template refusal, boundary problem)
 * becomes an error naming it; the rest are kept.
 */
export function encodeDataset(
  records: DatasetRecord[],
  encoder: ExampleEncoder,
  onProgress?: (done: number, total: number) => void,
): { examples: Example[]; errors: RecordError[] } {
  const examples: Example[] = [];
  const errors: RecordError[] = [];
  records.forEach((r, i) => {
    try {
      examples.push(encoder.encode(r, r.index, r.line));
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      errors.push({ record: r.index, line: r.line, field: null, message: e.message });
    }
    if (onProgress && (i % 256 === 255 || i === records.length - 1)) onProgress(i + 1, records.length);
  });
  return { examples, errors };
}
