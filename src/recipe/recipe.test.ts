import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HPARAMS, resolveTargets, type Hparams } from '../config/hparams';
import { BatchSampler, PAD_MULTIPLE } from '../data/batches';
import { IGNORE_INDEX } from '../data/types';
import { LINEAR_MODULES } from '../engine/model/config';
import { ExampleEncoder } from '../data/encode';
import { normalizeRecord, type DatasetFormat } from '../data/formats';
import { parseDataset } from '../data/parse';
import { splitTrainVal } from '../data/split';
import { fileSetFromDir } from '../io/source.node';
import { prepareData } from '../run/data';
import { openModel, type LoadedModel } from '../run/model';
import { warmupSteps } from '../engine/train/schedule';
import { RECIPE_MODEL_FLAG } from './flags';
import {
  buildRecipe,
  fillTemplate,
  RECIPE_PATHS,
  recordJson,
  requirementsFor,
  STUDIO_EXAMPLES,
  zipRecipe,
  type RecipeFiles,
  type RecipeInput,
} from './recipe';
import { writeRecipeDir } from './write.node';
import { chatDatasetJsonl, DEMO_DATASET, DEMO_MODEL, makeCase } from './testing/cases.node';
import { runPython, SYSTEM_PYTHON } from './testing/python.node';

const text = (files: RecipeFiles, path: string): string => {
  const v = files.get(path);
  if (typeof v !== 'string') throw new Error(`${path} is not text`);
  return v;
};
const jsonlRows = (s: string) =>
  s
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);

/** Every value differs from the default, so a field dropped or swapped on the way cannot pass. */
const DISTINCT: Hparams = {
  lora: {
    r: 12,
    lora_alpha: 24,
    lora_dropout: 0.1,
    target_modules: ['v_proj', 'q_proj', 'down_proj'],
    use_rslora: true,
    use_dora: true,
    layers_to_transform: [0, 1],
    rank_pattern: { down_proj: 16 },
    alpha_pattern: { down_proj: 32 },
    init_lora_weights: 'gaussian',
    loraplus_lr_ratio: 16,
  },
  training: {
    learning_rate: 3e-4,
    lr_scheduler_type: 'linear',
    warmup_ratio: 0.07,
    warmup_steps: 0,
    per_device_train_batch_size: 3,
    gradient_accumulation_steps: 2,
    num_train_epochs: 2.5,
    max_steps: 17,
    max_seq_length: 160,
    weight_decay: 0.01,
    adam_beta1: 0.85,
    adam_beta2: 0.99,
    adam_epsilon: 1e-7,
    max_grad_norm: 0.7,
    seed: 7,
    logging_steps: 2,
    eval_steps: 4,
    save_steps: 8,
    val_split_fraction: 0.15,
    train_on_inputs: false,
    mask_history: false,
    early_stopping_patience: 2,
    early_stopping_threshold: 0.001,
    gradient_checkpointing: true,
    // Batching only; the recipe's order checks need the plain shuffle (packing: see packing.gpu.test.ts).
    packing: false,
    group_by_length: false,
  },
  quantization: { load_in_4bit: true, bnb_4bit_quant_type: 'nf4' },
};

