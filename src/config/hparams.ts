// The hyperparameters of a run, named exactly as PEFT's LoraConfig, Hugging Face's
// TrainingArguments and transformers' BitsAndBytesConfig name them (snake_case on purpose: the
// form, the CLI flags, the exported adapter_config.json and the exported training recipe all
// share one vocabulary). One schema gives the defaults, the validation and the one-line help the
// form shows.

import { z } from 'zod';
import { ALL_LINEAR_MODULES, LINEAR_MODULES, type LinearModule, linearPrefix } from '../engine/model/config';

export const SCHEDULERS = ['constant', 'constant_with_warmup', 'linear', 'cosine'] as const;
export type SchedulerType = (typeof SCHEDULERS)[number];

const targetModules = z
  .union([
    z.literal('all-linear'),
    z.array(z.enum(ALL_LINEAR_MODULES)).min(1, 'choose at least one target module'),
    z.string().min(1, 'a regular expression cannot be empty'),
  ])
  .describe(
    'which linear layers get a LoRA adapter; "all-linear" means all of the model\'s linear modules (Llama: seven; Phi-3: four); any other string is a regular expression that must match the whole module name, e.g. model\\.layers\\.(0|1)\\.self_attn\\.(q|v)_proj',
  );

/** PEFT's init_lora_weights values the engine trains with. */
export const INIT_LORA_WEIGHTS = ['true', 'gaussian', 'pissa', 'pissa_niter_4', 'pissa_niter_16', 'olora'] as const;

const posInt = (what: string) => z.number().int(`${what} must be a whole number`).min(1, `${what} must be at least 1`);
const nonNegInt = (what: string) =>
  z.number().int(`${what} must be a whole number`).min(0, `${what} cannot be negative`);

export const loraSchema = z.object({
  r: posInt('r').max(1024, 'r above 1024 is not supported').describe('rank of the LoRA update matrices'),
  lora_alpha: z
    .number()
    .positive('lora_alpha must be positive')
    .describe('scale of the update: scaling = lora_alpha / r'),
  lora_dropout: z
    .number()
    .min(0)
    .max(0.9, 'lora_dropout must be below 0.9')
    .describe('dropout on the LoRA input during training'),
  target_modules: targetModules,
  use_rslora: z.boolean().describe('rank-stabilised scaling lora_alpha / sqrt(r)'),
  use_dora: z
    .boolean()
    .describe(
      "DoRA (PEFT's use_dora): also learn each output row's magnitude, not only LoRA's direction; try it when plain LoRA at small r underfits (steps cost about one more base matmul per adapted layer)",
    ),
  layers_to_transform: z
    .union([nonNegInt('layers_to_transform'), z.array(nonNegInt('layers_to_transform'))])
    .nullable()
    .describe(
      'only these decoder layers (indices from 0) get adapters, e.g. the last few for a cheaper run; null: every layer (ignored when target_modules is a regex, as in PEFT)',
    ),
  rank_pattern: z
    .record(z.string(), posInt('rank_pattern value'))
    .describe(
      'another r for the modules whose name ends in a match of the key (regex), e.g. {"down_proj": 16}: more capacity where it helps',
    ),
  alpha_pattern: z
    .record(z.string(), z.number().positive('alpha_pattern values must be positive'))
    .describe('another lora_alpha for the modules whose name ends in a match of the key, as rank_pattern'),
  init_lora_weights: z
    .union([
      z.boolean(),
      z.enum(['gaussian', 'pissa', 'olora']),
      z.string().regex(/^pissa_niter_\d+$/, 'pissa_niter_N'),
    ])
    .describe(
      'how A and B start: true (Kaiming-uniform A, zero B), "gaussian" (A ~ N(0, 1/r^2)), "pissa" (top-r SVD of W, W keeps the residual: often converges faster) or "pissa_niter_N" (fast randomized SVD, N iterations, for big models), "olora" (QR of W, W keeps the residual)',
    ),
  loraplus_lr_ratio: z
    .number()
    .min(1, 'loraplus_lr_ratio is 1 (off) or more')
    .max(1000)
    .describe(
      "LoRA+: the B matrices learn this many times faster than A (PEFT's create_loraplus_optimizer; 16 is the paper's choice; 1 turns it off)",
    ),
});

