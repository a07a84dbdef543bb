// The run report's text files: metrics as CSV (one row per optimizer step, Hugging Face's
// log_history names as columns) and the resolved configuration as JSON.

import type { StepMetrics } from '../../engine/train/trainer';
import { type Hparams, resolveTargets } from '../../config/hparams';
import { type ModelType, linearModules } from '../../engine/model/config';

const COLUMNS = [
  'step',
  'epoch',
  'loss',
  'eval_loss',
  'learning_rate',
  'grad_norm',
  'tokens',
  'tokens_per_second',
  'step_ms',
] as const;

/** A number as CSV text: shortest round-trip form, empty when absent, NaN/inf spelled as pandas reads them. */
function cell(x: number | undefined): string {
  if (x === undefined) return '';
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return String(x);
}

export function metricsCsv(history: readonly StepMetrics[]): string {
  const lines: string[] = [COLUMNS.join(',')];
  for (const m of history) {
    lines.push(
      [m.step, m.epoch, m.loss, m.evalLoss, m.lr, m.gradNorm, m.tokens, m.tokensPerSecond, m.stepMs]
        .map(cell)
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}

export interface RunDescription {
  hparams: Hparams;
  baseModel: string;
  dataset: string;
  totalSteps: number;
  train: number;
  val: number;
  trainableLine: string;
  stop: { kind: string; step: number; message: string } | null;
  best: { step: number; evalLoss: number } | null;
  fromImportedAdapter: string | null;
  /** The model's model_type: "all-linear" expands to its family's modules (Llama's when absent). */
  modelType?: string;
}

/** The configuration as it was resolved for the run ("all-linear" expanded, step count known). */
export function resolvedConfigJson(r: RunDescription): string {
  const obj = {
    base_model_name_or_path: r.baseModel,
    dataset: r.dataset,
    lora: {
      ...r.hparams.lora,
      target_modules: resolveTargets(
        r.hparams.lora.target_modules,
        linearModules({ modelType: (r.modelType ?? 'llama') as ModelType }),
      ),
    },
    training: r.hparams.training,
    quantization: r.hparams.quantization,
    resolved: {
      total_steps: r.totalSteps,
      train_examples: r.train,
      validation_examples: r.val,
      trainable_parameters: r.trainableLine,
      initial_adapter: r.fromImportedAdapter,
    },
    outcome: r.stop && {
      stop_reason: r.stop.kind,
      stopped_at_step: r.stop.step,
      message: r.stop.message,
      best_step: r.best?.step ?? null,
      best_eval_loss: r.best?.evalLoss ?? null,
    },
  };
  return JSON.stringify(obj, null, 2) + '\n';
}
