import { describe, expect, it } from 'vitest';
import { demoFiles, demoTokenizer, llama2LikeTokenizer, qwenLikeTokenizer } from './testing/fixtures';
import { ModelTokenizer, TokenizerLoadError, UnknownTokenError } from './tokenizer';

describe('ModelTokenizer', () => {
  it('loads the demo tokenizer: vocab size and special tokens from tokenizer_config.json', () => {
    const t = demoTokenizer();
    expect(t.vocabSize).toBe(1024);
    expect(t.bos).toEqual({ content: '<|begin_of_text|>', id: 1019 });
    expect(t.eos).toEqual({ content: '<|end_of_text|>', id: 1020 });
    expect(t.pad).toEqual({ content: '<|pad|>', id: 1023 });
    expect(t.unk).toBeNull();
    expect(t.padId).toBe(1023);
    expect(t.specialTokens.map((s) => s.id)).toEqual([1019, 1020, 1021, 1022, 1023]);
    expect(t.isSpecial(1022)).toBe(true);
    expect(t.isSpecial(65)).toBe(false);
    expect(t.warnings).toEqual([]);
  });

  it('encodes without and with special tokens (BOS from the post-processor, as Llama 3) and decodes back', () => {
    const t = demoTokenizer();
    const text = "SELECT name FROM customers WHERE country = 'Spain';";
    const plain = t.encode(text);
    expect(plain.length).toBeGreaterThan(3);
    expect(plain.length).toBeLessThan(text.length / 2); // the merges learned the domain
    expect(t.addBosToken).toBe(true);
    expect(t.addEosToken).toBe(false);
    expect(t.encode(text, { addSpecialTokens: true })).toEqual([1019, ...plain]);
    expect(t.decode(plain)).toBe(text);
    expect(t.decode([1019, ...plain])).toBe('<|begin_of_text|>' + text);
    expect(t.decode([1019, ...plain], { skipSpecialTokens: true })).toBe(text);
    expect(t.decode([])).toBe('');
    expect(t.encode('')).toEqual([]);
    // Byte-level: any text round-trips, also characters the corpus never had.
    const odd = 'Größe → 数据 😀\n\ttabs';
    expect(t.decode(t.encode(odd))).toBe(odd);
    expect(() => t.decode([5000])).toThrow('token id 5000 is not in the vocabulary (size 1024)');
  });

  it('turns special-token strings in text into their ids', () => {
    const t = demoTokenizer();
    const ids = t.encode('<|im_start|>user\nhi<|im_end|>');
    expect(ids[0]).toBe(1021);
    expect(ids.at(-1)).toBe(1022);
  });

  it('follows add_bos_token / add_eos_token when tokenizer_config.json sets them', () => {
    const off = demoTokenizer({ add_bos_token: false });
    expect(off.addBosToken).toBe(false);
    expect(off.encode('SELECT', { addSpecialTokens: true })).toEqual(off.encode('SELECT'));
    const eos = demoTokenizer({ add_eos_token: true });
    expect(eos.encode('SELECT', { addSpecialTokens: true })).toEqual([1019, ...eos.encode('SELECT'), 1020]);
  });

  it('has no BOS when the model has none (Qwen style)', () => {
    const q = qwenLikeTokenizer();
    expect(q.bos).toBeNull();
    expect(q.addBosToken).toBe(false);
    expect(q.eos).toEqual({ content: '<|im_end|>', id: 1022 });
    expect(q.encode('SELECT 1', { addSpecialTokens: true })).toEqual(q.encode('SELECT 1'));
  });

  it('loads a Llama 2 style SentencePiece BPE: byte fallback, ▁ spaces, BOS by add_bos_token, unk', () => {
    const t = llama2LikeTokenizer();
    expect([t.bos?.content, t.eos?.content, t.unk?.content, t.pad]).toEqual(['<s>', '</s>', '<unk>', null]);
    expect(t.padId).toBe(2);
    const ids = t.encode('SELECT é', { addSpecialTokens: true });
    expect(ids.map((i) => t.idToToken(i))).toEqual(['<s>', '▁SELECT', '▁', '<0xC3>', '<0xA9>']);
    expect(t.decode(ids, { skipSpecialTokens: true })).toBe('SELECT é');
  });

  it('reads special tokens given as AddedToken objects and pads with EOS when there is no pad token', () => {
    const t = demoTokenizer({
      bos_token: {
        __type: 'AddedToken',
        content: '<|begin_of_text|>',
        lstrip: false,
        normalized: false,
        rstrip: false,
        single_word: false,
      },
      pad_token: undefined,
    });
    expect(t.bos?.id).toBe(1019);
    expect(t.pad).toBeNull();
    expect(t.padId).toBe(1020);
  });

  it('warns about a named special token missing from the vocabulary', () => {
    const t = demoTokenizer({ unk_token: '<unk>' });
    expect(t.unk).toBeNull();
    expect(t.warnings).toEqual([
      'tokenizer_config.json names unk_token "<unk>", which is not in the vocabulary; ignored',
    ]);
  });

  it('fails with a clear message on broken files', () => {
    const f = demoFiles();
    expect(() => ModelTokenizer.load('{not json', f.tokenizerConfig)).toThrow(/^tokenizer\.json is not valid JSON/);
    expect(() => ModelTokenizer.load(f.tokenizerJson, '[1]')).toThrow('tokenizer_config.json must hold a JSON object');
    expect(() => ModelTokenizer.load({ version: '1.0' }, f.tokenizerConfig)).toThrow(/has no "model" section/);
    const bad = { ...f.tokenizerJson, pre_tokenizer: { type: 'NoSuchPreTokenizer' } };
    expect(() => ModelTokenizer.load(bad, f.tokenizerConfig)).toThrow(TokenizerLoadError);
    expect(() => ModelTokenizer.load(bad, f.tokenizerConfig)).toThrow(/^tokenizer\.json could not be loaded: /);
  });

  it("maps a WordLevel model's unknown words to its own unk_token, as transformers' fast tokenizer does", () => {
    const wordLevel = (unk: string) => ({
      version: '1.0',
      added_tokens: [],
      pre_tokenizer: { type: 'WhitespaceSplit' },
      model: { type: 'WordLevel', vocab: { '<unk>': 0, select: 1, from: 2 }, unk_token: unk },
    });
    // tokenizer_config.json names no unk_token: the model's own is the one used
    const t = ModelTokenizer.load(wordLevel('<unk>'), {});
    expect(t.encode('select name from users')).toEqual([1, 0, 2, 0]);
    // a model whose unk_token is not in its vocabulary has no id for an unknown word: refused by name
    const u = ModelTokenizer.load(wordLevel('[UNK]'), {});
    expect(u.encode('select from')).toEqual([1, 2]);
    expect(() => u.encode('select name')).toThrow(UnknownTokenError);
    expect(() => u.encode('select name')).toThrow(/^the tokenizer has no id for "name": /);
  });
});