export const trainingSchema = z.object({
  learning_rate: z
    .number()
    .positive('learning_rate must be positive')
    .max(1, 'learning_rate above 1 diverges')
    .describe('peak AdamW learning rate'),
  lr_scheduler_type: z.enum(SCHEDULERS).describe('how the learning rate changes over the run, after warmup'),
  warmup_ratio: z
    .number()
    .min(0)
    .max(1, 'warmup_ratio is a fraction of the run (0 to 1)')
    .describe('fraction of steps spent warming up'),
  warmup_steps: nonNegInt('warmup_steps').describe('warmup length in steps; overrides warmup_ratio when above 0'),
  per_device_train_batch_size: posInt('per_device_train_batch_size').max(256).describe('sequences per micro-batch'),
  gradient_accumulation_steps: posInt('gradient_accumulation_steps')
    .max(1024)
    .describe('micro-batches per optimizer step'),
  num_train_epochs: z
    .number()
    .positive('num_train_epochs must be positive')
    .describe('passes over the training split (when max_steps is -1)'),
  max_steps: z
    .number()
    .int()
    .min(-1, 'max_steps is -1 (use epochs) or a step count')
    .describe('optimizer steps to run; -1 uses num_train_epochs'),
  max_seq_length: z
    .number()
    .int()
    .min(8, 'max_seq_length must be at least 8')
    .max(32768)
    .describe('longer records are truncated to this many tokens'),
  weight_decay: z.number().min(0).max(1).describe('AdamW decoupled weight decay'),
  adam_beta1: z.number().min(0).max(0.9999).describe('AdamW first-moment decay'),
  adam_beta2: z.number().min(0).max(0.99999).describe('AdamW second-moment decay'),
  adam_epsilon: z.number().positive().max(1e-2).describe('AdamW denominator epsilon'),
  max_grad_norm: z.number().min(0).describe('clip the global gradient norm to this (0 turns clipping off)'),
  seed: nonNegInt('seed')
    .max(2 ** 31 - 1)
    .describe('seeds LoRA init, dropout, shuffling and the validation split'),
  logging_steps: posInt('logging_steps').describe('log training loss every this many steps'),
  eval_steps: nonNegInt('eval_steps').describe('evaluate validation loss every this many steps (0: only at the end)'),
  save_steps: nonNegInt('save_steps').describe(
    'checkpoint every this many steps (0: automatically, after the first step and every 2 minutes of training)',
  ),
  val_split_fraction: z
    .number()
    .min(0)
    .max(0.5, 'val_split_fraction above 0.5 leaves too little to train on')
    .describe('share of records held out for validation'),
  train_on_inputs: z.boolean().describe('compute the loss on the prompt too, not only on the completion'),
  mask_history: z.boolean().describe('in multi-turn chats, train on the last assistant turn only (default: every one)'),
  early_stopping_patience: nonNegInt('early_stopping_patience').describe(
    'stop after this many evaluations without improvement (0: off)',
  ),
  early_stopping_threshold: z
    .number()
    .min(0)
    .describe('minimum decrease of validation loss that counts as improvement'),
  gradient_checkpointing: z
    .boolean()
    .describe(
      "recompute each layer's activations in the backward pass instead of keeping them: far less activation memory, about a third more compute per step",
    ),
  packing: z
    .boolean()
    .describe(
      'put several examples in each row up to max_seq_length, each attending only to itself: no compute on padding, same loss and gradients',
    ),
  group_by_length: z
    .boolean()
    .describe('without packing: batch examples of similar length together (less padding; order less random)'),
});

/** The 4-bit formats the engine can train on (bitsandbytes also has fp4). */
export const QUANT_TYPES = ['nf4'] as const;

/** transformers' BitsAndBytesConfig: how the frozen base model is loaded (QLoRA). */
export const quantizationSchema = z.object({
  load_in_4bit: z
    .boolean()
    .describe(
      "store the base model's linear layers in 4-bit NF4 (QLoRA): about a quarter of their 16-bit memory, for a small loss difference and slower steps",
    ),
  bnb_4bit_quant_type: z.string().describe("the 4-bit data type; nf4 (NormalFloat, QLoRA's) is the one supported"),
});

