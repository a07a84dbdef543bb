// `npm run train -- --model DIR --data FILE --out DIR [hyperparameters]`: the studio's training
// run from the command line, on the same engine (Dawn in Node) and the same training session
// (src/run/session.ts). Hyperparameter flags are PEFT's LoraConfig and TrainingArguments names.
// Writes the PEFT adapter (last, and best by validation loss), metrics as JSON lines per logging
// step, the resolved configuration, and checkpoints (out/checkpoint-N/) to resume from.

import { mkdirSync, writeFileSync, appendFileSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileSetFromDir } from '../io/source.node';
import { readAdapter } from '../io/peft';
import { DATASET_FORMATS, type DatasetFormat } from '../data/formats';
import { fmtBytes } from '../engine/gpu/context';
import { familyLabel } from '../engine/model/config';
import { HPARAM_BOOLEANS, hparamsFromFlags, parseArgv, UsageError } from './args';
import { cliMain, fmtNum, openGpu, readDataset, required } from './common';
import { openModel, uploadModel } from '../run/model';
import { dataNotes, prepareData } from '../run/data';
import { continueFrom, recipeFor } from '../run/export';
import { estimateRun } from '../run/plan';
import { TrainingRun, type ExportedAdapter } from '../run/run';
import { quantOptions } from '../run/quant';
import type { StepMetrics } from '../engine/train/trainer';
import { TrainingSession, type SessionEvent } from '../run/session';
import { RunCheckpoints } from '../run/checkpoints';
import { nodeDir } from '../run/dir.node';
import { AUTOSAVE_INTERVAL_MS } from '../run/save-rule';
import { findCheckpoint } from './resume';
import { writeRecipeDir } from '../recipe/write.node';

const USAGE = `usage: npm run train -- --model DIR --data FILE --out DIR [options]

  --model DIR            Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer files)
  --data FILE            JSON or JSONL dataset (Alpaca, chat "messages" or ShareGPT)
  --out DIR              where the adapter, metrics and configuration are written
  --format F             force the dataset format: ${DATASET_FORMATS.join(', ')}
  --adapter DIR          continue training a PEFT LoRA adapter (its r, alpha and targets are kept)
  --resume_from_checkpoint [DIR]
                         continue an interrupted run from DIR (a checkpoint-N folder, or a run's folder),
                         or with no value from the newest checkpoint in --out; hyperparameters come from
                         the checkpoint (flags given override them)
  --autosave_minutes 2   when --save_steps is 0, checkpoint after the first step, then every this many
                         minutes of training (0: only at the end and on Ctrl-C); checkpoints go to
                         out/checkpoint-N/ (the two newest are kept), Ctrl-C stops after the current step
  --export-recipe DIR    also write a Hugging Face + Accelerate recipe for the same run (see its README.md)
  --recipe-only          write the recipe (--export-recipe DIR) and exit without training; --out not needed

  LoRA:      --r 8 --lora_alpha 16 --lora_dropout 0.05 --target_modules q_proj,v_proj|all-linear|REGEX --use_rslora
             --layers_to_transform 0,1,2 --rank_pattern down_proj=16 --alpha_pattern down_proj=32
             --init_lora_weights true|gaussian|pissa|pissa_niter_4 --loraplus_lr_ratio 16 (PEFT's names; a
             target_modules regex must match the whole module name, e.g. 'model\\.layers\\.[0-3]\\..*_proj')
             --use_dora
  Training:  --learning_rate 2e-4 --lr_scheduler_type cosine --warmup_ratio 0.1 --warmup_steps 0
             --per_device_train_batch_size 4 --gradient_accumulation_steps 1 --num_train_epochs 3
             --max_steps -1 --max_seq_length 512 --weight_decay 0 --max_grad_norm 1.0 --seed 42
             --logging_steps 1 --eval_steps 10 --save_steps 0 --val_split_fraction 0.1 --train_on_inputs
             --early_stopping_patience 0 --early_stopping_threshold 0
  Memory:    --gradient_checkpointing (recompute activations in the backward: far less memory, slower steps)
  QLoRA:     --load_in_4bit --bnb_4bit_quant_type nf4 (the base's linear weights in 4-bit NF4, as
             BitsAndBytesConfig; nf4 is the only type supported)`;

const OWN = new Set([
  'model',
  'data',
  'out',
  'format',
  'adapter',
  'export_recipe',
  'recipe_only',
  'resume_from_checkpoint',
  'autosave_minutes',
  'help',
]);
const BOOLEANS = new Set([...HPARAM_BOOLEANS, 'recipe_only', 'help']);

function writeAdapterDir(dir: string, a: ExportedAdapter): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'adapter_model.safetensors'), a.safetensors);
  writeFileSync(join(dir, 'adapter_config.json'), a.config);
}

