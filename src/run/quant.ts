// QLoRA and gradient checkpointing as a run asks for them (`load_in_4bit`, `gradient_checkpointing`):
// what the engine needs from the hyperparameters, and the base weights in the form the run trains
// on (uploaded again, in NF4 or in the checkpoint's dtype, when the setting changed). The memory
// of a run with each option flipped is part of the one estimate (plan.ts estimateRun).

import type { GpuContext } from '../engine/gpu/context';
import { type GpuWeights, type UploadProgress } from '../engine/model/gpu-weights';
import type { Hparams } from '../config/hparams';
import { type LoadedModel, uploadModel } from './model';

/** What the engine is asked for: NF4 base weights (uploadWeights) and checkpointing (Trainer). */
export interface QuantOptions {
  nf4: boolean;
  gradientCheckpointing: boolean;
}

export function quantOptions(h: Hparams): QuantOptions {
  return { nf4: h.quantization.load_in_4bit, gradientCheckpointing: h.training.gradient_checkpointing };
}

/** Throws when the uploaded base weights are not the form the hyperparameters ask for. */
export function assertWeightsMatch(weights: GpuWeights, h: Hparams): void {
  const nf4 = quantOptions(h).nf4;
  if (weights.nf4 !== nf4) {
    throw new Error(
      `the base weights on the GPU are ${weights.nf4 ? 'NF4' : 'not 4-bit'} but load_in_4bit is ${nf4}; upload them again (useWeights)`,
    );
  }
}

/**
 * Makes `holder.weights` the base weights in the form a run asks for: unchanged when they already
 * are, otherwise uploaded again (NF4 or the checkpoint's dtype). The old form is freed first, so
 * the two need not fit at once; if the new upload fails, the old form is uploaded again before
 * the error is thrown, so the holder always has usable weights.
 */
export async function useWeights(
  ctx: GpuContext,
  model: LoadedModel,
  holder: { weights: GpuWeights },
  nf4: boolean,
  onProgress?: (p: UploadProgress) => void,
): Promise<GpuWeights> {
  const old = holder.weights;
  if (old.nf4 === nf4) return old;
  old.arena.destroy();
  try {
    holder.weights = await uploadModel(ctx, model, onProgress, { nf4 });
  } catch (e) {
    holder.weights = await uploadModel(ctx, model, undefined, { nf4: old.nf4 });
    throw e;
  }
  return holder.weights;
}
