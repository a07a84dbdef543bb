import { describe, expect, it } from 'vitest';
import { metricsCsv, resolvedConfigJson } from './report';
import { DEFAULT_HPARAMS } from '../../config/hparams';
import type { StepMetrics } from '../../engine/train/trainer';

const m = (step: number, over: Partial<StepMetrics> = {}): StepMetrics => ({
  step,
  totalSteps: 3,
  epoch: step / 3,
  loss: 1 / step,
  lr: 2e-4,
  gradNorm: 0.5,
  tokens: 120,
  tokensPerSecond: 60.5,
  stepMs: 1983.25,
  ...over,
});

describe('metricsCsv', () => {
  it('writes one row per step with eval_loss only where evaluated, numbers round-tripping exactly', () => {
    const csv = metricsCsv([m(1), m(2, { evalLoss: 0.75 }), m(3, { loss: NaN, gradNorm: Infinity })]);
    const rows = csv
      .trimEnd()
      .split('\n')
      .map((l) => l.split(','));
    expect(rows[0]).toEqual([
      'step',
      'epoch',
      'loss',
      'eval_loss',
      'learning_rate',
      'grad_norm',
      'tokens',
      'tokens_per_second',
      'step_ms',
    ]);
    expect(rows).toHaveLength(4);
    expect(rows[1][3]).toBe('');
    expect(rows[2][3]).toBe('0.75');
    expect(Number(rows[1][1])).toBe(1 / 3);
    expect(Number(rows[2][2])).toBe(0.5);
    expect(rows[3][2]).toBe('nan');
    expect(rows[3][5]).toBe('inf');
    expect(rows[1][4]).toBe('0.0002');
  });
});

describe('resolvedConfigJson', () => {
  it('expands all-linear and records the outcome', () => {
    const json = JSON.parse(
      resolvedConfigJson({
        hparams: {
          lora: { ...DEFAULT_HPARAMS.lora, target_modules: 'all-linear' },
          training: { ...DEFAULT_HPARAMS.training, gradient_checkpointing: true },
          quantization: { load_in_4bit: true, bnb_4bit_quant_type: 'nf4' },
        },
        baseModel: 'org/model',
        dataset: 'd.jsonl',
        totalSteps: 6,
        train: 392,
        val: 8,
        trainableLine: 'trainable params: 1',
        stop: { kind: 'early_stopping', step: 4, message: 'stopped early at step 4' },
        best: { step: 2, evalLoss: 1.25 },
        fromImportedAdapter: null,
      }),
    );
    expect(json.lora.target_modules).toEqual([
      'q_proj',
      'k_proj',
      'v_proj',
      'o_proj',
      'gate_proj',
      'up_proj',
      'down_proj',
    ]);
    expect(json.training.learning_rate).toBe(2e-4);
    expect(json.training.gradient_checkpointing).toBe(true);
    expect(json.quantization).toEqual({ load_in_4bit: true, bnb_4bit_quant_type: 'nf4' });
    expect(json.resolved.total_steps).toBe(6);
    expect(json.outcome).toEqual({
      stop_reason: 'early_stopping',
      stopped_at_step: 4,
      message: 'stopped early at step 4',
      best_step: 2,
      best_eval_loss: 1.25,
    });
  });
});
