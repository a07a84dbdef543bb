// The hyperparameter form's state: values in PEFT/TrainingArguments names, the validation issues
// by field path, and the worker's estimate (trainable parameters, steps, memory) for the values.
// The values persist across reloads (store.ts; restoreHparams brings older saved values up to date).

import {
  DEFAULT_HPARAMS,
  hparamsSchema,
  validateHparams,
  withDefaults,
  type HparamGroup,
  type Hparams,
  type LoraHparams,
  type QuantizationHparams,
  type TrainingHparams,
} from '../../config/hparams';
import type { Estimate, ImportedAdapterSummary } from '../../worker/api';
import type { SliceCreator } from './types';

/**
 * The demo preset, checked in PyTorch on the demo model and data (scripts/demo/README.md): with
 * q_proj/v_proj alone the tuned model never learns to stop, with all seven modules it does.
 */
export const DEMO_PRESET: Hparams = {
  lora: { ...DEFAULT_HPARAMS.lora, target_modules: 'all-linear' },
  training: {
    ...DEFAULT_HPARAMS.training,
    learning_rate: 3e-3,
    lr_scheduler_type: 'cosine',
    warmup_ratio: 0.1,
    num_train_epochs: 5,
    max_steps: -1,
    per_device_train_batch_size: 8,
    max_seq_length: 256,
    eval_steps: 25,
  },
  quantization: { ...DEFAULT_HPARAMS.quantization },
};

export interface HparamsSlice {
  hparams: Hparams;
  /** First validation message per field path ("training.eval_steps"). */
  hparamIssues: Record<string, string>;
  estimate: Estimate | null;
  estimateError: string | null;
  /** An imported PEFT adapter to train further (its r, alpha and targets replace the form's). */
  adapter: { imported: ImportedAdapterSummary | null; use: boolean; busy: boolean; error: string | null };
  setLora: <K extends keyof LoraHparams>(key: K, value: LoraHparams[K]) => void;
  setTraining: <K extends keyof TrainingHparams>(key: K, value: TrainingHparams[K]) => void;
  setQuantization: <K extends keyof QuantizationHparams>(key: K, value: QuantizationHparams[K]) => void;
  applyDemoPreset: () => void;
  resetHparams: () => void;
}

export function issuesOf(h: Hparams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of validateHparams(h)) out[i.path] ??= i.message;
  return out;
}

/**
 * Persisted values brought up to the current schema: fields added since are filled from the
 * defaults, values of the wrong type are replaced by the default for that field.
 */
export function restoreHparams(saved: unknown): Hparams {
  const merged = withDefaults(saved);
  const r = hparamsSchema.safeParse(merged);
  if (r.success) return merged;
  for (const issue of r.error.issues) {
    const [group, key] = issue.path as [HparamGroup, string];
    if (group && key && key in DEFAULT_HPARAMS[group]) {
      (merged[group] as Record<string, unknown>)[key] = (DEFAULT_HPARAMS[group] as Record<string, unknown>)[key];
    }
  }
  return hparamsSchema.safeParse(merged).success ? merged : structuredClone(DEFAULT_HPARAMS);
}

export const createHparamsSlice: SliceCreator<HparamsSlice> = (set) => {
  const update = (h: Hparams) => set({ hparams: h, hparamIssues: issuesOf(h) });
  return {
    hparams: structuredClone(DEFAULT_HPARAMS),
    hparamIssues: issuesOf(DEFAULT_HPARAMS),
    estimate: null,
    estimateError: null,
    adapter: { imported: null, use: false, busy: false, error: null },
    setLora: (key, value) =>
      set((s) => ({ ...withHparams({ ...s.hparams, lora: { ...s.hparams.lora, [key]: value } }) })),
    setTraining: (key, value) =>
      set((s) => ({ ...withHparams({ ...s.hparams, training: { ...s.hparams.training, [key]: value } }) })),
    setQuantization: (key, value) =>
      set((s) => ({ ...withHparams({ ...s.hparams, quantization: { ...s.hparams.quantization, [key]: value } }) })),
    applyDemoPreset: () => update(structuredClone(DEMO_PRESET)),
    resetHparams: () => update(structuredClone(DEFAULT_HPARAMS)),
  };
};

function withHparams(h: Hparams): Pick<HparamsSlice, 'hparams' | 'hparamIssues'> {
  return { hparams: h, hparamIssues: issuesOf(h) };
}
