import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LoraLayout, type LoraSpec } from '../engine/model/lora';
import { parseHfConfig } from './hf-config';
import { adapterConfigJson, pyFloat, pythonJson, readAdapter, writeAdapter } from './peft';
import { type TensorToWrite, openSafetensors, writeSafetensors } from './safetensors';
import { type ByteSource, FileSet, bytesSource } from './source';
import { tinyHfConfig } from './testing/tiny-checkpoint';
import { bf16ToF32, f32ToBf16 } from '../util/half';

const model = parseHfConfig(tinyHfConfig()).model; // hidden 16, intermediate 24, 2 layers, kv 8
const SPEC: LoraSpec = {
  r: 4,
  lora_alpha: 16,
  lora_dropout: 0.05,
  target_modules: ['q_proj', 'v_proj', 'down_proj'],
  use_rslora: true,
};
const BASE = 'TinyLlama/TinyLlama-1.1B-Chat-v1.0';

// fixtures/make_reference_adapter.py's values: slot s holds A with k = 2s, B with k = 2s + 1.
const value = (k: number, i: number) => (((37 * i + 11 * k) % 101) - 50) / 64;
function referenceFlat(layout: LoraLayout): Float32Array {
  const flat = new Float32Array(layout.size);
  layout.slots.forEach((s, n) => {
    for (let i = 0; i < s.r * s.inFeatures; i++) flat[s.offsetA + i] = value(2 * n, i);
    for (let i = 0; i < s.outFeatures * s.r; i++) flat[s.offsetB + i] = value(2 * n + 1, i);
  });
  return flat;
}

// adapter_config.json is stored as adapter_config.json.golden so that prettier leaves its bytes alone.
const fixture = (name: string) =>
  new Uint8Array(
    readFileSync(
      new URL(
        `./fixtures/reference_adapter/${name === 'adapter_config.json' ? `${name}.golden` : name}`,
        import.meta.url,
      ),
    ),
  );
const enc = (s: string) => new TextEncoder().encode(s);

function adapterFiles(files: Record<string, Uint8Array | string>): FileSet {
  return new FileSet(
    Object.entries(files).map(([p, b]): [string, ByteSource] => [
      p,
      bytesSource(typeof b === 'string' ? enc(b) : b, p),
    ]),
    'my-adapter',
  );
}

/** Writes the reference adapter with some tensors renamed, reshaped or dropped. */
function tamperedWeights(
  edit: (t: TensorToWrite[]) => TensorToWrite[],
  dtype: 'F32' | 'F16' | 'BF16' = 'F32',
): Uint8Array {
  const layout = new LoraLayout(model, SPEC);
  const ts = [...layout.toTensors(referenceFlat(layout))].map(([name, t]): TensorToWrite => ({
    name,
    dtype,
    shape: t.shape,
    data: t.data,
  }));
  return writeSafetensors(edit(ts), { format: 'pt' });
}

