import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from './checkpoint';
import { type HubProgress, downloadCheckpoint, listRepoFiles, parseRepoId } from './hub';
import { type MockHub, startMockHub } from './testing/mock-hub.node';
import { tinyCheckpoint } from './testing/tiny-checkpoint';

const single = tinyCheckpoint({}, { seed: 3 });
const sharded = tinyCheckpoint({ tie_word_embeddings: true }, { shards: 3, dtype: 'BF16', seed: 4 });
const withJunk = new Map(single.files)
  .set('pytorch_model.bin', new Uint8Array(64))
  .set('model.onnx', new Uint8Array(32))
  .set('README.md', new TextEncoder().encode('# tiny'))
  .set('original/consolidated.00.pth', new Uint8Array(16));
const binOnly = new Map([...single.files].filter(([p]) => p !== 'model.safetensors')).set(
  'pytorch_model.bin',
  new Uint8Array(64),
);
const gpt2 = new Map(single.files).set(
  'config.json',
  new TextEncoder().encode(JSON.stringify({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] })),
);

let hub: MockHub;
beforeAll(async () => {
  hub = await startMockHub({
    tokens: ['hf_good', 'hf_other'],
    pageSize: 3, // forces the listing through several pages
    throttle: { chunkBytes: 1024, delayMs: 2 },
    repos: {
      'org/tiny': { files: withJunk, revisions: ['main', 'v1', 'refs/pr/1'] },
      'org/sharded': { files: sharded.files },
      'org/private': { files: single.files, private: true, allowedTokens: ['hf_good'] },
      'org/gated': { files: single.files, gated: true, allowedTokens: ['hf_good'] },
      'org/binonly': { files: binOnly },
      'org/gpt2': { files: gpt2 },
      legacy: { files: single.files },
    },
  });
});
afterAll(() => hub.close());

const bytesOf = async (b: { read(o: number, l: number): Promise<Uint8Array>; size: number }) => b.read(0, b.size);

