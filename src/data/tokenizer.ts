// The model's own tokenizer (tokenizer.json + tokenizer_config.json, loaded with
// @huggingface/tokenizers) with the facts training needs made explicit: the special tokens
// (bos, eos, pad, unk) and whether encoding with special tokens adds BOS/EOS. The library
// applies tokenizer.json's post-processor as written; transformers additionally honours
// tokenizer_config.json's add_bos_token/add_eos_token (LlamaTokenizerFast rebuilds the
// post-processor from them), so those flags, when present, decide here.

import { Tokenizer } from '@huggingface/tokenizers';

export interface SpecialToken {
  content: string;
  id: number;
}

export class TokenizerLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerLoadError';
  }
}

export interface EncodeTextOptions {
  /** Add BOS/EOS as the model's tokenizer does (see addBosToken/addEosToken). Default false. */
  addSpecialTokens?: boolean;
}

type Json = Record<string, unknown>;

function parseJsonFile(x: string | object, file: string): Json {
  let v: unknown = x;
  if (typeof x === 'string') {
    try {
      v = JSON.parse(x);
    } catch (e) {
      throw new TokenizerLoadError(`${file} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new TokenizerLoadError(`${file} must hold a JSON object`);
  return v as Json;
}

/** bos_token etc. in tokenizer_config.json: a string, an AddedToken object {content, ...}, or null. */
function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Json).content === 'string')
    return (v as Json).content as string;
  return null;
}

/**
 * A text has a piece that the tokenizer has no id for: its model's vocabulary lacks the piece and
 * the unknown token it would stand in with (a WordLevel or WordPiece tokenizer whose unk_token is
 * not in its vocabulary). The library gives `null` for such a piece; training on it would read
 * garbage, so encoding refuses it.
 */
export class UnknownTokenError extends Error {
  constructor(piece: string | null, modelType: string) {
    super(
      `the tokenizer has no id for ${piece === null ? 'a piece of this text' : JSON.stringify(piece)}: ` +
        `tokenizer.json's ${modelType} vocabulary lacks it, and lacks the unk_token that would stand in for it`,
    );
    this.name = 'UnknownTokenError';
  }
}

export class ModelTokenizer {
  readonly bos: SpecialToken | null;
  readonly eos: SpecialToken | null;
  readonly pad: SpecialToken | null;
  readonly unk: SpecialToken | null;
  /** encode(text, {addSpecialTokens: true}) starts with BOS. */
  readonly addBosToken: boolean;
  /** encode(text, {addSpecialTokens: true}) ends with EOS. */
  readonly addEosToken: boolean;
  /** Largest token id + 1, over the model vocabulary and the added tokens. */
  readonly vocabSize: number;
  /** Every added token marked special (bos, eos, chat markers, ...), by id. */
  readonly specialTokens: SpecialToken[];
  /** Things that are odd but not fatal (a named special token missing from the vocabulary). */
  readonly warnings: string[] = [];
  readonly config: Json;
  private readonly tok: Tokenizer;
  /** tokenizer.json's model type (BPE, WordLevel, WordPiece, Unigram), for messages. */
  private readonly modelType: string;
  private readonly specialIds: Set<number>;
  private readonly cleanUp: boolean;

  private constructor(tokenizerJson: Json, config: Json) {
    this.config = config;
    if (typeof tokenizerJson.model !== 'object' || tokenizerJson.model === null) {
      throw new TokenizerLoadError(
        'tokenizer.json has no "model" section (is it a tokenizer.json from a fast tokenizer?)',
      );
    }
    const model = tokenizerJson.model as Json;
    this.modelType = typeof model.type === 'string' ? model.type : 'model';
    // The library requires these keys to exist; files written by older versions may omit them.
    const full: Json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...tokenizerJson };
    if (!Array.isArray(full.added_tokens)) full.added_tokens = [];
    // The library reads a WordLevel model's unknown token from tokenizer_config.json's unk_token, where
    // transformers' fast tokenizer reads the model's own (tokenizer.json `model.unk_token`): without
    // this, every word outside the vocabulary of a tokenizer whose config names no unk_token had no id.
    const libConfig =
      model.type === 'WordLevel' && typeof model.unk_token === 'string'
        ? { ...config, unk_token: model.unk_token }
        : config;
    try {
      this.tok = new Tokenizer(full, libConfig);
    } catch (e) {
      throw new TokenizerLoadError(`tokenizer.json could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
    }
    let max = -1;
    for (const id of this.tok.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    if (this.vocabSize <= 0) throw new TokenizerLoadError('tokenizer.json has an empty vocabulary');

    this.specialTokens = [...this.tok.get_added_tokens_decoder()]
      .filter(([, t]) => t.special)
      .map(([id, t]) => ({ content: t.content, id }))
      .sort((a, b) => a.id - b.id);
    this.specialIds = new Set(this.specialTokens.map((t) => t.id));

    const special = (key: string): SpecialToken | null => {
      const content = tokenContent(config[key]);
      if (content === null) return null;
      const id = this.tok.token_to_id(content);
      if (id === undefined) {
        this.warnings.push(`tokenizer_config.json names ${key} "${content}", which is not in the vocabulary; ignored`);
        return null;
      }
      return { content, id };
    };
    this.bos = special('bos_token');
    this.eos = special('eos_token');
    this.pad = special('pad_token');
    this.unk = special('unk_token');

    // What the post-processor adds around a text, found by encoding a probe both ways.
    const probe = 'a';
    const plain = this.tok.encode(probe, { add_special_tokens: false }).ids;
    const withSpecials = this.tok.encode(probe, { add_special_tokens: true }).ids;
    const at = indexOfRun(withSpecials, plain);
    const before = at < 0 ? [] : withSpecials.slice(0, at);
    const after = at < 0 ? [] : withSpecials.slice(at + plain.length);
    const flag = (key: string) => (typeof config[key] === 'boolean' ? (config[key] as boolean) : undefined);
    this.addBosToken = this.bos !== null && (flag('add_bos_token') ?? before.includes(this.bos.id));
    this.addEosToken = this.eos !== null && (flag('add_eos_token') ?? after.includes(this.eos.id));
    this.cleanUp = config.clean_up_tokenization_spaces === true;
  }

  /** Loads from the two files' text (or already parsed objects). Throws TokenizerLoadError. */
  static load(tokenizerJson: string | object, tokenizerConfig: string | object): ModelTokenizer {
    return new ModelTokenizer(
      parseJsonFile(tokenizerJson, 'tokenizer.json'),
      parseJsonFile(tokenizerConfig, 'tokenizer_config.json'),
    );
  }

  /**
   * Token ids of a text. Special-token strings in the text (e.g. "<|im_start|>") become their
   * ids. With addSpecialTokens, BOS/EOS are added as addBosToken/addEosToken say.
   */
  encode(text: string, opts: EncodeTextOptions = {}): number[] {
    let ids: number[] = [];
    if (text.length > 0) {
      const enc = this.tok.encode(text, { add_special_tokens: false });
      ids = enc.ids;
      const bad = ids.findIndex((id) => !Number.isInteger(id));
      if (bad >= 0) throw new UnknownTokenError(enc.tokens?.[bad] ?? null, this.modelType);
    }
    if (!opts.addSpecialTokens) return ids;
    const out = this.addBosToken ? [this.bos!.id, ...ids] : ids;
    if (this.addEosToken) out.push(this.eos!.id);
    return out;
  }

  /**
   * A rendered text (a template's output, a prompt) as the model reads it, with BOS as
   * tokenizer_config.json says: prepended once when the tokenizer adds BOS, unless the text
   * already starts with it (a template that writes bos_token itself). The one BOS rule for
   * training examples and sampling prompts.
   */
  encodeRendered(text: string): { ids: number[]; bosAdded: boolean } {
    const ids = this.encode(text);
    const bos = this.bos;
    const bosAdded = this.addBosToken && bos !== null && !text.startsWith(bos.content);
    return { ids: bosAdded ? [bos.id, ...ids] : ids, bosAdded };
  }

  /** Text of token ids; ids outside the vocabulary throw. */
  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    const list = Array.from(ids);
    if (list.length === 0) return '';
    for (const id of list) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.tok.id_to_token(id) === undefined) {
        throw new RangeError(`token id ${id} is not in the vocabulary (size ${this.vocabSize})`);
      }
    }
    return this.tok.decode(list, {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: this.cleanUp,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** Id used to pad batches: pad_token, else eos_token (what most fine-tuning recipes do). */
  get padId(): number {
    const t = this.pad ?? this.eos;
    if (!t) throw new TokenizerLoadError('the tokenizer has neither a pad_token nor an eos_token to pad batches with');
    return t.id;
  }
}

function indexOfRun(hay: number[], needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
