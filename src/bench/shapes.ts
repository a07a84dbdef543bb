// The model shapes the benchmark runs (and the memory estimates report): the studio's demo model
// and the exact architectures of SmolLM2-135M and Qwen2.5-0.5B, as scripts/peft_baseline.py
// builds them for the PyTorch + PEFT reference figures. Only shapes: the weights are random.

import type { ModelConfig } from '../engine/model/config';

export type ShapeName = 'tiny' | 'smollm2-135m' | 'qwen2.5-0.5b';
export const SHAPE_NAMES: ShapeName[] = ['tiny', 'smollm2-135m', 'qwen2.5-0.5b'];

const common = {
  ropeScaling: null,
  bosTokenId: 1,
  eosTokenIds: [2],
  slidingWindow: null,
};

export const SHAPES: Record<ShapeName, ModelConfig> = {
  // public/demo/model/config.json (the studio's demo model)
  tiny: {
    ...common,
    modelType: 'llama',
    hiddenSize: 64,
    numLayers: 4,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 16,
    intermediateSize: 176,
    vocabSize: 1024,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: true,
    attentionBias: false,
    maxPositionEmbeddings: 512,
  },
  // HuggingFaceTB/SmolLM2-135M
  'smollm2-135m': {
    ...common,
    modelType: 'llama',
    hiddenSize: 576,
    numLayers: 30,
    numHeads: 9,
    numKvHeads: 3,
    headDim: 64,
    intermediateSize: 1536,
    vocabSize: 49152,
    rmsNormEps: 1e-5,
    ropeTheta: 100000,
    tieWordEmbeddings: true,
    attentionBias: false,
    maxPositionEmbeddings: 8192,
  },
  // Qwen/Qwen2.5-0.5B
  'qwen2.5-0.5b': {
    ...common,
    modelType: 'qwen2',
    hiddenSize: 896,
    numLayers: 24,
    numHeads: 14,
    numKvHeads: 2,
    headDim: 64,
    intermediateSize: 4864,
    vocabSize: 151936,
    rmsNormEps: 1e-6,
    ropeTheta: 1000000,
    tieWordEmbeddings: true,
    attentionBias: true,
    maxPositionEmbeddings: 32768,
  },
};

export function shapeByName(name: string): ModelConfig {
  const c = SHAPES[name as ShapeName];
  if (!c) throw new Error(`unknown shape "${name}" (one of ${SHAPE_NAMES.join(', ')})`);
  return c;
}
