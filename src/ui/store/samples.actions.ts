// Generating side-by-side samples through the worker; the text streams in as it is produced.

import { callback, errorMessage, studioWorker } from '../../worker/client';
import { useStudio } from './store';

const set = useStudio.setState;
const get = useStudio.getState;

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