describe('DoRA adapters (use_dora)', () => {
  const DORA: LoraSpec = { ...SPEC, use_dora: true };
  it('writes lora_magnitude_vector [out] per site and use_dora true, and reads them back', async () => {
    const layout = new LoraLayout(model, DORA);
    const flat = referenceFlat(layout);
    layout.slots.forEach((s, n) => {
      for (let i = 0; i < s.outFeatures; i++) flat[s.offsetM! + i] = 1 + value(100 + n, i);
    });
    // the magnitudes are parameters: PEFT's print_trainable_parameters counts them
    const plain = new LoraLayout(model, SPEC).paramCount;
    expect(layout.paramCount).toBe(plain + layout.slots.reduce((sum, s) => sum + s.outFeatures, 0));
    const { safetensors, config } = writeAdapter(layout, flat, { baseModelNameOrPath: BASE });
    expect(JSON.parse(config).use_dora).toBe(true);
    const f = await openSafetensors(bytesSource(safetensors, 'adapter_model.safetensors'));
    const key = 'base_model.model.model.layers.1.mlp.down_proj.lora_magnitude_vector';
    expect(f.tensors.get(key)?.shape).toEqual([16]);
    expect(f.tensors.size).toBe(3 * layout.slots.length);
    const back = await readAdapter(
      adapterFiles({ 'adapter_config.json': config, 'adapter_model.safetensors': safetensors }),
      model,
    );
    expect(back.spec.use_dora).toBe(true);
    expect(back.flat).toEqual(flat);
  });

  it('accepts the in-memory key form lora_magnitude_vector.default.weight; refuses a wrong shape', async () => {
    const layout = new LoraLayout(model, DORA);
    // rename: the key form with the adapter name; short: layer 0 q_proj's magnitude has 8 values, not 16
    const ts = (rename: boolean, short: boolean) =>
      writeSafetensors(
        [...layout.toTensors(referenceFlat(layout))].map(([name, t]): TensorToWrite => {
          const mag = name.endsWith('lora_magnitude_vector');
          const cut = short && name.endsWith('layers.0.self_attn.q_proj.lora_magnitude_vector');
          return {
            name: rename && mag ? `${name}.default.weight` : name,
            dtype: 'F32',
            shape: cut ? [8] : t.shape,
            data: cut ? t.data.subarray(0, 8) : t.data,
          };
        }),
        { format: 'pt' },
      );
    const cfg = adapterConfigJson(DORA, BASE);
    const files = (w: Uint8Array) => adapterFiles({ 'adapter_config.json': cfg, 'adapter_model.safetensors': w });
    expect((await readAdapter(files(ts(true, false)), model)).spec.use_dora).toBe(true);
    await expect(readAdapter(files(ts(false, true)), model)).rejects.toThrow(
      /q_proj.lora_magnitude_vector has shape \[8\], but this model's q_proj needs \[16\]/,
    );
  });
});

describe('writeAdapter', () => {
  it('writes both files byte for byte as the reference (PEFT save_pretrained) does', () => {
    const layout = new LoraLayout(model, SPEC);
    const { safetensors, config } = writeAdapter(layout, referenceFlat(layout), { baseModelNameOrPath: BASE });
    expect(config).toBe(new TextDecoder().decode(fixture('adapter_config.json')));
    expect(Buffer.from(safetensors).equals(Buffer.from(fixture('adapter_model.safetensors')))).toBe(true);
  });

  it('uses PEFT key names and shapes, f32 by default, F16/BF16 on request', async () => {
    const layout = new LoraLayout(model, { ...SPEC, target_modules: ['o_proj', 'gate_proj'] });
    const flat = referenceFlat(layout);
    const f = await openSafetensors(
      bytesSource(writeAdapter(layout, flat, { baseModelNameOrPath: BASE }).safetensors, 'a'),
    );
    expect(f.metadata).toEqual({ format: 'pt' });
    expect([...f.tensors.keys()].sort()).toEqual(
      [0, 1]
        .flatMap((l) =>
          ['mlp.gate_proj', 'self_attn.o_proj'].flatMap((m) =>
            ['A', 'B'].map((ab) => `base_model.model.model.layers.${l}.${m}.lora_${ab}.weight`),
          ),
        )
        .sort(),
    );
    expect(f.tensors.get('base_model.model.model.layers.1.mlp.gate_proj.lora_A.weight')!.shape).toEqual([4, 16]);
    expect(f.tensors.get('base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight')!).toMatchObject({
      shape: [24, 4],
      dtype: 'F32',
    });
    const bf = await openSafetensors(
      bytesSource(writeAdapter(layout, flat, { baseModelNameOrPath: BASE, dtype: 'BF16' }).safetensors, 'a'),
    );
    expect(bf.tensors.get('base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight')!.dtype).toBe('BF16');
  });

  it('writes what PEFT stores: all-linear resolved to the sorted list, fractional alpha as a float, a revision', () => {
    const cfg = JSON.parse(
      adapterConfigJson(
        { r: 16, lora_alpha: 8.5, lora_dropout: 0, target_modules: ['v_proj', 'up_proj', 'q_proj'], use_rslora: false },
        'Qwen/Qwen2.5-0.5B',
        'v2',
      ),
    );
    expect(cfg.target_modules).toEqual(['q_proj', 'up_proj', 'v_proj']);
    expect(cfg).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 16,
      lora_alpha: 8.5,
      lora_dropout: 0,
      revision: 'v2',
      inference_mode: true,
      bias: 'none',
    });
    expect(adapterConfigJson({ ...SPEC, lora_dropout: 0 }, BASE)).toContain('"lora_dropout": 0.0,');
  });

  it('writes the base model as given (a Hub id or a path, as PEFT does), refuses an empty one and non-finite weights', () => {
    const layout = new LoraLayout(model, SPEC);
    const flat = referenceFlat(layout);
    for (const p of ['/home/me/llama', 'public/demo/model', 'C:\\models\\llama']) {
      const { config } = writeAdapter(layout, flat, { baseModelNameOrPath: p });
      expect(JSON.parse(config).base_model_name_or_path, p).toBe(p);
    }
    expect(() => writeAdapter(layout, flat, { baseModelNameOrPath: '' })).toThrow(/base_model_name_or_path is empty/);
    flat[layout.slots[3].offsetB + 2] = NaN;
    expect(() => writeAdapter(layout, flat, { baseModelNameOrPath: BASE })).toThrow(
      'writeAdapter: base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight holds NaN at index 2; the adapter is not finite and was not exported',
    );
    expect(() => writeAdapter(layout, new Float32Array(3), { baseModelNameOrPath: BASE })).toThrow(
      /flat buffer has 3 values/,
    );
  });
});

