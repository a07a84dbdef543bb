import { describe, expect, it } from 'vitest';
import { DEFAULT_HPARAMS } from '../config/hparams';
import { HPARAM_BOOLEANS, UsageError, hparamsFromFlags, parseArgv } from './args';

const OWN = new Set(['model', 'data', 'out']);
const parse = (argv: string[]) => hparamsFromFlags(parseArgv(argv, HPARAM_BOOLEANS).flags, OWN);

describe('CLI hyperparameter flags (PEFT / TrainingArguments names)', () => {
  it('maps flags onto the defaults', () => {
    const h = parse([
      '--model',
      'm',
      '--r',
      '16',
      '--lora_alpha=32',
      '--target_modules',
      'q_proj,k_proj,v_proj',
      '--learning_rate',
      '1e-3',
      '--max_steps',
      '50',
      '--use_rslora',
      '--use_dora',
    ]);
    expect(h.lora).toEqual({
      ...DEFAULT_HPARAMS.lora,
      r: 16,
      lora_alpha: 32,
      target_modules: ['q_proj', 'k_proj', 'v_proj'],
      use_rslora: true,
      use_dora: true,
    });
    expect(h.training.learning_rate).toBe(1e-3);
    expect(h.training.max_steps).toBe(50);
    expect(h.training.lr_scheduler_type).toBe('cosine');
  });
  it("PEFT's targeting, init and LoRA+ flags", () => {
    const h = parse([
      ...['--target_modules', 'model\\.layers\\.(0|1)\\.self_attn\\.(q|v)_proj'],
      ...['--rank_pattern', 'q_proj=16,layers.1.self_attn.v_proj=4', '--alpha_pattern', '{"v_proj": 8.5}'],
      ...['--init_lora_weights', 'pissa_niter_4', '--loraplus_lr_ratio', '16'],
    ]);
    expect(h.lora).toMatchObject({
      target_modules: 'model\\.layers\\.(0|1)\\.self_attn\\.(q|v)_proj',
      rank_pattern: { q_proj: 16, 'layers.1.self_attn.v_proj': 4 },
      alpha_pattern: { v_proj: 8.5 },
      init_lora_weights: 'pissa_niter_4',
      loraplus_lr_ratio: 16,
      layers_to_transform: null,
    });
    expect(
      parse(['--target_modules', 'q_proj,v_proj', '--layers_to_transform', '0,2']).lora.layers_to_transform,
    ).toEqual([0, 2]);
    expect(parse(['--layers_to_transform', '3']).lora.layers_to_transform).toBe(3);
    expect(parse(['--init_lora_weights', 'gaussian']).lora.init_lora_weights).toBe('gaussian');
    expect(parse(['--init_lora_weights', 'olora']).lora.init_lora_weights).toBe('olora');
    expect(() => parse(['--init_lora_weights', 'loftq'])).toThrow(/--init_lora_weights/);
    expect(() => parse(['--target_modules', 'model\\.(foo'])).toThrow(
      /--target_modules: not a valid regular expression/,
    );
    expect(() => parse(['--target_modules', 'lm_head'])).toThrow(/--target_modules/);
    expect(() => parse(['--loraplus_lr_ratio', '0.5'])).toThrow(/loraplus_lr_ratio is 1 \(off\) or more/);
    expect(() => parse(['--init_lora_weights', 'pissa', '--load_in_4bit'])).toThrow(
      /PiSSA\/OLoRA change the base weights/,
    );
  });
  it('accepts all-linear and dashes for underscores', () => {
    const h = parse(['--target-modules', 'all-linear', '--per-device-train-batch-size', '2']);
    expect(h.lora.target_modules).toBe('all-linear');
    expect(h.training.per_device_train_batch_size).toBe(2);
  });
  it('QLoRA and gradient checkpointing: BitsAndBytesConfig and TrainingArguments names, off by default', () => {
    expect(parse([]).quantization).toEqual({ load_in_4bit: false, bnb_4bit_quant_type: 'nf4' });
    expect(parse([]).training.gradient_checkpointing).toBe(false);
    const h = parse(['--load_in_4bit', '--bnb_4bit_quant_type', 'nf4', '--gradient_checkpointing', '--model', 'm']);
    expect(h.quantization).toEqual({ load_in_4bit: true, bnb_4bit_quant_type: 'nf4' });
    expect(h.training.gradient_checkpointing).toBe(true);
    expect(h.lora).toEqual(DEFAULT_HPARAMS.lora);
    expect(parse(['--load-in-4bit', 'false']).quantization.load_in_4bit).toBe(false);
    expect([parse([]).training.packing, parse([]).training.group_by_length]).toEqual([false, false]);
    const pk = parse(['--packing', '--group_by_length', '--model', 'm']).training;
    expect([pk.packing, pk.group_by_length]).toEqual([true, true]);
    expect(() => parse(['--load_in_4bit', '--bnb_4bit_quant_type', 'fp4'])).toThrow(
      '--bnb_4bit_quant_type: bnb_4bit_quant_type "fp4" is not supported: only nf4 is (the 4-bit type QLoRA trains with)',
    );
    expect(() => parse(['--load_in_4bit=yes'])).toThrow('--load_in_4bit is true or false (got "yes")');
  });
  it('rejects unknown flags with a suggestion', () => {
    expect(() => parse(['--lora_alhpa', '3'])).toThrow(/unknown flag --lora_alhpa \(did you mean --lora_alpha\?\)/);
  });
  it('rejects bad values with the schema message', () => {
    expect(() => parse(['--r', 'eight'])).toThrow(UsageError);
    expect(() => parse(['--r', '0'])).toThrow(/r must be at least 1/);
    expect(() => parse(['--target_modules', 'q_proj,embed'])).toThrow(/target_modules/);
    expect(() => parse(['--early_stopping_patience', '3', '--eval_steps', '0'])).toThrow(/needs evaluation steps/);
  });
});

describe('a flag with an optional value', () => {
  const opt = new Set(['resume_from_checkpoint']);
  it('takes a folder, or stands alone (true) at the end or before another flag', () => {
    expect(
      parseArgv(['--resume_from_checkpoint', 'out/checkpoint-4'], new Set(), opt).flags.get('resume_from_checkpoint'),
    ).toBe('out/checkpoint-4');
    const bare = parseArgv(['--resume_from_checkpoint', '--out', 'o'], new Set(), opt).flags;
    expect(bare.get('resume_from_checkpoint')).toBe(true);
    expect(bare.get('out')).toBe('o');
    expect(
      parseArgv(['--out', 'o', '--resume_from_checkpoint'], new Set(), opt).flags.get('resume_from_checkpoint'),
    ).toBe(true);
  });
});