describe('recipe for the demo run', () => {
  let model: LoadedModel;
  let input: RecipeInput;
  let files: RecipeFiles;
  let dir: string;

  beforeAll(async () => {
    model = await openModel(await fileSetFromDir(DEMO_MODEL));
    const dataset = parseDataset(readFileSync(DEMO_DATASET), { name: 'sql-demo.json' });
    const data = prepareData(dataset, model, DISTINCT.training);
    input = {
      run: { hparams: DISTINCT, baseModelNameOrPath: model.info.baseModelNameOrPath },
      tokenizer: model.tokenizer,
      format: model.format,
      dataset,
      data,
    };
    files = buildRecipe(input);
    dir = mkdtempSync(join(tmpdir(), 'recipe-'));
    writeRecipeDir(dir, files);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has every file, none empty, and nothing else', () => {
    expect([...files.keys()].sort()).toEqual([...RECIPE_PATHS].sort());
    for (const [path, v] of files) expect(v.length, path).toBeGreaterThan(100);
    for (const path of RECIPE_PATHS) expect(readFileSync(join(dir, path), 'utf8')).toBe(text(files, path));
  });

  it('studio_run.json holds the run configuration exactly, and the step counts of the studio', () => {
    const run = JSON.parse(text(files, 'studio_run.json'));
    expect(run.hparams).toEqual(DISTINCT);
    expect(run.base_model_name_or_path).toBe(model.info.baseModelNameOrPath);
    expect(run.peft).toEqual({
      target_modules: ['q_proj', 'v_proj', 'down_proj'],
      bias: 'none',
      task_type: 'CAUSAL_LM',
    });
    const t = DISTINCT.training;
    const sampler = new BatchSampler(input.data.train, {
      batchSize: t.per_device_train_batch_size,
      gradientAccumulationSteps: t.gradient_accumulation_steps,
      maxSeqLength: t.max_seq_length,
      padTokenId: model.tokenizer.padId,
      seed: t.seed,
    });
    expect(run.schedule).toEqual({
      processes: 1,
      steps_per_epoch: sampler.stepsPerEpoch,
      total_steps: 17,
      warmup_steps: warmupSteps(17, 0, 0.07),
    });
    expect(run.schedule.warmup_steps).toBe(2);
    expect(run.dataset).toMatchObject({ name: 'sql-demo.json', format: 'alpaca', records: 400, skipped: 0 });
    expect(run.dataset.train + run.dataset.validation).toBe(400);
    expect(run.dataset.validation).toBe(60); // ceil(400 * 0.15)
    expect(run.tokenizer).toEqual({
      prompt_format: 'chat',
      vocab_size: 1024,
      bos_token: '<|begin_of_text|>',
      bos_token_id: 1019,
      eos_token: '<|end_of_text|>',
      eos_token_id: 1020,
      pad_token_id: 1023,
      add_bos_token: true,
    });
  });

  it("the JSONL files are the studio's split, in its order, and encode to the studio's examples", () => {
    const { dataset, data } = input;
    for (const [path, examples] of [
      ['data/train.jsonl', data.train],
      ['data/validation.jsonl', data.val],
    ] as const) {
      const rows = jsonlRows(text(files, path));
      expect(rows).toHaveLength(examples.length);
      const encoder = new ExampleEncoder(model.tokenizer, model.format, {
        maxSeqLength: DISTINCT.training.max_seq_length,
        trainOnInputs: false,
      });
      rows.forEach((row, i) => {
        const record = normalizeOrThrow(row);
        const { index: _i, line: _l, ...original } = dataset.records[examples[i].record];
        expect(record, `${path} row ${i}`).toEqual(original);
        const e = encoder.encode(record, i);
        expect(Array.from(e.inputIds)).toEqual(Array.from(examples[i].inputIds));
        expect(Array.from(e.labels)).toEqual(Array.from(examples[i].labels));
      });
    }
    // Every record is usable here, so the files hold exactly the seeded split of the 400 records.
    const split = splitTrainVal(400, DISTINCT.training.val_split_fraction, DISTINCT.training.seed);
    expect(data.val.map((e) => e.record)).toEqual(split.val);
    expect(data.train.map((e) => e.record)).toEqual(split.train);
  });

  it('studio_examples.json holds the first training examples as the encoder made them', () => {
    const s = JSON.parse(text(files, 'studio_examples.json'));
    expect(s.add_bos).toBe(true);
    expect(s.prompt_format).toBe('chat');
    expect(s.examples).toHaveLength(STUDIO_EXAMPLES);
    s.examples.forEach((x: { index: number; text: string; input_ids: number[]; labels: number[] }, i: number) => {
      const e = input.data.train[i];
      expect(x.index).toBe(i);
      expect(x.input_ids).toEqual(Array.from(e.inputIds));
      expect(x.labels).toEqual(Array.from(e.labels));
      expect(x.input_ids[0]).toBe(1019); // BOS from the tokenizer, not the template
      expect(x.text.startsWith('<|im_start|>user\n')).toBe(true);
      // The text is what was tokenized: with BOS and cut to max_seq_length, it gives the ids.
      const ids = model.tokenizer.encode(x.text, { addSpecialTokens: true });
      expect(ids.slice(0, DISTINCT.training.max_seq_length)).toEqual(x.input_ids);
    });
  });

  it('the Accelerate and DeepSpeed configs parse and say what the README says', () => {
    const load = (p: string) => {
      const r = runPython(SYSTEM_PYTHON, [
        '-c',
        'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))',
        join(dir, p),
      ]);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const single = load('accelerate_config.yaml');
    expect(single).toMatchObject({ distributed_type: 'NO', num_processes: 1, mixed_precision: 'no' });
    const multi = load('accelerate_deepspeed_zero2.yaml');
    expect(multi.distributed_type).toBe('DEEPSPEED');
    expect(multi.deepspeed_config.deepspeed_config_file).toBe('ds_zero2.json');
    const ds = JSON.parse(text(files, 'ds_zero2.json'));
    expect(ds.zero_optimization.stage).toBe(2);
    // The Trainer's own AdamW and schedule (no DeepSpeed optimizer or scheduler), filled from TrainingArguments.
    expect(ds.optimizer).toBeUndefined();
    expect(ds.scheduler).toBeUndefined();
    for (const k of ['train_micro_batch_size_per_gpu', 'gradient_accumulation_steps', 'gradient_clipping'])
      expect(ds[k]).toBe('auto');
  });

  it('requirements.txt pins a minimum version of every package train.py imports', () => {
    const req = text(files, 'requirements.txt');
    for (const pkg of ['torch', 'transformers', 'peft', 'accelerate', 'jinja2'])
      expect(req).toMatch(new RegExp(`^${pkg}>=\\d+\\.\\d+`, 'm'));
    expect(req).toMatch(/^transformers>=4\.46$/m);
    // load_in_4bit: bitsandbytes too; without it, not.
    expect(req).toMatch(/^bitsandbytes>=\d+\.\d+$/m);
    expect(requirementsFor(DEFAULT_HPARAMS)).not.toContain('bitsandbytes');
  });

  it('the README names the commands, the model and the counts, with no placeholder left', () => {
    const readme = text(files, 'README.md');
    expect(readme).not.toMatch(/\{\{|\}\}/);
    expect(readme).toContain(
      'accelerate launch --config_file accelerate_config.yaml train.py --model lora-studio-demo-sql --out output',
    );
    expect(readme).toContain('accelerate launch --config_file accelerate_deepspeed_zero2.yaml --num_processes 4');
    expect(readme).toContain('| lora_alpha | 24 | LoraConfig.lora_alpha |');
    expect(readme).toContain('| target_modules | v_proj, q_proj, down_proj |');
    expect(readme).toContain('--early_stopping_patience 2');
    expect(readme).toContain(`the ${input.data.train.length} training records`);
    // Every hyperparameter has a row.
    expect(readme).toContain('--gradient_checkpointing --load_in_4bit --bnb_4bit_quant_type nf4');
    expect(readme).toContain(
      '| load_in_4bit | true | BitsAndBytesConfig.load_in_4bit + prepare_model_for_kbit_training |',
    );
    for (const k of [
      ...Object.keys(DISTINCT.lora),
      ...Object.keys(DISTINCT.training),
      ...Object.keys(DISTINCT.quantization),
    ])
      expect(readme, k).toMatch(new RegExp(`^\\| ${k} \\|`, 'm'));
  });

  it('train.py takes the model flag the Export card tells users to pass', () => {
    expect(text(files, 'train.py')).toContain(`p.add_argument("${RECIPE_MODEL_FLAG}",`);
    expect(text(files, 'train.py')).not.toContain('--model_name_or_path');
  });

  it("train.py's constants are the studio's", () => {
    const py = text(files, 'train.py');
    expect(py).toContain(`ALL_LINEAR = ${JSON.stringify(LINEAR_MODULES).replace(/,/g, ', ')}\n`);
    expect(py).toContain(`PAD_MULTIPLE = ${PAD_MULTIPLE}\n`);
    expect(py).toContain(`IGNORE_INDEX = ${IGNORE_INDEX}\n`);
  });

  it('train.py and compare_curves.py are valid Python (py_compile)', () => {
    for (const p of ['train.py', 'compare_curves.py']) {
      const r = runPython(SYSTEM_PYTHON, [
        '-c',
        'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)',
        join(dir, p),
        join(dir, `${p}c`),
      ]);
      expect(r.status, r.stderr).toBe(0);
    }
  });

  it('train.py maps every hyperparameter to LoraConfig / TrainingArguments and runs its Trainer path (Python tests with stand-in transformers and peft)', () => {
    const r = runPython(SYSTEM_PYTHON, ['-m', 'unittest', '-v', 'src/recipe/testing/test_train_py.py'], {
      env: { RECIPE_DIR: dir },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^Ran 17 tests/m);
    expect(r.stderr).toMatch(/^OK$/m); // nothing skipped: torch is there, so the Trainer path ran too
    expect(r.stderr).toContain('test_train_runs_through_the_trainer (');
  });

  it('zips to one archive with every file under one folder', () => {
    const zip = zipRecipe(files, 'demo-recipe', new Date('2024-06-01T12:00:00Z'));
    const out = unzipSync(zip);
    expect(Object.keys(out).sort()).toEqual([...RECIPE_PATHS].map((p) => `demo-recipe/${p}`).sort());
    const dec = new TextDecoder();
    for (const p of RECIPE_PATHS) expect(dec.decode(out[`demo-recipe/${p}`])).toBe(text(files, p));
    // Same input, same time: same bytes.
    expect(zipRecipe(files, 'demo-recipe', new Date('2024-06-01T12:00:00Z'))).toEqual(zip);
  });
});

function normalizeOrThrow(raw: unknown) {
  const n = normalizeRecord(raw, 'alpaca', 0, null);
  if (!n.ok) throw new Error(n.error.message);
  return n.record;
}

describe('recipe details', () => {
  it('writes chat records as messages with the system prompt first, Alpaca records with their fields', () => {
    const chat = makeCase({ name: 'chat', dataset: { text: chatDatasetJsonl(12), name: 'chat.jsonl' } });
    const files = buildRecipe(chat.input);
    const rows = jsonlRows(text(files, 'data/train.jsonl')) as { messages: { role: string }[] }[];
    expect(rows.length).toBe(chat.input.data.train.length);
    expect(rows.some((r) => r.messages[0].role === 'system')).toBe(true);
    expect(rows.some((r) => r.messages[0].role === 'user')).toBe(true);
    const rec = {
      system: 'S',
      turns: [
        { role: 'user' as const, content: 'I' },
        { role: 'assistant' as const, content: 'O' },
      ],
      input: 'X',
    };
    expect(recordJson(rec, 'alpaca')).toEqual({ instruction: 'I', input: 'X', output: 'O', system: 'S' });
    const { input: _x, ...noInput } = rec;
    expect(recordJson(noInput, 'sharegpt' as DatasetFormat)).toEqual({
      messages: [
        { role: 'system', content: 'S' },
        { role: 'user', content: 'I' },
        { role: 'assistant', content: 'O' },
      ],
    });
  });

  it('lists the records the studio skipped and leaves them out of the data', () => {
    // At 40 tokens the long prompts (instruction + schema) leave no room for the answer.
    const c = makeCase({ name: 'short', training: { max_seq_length: 40, val_split_fraction: 0.1 } });
    const files = buildRecipe(c.input);
    const run = JSON.parse(text(files, 'studio_run.json'));
    const used = c.input.data.train.length + c.input.data.val.length;
    expect(used).toBeLessThan(400);
    expect(run.dataset.skipped).toBe(400 - used);
    expect(run.dataset.skipped_records.length).toBe(Math.min(100, 400 - used));
    expect(run.dataset.skipped_records[0].reason).toBe('every token is masked out: nothing to train on');
    const skippedIdx = new Set(run.dataset.skipped_records.map((s: { record: number }) => s.record));
    const rows = [...jsonlRows(text(files, 'data/train.jsonl')), ...jsonlRows(text(files, 'data/validation.jsonl'))];
    expect(rows).toHaveLength(used);
    const key = (r: unknown) => JSON.stringify(r);
    const written = new Set(rows.map(key));
    const demo = JSON.parse(readFileSync(DEMO_DATASET, 'utf8')) as {
      instruction: string;
      input: string;
      output: string;
    }[];
    const asWritten = (r: (typeof demo)[number]) => key(recordJson(normalizeOrThrow(r), 'alpaca'));
    for (const i of skippedIdx) expect(written.has(asWritten(demo[i as number]))).toBe(false);
    for (const e of c.input.data.train) expect(written.has(asWritten(demo[e.record]))).toBe(true);
  });

  it('resolves all-linear for PEFT and keeps the studio value in hparams', () => {
    const c = makeCase({ name: 'all', lora: { target_modules: 'all-linear' } });
    const run = JSON.parse(text(buildRecipe(c.input), 'studio_run.json'));
    expect(run.hparams.lora.target_modules).toBe('all-linear');
    expect(run.peft.target_modules).toEqual(resolveTargets('all-linear'));
    expect(run.hparams).toEqual({
      ...DEFAULT_HPARAMS,
      lora: { ...DEFAULT_HPARAMS.lora, target_modules: 'all-linear' },
    });
  });

  it('fillTemplate refuses a placeholder it has no value for', () => {
    expect(fillTemplate('a {{x}} b', { x: 1 })).toBe('a 1 b');
    expect(() => fillTemplate('a {{y}}', { x: 1 })).toThrow('no value for {{y}}');
  });
});

describe('tool-use records', () => {
  it('are refused with a clear message (train.py does not render tool calls), not written differently', () => {
    const raw = {
      conversations: [
        { from: 'human', value: 'Weather in Paris?' },
        { from: 'function_call', value: '{"name": "get_weather", "arguments": {"city": "Paris"}}' },
        { from: 'observation', value: '{"temperature": 21}' },
        { from: 'gpt', value: 'It is 21 degrees.' },
      ],
      tools: '[{"name": "get_weather"}]',
    };
    const r = normalizeRecord(raw, 'sharegpt', 0, 1);
    if (!r.ok) throw new Error(r.error.message);
    expect(() => recordJson(r.record, 'sharegpt')).toThrow(
      "the record has tool definitions or tool calls, which the recipe's train.py does not render yet; train tool-use datasets in the studio or the CLI",
    );
  });
});
