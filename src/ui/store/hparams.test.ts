import { describe, expect, it } from 'vitest';
import { DEFAULT_HPARAMS } from '../../config/hparams';
import { DEMO_PRESET, issuesOf, restoreHparams } from './hparams';
import { useStudio } from './store';

describe('hyperparameter slice', () => {
  it('setTraining validates as it goes, with the early-stopping rules', () => {
    const s = useStudio.getState();
    s.resetHparams();
    s.setTraining('early_stopping_patience', 2);
    s.setTraining('eval_steps', 0);
    expect(useStudio.getState().hparamIssues['training.early_stopping_patience']).toBe(
      'early stopping needs evaluation steps (eval_steps > 0)',
    );
    s.setTraining('eval_steps', 5);
    s.setTraining('val_split_fraction', 0);
    expect(useStudio.getState().hparamIssues['training.early_stopping_patience']).toBe(
      'early stopping needs a validation split (val_split_fraction > 0)',
    );
    s.setTraining('val_split_fraction', 0.1);
    expect(useStudio.getState().hparamIssues).toEqual({});
    s.setLora('r', 0);
    expect(useStudio.getState().hparamIssues['lora.r']).toBe('r must be at least 1');
  });

  it('the demo preset is the one checked on the demo model; reset goes back to the defaults', () => {
    const s = useStudio.getState();
    s.applyDemoPreset();
    const h = useStudio.getState().hparams;
    expect(h.lora.target_modules).toBe('all-linear');
    expect(h.training.learning_rate).toBe(3e-3);
    expect(h.training.num_train_epochs).toBe(5);
    expect(h.training.per_device_train_batch_size).toBe(8);
    expect(h.training.max_seq_length).toBe(256);
    expect(issuesOf(DEMO_PRESET)).toEqual({});
    s.resetHparams();
    expect(useStudio.getState().hparams).toEqual(DEFAULT_HPARAMS);
  });

  it('settings saved before QLoRA and gradient checkpointing existed load, with both off', () => {
    const saved = { lora: { ...DEFAULT_HPARAMS.lora, r: 32 }, training: { learning_rate: 5e-4 } };
    const { gradient_checkpointing: _g, ...oldTraining } = DEFAULT_HPARAMS.training;
    const h = restoreHparams({ ...saved, training: { ...oldTraining, learning_rate: 5e-4 } });
    expect(h.lora.r).toBe(32);
    expect(h.training.learning_rate).toBe(5e-4);
    expect(h.training.gradient_checkpointing).toBe(false);
    expect(h.quantization).toEqual({ load_in_4bit: false, bnb_4bit_quant_type: 'nf4' });
    expect(issuesOf(h)).toEqual({});
    // Saved with the options on, they stay on; a wrong type falls back to off.
    const on = restoreHparams({ ...h, quantization: { load_in_4bit: true, bnb_4bit_quant_type: 'nf4' } });
    expect(on.quantization.load_in_4bit).toBe(true);
    expect(restoreHparams({ ...h, quantization: { load_in_4bit: 'yes' } }).quantization.load_in_4bit).toBe(false);
  });

  it('setQuantization: an unsupported 4-bit type is marked on its field', () => {
    const s = useStudio.getState();
    s.resetHparams();
    s.setQuantization('load_in_4bit', true);
    s.setTraining('gradient_checkpointing', true);
    expect(useStudio.getState().hparamIssues).toEqual({});
    s.setQuantization('bnb_4bit_quant_type', 'fp4');
    expect(useStudio.getState().hparamIssues['quantization.bnb_4bit_quant_type']).toBe(
      'bnb_4bit_quant_type "fp4" is not supported: only nf4 is (the 4-bit type QLoRA trains with)',
    );
    s.resetHparams();
    expect(useStudio.getState().hparams.quantization.load_in_4bit).toBe(false);
  });

  it('restoreHparams keeps what still validates and fills the rest from the defaults', () => {
    expect(restoreHparams(undefined)).toEqual(DEFAULT_HPARAMS);
    const saved = {
      lora: { r: 16, lora_alpha: 'sixteen' },
      training: { learning_rate: 1e-3, not_a_field: 1 },
    };
    const h = restoreHparams(saved);
    expect(h.lora.r).toBe(16);
    expect(h.lora.lora_alpha).toBe(DEFAULT_HPARAMS.lora.lora_alpha);
    expect(h.training.learning_rate).toBe(1e-3);
    expect(h.training.max_seq_length).toBe(DEFAULT_HPARAMS.training.max_seq_length);
    expect(issuesOf(h)).toEqual({});
  });
});
