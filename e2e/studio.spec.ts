// The whole flow as a newcomer walks it: the demo model, the demo dataset dropped on the page, the
// preview and statistics, a short run with validation (the main thread measured throughout), the
// charts and the falling loss, a side-by-side sample, the export checked file by file, and the
// exported adapter imported and trained further. A screenshot of every panel is kept.

import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import {
  bytesOf,
  downloads,
  dropFile,
  loadDemoModel,
  mainThreadReport,
  markMainThread,
  safetensorsHeader,
  screenshot,
  setField,
  smallRun,
  stepLog,
  waitFor,
  watchMainThread,
} from './helpers';

const MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
// The demo model: hidden 64, 4 heads x 16, 2 kv heads (32), MLP 176, 4 layers.
const SHAPES: Record<string, [number, number]> = {
  q_proj: [64, 64],
  k_proj: [32, 64],
  v_proj: [32, 64],
  o_proj: [64, 64],
  gate_proj: [176, 64],
  up_proj: [176, 64],
  down_proj: [64, 176],
};

test('a newcomer trains the demo, compares samples, exports and continues the adapter', async ({ page }, testInfo) => {
  await page.setViewportSize({ width: 1360, height: 900 });
  await watchMainThread(page);
  await page.goto('/');
  await expect(page.getByTestId('gpu-selftest')).toHaveAttribute('data-ok', 'true');
  await expect(page.getByTestId('start-blocker')).toContainText('load a base model first');

  // 1. The demo model.
  await loadDemoModel(page);
  await expect(page.getByTestId('model-info')).toContainText('LlamaForCausalLM');
  await expect(page.getByTestId('model-params')).toContainText('250,432');
  await expect(page.getByTestId('model-info')).toContainText('BF16');
  await expect(page.getByTestId('memory-total')).toBeVisible();
  await screenshot(page, testInfo, 'panel-model');

  // 2. The demo dataset, dropped on the page.
  await dropFile(page, 'public/demo/sql-demo.json', 'sql-demo.json');
  await expect(page.getByTestId('panel-dataset')).toBeVisible();
  await expect(page.getByTestId('dataset-records')).toContainText('400');
  await expect(page.getByTestId('dataset-error-count')).toContainText('0');
  await expect(page.getByTestId('dataset-format')).toContainText('Detected: Alpaca');
  const firstRow = page.getByTestId('preview-row').first();
  await expect(firstRow).toContainText('Record #0');
  // The preview is the text the model reads: the ChatML template with its special tokens, and the
  // answer (plus its end-of-turn token) marked as trained.
  await expect(firstRow.locator('.tok-special').first()).toHaveText('<|begin_of_text|>');
  await expect(firstRow).toContainText('<|im_start|>user');
  const trained = await firstRow.locator('[data-trained="true"]').allTextContents();
  expect(trained.join('')).toBe("SELECT name, email FROM customers WHERE email LIKE '%@mail.com';<|im_end|>");
  await expect(page.getByTestId('stat-train')).toContainText('360');
  await expect(page.getByTestId('stat-val')).toContainText('40');
  await expect(page.getByTestId('length-histogram').locator('.recharts-bar-rectangle').first()).toBeVisible();
  // Virtualized: 400 records, only a handful in the DOM.
  expect(await page.getByTestId('preview-row').count()).toBeLessThan(20);
  await screenshot(page, testInfo, 'panel-dataset');

  // 3. Hyperparameters: the demo preset made short, validated field by field.
  await smallRun(page, { maxSteps: 6, evalSteps: 3 });
  await setField(page, 'early_stopping_patience', 2);
  await setField(page, 'eval_steps', 0);
  await expect(page.getByTestId('error-early_stopping_patience')).toHaveText(
    'early stopping needs evaluation steps (eval_steps > 0)',
  );
  await expect(page.getByTestId('start-training')).toBeDisabled();
  await setField(page, 'eval_steps', 3);
  await setField(page, 'early_stopping_patience', 0);
  await expect(page.getByTestId('start-training')).toBeEnabled();
  await expect(page.getByTestId('trainable-line')).toHaveText(
    'trainable params: 37,376 || all params: 287,808 || trainable%: 12.9864',
  );
  await setField(page, 'r', 4);
  await expect(page.getByTestId('trainable-params')).toHaveText('18,688');
  await setField(page, 'r', 8);
  await expect(page.getByTestId('trainable-params')).toHaveText('37,376');
  await screenshot(page, testInfo, 'panel-hparams');

  // 4. Train, measuring the main thread from the click to the end of the run.
  const t0 = await markMainThread(page);
  await page.getByTestId('start-training').click();
  await waitFor(page, '[data-testid="stop-reason"]');
  const main = await mainThreadReport(page, t0);
  console.log(
    `main thread during training: long tasks ${JSON.stringify(main.longTasks)}, longest timer stall ${main.maxLagMs} ms`,
  );
  // Reported, not asserted: a wall-clock figure depends on the machine's load. Responsiveness is
  // measured by scripts/measure-responsiveness.mjs; the per-step work is asserted in charts.test.ts.
  testInfo.annotations.push({ type: 'main-thread', description: JSON.stringify(main) });

  await expect(page.getByTestId('stop-reason')).toHaveAttribute('data-kind', 'completed');
  await expect(page.getByTestId('stop-reason')).toContainText('completed 6 steps');
  await expect(page.getByTestId('run-step')).toHaveText('Step 6 / 6');
  const log = await stepLog(page, 6);
  console.log(
    `losses ${log.map((r) => r.loss.toFixed(4)).join(' ')}; eval ${log
      .filter((r) => r.evalLoss !== null)
      .map((r) => `${r.step}:${r.evalLoss!.toFixed(4)}`)
      .join(' ')}`,
  );
  expect(log.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
  const evals = log.filter((r) => r.evalLoss !== null);
  expect(evals.map((r) => r.step)).toEqual([3, 6]);
  // The loss falls: validation from step 3 to 6, training from the first step to the last.
  expect(evals[1].evalLoss!).toBeLessThan(evals[0].evalLoss!);
  expect(log[5].loss).toBeLessThan(log[0].loss);
  // Every chart has its points; the loss chart marks the best step.
  await expect(page.locator('[data-chart="loss"]')).toHaveAttribute('data-points', '6');
  for (const id of ['lr', 'grad-norm', 'tokens'])
    await expect(page.locator(`[data-chart="${id}"]`)).toHaveAttribute('data-points', '6');
  const best = evals.reduce((a, b) => (b.evalLoss! < a.evalLoss! ? b : a));
  await expect(page.locator('[data-chart="loss"] .marker-label')).toHaveText(`best ${best.evalLoss!.toFixed(4)}`);
  await expect(page.getByTestId('best-eval')).toHaveText(`${best.evalLoss!.toFixed(4)} @ ${best.step}`);
  await screenshot(page, testInfo, 'panel-training');

  // 5. A sample from a validation prompt, base and adapter side by side.
  await page.getByTestId('tab-samples').click();
  await expect(page.getByTestId('sample-choice')).toContainText('Validation #');
  await page.getByTestId('generate').click();
  const result = page.getByTestId('sample-result').first();
  await expect(result).toBeVisible({ timeout: 240_000 });
  await expect(result.getByTestId('sample-tuned')).toContainText('With the adapter (step 6)');
  expect((await result.getByTestId('sample-base-text').textContent())!.length).toBeGreaterThan(0);
  expect((await result.getByTestId('sample-tuned-text').textContent())!.length).toBeGreaterThan(0);
  await screenshot(page, testInfo, 'panel-samples');

  // 6. Export: the last and the best adapter, each with its step and validation loss; the report.
  await page.getByTestId('tab-export').click();
  await expect(page.getByTestId('export-last')).toContainText(
    `step 6, validation loss ${evals[1].evalLoss!.toFixed(4)}`,
  );
  await expect(page.getByTestId('export-best')).toContainText(
    `step ${best.step}, validation loss ${best.evalLoss!.toFixed(4)}`,
  );
  const last = await downloads(page, 2, () => page.getByTestId('download-last').click());
  expect(last.map((d) => d.suggestedFilename()).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  const weights = await bytesOf(last.find((d) => d.suggestedFilename().endsWith('.safetensors'))!);
  const tensors = safetensorsHeader(weights);
  const expectedKeys: string[] = [];
  for (let l = 0; l < 4; l++) {
    for (const m of MODULES) {
      const [out, inp] = SHAPES[m];
      const prefix = `base_model.model.model.layers.${l}.${['gate_proj', 'up_proj', 'down_proj'].includes(m) ? 'mlp' : 'self_attn'}.${m}`;
      expectedKeys.push(`${prefix}.lora_A.weight`, `${prefix}.lora_B.weight`);
      expect(tensors[`${prefix}.lora_A.weight`]).toMatchObject({ dtype: 'F32', shape: [8, inp] });
      expect(tensors[`${prefix}.lora_B.weight`]).toMatchObject({ dtype: 'F32', shape: [out, 8] });
    }
  }
  expect(Object.keys(tensors).sort()).toEqual(expectedKeys.sort());
  const config = JSON.parse(
    (await bytesOf(last.find((d) => d.suggestedFilename() === 'adapter_config.json')!)).toString(),
  );
  // The values the form shows.
  await page.getByTestId('tab-hparams').click();
  const form = {
    r: Number(await page.getByTestId('input-r').inputValue()),
    lora_alpha: Number(await page.getByTestId('input-lora_alpha').inputValue()),
    lora_dropout: Number(await page.getByTestId('input-lora_dropout').inputValue()),
    use_rslora: await page.getByTestId('input-use_rslora').isChecked(),
    allLinear: await page.getByTestId('target-all-linear').isChecked(),
  };
  expect(form).toEqual({ r: 8, lora_alpha: 16, lora_dropout: 0.05, use_rslora: false, allLinear: true });
  expect(config).toMatchObject({
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: form.r,
    lora_alpha: form.lora_alpha,
    lora_dropout: form.lora_dropout,
    use_rslora: form.use_rslora,
    bias: 'none',
    base_model_name_or_path: 'lora-studio-demo-sql',
    target_modules: [...MODULES].sort(),
  });
  await page.getByTestId('tab-export').click();
  const bestFiles = await downloads(page, 2, () => page.getByTestId('download-best').click());
  const bestWeights = await bytesOf(bestFiles.find((d) => d.suggestedFilename().endsWith('.safetensors'))!);
  expect(Object.keys(safetensorsHeader(bestWeights)).sort()).toEqual(expectedKeys.sort());
  if (best.step === 6) expect(bestWeights.equals(weights)).toBe(true);
  else expect(bestWeights.equals(weights)).toBe(false);
  await expect(page.getByTestId('export-result')).toContainText(`the best adapter (step ${best.step}`);

  const [csv] = await downloads(page, 1, () => page.getByTestId('download-metrics').click());
  const lines = (await bytesOf(csv)).toString().trim().split('\n');
  expect(lines[0]).toBe('step,epoch,loss,eval_loss,learning_rate,grad_norm,tokens,tokens_per_second,step_ms');
  expect(lines.slice(1).map((l) => Number(l.split(',')[2]).toFixed(4))).toEqual(log.map((r) => r.loss.toFixed(4)));
  const [cfg] = await downloads(page, 1, () => page.getByTestId('download-config').click());
  const resolved = JSON.parse((await bytesOf(cfg)).toString());
  expect(resolved.resolved.total_steps).toBe(6);
  expect(resolved.lora.target_modules).toEqual(MODULES);
  expect(resolved.training).toMatchObject({
    max_steps: 6,
    eval_steps: 3,
    per_device_train_batch_size: 2,
    max_seq_length: 64,
  });
  expect(resolved.outcome.stop_reason).toBe('completed');
  const [png] = await downloads(page, 1, () => page.getByTestId('download-chart').click());
  const pngBytes = await bytesOf(png);
  expect(pngBytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(pngBytes.readUInt32BE(16)).toBeGreaterThan(600); // width in pixels (2x the chart)
  await screenshot(page, testInfo, 'panel-export');

  // 7. Continue the exported adapter: import it and train one more step from it. The first step
  // sees the same batch as the first run's first step (same seed), so its loss must be lower.
  await page.getByTestId('tab-hparams').click();
  const dir = testInfo.outputPath('adapter');
  await last[0].saveAs(`${dir}/${last[0].suggestedFilename()}`);
  await last[1].saveAs(`${dir}/${last[1].suggestedFilename()}`);
  await page
    .getByTestId('adapter-files-input')
    .setInputFiles([`${dir}/adapter_model.safetensors`, `${dir}/adapter_config.json`]);
  await expect(page.getByTestId('adapter-card')).toContainText('r 8, lora_alpha 16');
  await expect(page.getByTestId('use-adapter')).toBeChecked();
  await setField(page, 'max_steps', 1);
  await page.getByTestId('start-training').click();
  await waitFor(page, '[data-testid="stop-reason"][data-kind="completed"]');
  const cont = await stepLog(page, 1);
  console.log(
    `continued from the adapter: step 1 loss ${cont[0].loss.toFixed(4)} (fresh adapter: ${log[0].loss.toFixed(4)})`,
  );
  expect(cont).toHaveLength(1);
  expect(cont[0].loss).toBeLessThan(log[0].loss);
  expect(readFileSync(`${dir}/adapter_config.json`, 'utf8')).toContain('"r": 8');
});
