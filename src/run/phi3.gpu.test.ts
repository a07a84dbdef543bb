// A Phi-3 model folder through the studio's own pipeline (the layer the worker and the CLI share):
// open (config.json model_type phi3, a byte-level BPE tokenizer), estimate, train on the demo's
// SQL data with "all-linear" (PEFT's fused names), and export the adapter as PEFT writes it. The
// numbers themselves are refereed by golden.gpu.test.ts (tiny-phi3 against reference/); this
// checks the wiring: the family's targets reach the estimate, the engine and the export.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../engine/gpu/context';
import type { GpuWeights } from '../engine/model/gpu-weights';
import { testContext } from '../engine/testing/gpu';
import { REPO_ROOT } from '../engine/testing/cases.node';
import { FileSet, bytesSource } from '../io/source';
import { openSafetensors } from '../io/safetensors';
import { tinyCheckpoint } from '../io/testing/tiny-checkpoint';
import { tinyBpeTokenizer } from '../io/testing/bpe-tokenizer';
import { parseDataset } from '../data/parse';
import { DEFAULT_HPARAMS, type Hparams } from '../config/hparams';
import { openModel, uploadModel, type LoadedModel } from './model';
import { prepareData } from './data';
import { estimateRun } from './plan';
import { TrainingRun } from './run';

const enc = new TextEncoder();
let ctx: GpuContext;
let model: LoadedModel;
let weights: GpuWeights;

beforeAll(async () => {
  ctx = await testContext();
  const t = tinyCheckpoint(
    {
      architectures: ['Phi3ForCausalLM'],
      model_type: 'phi3',
      hidden_size: 32,
      intermediate_size: 40,
      vocab_size: 160,
      partial_rotary_factor: 0.75,
      max_position_embeddings: 1024,
      original_max_position_embeddings: 256,
      rope_scaling: { type: 'longrope', short_factor: [1, 1.5, 2], long_factor: [1, 4, 8] },
      sliding_window: 2047,
    },
    { dtype: 'BF16' },
  );
  const tok = tinyBpeTokenizer('qwen2', 160);
  t.files.set('tokenizer.json', enc.encode(JSON.stringify(tok.tokenizerJson)));
  t.files.set('tokenizer_config.json', enc.encode(JSON.stringify(tok.tokenizerConfig)));
  const fs = new FileSet(
    [...t.files].map(([p, b]) => [p, bytesSource(b, p)] as [string, ReturnType<typeof bytesSource>]),
    'tiny-phi3',
  );
  model = await openModel(fs);
  weights = await uploadModel(ctx, model);
});
afterAll(() => weights?.arena.destroy());

describe('a phi3 model through the run layer', () => {
  it('all-linear trains qkv_proj, o_proj, gate_up_proj, down_proj (trainable count, loss down), PEFT keys on export', async () => {
    const h: Hparams = {
      lora: { ...DEFAULT_HPARAMS.lora, lora_dropout: 0, target_modules: 'all-linear' },
      training: {
        ...DEFAULT_HPARAMS.training,
        learning_rate: 3e-3,
        per_device_train_batch_size: 4,
        max_seq_length: 128,
        max_steps: 4,
        warmup_ratio: 0,
        eval_steps: 0,
        val_split_fraction: 0.25,
      },
      quantization: DEFAULT_HPARAMS.quantization,
    };
    expect(model.checkpoint.config.modelType).toBe('phi3');
    const dataset = parseDataset(readFileSync(join(REPO_ROOT, 'public/demo/sql-demo.json')), { name: 'sql-demo.json' });
    const data = prepareData(dataset.records.slice(0, 16), model, h.training);
    const est = estimateRun(model, h, ctx.caps, data, weights);
    expect(est.targetModules).toEqual(['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj']);
    // 2 layers x r 8 x (in + out): qkv 32 + 64, o 32 + 32, gate_up 32 + 80, down 40 + 32
    expect(est.trainableParams).toBe(2 * 8 * (96 + 64 + 112 + 72));
    const run = new TrainingRun(ctx, model, weights, data, h);
    const before = await run.trainer.evaluate();
    while (!run.done) await run.step();
    const after = await run.trainer.evaluate();
    console.log(`tiny phi3 via the run layer: validation loss ${before.toFixed(4)} -> ${after.toFixed(4)} in 4 steps`);
    expect(Number.isFinite(after)).toBe(true);
    expect(after).toBeLessThan(before);
    const out = await run.exportAdapter('last');
    const cfg = JSON.parse(out.config);
    expect(cfg.target_modules).toEqual(['down_proj', 'gate_up_proj', 'o_proj', 'qkv_proj']);
    const st = await openSafetensors(bytesSource(out.safetensors, 'adapter_model.safetensors'));
    expect(st.tensors.get('base_model.model.model.layers.1.self_attn.qkv_proj.lora_B.weight')!.shape).toEqual([64, 8]);
    expect(st.tensors.get('base_model.model.model.layers.0.mlp.gate_up_proj.lora_A.weight')!.shape).toEqual([8, 32]);
    expect(st.tensors.size).toBe(2 * 4 * 2);
    run.destroy();
  });

  it('refuses max_seq_length past max_position_embeddings (longrope), by name', async () => {
    const h: Hparams = {
      lora: DEFAULT_HPARAMS.lora,
      training: { ...DEFAULT_HPARAMS.training, max_seq_length: 2000, max_steps: 1 },
      quantization: DEFAULT_HPARAMS.quantization,
    };
    const dataset = parseDataset(readFileSync(join(REPO_ROOT, 'public/demo/sql-demo.json')), { name: 'sql-demo.json' });
    const data = prepareData(dataset.records.slice(0, 8), model, h.training);
    expect(() => new TrainingRun(ctx, model, weights, data, h)).toThrow(
      /max_seq_length 2000 exceeds this model's max_position_embeddings \(1024\)/,
    );
  });
});
