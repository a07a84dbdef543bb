// What the dataset panel and the CLI show about the encoded examples before training: how long
// they are (to choose max_seq_length), how many were cut, how much of the text the loss sees, and
// whether the tokenizer suits the text at all (characters per token, unknown/byte-fallback share).

import { IGNORE_INDEX, type Example } from './types';
import { UnknownTokenError } from './tokenizer';

export interface HistogramBin {
  /** Token lengths in [lo, hi). */
  lo: number;
  hi: number;
  count: number;
}

export interface DatasetStats {
  records: number;
  /** Token lengths after truncation. Percentiles interpolate linearly (numpy's default). */
  length: { min: number; median: number; p95: number; max: number; mean: number };
  histogram: HistogramBin[];
  truncated: number;
  /** Examples with no trained token left (e.g. the answer was cut off by truncation). */
  withoutTargets: number;
  totalTokens: number;
  /** Loss targets: positions t >= 1 whose label is not -100 (what Batch.numTargets counts). */
  trainedTokens: number;
  /** Share of all tokens whose label is -100. */
  maskedShare: number;
}

/** At most this many histogram bins; widths are 1, 2 or 5 times a power of ten. */
export const MAX_BINS = 20;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const x = (p / 100) * (sorted.length - 1);
  const i = Math.floor(x);
  const f = x - i;
  return i + 1 < sorted.length ? sorted[i] + f * (sorted[i + 1] - sorted[i]) : sorted[i];
}

/** The smallest 1/2/5 x 10^k width that covers [lo, hi] in at most MAX_BINS bins aligned to the width. */
export function binWidth(lo: number, hi: number): number {
  for (let k = 0; ; k++) {
    for (const m of [1, 2, 5]) {
      const w = m * 10 ** k;
      if (Math.floor(hi / w) - Math.floor(lo / w) + 1 <= MAX_BINS) return w;
    }
  }
}

export function datasetStats(examples: Example[]): DatasetStats {
  const lengths = examples.map((e) => e.inputIds.length).sort((a, b) => a - b);
  let totalTokens = 0;
  let masked = 0;
  let trained = 0;
  let truncated = 0;
  let withoutTargets = 0;
  for (const e of examples) {
    totalTokens += e.labels.length;
    let targets = 0;
    for (let t = 0; t < e.labels.length; t++) {
      if (e.labels[t] === IGNORE_INDEX) masked++;
      else if (t >= 1) targets++;
    }
    trained += targets;
    if (targets === 0) withoutTargets++;
    if (e.truncated) truncated++;
  }
  const n = lengths.length;
  const histogram: HistogramBin[] = [];
  if (n > 0) {
    const w = binWidth(lengths[0], lengths[n - 1]);
    const first = Math.floor(lengths[0] / w);
    const bins = Math.floor(lengths[n - 1] / w) - first + 1;
    for (let b = 0; b < bins; b++) histogram.push({ lo: (first + b) * w, hi: (first + b + 1) * w, count: 0 });
    for (const l of lengths) histogram[Math.floor(l / w) - first].count++;
  }
  return {
    records: n,
    length: {
      min: n ? lengths[0] : 0,
      median: percentile(lengths, 50),
      p95: percentile(lengths, 95),
      max: n ? lengths[n - 1] : 0,
      mean: n ? totalTokens / n : 0,
    },
    histogram,
    truncated,
    withoutTargets,
    totalTokens,
    trainedTokens: trained,
    maskedShare: totalTokens ? masked / totalTokens : 0,
  };
}

/** How well the tokenizer covers the dataset's text (measured on a sample of records' own text). */
export interface TokenizerFit {
  /** Records measured (the first ones, up to FIT_SAMPLE). */
  records: number;
  characters: number;
  tokens: number;
  /** characters / tokens; English through a general tokenizer gives about 4. */
  charsPerToken: number;
  /** Tokens that are the unknown token or byte-fallback pieces (<0x41>). */
  unknownOrBytes: number;
  /** unknownOrBytes / tokens. */
  unknownShare: number;
  /** What to say when the text does not suit the tokenizer (empty when it does). */
  warnings: string[];
}

/** At most this many records are tokenized for the fit figures. */
export const FIT_SAMPLE = 200;
/** Below this many characters per token the text is called a poor fit. */
export const MIN_CHARS_PER_TOKEN = 2;
/** Above this share of unknown/byte-fallback tokens the text is called a poor fit. */
export const MAX_UNKNOWN_SHARE = 0.03;

const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;

/**
 * Characters per token and the share of unknown or byte-fallback tokens over the records' own
 * text (system, turns, tool calls and results; no template, so its markup does not count).
 */
export function tokenizerFit(
  texts: string[],
  tokenizer: { encode(text: string): number[]; idToToken(id: number): string | undefined; unk: { id: number } | null },
): TokenizerFit {
  let characters = 0;
  let tokens = 0;
  let unknownOrBytes = 0;
  const isOdd = new Map<number, boolean>();
  for (const t of texts) {
    let ids: number[];
    try {
      ids = tokenizer.encode(t);
    } catch (e) {
      // a text with a piece the tokenizer has no id for: its record is refused by name when encoded
      if (e instanceof UnknownTokenError) continue;
      throw e;
    }
    characters += [...t].length;
    tokens += ids.length;
    for (const id of ids) {
      let odd = isOdd.get(id);
      if (odd === undefined) {
        odd = id === tokenizer.unk?.id || BYTE_PIECE.test(tokenizer.idToToken(id) ?? '');
        isOdd.set(id, odd);
      }
      if (odd) unknownOrBytes++;
    }
  }
  const charsPerToken = tokens ? characters / tokens : 0;
  const unknownShare = tokens ? unknownOrBytes / tokens : 0;
  const warnings: string[] = [];
  if (tokens > 0 && charsPerToken < MIN_CHARS_PER_TOKEN) {
    warnings.push(
      `the text comes to ${charsPerToken.toFixed(2)} characters per token with this tokenizer (a general English tokenizer gives about 4): records become long and get truncated. A model with a general-purpose tokenizer suits this text better.`,
    );
  }
  if (tokens > 0 && unknownShare > MAX_UNKNOWN_SHARE) {
    warnings.push(
      `${(unknownShare * 100).toFixed(1)}% of the tokens are unknown or byte-fallback tokens: the tokenizer does not cover this text's characters. A model with a general-purpose tokenizer suits this text better.`,
    );
  }
  return { records: texts.length, characters, tokens, charsPerToken, unknownOrBytes, unknownShare, warnings };
}