describe('readAdapter', () => {
  it('reads the reference adapter into the flat layout exactly', async () => {
    const a = await readAdapter(
      adapterFiles({
        'adapter_config.json': fixture('adapter_config.json'),
        'adapter_model.safetensors': fixture('adapter_model.safetensors'),
      }),
      model,
    );
    expect(a.spec).toEqual({ ...SPEC, target_modules: ['q_proj', 'v_proj', 'down_proj'] });
    expect(a.layout.size).toBe(new LoraLayout(model, SPEC).size);
    expect([...a.flat]).toEqual([...referenceFlat(a.layout)]);
    expect(a.config.base_model_name_or_path).toBe(BASE);
    expect(a.layout.scaling).toBe(16 / 2); // rslora: alpha / sqrt(r)
  });

  it('round-trips writeAdapter in F32 exactly and in BF16 to bf16 precision', async () => {
    const layout = new LoraLayout(model, {
      ...SPEC,
      target_modules: ['k_proj', 'up_proj'],
      use_rslora: false,
      lora_alpha: 32,
    });
    const flat = referenceFlat(layout);
    for (const dtype of ['F32', 'BF16'] as const) {
      const w = writeAdapter(layout, flat, { baseModelNameOrPath: BASE, dtype });
      const a = await readAdapter(
        adapterFiles({ 'adapter_config.json': w.config, 'adapter_model.safetensors': w.safetensors }),
        model,
      );
      expect(a.spec).toEqual(layout.spec);
      expect([...a.flat]).toEqual(dtype === 'F32' ? [...flat] : [...flat].map((v) => bf16ToF32(f32ToBf16(v))));
    }
  });

  it('round-trips a targeted adapter: regex target_modules, layers_to_transform, rank_pattern, alpha_pattern', async () => {
    const specs: LoraSpec[] = [
      {
        ...SPEC,
        target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
        target_regex: 'model\\.layers\\.\\d+\\.(self_attn\\.(q|v)_proj|mlp\\.down_proj)',
        rank_pattern: { 'layers.1.self_attn.q_proj': 6, down_proj: 2 },
        alpha_pattern: { v_proj: 3.5 },
        use_rslora: false,
      },
      { ...SPEC, layers_to_transform: [1], rank_pattern: { v_proj: 8 }, init_lora_weights: 'gaussian' },
    ];
    for (const spec of specs) {
      const layout = new LoraLayout(model, spec);
      const flat = referenceFlat(layout);
      const w = writeAdapter(layout, flat, { baseModelNameOrPath: BASE });
      const cfg = JSON.parse(w.config);
      expect(cfg.target_modules).toEqual(spec.target_regex ?? [...spec.target_modules].sort());
      expect(cfg.rank_pattern).toEqual(spec.rank_pattern);
      expect(cfg.alpha_pattern).toEqual(spec.alpha_pattern ?? {});
      expect(cfg.layers_to_transform).toEqual(spec.layers_to_transform ?? null);
      const a = await readAdapter(
        adapterFiles({ 'adapter_config.json': w.config, 'adapter_model.safetensors': w.safetensors }),
        model,
      );
      expect(a.layout.slots.map((s) => [s.layer, s.module, s.r, s.scaling])).toEqual(
        layout.slots.map((s) => [s.layer, s.module, s.r, s.scaling]),
      );
      expect([...a.flat]).toEqual([...flat]);
    }
    const first = new LoraLayout(model, specs[0]).slots.map((s) => `${s.layer}.${s.module}:${s.r}:${s.scaling}`);
    expect(first).toEqual([
      '0.q_proj:4:4',
      '0.v_proj:4:0.875',
      '0.down_proj:2:8',
      '1.q_proj:6:2.6666666666666665',
      '1.v_proj:4:0.875',
      '1.down_proj:2:8',
    ]);
    expect(new LoraLayout(model, specs[1]).slots.map((s) => `${s.layer}.${s.module}:${s.r}`)).toEqual([
      '1.q_proj:4',
      '1.v_proj:8',
      '1.down_proj:4',
    ]);
  });

  it('tolerates keys with the adapter name (lora_A.default.weight), F16 weights and "all-linear"', async () => {
    const all: LoraSpec = {
      ...SPEC,
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    };
    const layout = new LoraLayout(model, all);
    const flat = referenceFlat(layout);
    const ts = [...layout.toTensors(flat)].map(([name, t]): TensorToWrite => ({
      name: name.replace(/\.weight$/, '.default.weight'),
      dtype: 'F16',
      shape: t.shape,
      data: t.data,
    }));
    const cfg = JSON.parse(adapterConfigJson(all, BASE));
    cfg.target_modules = 'all-linear';
    const a = await readAdapter(
      adapterFiles({ 'adapter_config.json': JSON.stringify(cfg), 'adapter_model.safetensors': writeSafetensors(ts) }),
      model,
    );
    expect(a.spec.target_modules).toEqual(all.target_modules);
    // every reference value is k/64 with |k| <= 50: exact in f16
    expect([...a.flat]).toEqual([...flat]);
  });

  it('takes the targets from the tensors when target_modules is a regex, and accepts dotted names', async () => {
    const cfg = JSON.parse(new TextDecoder().decode(fixture('adapter_config.json')));
    cfg.target_modules = '.*\\.(q_proj|v_proj|down_proj)';
    const weights = fixture('adapter_model.safetensors');
    expect(
      (
        await readAdapter(
          adapterFiles({ 'adapter_config.json': JSON.stringify(cfg), 'adapter_model.safetensors': weights }),
          model,
        )
      ).spec.target_modules,
    ).toEqual(['q_proj', 'v_proj', 'down_proj']);
    cfg.target_modules = ['self_attn.q_proj', 'v_proj', 'mlp.down_proj'];
    expect(
      (
        await readAdapter(
          adapterFiles({ 'adapter_config.json': JSON.stringify(cfg), 'adapter_model.safetensors': weights }),
          model,
        )
      ).spec.target_modules,
    ).toEqual(['q_proj', 'v_proj', 'down_proj']);
  });
});

