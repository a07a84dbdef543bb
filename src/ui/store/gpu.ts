// WebGPU availability and the worker's self-test: the first thing the studio checks.

import type { GpuInfo } from '../../worker/api';
import { studioWorker, errorMessage } from '../../worker/client';
import { NO_WEBGPU } from '../../engine/gpu/context';
import type { SliceCreator } from './types';

export interface GpuSlice {
  gpu: { status: 'checking' | 'ready' | 'error'; info: GpuInfo | null; error: string | null };
  initGpu: () => Promise<void>;
}

export const createGpuSlice: SliceCreator<GpuSlice> = (set) => ({
  gpu: { status: 'checking', info: null, error: null },
  initGpu: async () => {
    if (typeof navigator === 'undefined' || !('gpu' in navigator) || !navigator.gpu) {
      set({ gpu: { status: 'error', info: null, error: NO_WEBGPU } });
      return;
    }
    try {
      const info = await studioWorker().init();
      set({ gpu: { status: 'ready', info, error: null } });
    } catch (e) {
      set({ gpu: { status: 'error', info: null, error: errorMessage(e) } });
    }
  },
});