describe('downloadCheckpoint from the mock Hub', () => {
  it('lists every page and reports real (LFS) sizes', async () => {
    const files = await listRepoFiles('org/tiny', { endpoint: hub.url });
    expect(files.map((f) => f.path).sort()).toEqual([...withJunk.keys()].filter((p) => !p.includes('/')).sort());
    expect(files.find((f) => f.path === 'model.safetensors')!.size).toBe(single.files.get('model.safetensors')!.length);
    expect(
      hub.requests.filter((r) => r.path.startsWith('/api/models/org/tiny/tree/main')).length,
    ).toBeGreaterThanOrEqual(3);
  });

  it('fetches what the studio needs (never .bin/.onnx), byte-exact, with progress that adds up', async () => {
    const events: HubProgress[] = [];
    const set = await downloadCheckpoint('org/tiny', {
      endpoint: hub.url,
      onProgress: (p) => events.push(p),
      progressIntervalBytes: 2048,
    });
    expect(set.name).toBe('org/tiny');
    expect(set.hubRepoId).toBe('org/tiny');
    expect(set.revision).toBe('main');
    expect(set.paths()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    for (const p of set.paths())
      expect(Buffer.from(await bytesOf(set.get(p)!)).equals(Buffer.from(single.files.get(p)!))).toBe(true);
    const fetched = hub.requests.filter((r) => r.path.includes('/resolve/')).map((r) => r.path);
    expect(fetched.some((p) => /\.(bin|onnx|pth)$|README/.test(p))).toBe(false);

    const weights = single.files.get('model.safetensors')!.length;
    const w = events.filter((e) => e.file === 'model.safetensors');
    expect(w[0].loaded).toBe(0);
    expect(w.at(-1)!.loaded).toBe(weights);
    expect(w.every((e) => e.total === weights)).toBe(true);
    expect(w.length).toBeGreaterThan(3); // several intermediate events for a ~20 KB file at 2 KB intervals
    for (let i = 1; i < events.length; i++)
      expect(events[i].bytesLoaded).toBeGreaterThanOrEqual(events[i - 1].bytesLoaded);
    const last = events.at(-1)!;
    expect(last.bytesLoaded).toBe(last.bytesTotal);
    expect(last.bytesTotal).toBe([...set.files.values()].reduce((s, f) => s + f.size, 0));
    expect(last.filesTotal).toBe(6);
    expect(events.filter((e) => e.file === 'config.json')[0].filesDone).toBe(0);
    expect(last.filesDone).toBe(6);
    // one event per file finishing, counting it: filesDone steps 1..6
    const ends = events.filter((e, i) => i + 1 === events.length || events[i + 1].file !== e.file);
    expect(ends.map((e) => [e.filesDone, e.loaded === e.total])).toEqual([1, 2, 3, 4, 5, 6].map((n) => [n, true]));

    const ck = await openCheckpoint(set);
    expect(ck.nameOrPath).toBe('org/tiny');
    expect(ck.baseModelNameOrPath).toBe('org/tiny');
    expect(ck.config).toEqual(single.config);
  });

  it('follows the shard index: index first, then every shard it names', async () => {
    const events: HubProgress[] = [];
    const set = await downloadCheckpoint('https://huggingface.co/org/sharded/tree/main', {
      endpoint: hub.url,
      onProgress: (p) => events.push(p),
    });
    expect(set.paths()).toContain('model.safetensors.index.json');
    expect(set.paths().filter((p) => /^model-0000\d-of-00003\.safetensors$/.test(p)).length).toBe(3);
    expect(events.at(-1)!.filesTotal).toBe(9); // config, 4 tokenizer files, index, 3 shards
    const ck = await openCheckpoint(set);
    expect(ck.dtype).toBe('BF16');
    expect(ck.weightFiles.length).toBe(3);
    expect([...(await ck.read('model.norm.weight'))].length).toBe(32);
  });

  it('sends the token, to the Hub only, and reads private and gated repos with it', async () => {
    const before = hub.requests.length;
    const set = await downloadCheckpoint('org/private', { endpoint: hub.url, accessToken: 'hf_good' });
    expect(set.paths()).toContain('model.safetensors');
    const reqs = hub.requests.slice(before);
    expect(reqs.filter((r) => !r.path.startsWith('/cdn/')).every((r) => r.authorization === 'Bearer hf_good')).toBe(
      true,
    );
    await expect(downloadCheckpoint('org/gated', { endpoint: hub.url, accessToken: 'hf_good' })).resolves.toBeTruthy();
  });

  it('a revision and a legacy id without an organisation', async () => {
    const set = await downloadCheckpoint('org/tiny', { endpoint: hub.url, revision: 'refs/pr/1' });
    expect(set.revision).toBe('refs/pr/1');
    expect(hub.requests.some((r) => r.path.startsWith('/org/tiny/resolve/refs%2Fpr%2F1/config.json'))).toBe(true);
    expect((await downloadCheckpoint('legacy', { endpoint: hub.url })).name).toBe('legacy');
  });

  it('resumes a dropped connection with a Range request', async () => {
    hub.failFile('model.safetensors', 5000, 2);
    const before = hub.requests.length;
    const set = await downloadCheckpoint('org/tiny', { endpoint: hub.url });
    const got = await bytesOf(set.get('model.safetensors')!);
    expect(Buffer.from(got).equals(Buffer.from(single.files.get('model.safetensors')!))).toBe(true);
    const ranges = hub.requests
      .slice(before)
      .filter((r) => r.path.startsWith('/cdn/'))
      .map((r) => r.range);
    expect(ranges).toEqual([null, 'bytes=5000-', 'bytes=10000-']);
  });

  it('treats a silent connection as dropped and resumes it', async () => {
    hub.failFile('model.safetensors', 6000, 1, 'stall');
    const before = hub.requests.length;
    // 3 s of silence: far above any gap between the mock's 2 ms chunks on a loaded machine, so only
    // the injected stall counts as one
    const set = await downloadCheckpoint('org/tiny', { endpoint: hub.url, stallTimeoutMs: 3000 });
    expect(
      Buffer.from(await bytesOf(set.get('model.safetensors')!)).equals(
        Buffer.from(single.files.get('model.safetensors')!),
      ),
    ).toBe(true);
    const ranges = hub.requests
      .slice(before)
      .filter((r) => r.path.startsWith('/cdn/'))
      .map((r) => r.range);
    expect(ranges).toEqual([null, 'bytes=6000-']);
  });

  it('retries a 503 from the CDN', async () => {
    hub.failFileWithStatus('model.safetensors', 503, 1);
    const set = await downloadCheckpoint('org/tiny', { endpoint: hub.url });
    expect(set.get('model.safetensors')!.size).toBe(single.files.get('model.safetensors')!.length);
  });
});

describe('downloadCheckpoint errors', () => {
  const dl = (repo: string, opts: object = {}) => downloadCheckpoint(repo, { endpoint: hub.url, ...opts });

  it('404: a repo that does not exist', async () => {
    await expect(dl('org/nope', { accessToken: 'hf_good' })).rejects.toMatchObject({
      kind: 'not-found',
      status: 404,
      message: expect.stringMatching(/^Hub repo "org\/nope" was not found, or your token cannot see it \(HTTP 404\)/),
    });
    // without a token the Hub answers 401 for unknown and private repos alike
    await expect(dl('org/nope')).rejects.toMatchObject({
      kind: 'not-found',
      status: 401,
      message: expect.stringContaining('if it is private, add an access token from'),
    });
  });

  it('401: private repo without a token, and a token the Hub does not know', async () => {
    await expect(dl('org/private')).rejects.toMatchObject({
      status: 401,
      message: expect.stringContaining(`${hub.url}/settings/tokens`),
    });
    await expect(dl('org/tiny', { accessToken: 'hf_bad' })).rejects.toMatchObject({
      kind: 'auth',
      status: 401,
      message: expect.stringMatching(
        /the Hub refused your access token for "org\/tiny" \(HTTP 401: Invalid credentials/,
      ),
    });
  });

  it('401/403: a gated repo, without a token and with one not granted access', async () => {
    await expect(dl('org/gated')).rejects.toMatchObject({
      kind: 'gated',
      status: 401,
      file: 'config.json',
      message: `"org/gated" is a gated model: accept its conditions at ${hub.url}/org/gated, then add an access token from ${hub.url}/settings/tokens.`,
    });
    await expect(dl('org/gated', { accessToken: 'hf_other' })).rejects.toMatchObject({
      kind: 'gated',
      status: 403,
      message: expect.stringContaining('your token has not been granted access (HTTP 403): request access at'),
    });
  });

  it('no safetensors weights: says to convert', async () => {
    await expect(dl('org/binonly')).rejects.toMatchObject({
      kind: 'no-weights',
      message: expect.stringMatching(
        /"org\/binonly" has no safetensors weights \(only pytorch_model.bin\)\. Repos with only .bin weights must be converted first/,
      ),
    });
  });

  it('an unsupported model stops after config.json, before the weights', async () => {
    const before = hub.requests.length;
    await expect(dl('org/gpt2')).rejects.toThrow(
      'org/gpt2/config.json: model_type "gpt2" is not supported (supported: llama, mistral, qwen2, gemma3_text)',
    );
    expect(hub.requests.slice(before).some((r) => r.path.includes('model.safetensors'))).toBe(false);
  });

  it('an unknown revision', async () => {
    await expect(dl('org/tiny', { revision: 'v9' })).rejects.toMatchObject({
      kind: 'revision-not-found',
      message: '"org/tiny" has no revision "v9" (a branch, tag or commit)',
    });
  });

  it('a connection that keeps dropping: names the file and how far it got', async () => {
    hub.failFile('model.safetensors', 3000, 3);
    await expect(dl('org/tiny', { retries: 2 })).rejects.toMatchObject({
      kind: 'network',
      file: 'model.safetensors',
      message: expect.stringMatching(
        /^download of model.safetensors from "org\/tiny" failed after 9000 of \d+ bytes \(.*; 2 resumptions tried\)/,
      ),
    });
  });

  it('an unreachable endpoint', async () => {
    await expect(downloadCheckpoint('org/tiny', { endpoint: 'http://127.0.0.1:9' })).rejects.toMatchObject({
      kind: 'network',
      message: expect.stringMatching(/^could not reach http:\/\/127.0.0.1:9 to list "org\/tiny"/),
    });
  });

  it('an aborted download rejects with AbortError and stops', async () => {
    const ac = new AbortController();
    const events: HubProgress[] = [];
    const p = downloadCheckpoint('org/tiny', {
      endpoint: hub.url,
      signal: ac.signal,
      progressIntervalBytes: 1,
      onProgress: (e) => {
        events.push(e);
        if (e.file === 'model.safetensors' && e.loaded >= 4096) ac.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    const n = events.length;
    const lastLoaded = events.at(-1)!.loaded;
    expect(lastLoaded).toBeLessThan(single.files.get('model.safetensors')!.length);
    await new Promise((r) => setTimeout(r, 50));
    expect(events.length).toBe(n); // nothing after the abort
    await expect(
      downloadCheckpoint('org/tiny', { endpoint: hub.url, signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('ids that are not repo ids', () => {
    expect(parseRepoId(' Qwen/Qwen2.5-0.5B-Instruct ')).toBe('Qwen/Qwen2.5-0.5B-Instruct');
    expect(parseRepoId('https://huggingface.co/TinyLlama/TinyLlama-1.1B-Chat-v1.0/blob/main/config.json')).toBe(
      'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
    );
    for (const bad of ['../etc/passwd', 'a/b/c', '/org', '', 'org/na me', 'org/..x', 'org/-x']) {
      expect(() => parseRepoId(bad), bad).toThrow(/is not a Hub model id/);
    }
  });
});