describe('readAdapter errors', () => {
  const config = () => JSON.parse(new TextDecoder().decode(fixture('adapter_config.json'))) as Record<string, unknown>;
  const read = (cfg: object, weights: Uint8Array = fixture('adapter_model.safetensors')) =>
    readAdapter(
      adapterFiles({ 'adapter_config.json': JSON.stringify(cfg), 'adapter_model.safetensors': weights }),
      model,
    );

  it('a rank that disagrees with r', async () => {
    await expect(read({ ...config(), r: 8 })).rejects.toThrow(
      'adapter_model.safetensors: tensor base_model.model.model.layers.0.mlp.down_proj.lora_A.weight has rank 4 (shape [4, 24]) but adapter_config.json says r = 8',
    );
  });

  it('a target module the model lacks, in the config or in a tensor', async () => {
    await expect(read({ ...config(), target_modules: ['q_proj', 'c_attn'] })).rejects.toThrow(
      'adapter_config.json: target_modules lists "c_attn", which a llama model does not have (its linear modules: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)',
    );
    const w = tamperedWeights((ts) => [
      ...ts,
      {
        name: 'base_model.model.model.layers.0.mlp.c_fc.lora_A.weight',
        dtype: 'F32',
        shape: [4, 16],
        data: new Float32Array(64),
      },
    ]);
    await expect(read({ ...config(), target_modules: '.*' }, w)).rejects.toThrow(
      /tensor base_model.model.model.layers.0.mlp.c_fc.lora_A.weight adapts "mlp.c_fc", which a llama model does not have/,
    );
    const misplaced = tamperedWeights((ts) =>
      ts.map((t) => ({ ...t, name: t.name.replace('self_attn.q_proj', 'mlp.q_proj') })),
    );
    await expect(read(config(), misplaced)).rejects.toThrow(/adapts "mlp.q_proj", which a llama model does not have/);
  });

  it('a tensor for a module target_modules does not list', async () => {
    await expect(read({ ...config(), target_modules: ['q_proj', 'v_proj'] })).rejects.toThrow(
      "adapter_model.safetensors: tensor base_model.model.model.layers.0.mlp.down_proj.lora_A.weight adapts down_proj, which adapter_config.json's target_modules does not list",
    );
  });

  it('a layer past num_hidden_layers', async () => {
    const w = tamperedWeights((ts) => ts.map((t) => ({ ...t, name: t.name.replace('layers.1.', 'layers.7.') })));
    await expect(read(config(), w)).rejects.toThrow(
      /tensor base_model.model.model.layers.7.mlp.down_proj.lora_A.weight is for layer 7, but the model has 2 layers \(0 to 1\)/,
    );
  });

  it('lora_A or lora_B missing', async () => {
    const noB = tamperedWeights((ts) =>
      ts.filter((t) => t.name !== 'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight'),
    );
    await expect(read(config(), noB)).rejects.toThrow(
      'adapter_model.safetensors: tensor base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight is missing (layer 1 v_proj needs both lora_A and lora_B)',
    );
    const noLayer = tamperedWeights((ts) => ts.filter((t) => !t.name.includes('layers.1.mlp.down_proj')));
    await expect(read(config(), noLayer)).rejects.toThrow(/layers.1.mlp.down_proj.lora_A.weight is missing/);
  });

  it('an adapter for a different base model', async () => {
    const w = tamperedWeights((ts) =>
      ts.map((t) =>
        t.name.endsWith('layers.0.self_attn.q_proj.lora_A.weight')
          ? { ...t, shape: [4, 32], data: new Float32Array(128) }
          : t,
      ),
    );
    await expect(read(config(), w)).rejects.toThrow(
      /q_proj.lora_A.weight has shape \[4, 32\], but this model's q_proj needs \[4, 16\] \(16 in, 16 out\): the adapter was trained for a different base model/,
    );
  });

  it('configs that do not describe a plain LoRA for a causal LM', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ peft_type: 'IA3' }, /peft_type "IA3" is not supported: only LoRA adapters/],
      [{ task_type: 'SEQ_CLS' }, /task_type "SEQ_CLS" is not supported/],
      [{ use_dora: true }, /q_proj.lora_magnitude_vector is missing \(adapter_config.json sets use_dora: true\)/],
      [{ bias: 'all' }, /bias "all" is not supported/],
      [{ modules_to_save: ['lm_head'] }, /modules_to_save \["lm_head"\] is not supported/],
      [
        { rank_pattern: { q_proj: 8 } },
        /layers.0.self_attn.q_proj.lora_A.weight has rank 4 \(shape \[4, 16\]\) but adapter_config.json says r = 8 \(rank_pattern\)/,
      ],
      [{ rank_pattern: { q_proj: 2.5 } }, /rank_pattern\["q_proj"\] must be a positive integer \(got 2.5\)/],
      [
        { layers_to_transform: [0] },
        /layers.1.mlp.down_proj.lora_A.weight adapts layer 1 down_proj, which adapter_config.json's target_modules \/ layers_to_transform do not select/,
      ],
      [
        { target_modules: 'model\\.layers\\.9\\..*' },
        /adapter_config.json: target_modules "model.*" matches no module/,
      ],
      [{ init_lora_weights: 'pissa' }, /init_lora_weights "pissa" is not supported/],
      [{ r: 'four' }, /adapter_config.json: r must be a positive integer \(got "four"\)/],
      [{ r: undefined }, /adapter_config.json: r is missing/],
      [{ lora_dropout: 1.5 }, /lora_dropout must be a number in \[0, 1\) \(got 1.5\)/],
    ];
    for (const [patch, msg] of cases)
      await expect(read({ ...config(), ...patch }), JSON.stringify(patch)).rejects.toThrow(msg);
    await expect(read({ ...config(), layers_to_transform: [0, 1] })).resolves.toBeTruthy();
  });

  it('DoRA and embedding tensors, missing or pickled files', async () => {
    const dora = tamperedWeights((ts) => [
      ...ts,
      {
        name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector',
        dtype: 'F32',
        shape: [16],
        data: new Float32Array(16),
      },
    ]);
    await expect(read(config(), dora)).rejects.toThrow(
      /q_proj.lora_magnitude_vector is a DoRA magnitude, but adapter_config.json does not set use_dora: true/,
    );
    const emb = tamperedWeights((ts) => [
      ...ts,
      {
        name: 'base_model.model.model.embed_tokens.lora_embedding_A',
        dtype: 'F32',
        shape: [4, 40],
        data: new Float32Array(160),
      },
    ]);
    await expect(read(config(), emb)).rejects.toThrow(/adapts the embeddings or LM head, which is not supported/);
    await expect(readAdapter(adapterFiles({ 'adapter_config.json': JSON.stringify(config()) }), model)).rejects.toThrow(
      'adapter_model.safetensors is missing from my-adapter',
    );
    await expect(
      readAdapter(adapterFiles({ 'adapter_model.safetensors': fixture('adapter_model.safetensors') }), model),
    ).rejects.toThrow(/^adapter_config.json is missing from my-adapter/);
    await expect(
      readAdapter(
        adapterFiles({ 'adapter_config.json': JSON.stringify(config()), 'adapter_model.bin': new Uint8Array(4) }),
        model,
      ),
    ).rejects.toThrow(/my-adapter has adapter_model.bin, a pickle; LoRA Studio reads adapter_model.safetensors/);
  });
});

