import { describe, expect, it } from 'vitest';
import { expectedWeights } from '../engine/model/config';
import { openCheckpoint } from './checkpoint';
import { openSafetensors } from './safetensors';
import { type ByteSource, FileSet, bytesSource, fileSetFromFiles } from './source';
import { tinyCheckpoint, tinyCheckpointFiles, tinyHfConfig, tinyTensors } from './testing/tiny-checkpoint';
import { parseHfConfig } from './hf-config';

function fileSet(files: Map<string, Uint8Array>, name = 'tiny', hubRepoId: string | null = null): FileSet {
  return new FileSet(
    [...files].map(([p, b]): [string, ByteSource] => [p, bytesSource(b, p)]),
    name,
    hubRepoId,
  );
}

describe('openCheckpoint', () => {
  it('opens model.safetensors, lists exactly the expected weights and reads their bytes', async () => {
    const { config, files } = tinyCheckpoint({}, { extras: true });
    const ck = await openCheckpoint(fileSet(files));
    const expected = expectedWeights(config);
    expect(ck.list().map((w) => w.name)).toEqual(expected.map((w) => w.name));
    expect(ck.list().every((w) => w.dtype === 'F32')).toBe(true);
    expect(ck.list().find((w) => w.name === 'model.layers.1.mlp.down_proj.weight')!.shape).toEqual([16, 24]);
    expect(ck.config).toEqual(config);
    expect(ck.weightFiles).toEqual(['model.safetensors']);
    expect(ck.dtype).toBe('F32');
    expect(ck.totalBytes).toBe(expected.reduce((s, w) => s + 4 * w.shape.reduce((a, b) => a * b, 1), 0));
    // the bytes are the file's, untouched
    const ref = await openSafetensors(bytesSource(files.get('model.safetensors')!, 'model.safetensors'));
    expect([...(await ck.read('model.norm.weight'))]).toEqual([...(await ref.read('model.norm.weight'))]);
    const norm = await ck.readAsF32('model.norm.weight');
    expect(norm.length).toBe(16);
    expect(norm.every((v) => v >= 0.5 && v <= 1.5)).toBe(true);
    await expect(ck.read('model.layers.0.self_attn.rotary_emb.inv_freq')).rejects.toThrow(
      /the engine reads no weight named model.layers.0.self_attn.rotary_emb.inv_freq/,
    );
    expect([...ck.tokenizerFiles.keys()].sort()).toEqual([
      'generation_config.json',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
  });

  it('opens a sharded checkpoint through its index, from a dropped folder with a prefix', async () => {
    const { config, files } = tinyCheckpoint({}, { shards: 3, dtype: 'BF16' });
    expect(files.has('model.safetensors')).toBe(false);
    const dropped = fileSetFromFiles(
      [...files].map(([p, b]) => ({ path: `TinyLlama-test/${p}`, blob: new Blob([b]) })),
    );
    expect(dropped.name).toBe('TinyLlama-test');
    const ck = await openCheckpoint(dropped);
    expect(ck.weightFiles).toEqual([1, 2, 3].map((i) => `model-0000${i}-of-00003.safetensors`));
    expect(ck.dtype).toBe('BF16');
    expect(ck.nameOrPath).toBe('TinyLlama-test');
    expect(ck.baseModelNameOrPath).toBe('TinyLlama-test');
    expect(ck.list().length).toBe(expectedWeights(config).length);
    // one tensor from each shard, against the generator's values rounded to bf16
    const tensors = tinyTensors(config, { dtype: 'BF16' });
    for (const name of ['model.embed_tokens.weight', 'model.layers.0.input_layernorm.weight', 'lm_head.weight']) {
      const want = tensors.find((t) => t.name === name)!.data as Float32Array;
      const got = await ck.readAsF32(name);
      for (let i = 0; i < want.length; i++)
        expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(Math.abs(want[i]) * 2 ** -8);
    }
  });

  it('Qwen2-style: q/k/v biases required, tied lm_head ignored when present', async () => {
    const { config, files } = tinyCheckpoint(
      { model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'], tie_word_embeddings: true },
      { extras: true, dtype: 'F16' },
    );
    const ck = await openCheckpoint(fileSet(files));
    const names = ck.list().map((w) => w.name);
    expect(names).toContain('model.layers.1.self_attn.k_proj.bias');
    expect(names).not.toContain('lm_head.weight');
    expect(ck.list().find((w) => w.name === 'model.layers.1.self_attn.k_proj.bias')!.shape).toEqual([
      config.numKvHeads * config.headDim,
    ]);
    expect(ck.dtype).toBe('F16');
  });

  it('names the Hub repo, or a repo id from _name_or_path, never a local path', async () => {
    const hub = tinyCheckpoint();
    const fromHub = await openCheckpoint(fileSet(hub.files, 'org/tiny', 'org/tiny'));
    expect([fromHub.nameOrPath, fromHub.baseModelNameOrPath]).toEqual(['org/tiny', 'org/tiny']);
    const named = tinyCheckpoint({ _name_or_path: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0' });
    const local = await openCheckpoint(fileSet(named.files, 'my-folder'));
    expect([local.nameOrPath, local.baseModelNameOrPath]).toEqual(['my-folder', 'TinyLlama/TinyLlama-1.1B-Chat-v1.0']);
    const pathy = tinyCheckpoint({ _name_or_path: '/home/me/models/tiny' });
    expect((await openCheckpoint(fileSet(pathy.files, 'my-folder'))).baseModelNameOrPath).toBe('my-folder');
  });
});

describe('openCheckpoint errors', () => {
  const base = () => {
    const hf = tinyHfConfig();
    const config = parseHfConfig(hf).model;
    return { hf, config, tensors: tinyTensors(config) };
  };
  const withTensors = (tensors: ReturnType<typeof tinyTensors>) => {
    const { hf, config } = base();
    return fileSet(tinyCheckpointFiles(config, hf, {}, tensors));
  };

  it('a missing tensor: names it, the file and the expected shape', async () => {
    const { tensors } = base();
    const ck = withTensors(tensors.filter((t) => t.name !== 'model.layers.1.self_attn.v_proj.weight'));
    await expect(openCheckpoint(ck)).rejects.toThrow(
      'checkpoint tiny does not match its config.json: model.safetensors: tensor model.layers.1.self_attn.v_proj.weight (shape [8, 16]) is missing',
    );
  });

  it('a shape that disagrees with config.json: both shapes', async () => {
    const { tensors } = base();
    const i = tensors.findIndex((t) => t.name === 'model.layers.0.mlp.up_proj.weight');
    tensors[i] = { ...tensors[i], shape: [16, 24], data: new Float32Array(384) };
    await expect(openCheckpoint(withTensors(tensors))).rejects.toThrow(
      'model.safetensors: tensor model.layers.0.mlp.up_proj.weight has shape [16, 24], but config.json implies [24, 16]',
    );
    await expect(openCheckpoint(withTensors(tensors))).rejects.toMatchObject({ file: 'model.safetensors' });
  });

  it('a config that disagrees everywhere: the first five problems and a count', async () => {
    const { config, tensors } = base();
    const files = tinyCheckpointFiles(config, tinyHfConfig({ intermediate_size: 32 }), {}, tensors);
    await expect(openCheckpoint(fileSet(files))).rejects.toThrow(
      /but config.json implies \[32, 16\].*\(and 1 more problems\)$/,
    );
  });

  it('an unsupported dtype', async () => {
    const { tensors } = base();
    const i = tensors.findIndex((t) => t.name === 'model.norm.weight');
    tensors[i] = { ...tensors[i], dtype: 'I8', data: new Uint8Array(16) };
    await expect(openCheckpoint(withTensors(tensors))).rejects.toThrow(
      'model.safetensors: tensor model.norm.weight has dtype I8; only F32, F16 and BF16 weights are supported',
    );
  });

  it('lm_head missing when the embeddings are not tied', async () => {
    const { tensors } = base();
    await expect(openCheckpoint(withTensors(tensors.filter((t) => t.name !== 'lm_head.weight')))).rejects.toThrow(
      /tensor lm_head.weight \(shape \[40, 16\]\) is missing/,
    );
  });

  it('a missing shard, a tensor the index does not map, a broken index', async () => {
    const { files } = tinyCheckpoint({}, { shards: 2 });
    const noShard = new Map(files);
    noShard.delete('model-00002-of-00002.safetensors');
    await expect(openCheckpoint(fileSet(noShard))).rejects.toThrow(
      /model.safetensors.index.json: shard model-00002-of-00002.safetensors \(holding .+\) is missing from tiny/,
    );
    const index = JSON.parse(new TextDecoder().decode(files.get('model.safetensors.index.json')));
    delete index.weight_map['model.norm.weight'];
    const unmapped = new Map(files).set(
      'model.safetensors.index.json',
      new TextEncoder().encode(JSON.stringify(index)),
    );
    await expect(openCheckpoint(fileSet(unmapped))).rejects.toMatchObject({ file: 'model.safetensors.index.json' });
    await expect(openCheckpoint(fileSet(unmapped))).rejects.toThrow(
      /tensor model.norm.weight \(shape \[16\]\) is missing: model.safetensors.index.json maps no shard to it/,
    );
    const broken = new Map(files).set('model.safetensors.index.json', new TextEncoder().encode('{"weight_map": [1]}'));
    await expect(openCheckpoint(fileSet(broken))).rejects.toThrow(/must be an object with a "weight_map"/);
  });

  it('no config.json, .bin-only weights, non-standard safetensors names, a corrupt shard', async () => {
    const { files } = tinyCheckpoint();
    const noConfig = new Map(files);
    noConfig.delete('config.json');
    await expect(openCheckpoint(fileSet(noConfig))).rejects.toThrow(/^config.json is missing from tiny/);
    const binOnly = new Map(files);
    binOnly.delete('model.safetensors');
    binOnly.set('pytorch_model.bin', new Uint8Array(10));
    await expect(openCheckpoint(fileSet(binOnly))).rejects.toThrow(
      /tiny has weights only as pytorch_model.bin; LoRA Studio reads safetensors: convert/,
    );
    const odd = new Map(binOnly);
    odd.set('consolidated.safetensors', new Uint8Array(10));
    await expect(openCheckpoint(fileSet(odd))).rejects.toThrow(
      /has consolidated.safetensors but neither model.safetensors nor/,
    );
    const corrupt = new Map(files).set('model.safetensors', files.get('model.safetensors')!.slice(0, 100));
    await expect(openCheckpoint(fileSet(corrupt))).rejects.toThrow(
      /^model.safetensors: header length \d+ runs past the end of the file \(100 bytes\)/,
    );
  });

  it('a bad config.json is reported before any weight is read', async () => {
    const { files } = tinyCheckpoint();
    const bad = new Map(files).set(
      'config.json',
      new TextEncoder().encode(JSON.stringify(tinyHfConfig({ model_type: 'gpt2', architectures: null }))),
    );
    bad.set('model.safetensors', new Uint8Array(3));
    await expect(openCheckpoint(fileSet(bad))).rejects.toThrow(
      'config.json: model_type "gpt2" is not supported (supported: llama, mistral, qwen2, gemma3_text)',
    );
  });

  it('a tied checkpoint needs no lm_head.weight', async () => {
    const { config, files } = tinyCheckpoint({ tie_word_embeddings: true });
    const ck = await openCheckpoint(fileSet(files));
    expect(ck.list().map((w) => w.name)).not.toContain('lm_head.weight');
    expect(ck.list().length).toBe(expectedWeights(config).length);
  });
});
