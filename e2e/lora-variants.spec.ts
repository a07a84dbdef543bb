// PEFT's LoRA variants in the studio: the Hyperparameters panel's fields (each with its one-line
// explanation) change the trainable-parameter line as PEFT counts it; a PiSSA run with a
// rank_pattern, layers_to_transform and LoRA+ trains, and its exported adapter is the converted one
// (rank 2r, r and lora_alpha doubled, init_lora_weights true), as PEFT's save_pretrained(
// path_initial_model_for_weight_conversion=...) writes it.

import { expect, test } from '@playwright/test';
import { bytesOf, downloads, openWithDemo, safetensorsHeader, setField, smallRun, waitFor } from './helpers';

const count = async (page: import('@playwright/test').Page) =>
  Number((await page.getByTestId('trainable-params').textContent())!.replace(/[^\d]/g, ''));

test('targeting, init and LoRA+ fields; a PiSSA run exports the converted adapter', async ({ page }) => {
  test.setTimeout(240_000);
  await openWithDemo(page);
  await smallRun(page, { maxSteps: 2, evalSteps: 0 });
  for (const [name, help] of [
    ['layers_to_transform', 'only these decoder layers'],
    ['rank_pattern', 'another r for the modules'],
    ['alpha_pattern', 'another lora_alpha'],
    ['init_lora_weights', 'pissa'],
    ['loraplus_lr_ratio', 'LoRA+'],
  ])
    await expect(page.getByTestId(`field-${name}`)).toContainText(help);

  // Demo preset: all-linear at r 8 over 4 layers (hidden 64, kv 32, intermediate 176). q_proj is
  // [64, 64]: r 16 adds 4 * 8 * (64 + 64).
  const all = 4 * 8 * (2 * 128 + 2 * 96 + 3 * 240);
  await expect.poll(() => count(page)).toBe(all);
  await setField(page, 'rank_pattern', 'q_proj=16');
  await expect.poll(() => count(page)).toBe(all + 4 * 8 * 128);
  // Two layers of four: the count of those layers' modules only.
  await setField(page, 'layers_to_transform', '1, 3');
  await expect.poll(() => count(page)).toBe((all + 4 * 8 * 128) / 2);
  await page.getByTestId('input-init_lora_weights').selectOption('pissa');
  await setField(page, 'loraplus_lr_ratio', 16);
  await setField(page, 'lora_dropout', 0);

  await page.getByTestId('start-training').click();
  await waitFor(page, '[data-testid="stop-reason"]');
  await expect(page.getByTestId('stop-reason')).toHaveAttribute('data-kind', 'completed');

  await page.getByTestId('tab-export').click();
  const files = await downloads(page, 2, () => page.getByTestId('download-last').click());
  const config = JSON.parse(
    (await bytesOf(files.find((d) => d.suggestedFilename() === 'adapter_config.json')!)).toString(),
  );
  const r = config.r;
  expect(config).toMatchObject({ init_lora_weights: true, layers_to_transform: [1, 3], rank_pattern: { q_proj: 32 } });
  const tensors = safetensorsHeader(await bytesOf(files.find((d) => d.suggestedFilename().endsWith('.safetensors'))!));
  expect(tensors['base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight'].shape).toEqual([32, 64]);
  expect(tensors['base_model.model.model.layers.3.self_attn.k_proj.lora_B.weight'].shape).toEqual([32, r]);
  expect(tensors['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight']).toBeUndefined();
  expect(r).toBe(16);
});
