// Step 5's state: side-by-side generations (base model, and with the adapter) from validation
// prompts or typed ones, and a multi-turn chat with the adapter on or off. Text streams in while a
// generation runs (`streaming`); the worker-facing actions are in samples.actions.ts.

import type { SampleOutput, SampleResult, ValidationPrompt } from '../../worker/api';
import type { SliceCreator } from './types';

export interface ChatMessage {
  role: 'user' | 'assistant';
  /** What the user typed, or the model's answer as the next turn's history holds it. */
  content: string;
  /** Answers: who answered ("Base model", "With the adapter (step 6)") and how the generation ended. */
  model?: string;
  out?: SampleOutput;
}

export interface ChatState {
  system: string;
  messages: ChatMessage[];
  /** The message being typed. */
  draft: string;
  /** Answer with the adapter (true) or with the base model alone. */
  adapter: boolean;
  /** The last answer's prompt as the model read it (template applied, whole history). */
  rendered: string | null;
}

export interface SamplesSlice {
  samples: {
    mode: 'compare' | 'chat';
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
    chat: ChatState;
    error: string | null;
  };
  setSampleMode: (mode: 'compare' | 'chat') => void;
  setSampleChoice: (choice: number | 'custom') => void;
  setCustomPrompt: (text: string) => void;
  setSampleOptions: (o: Partial<Pick<SamplesSlice['samples'], 'maxNewTokens' | 'temperature'>>) => void;
  setChatDraft: (text: string) => void;
  setChatSystem: (text: string) => void;
  setChatAdapter: (on: boolean) => void;
  /** A new conversation: the messages go, the system prompt and the adapter choice stay. */
  resetChat: () => void;
}

export const EMPTY_CHAT: ChatState = { system: '', messages: [], draft: '', adapter: true, rendered: null };

export const createSamplesSlice: SliceCreator<SamplesSlice> = (set) => {
  const chat = (f: (c: ChatState) => Partial<ChatState>) =>
    set((s) => ({ samples: { ...s.samples, chat: { ...s.samples.chat, ...f(s.samples.chat) } } }));
  return {
    samples: {
      mode: 'compare',
      prompts: [],
      choice: 'custom',
      custom: '',
      maxNewTokens: 64,
      temperature: 0,
      running: false,
      streaming: { base: '', tuned: '' },
      results: [],
      chat: EMPTY_CHAT,
      error: null,
    },
    setSampleMode: (mode) => set((s) => ({ samples: { ...s.samples, mode, error: null } })),
    setSampleChoice: (choice) => set((s) => ({ samples: { ...s.samples, choice } })),
    setCustomPrompt: (custom) => set((s) => ({ samples: { ...s.samples, custom } })),
    setSampleOptions: (o) => set((s) => ({ samples: { ...s.samples, ...o } })),
    setChatDraft: (draft) => chat(() => ({ draft })),
    setChatSystem: (system) => chat(() => ({ system })),
    setChatAdapter: (adapter) => chat(() => ({ adapter })),
    resetChat: () =>
      set((s) =>
        s.samples.running
          ? s
          : { samples: { ...s.samples, error: null, chat: { ...s.samples.chat, messages: [], rendered: null } } },
      ),
  };
};
