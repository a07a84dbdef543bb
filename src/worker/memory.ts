// GPU memory a training configuration will take, computed from the model config before anything
// is allocated, for the Model panel. Interim: the engine's own estimator (src/engine/model/memory.ts,
// summing the exact allocation plans) is being written on another branch; when it lands,
// estimateRunMemory's body becomes a call to it and the panel's label drops "approximate". Until
// then this counts the same tensors llama.ts and trainer.ts allocate, without arena alignment
// padding and per-dispatch uniform buffers (memory.gpu.test.ts checks it against what a real
// Trainer holds on the demo model: within 5%; it measured 0.03%).

import type { ModelConfig } from '../engine/model/config';
import { LoraLayout, type LoraSpec } from '../engine/model/lora';
import { gradNormPartials } from '../engine/kernels/gradnorm';
import type { MemoryEstimate } from './api';

export interface MemoryInput {
  config: ModelConfig;
  /** Bytes of the frozen weights on the GPU (or in the files, before upload). */
  weightBytes: number;
  lora: LoraSpec;
  /** per_device_train_batch_size, and the padded sequence length (at most max_seq_length). */
  maxBatch: number;
  maxSeq: number;
}

/** The LM head's logits scratch is sized to about this many bytes (kernels/lm_head.ts). */
const LM_HEAD_SCRATCH_BYTES = 64 * 1024 * 1024;

export function estimateRunMemory(i: MemoryInput): MemoryEstimate {
  const c = i.config;
  const layout = new LoraLayout(c, i.lora);
  const N = i.maxBatch * i.maxSeq;
  const C = c.hiddenSize;
  const qd = c.numHeads * c.headDim;
  const kvd = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const r = i.lora.r;
  const targets = i.lora.target_modules.length;
  // Per token, f32: each layer's saved activations (llama.ts LayerActs + one LoRA t per target) ...
  const perLayer = 3 * C + 2 + 2 * qd + 2 * kvd + c.numHeads + 3 * I + targets * r;
  // ... the residual stream, final norm and loss rows, and the backward's shared scratch.
  const maxIn = Math.max(C, qd, I);
  const shared = 2 + (c.numLayers + 1) * C + C + 3 + 2 * C + 2 * qd + 2 * kvd + c.numHeads + 3 * I + 2 * maxIn + r;
  const activations = 4 * (N * (c.numLayers * perLayer + shared) + i.maxSeq * c.headDim);
  // params, grads, m, v, and the trainer's two parameter copies (step start, last finite loss)
  const loraState = 4 * (6 * layout.size + gradNormPartials(layout.size) + 16);
  const fit = Math.max(1, Math.floor(LM_HEAD_SCRATCH_BYTES / (4 * N)));
  const chunk = Math.min(c.vocabSize, fit > 32 ? fit - (fit % 32) : fit);
  const lmHead = 4 * N * (chunk + 3);
  return {
    weights: i.weightBytes,
    loraState,
    activations,
    lmHead,
    total: i.weightBytes + loraState + activations + lmHead,
    kind: 'estimate',
    suggestions: [],
    note: 'approximate: counts the weights, LoRA state, activations and LM-head scratch; leaves out alignment padding and small per-dispatch buffers',
  };
}
