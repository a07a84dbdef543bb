// Generating through the worker: side-by-side samples and chat answers, the text streaming in as it
// is produced, and Stop.

import { callback, errorMessage, studioWorker } from '../../worker/client';
import { useStudio } from './store';
import type { Studio } from './types';

const set = useStudio.setState;
const get = useStudio.getState;

/** An adapter to answer with: the run's (training or trained in this tab) or an imported one. */
export const adapterAvailable = (s: Studio): boolean => s.adapter.imported !== null || s.training.status !== 'idle';

export const onSampleToken = (side: 'base' | 'tuned', text: string) =>
  set((s) => ({ samples: { ...s.samples, streaming: { ...s.samples.streaming, [side]: text } } }));

/** The validation prompts to choose from (the run's split, or what the current settings hold out). */
export async function loadValidationPrompts(): Promise<void> {
  const s = get();
  if (s.model.status !== 'ready' || !s.dataset.summary) return;
  const t = s.hparams.training;
  try {
    const prompts = await studioWorker().validationPrompts({
      max_seq_length: t.max_seq_length,
      train_on_inputs: t.train_on_inputs,
      mask_history: t.mask_history,
      val_split_fraction: t.val_split_fraction,
      seed: t.seed,
    });
    set((x) => ({
      samples: {
        ...x.samples,
        prompts,
        choice:
          x.samples.choice === 'custom' && !x.samples.custom && prompts.length
            ? prompts[0].record
            : x.samples.choice !== 'custom' && !prompts.some((p) => p.record === x.samples.choice)
              ? (prompts[0]?.record ?? 'custom')
              : x.samples.choice,
      },
    }));
  } catch (e) {
    set((x) => ({ samples: { ...x.samples, prompts: [], error: errorMessage(e) } }));
  }
}

export async function generateSample(): Promise<void> {
  const s = get().samples;
  if (s.running) return;
  set((x) => ({ samples: { ...x.samples, running: true, error: null, streaming: { base: '', tuned: '' } } }));
  try {
    const result = await studioWorker().sample(
      {
        ...(s.choice === 'custom' ? { text: s.custom } : { record: s.choice }),
        maxNewTokens: s.maxNewTokens,
        temperature: s.temperature,
        topP: 1,
        seed: 0,
      },
      callback(onSampleToken),
    );
    set((x) => ({ samples: { ...x.samples, running: false, results: [result, ...x.samples.results].slice(0, 20) } }));
  } catch (e) {
    set((x) => ({ samples: { ...x.samples, running: false, error: errorMessage(e) } }));
  }
}

/**
 * Chat: sends the typed message with the conversation so far; the answer streams into
 * `streaming`, then joins the conversation. On failure the conversation stays as it was and the
 * message goes back into the box.
 */
export async function sendChatMessage(): Promise<void> {
  const s = get().samples;
  const text = s.chat.draft.trim();
  if (s.running || !text) return;
  const history = s.chat.messages;
  const withAdapter = s.chat.adapter && adapterAvailable(get());
  const turns = [
    ...history.map((m) => ({ role: m.role, content: m.content })),
    { role: 'user' as const, content: text },
  ];
  set((x) => ({
    samples: {
      ...x.samples,
      running: true,
      error: null,
      streaming: { base: '', tuned: '' },
      chat: { ...x.samples.chat, draft: '', messages: [...history, { role: 'user', content: text }] },
    },
  }));
  try {
    const r = await studioWorker().sample(
      {
        turns,
        system: s.chat.system,
        models: withAdapter ? 'adapter' : 'base',
        maxNewTokens: s.maxNewTokens,
        temperature: s.temperature,
        topP: 1,
        seed: 0,
      },
      callback(onSampleToken),
    );
    const out = withAdapter ? r.tuned : r.base;
    if (!out) throw new Error(withAdapter ? 'no answer with the adapter came back' : 'no answer came back');
    const model = withAdapter ? `With the adapter (${r.adapterLabel ?? 'adapter'})` : 'Base model';
    set((x) => ({
      samples: {
        ...x.samples,
        running: false,
        chat: {
          ...x.samples.chat,
          rendered: r.rendered,
          messages: [...x.samples.chat.messages, { role: 'assistant', content: out.reply, model, out }],
        },
      },
    }));
  } catch (e) {
    set((x) => ({
      samples: {
        ...x.samples,
        running: false,
        error: errorMessage(e),
        chat: { ...x.samples.chat, messages: history, draft: x.samples.chat.draft || text },
      },
    }));
  }
}

/** Stops the generation in progress; what was generated so far is kept. */
export async function stopGeneration(): Promise<void> {
  if (!get().samples.running) return;
  try {
    await studioWorker().cancelSample();
  } catch (e) {
    set((x) => ({ samples: { ...x.samples, error: errorMessage(e) } }));
  }
}