export const hparamsSchema = z.object({ lora: loraSchema, training: trainingSchema, quantization: quantizationSchema });

export type LoraHparams = z.infer<typeof loraSchema>;
export type TrainingHparams = z.infer<typeof trainingSchema>;
export type QuantizationHparams = z.infer<typeof quantizationSchema>;
export type Hparams = z.infer<typeof hparamsSchema>;
export type HparamGroup = keyof Hparams;

export const DEFAULT_HPARAMS: Hparams = {
  lora: {
    r: 8,
    lora_alpha: 16,
    lora_dropout: 0.05,
    target_modules: ['q_proj', 'v_proj'],
    use_rslora: false,
    use_dora: false,
    layers_to_transform: null,
    rank_pattern: {},
    alpha_pattern: {},
    init_lora_weights: true,
    loraplus_lr_ratio: 1,
  },
  training: {
    learning_rate: 2e-4,
    lr_scheduler_type: 'cosine',
    warmup_ratio: 0.1,
    warmup_steps: 0,
    per_device_train_batch_size: 4,
    gradient_accumulation_steps: 1,
    num_train_epochs: 3,
    max_steps: -1,
    max_seq_length: 512,
    weight_decay: 0,
    adam_beta1: 0.9,
    adam_beta2: 0.999,
    adam_epsilon: 1e-8,
    max_grad_norm: 1.0,
    seed: 42,
    logging_steps: 1,
    eval_steps: 10,
    save_steps: 0,
    val_split_fraction: 0.1,
    train_on_inputs: false,
    mask_history: false,
    early_stopping_patience: 0,
    early_stopping_threshold: 0,
    gradient_checkpointing: false,
    packing: false,
    group_by_length: false,
  },
  quantization: { load_in_4bit: false, bnb_4bit_quant_type: 'nf4' },
};

const GROUP_SCHEMAS = { lora: loraSchema, training: trainingSchema, quantization: quantizationSchema };

/**
 * Saved hyperparameters (a run record, the form's stored values) with the fields and groups added
 * since filled from the defaults, e.g. settings saved before `quantization` existed. Values are
 * not checked here.
 */
export function withDefaults(saved: unknown): Hparams {
  const s = (typeof saved === 'object' && saved !== null ? saved : {}) as Partial<Record<HparamGroup, object>>;
  return {
    lora: { ...DEFAULT_HPARAMS.lora, ...(s.lora ?? {}) },
    training: { ...DEFAULT_HPARAMS.training, ...(s.training ?? {}) },
    quantization: { ...DEFAULT_HPARAMS.quantization, ...(s.quantization ?? {}) },
  } as Hparams;
}

/** target_modules as a regular expression (a string other than "all-linear"), else null. */
export function targetRegex(t: LoraHparams['target_modules']): string | null {
  return typeof t === 'string' && t !== 'all-linear' ? t : null;
}

/**
 * The concrete module list: "all-linear" expanded to the family's modules (config.ts
 * linearModules; Llama's seven by default), a regex to the module kinds whose name it can match,
 * a list in canonical order. A name the family lacks stays, for LoraLayout to refuse by name.
 */