describe('pythonJson', () => {
  it('prints floats as Python repr does', () => {
    const xs = [
      0.0,
      -0.0,
      0.05,
      0.1,
      1e-5,
      0.0001,
      123.0,
      1.5e16,
      1e16,
      9999999999999998.0,
      2.5e-7,
      -0.3,
      1 / 3,
      16.5,
      1e22,
      5e-324,
    ];
    // /usr/bin/python3 -c "print([repr(x) for x in xs])"
    expect(xs.map(pyFloat)).toEqual([
      '0.0',
      '-0.0',
      '0.05',
      '0.1',
      '1e-05',
      '0.0001',
      '123.0',
      '1.5e+16',
      '1e+16',
      '9999999999999998.0',
      '2.5e-07',
      '-0.3',
      '0.3333333333333333',
      '16.5',
      '1e+22',
      '5e-324',
    ]);
  });
  it('matches json.dumps(indent=2, sort_keys=True) with ensure_ascii', () => {
    // /usr/bin/python3 -c "import json; print(json.dumps({'b': 'ü😀\x7f\x01\"\\\n', 'a': []}, indent=2, sort_keys=True))"
    expect(pythonJson({ b: 'ü😀\x7f\x01"\\\n', a: [] })).toBe(
      '{\n  "a": [],\n  "b": "\\u00fc\\ud83d\\ude00\\u007f\\u0001\\"\\\\\\n"\n}',
    );
    expect(pythonJson({ x: [1, { y: null }], z: {} })).toBe(
      '{\n  "x": [\n    1,\n    {\n      "y": null\n    }\n  ],\n  "z": {}\n}',
    );
  });
});
