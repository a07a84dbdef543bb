import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// One config for the studio (vite), the unit tests and the kernel tests (vitest projects).
// Kernel tests (*.gpu.test.ts) run in Node on Dawn; scripts/test.mjs sets the Vulkan driver
// (SwiftShader) in their environment before vitest starts.
export default defineConfig({
  plugins: [react()],
  worker: { format: 'es' },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  build: { target: 'es2022', chunkSizeWarningLimit: 2000 },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'scripts/**/*.test.ts'],
          exclude: ['src/**/*.gpu.test.ts'],
          environment: 'node',
          // Sized for a loaded 2-core machine, 30x the slowest test's time on an idle one (1.8 s).
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'kernel',
          include: ['src/**/*.gpu.test.ts'],
          environment: 'node',
          pool: 'forks',
          // Sized for a loaded 2-core machine: the slowest test (8 demo steps on SwiftShader) takes
          // about 66 s on an idle one and timed out at 120 s beside another `npm test`.
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