export function resolveTargets(
  t: LoraHparams['target_modules'],
  family: readonly LinearModule[] = LINEAR_MODULES,
): LinearModule[] {
  if (typeof t === 'string') {
    if (t === 'all-linear') return [...family];
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${t})$`);
    } catch {
      return [];
    }
    const names = (m: LinearModule) =>
      Array.from({ length: 256 }, (_, i) => `model.layers.${i}.${linearPrefix(m)}.${m}`);
    return family.filter((m) => names(m).some((n) => re.test(n)));
  }
  return [...family, ...ALL_LINEAR_MODULES.filter((m) => !family.includes(m))].filter((m) => t.includes(m));
}

/** One line of help per field, from the schema. */
export function fieldHelp(group: HparamGroup, key: string): string {
  const shape = GROUP_SCHEMAS[group].shape as Record<string, z.ZodType>;
  return shape[key]?.description ?? '';
}

export interface HparamIssue {
  path: string;
  message: string;
}

/** Validates values and the rules that tie fields together. Empty list: valid. */
export function validateHparams(h: unknown): HparamIssue[] {
  const r = hparamsSchema.safeParse(h);
  if (!r.success) return r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  const t = r.data.training;
  const issues: HparamIssue[] = [];
  if (t.early_stopping_patience > 0) {
    if (t.val_split_fraction === 0) {
      issues.push({
        path: 'training.early_stopping_patience',
        message: 'early stopping needs a validation split (val_split_fraction > 0)',
      });
    }
    if (t.eval_steps === 0) {
      issues.push({
        path: 'training.early_stopping_patience',
        message: 'early stopping needs evaluation steps (eval_steps > 0)',
      });
    }
  }
  const q = r.data.quantization;
  if (!(QUANT_TYPES as readonly string[]).includes(q.bnb_4bit_quant_type)) {
    issues.push({
      path: 'quantization.bnb_4bit_quant_type',
      message: `bnb_4bit_quant_type "${q.bnb_4bit_quant_type}" is not supported: only nf4 is (the 4-bit type QLoRA trains with)`,
    });
  }
  if (t.max_steps === 0)
    issues.push({ path: 'training.max_steps', message: 'max_steps is -1 (use epochs) or at least 1' });
  const l = r.data.lora;
  const regex = targetRegex(l.target_modules);
  if (regex !== null) {
    let ok = true;
    try {
      new RegExp(regex);
    } catch (e) {
      ok = false;
      issues.push({ path: 'lora.target_modules', message: `not a valid regular expression (${(e as Error).message})` });
    }
    if (ok && resolveTargets(regex).length === 0)
      issues.push({
        path: 'lora.target_modules',
        message: 'the regular expression matches no module name (they look like model.layers.0.self_attn.q_proj)',
      });
  }
  for (const key of [...Object.keys(l.rank_pattern), ...Object.keys(l.alpha_pattern)]) {
    try {
      new RegExp(key);
    } catch (e) {
      issues.push({
        path: 'lora.rank_pattern',
        message: `key "${key}" is not a valid regular expression (${(e as Error).message})`,
      });
    }
  }
  if (typeof l.init_lora_weights === 'string' && /^(pissa|olora)/.test(l.init_lora_weights)) {
    if (r.data.quantization.load_in_4bit)
      issues.push({
        path: 'lora.init_lora_weights',
        message: 'PiSSA/OLoRA change the base weights: they need load_in_4bit off (as PEFT: initialise in 16/32 bits)',
      });
  }
  return issues;
}

/** The LoRA settings an adapter brings with it (adapter_config.json's r, lora_alpha, targets, rsLoRA, DoRA). */
export type AdapterLora = Pick<LoraHparams, 'r' | 'lora_alpha' | 'use_rslora'> & {
  target_modules: LinearModule[];
  /** PEFT's targeting as the adapter_config.json says (its tensors' shapes follow them). */
  target_regex?: string | null;
  layers_to_transform?: number | number[] | null;
  rank_pattern?: Record<string, number>;
  alpha_pattern?: Record<string, number>;
  use_dora?: boolean;
};

/**
 * Hyperparameters for training an imported adapter further: its r, lora_alpha, target_modules and
 * use_rslora replace the form's (its weights fix them); everything else stays. The studio's
 * form, its worker and `npm run train --adapter` all apply an adapter through this.
 */
export function withAdapterLora(h: Hparams, a: AdapterLora): Hparams {
  return {
    ...h,
    lora: {
      ...h.lora,
      r: a.r,
      lora_alpha: a.lora_alpha,
      target_modules: a.target_regex ?? a.target_modules,
      use_rslora: a.use_rslora,
      use_dora: a.use_dora ?? false, // magnitudes in the file or not: the weights decide
      layers_to_transform: a.layers_to_transform ?? null,
      rank_pattern: a.rank_pattern ?? {},
      alpha_pattern: a.alpha_pattern ?? {},
      // the imported weights are the start: no init of its own, PiSSA's included
      init_lora_weights: true,
    },
  };
}
