// Work that follows from state changes rather than from a click: preparing the dataset when the
// model, the file or the settings that shape examples change; refreshing the estimate when the
// form changes; fetching validation prompts once a split exists; asking before the page is left
// while a run trains. Debounced, so typing in a field asks the worker once.

import type { Studio } from './types';
import { useStudio } from './store';
import { prepareDataset, refreshEstimate } from './dataset.actions';
import { refreshCheckpoints } from './training.actions';
import { loadValidationPrompts } from './samples.actions';

function debounce(fn: () => void, ms: number): () => void {
  let t: ReturnType<typeof setTimeout> | null = null;
  return () => {
    if (t) clearTimeout(t);
    t = setTimeout(() => {
      t = null;
      fn();
    }, ms);
  };
}

const prepareKey = (s: Studio) => {
  const t = s.hparams.training;
  return s.model.status === 'ready' && s.dataset.summary
    ? `${s.model.summary?.fingerprint}|${s.dataset.summary.revision}|${t.max_seq_length}|${t.train_on_inputs}|${t.mask_history}|${t.val_split_fraction}|${t.seed}`
    : null;
};

let started = false;

/**
 * While a run is going the browser asks before the page is left: the run survives a reload only
 * from its last checkpoint (the steps since would be computed again).
 */
function confirmLeave(e: BeforeUnloadEvent): void {
  const status = useStudio.getState().training.status;
  if (status === 'starting' || status === 'running' || status === 'paused' || status === 'stopping') {
    e.preventDefault();
    e.returnValue = '';
  }
}

export function startEffects(): () => void {
  if (started) return () => undefined;
  started = true;
  const prepare = debounce(() => void prepareDataset(), 250);
  const estimate = debounce(() => void refreshEstimate(), 120);
  const prompts = debounce(() => void loadValidationPrompts(), 50);
  const unsub = useStudio.subscribe((s, prev) => {
    const key = prepareKey(s);
    if (key !== null && key !== prepareKey(prev)) prepare();
    if (
      s.model.status === 'ready' &&
      (s.hparams !== prev.hparams ||
        s.model.summary !== prev.model.summary ||
        s.dataset.prepared !== prev.dataset.prepared)
    ) {
      estimate();
    }
    if (
      (s.dataset.prepared !== prev.dataset.prepared && s.dataset.prepared) ||
      (s.training.runId !== prev.training.runId && s.training.runId)
    ) {
      prompts();
    }
  });
  void useStudio.getState().initGpu();
  void refreshCheckpoints();
  window.addEventListener('beforeunload', confirmLeave);
  return () => {
    window.removeEventListener('beforeunload', confirmLeave);
    unsub();
    started = false;
  };
}
