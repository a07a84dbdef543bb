import { defineConfig } from '@playwright/test';

// End-to-end tests in Debian's Chromium (never a downloaded browser), headless, on WebGPU over
// SwiftShader: --enable-unsafe-webgpu is what un-blocklists the CPU adapter. The studio is built
// and served by `vite preview` on 127.0.0.1 (a secure context, as WebGPU requires).
// PW_PORT lets several checkouts run their end-to-end tests side by side without sharing a server.
const port = Number(process.env.PW_PORT ?? 4173);

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  // Sized for a loaded 2-core machine (the longest spec takes about 25 s on an idle one).
  timeout: 600_000,
  expect: { timeout: 120_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  // @slow specs (real-size models, minutes each on SwiftShader) run only with PW_SLOW=1: `npm run test:slow`.
  grepInvert: process.env.PW_SLOW ? undefined : /@slow/,
  reporter: process.env.PW_JSON ? [['json', { outputFile: process.env.PW_JSON }], ['list']] : [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    acceptDownloads: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--enable-unsafe-webgpu',
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
        '--no-first-run',
      ],
    },
  },
  webServer: {
    command: `npx vite build && npx vite preview --port ${port} --strictPort`,
    url: `http://127.0.0.1:${port}`,
    reuseExistingServer: !process.env.CI,
    timeout: 600_000,
  },
});