await cliMain(USAGE, async () => {
  const { flags, positional } = parseArgv(process.argv.slice(2), BOOLEANS, new Set(['resume_from_checkpoint']));
  if (flags.has('help')) {
    console.log(USAGE);
    return;
  }
  if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
  const modelDir = required(flags, 'model');
  const dataPath = required(flags, 'data');
  const recipeOnly = flags.has('recipe_only');
  const recipeDir = flags.get('export_recipe');
  if (recipeDir === true || (recipeOnly && recipeDir === undefined))
    throw new UsageError('--export-recipe needs a folder (--recipe-only writes the recipe there and exits)');
  const outDir = recipeOnly ? '' : required(flags, 'out');
  const format = flags.get('format') as DatasetFormat | undefined;
  if (format !== undefined && !DATASET_FORMATS.includes(format)) {
    throw new UsageError(`--format must be one of ${DATASET_FORMATS.join(', ')}`);
  }
  let flagHparams = hparamsFromFlags(flags, OWN);
  const autosave = flags.get('autosave_minutes') ?? String(AUTOSAVE_INTERVAL_MS / 60_000);
  if (autosave === true || !(Number(autosave) >= 0))
    throw new UsageError('--autosave_minutes is a number of minutes (0: off)');
  const resume = recipeOnly ? null : await findCheckpoint(flags.get('resume_from_checkpoint'), outDir);
  if (resume && flags.has('adapter')) {
    throw new UsageError('--adapter and --resume_from_checkpoint: the checkpoint already holds the adapter');
  }
  // The run's own hyperparameters, with any flag given now over them (as a new max_steps).
  if (resume?.checkpoint.hparams) flagHparams = hparamsFromFlags(flags, OWN, resume.checkpoint.hparams);
  const ctx = recipeOnly ? null : await openGpu();

  const model = await openModel(await fileSetFromDir(modelDir), { kind: 'path', path: modelDir });
  const c = model.info.config;
  console.log(
    `model: ${model.info.baseModelNameOrPath} (${familyLabel(c.modelType)}, ${c.numLayers} layers, hidden ${c.hiddenSize}, ` +
      `${(model.info.params / 1e6).toFixed(2)}M params, ${model.info.dtype}, ${model.info.promptFormat} prompts)`,
  );
  const adapterDir = flags.get('adapter');
  const adapter = typeof adapterDir === 'string' ? await readAdapter(await fileSetFromDir(adapterDir), c) : null;
  const { hparams, initialParams } = continueFrom(flagHparams, adapter);
  if (adapter)
    console.log(
      `adapter: continuing ${adapterDir} (r ${adapter.spec.r}, alpha ${adapter.spec.lora_alpha}, ${adapter.spec.target_modules.join(',')})`,
    );

  const dataset = await readDataset(dataPath, format);
  console.log(
    `dataset: ${dataset.name}: ${dataset.records.length} records, format ${dataset.format}${dataset.formatDetected ? ' (detected)' : ''}` +
      (dataset.errorCount ? `, ${dataset.errorCount} skipped:` : ''),
  );
  for (const e of dataset.errors.slice(0, 10)) console.log(`  ${e.message}`);
  if (dataset.errorCount > 10) console.log(`  ... and ${dataset.errorCount - 10} more`);
  const data = prepareData(dataset, model, hparams.training);
  for (const e of data.encodeErrors.slice(0, 10)) console.log(`  ${e.message}`);
  const s = data.stats;
  console.log(
    `examples: ${data.train.length} train, ${data.val.length} validation; tokens per record median ${s.length.median}, ` +
      `max ${s.length.max}; ${s.truncated} truncated to ${hparams.training.max_seq_length}; ${(100 * s.maskedShare).toFixed(1)}% of tokens masked`,
  );
  console.log(
    `tokenizer fit: ${data.fit.charsPerToken.toFixed(2)} characters per token, ${(100 * data.fit.unknownShare).toFixed(1)}% unknown or byte-fallback tokens (first ${data.fit.records} records)`,
  );
  for (const n of dataNotes(data, hparams.training.max_seq_length)) console.log(`  warning: ${n}`);
  if (recipeDir !== undefined) {
    const files = recipeFor(model, dataset, data, hparams);
    writeRecipeDir(recipeDir, files);
    console.log(`recipe: ${files.size} files -> ${recipeDir} (Hugging Face transformers + PEFT; see its README.md)`);
    if (initialParams)
      console.log('  note: the recipe trains a new adapter; it does not continue the one given with --adapter');
    if (recipeOnly) return;
  }

  if (!ctx) return;
  const memory = estimateRun(model, hparams, ctx.caps, data).memory;
  console.log(`GPU memory estimate: ${memory.text}`);
  for (const s of memory.suggestions) console.log(`  to use less: ${s}`);
  const weights = await uploadModel(ctx, model, undefined, { nf4: quantOptions(hparams).nf4 });
  const run = new TrainingRun(ctx, model, weights, data, hparams, { initialParams });
  console.log(run.trainableLine());
  console.log(
    `training ${run.totalSteps} steps (${run.sampler.stepsPerEpoch} per epoch); GPU memory held ${fmtBytes(ctx.allocatedBytes)}`,
  );

  if (resume) {
    const saved = resume.checkpoint;
    if (saved.totalSteps !== null && saved.totalSteps !== run.totalSteps) {
      console.log(
        `  note: the run had ${saved.totalSteps} steps, now ${run.totalSteps} (the schedule follows the new count)`,
      );
    }
    run.restore(saved.state);
    console.log(`resuming from ${resume.path} (step ${saved.state.step} of ${run.totalSteps})`);
  }

  mkdirSync(outDir, { recursive: true });
  const metricsPath = join(outDir, 'metrics.jsonl');
  const from = resume?.checkpoint.state.step ?? 0;
  // A resumed run keeps the metrics up to its checkpoint and logs on from there.
  const kept = existsSync(metricsPath)
    ? readFileSync(metricsPath, 'utf8')
        .split('\n')
        .filter((l) => l && from > 0 && JSON.parse(l).step <= from)
    : [];
  rmSync(metricsPath, { force: true });
  if (kept.length) writeFileSync(metricsPath, kept.join('\n') + '\n');
  writeFileSync(
    join(outDir, 'training_config.json'),
    JSON.stringify(
      {
        base_model_name_or_path: model.info.baseModelNameOrPath,
        dataset: dataset.name,
        total_steps: run.totalSteps,
        ...hparams,
      },
      null,
      2,
    ) + '\n',
  );
  const t = hparams.training;
  const window: StepMetrics[] = [];
  let fatal: string | null = null;
  const onEvent = (e: SessionEvent) => {
    if (e.status === 'checkpoint') console.log(`checkpoint -> ${join(outDir, `checkpoint-${e.step}`)}`);
    else if (e.status === 'error' && e.fatal) fatal = e.message;
    else if (e.status === 'error') process.stderr.write(`warning: ${e.message}\n`);
    if (e.status !== 'step') return;
    const m = e.metrics;
    window.push(m);
    const line =
      `step ${m.step}/${m.totalSteps}  epoch ${m.epoch.toFixed(2)}  loss ${fmtNum(m.loss)}  lr ${m.lr.toExponential(2)}  ` +
      `grad_norm ${fmtNum(m.gradNorm, 3)}  ${Math.round(m.tokensPerSecond)} tok/s` +
      (m.evalLoss !== undefined ? `  eval_loss ${fmtNum(m.evalLoss)}` : '');
    if (m.step % t.logging_steps === 0 || m.evalLoss !== undefined || run.done) console.log(line);
    if (m.step % t.logging_steps === 0 || run.done) {
      const mean = window.reduce((a, w) => a + w.loss, 0) / window.length;
      appendFileSync(
        metricsPath,
        JSON.stringify({
          step: m.step,
          epoch: m.epoch,
          loss: mean,
          learning_rate: m.lr,
          grad_norm: m.gradNorm,
          tokens_per_second: m.tokensPerSecond,
        }) + '\n',
      );
      window.length = 0;
    }
    if (m.evalLoss !== undefined)
      appendFileSync(metricsPath, JSON.stringify({ step: m.step, epoch: m.epoch, eval_loss: m.evalLoss }) + '\n');
  };
  const session = new TrainingSession(basename(resolve(outDir)), run, onEvent, {
    checkpoints: new RunCheckpoints(nodeDir(outDir)),
    saveIntervalMs: Number(autosave) * 60_000,
    resumed: resume ? { history: resume.checkpoint.history, activeMs: resume.checkpoint.activeMs } : undefined,
  });
  // Ctrl-C: the step in progress finishes, then its checkpoint and the adapter are written.
  const interrupt = () => {
    console.log('interrupted: stopping after the current step (Ctrl-C again to quit without saving)');
    process.once('SIGINT', () => process.exit(130));
    void session.stop();
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const started = performance.now();
  const end = await session.start();
  if (fatal !== null) throw new Error(end.message);
  const reason = end.message;
  console.log(`${reason} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const last = await run.exportAdapter('last');
  writeAdapterDir(outDir, last);
  console.log(
    `GPU memory: estimate ${fmtBytes(memory.total)}, held ${fmtBytes(ctx.allocatedBytes)}, peak ${fmtBytes(ctx.peakBytes)}`,
  );
  const summary: Record<string, unknown> = {
    stop: run.stopReason ?? { kind: 'user', step: end.step },
    reason,
    last: { dir: '.', step: last.step, eval_loss: last.evalLoss },
    gpu_memory: {
      estimate_bytes: memory.total,
      held_bytes: ctx.allocatedBytes,
      peak_bytes: ctx.peakBytes,
    },
  };
  if (run.trainer.best) {
    const best = await run.exportAdapter('best');
    writeAdapterDir(join(outDir, 'best'), best);
    summary.best = { dir: 'best', step: best.step, eval_loss: best.evalLoss };
    console.log(
      `best adapter (validation loss ${fmtNum(best.evalLoss!)} at step ${best.step}) -> ${join(outDir, 'best')}`,
    );
  }
  writeFileSync(join(outDir, 'run_summary.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(`adapter (step ${last.step}) -> ${outDir}`);
  run.destroy();
  if (end.kind === 'user') {
    console.log(
      `to continue: the same command with --resume_from_checkpoint (from ${join(outDir, `checkpoint-${end.step}`)})`,
    );
    process.exit(130);
  }
  if (run.stopReason?.kind === 'non_finite') throw new Error(reason);
});
