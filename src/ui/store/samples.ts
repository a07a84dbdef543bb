// Side-by-side generations (base model, and with the adapter) from validation prompts or typed ones.

import type { SampleResult, ValidationPrompt } from '../../worker/api';
import type { SliceCreator } from './types';

export interface SamplesSlice {
  samples: {
    prompts: ValidationPrompt[];
    /** A validation record (its number in the file) or the typed prompt. */
    choice: number | 'custom';
    custom: string;
    maxNewTokens: number;
    temperature: number;
    running: boolean;
    /** Text streamed so far by the generation in progress. */
    streaming: { base: string; tuned: string };
    results: SampleResult[];
    error: string | null;
  };
  setSampleChoice: (choice: number | 'custom') => void;
  setCustomPrompt: (text: string) => void;
  setSampleOptions: (o: Partial<Pick<SamplesSlice['samples'], 'maxNewTokens' | 'temperature'>>) => void;
}

export const createSamplesSlice: SliceCreator<SamplesSlice> = (set) => ({
  samples: {
    prompts: [],
    choice: 'custom',
    custom: '',
    maxNewTokens: 64,
    temperature: 0,
    running: false,
    streaming: { base: '', tuned: '' },
    results: [],
    error: null,
  },
  setSampleChoice: (choice) => set((s) => ({ samples: { ...s.samples, choice } })),
  setCustomPrompt: (custom) => set((s) => ({ samples: { ...s.samples, custom } })),
  setSampleOptions: (o) => set((s) => ({ samples: { ...s.samples, ...o } })),
});
