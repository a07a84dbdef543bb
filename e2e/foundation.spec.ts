import { expect, test } from '@playwright/test';

test('a WGSL kernel runs in the studio worker and the page shows its checked result', async ({ page }) => {
  await page.goto('/');
  const result = page.getByTestId('gpu-selftest');
  await expect(result).toBeVisible();
  await expect(result).toHaveAttribute('data-ok', 'true');
  await expect(result).toContainText('swiftshader');
  const text = await result.textContent();
  const err = Number(/max error ([0-9.e+-]+)/.exec(text ?? '')?.[1]);
  expect(err).toBeLessThan(1e-4);
});

test('without WebGPU the studio says so and what to do', async ({ page }, testInfo) => {
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    delete (Navigator.prototype as unknown as { gpu?: unknown }).gpu;
  });
  await page.goto('/');
  const alert = page.getByTestId('webgpu-error');
  await expect(alert).toBeVisible();
  await expect(alert).toContainText('Chrome or Edge');
  await expect(alert).toContainText('hardware acceleration');
  const path = testInfo.outputPath('no-webgpu.png');
  await page.screenshot({ path });
  await testInfo.attach('no-webgpu', { path, contentType: 'image/png' });
});
