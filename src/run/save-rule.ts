// When a run writes a checkpoint. Hugging Face's `save_steps` when the user sets it (> 0: after
// every save_steps-th optimizer step); otherwise the default that makes a reload or a crash cost
// little: the first step (so there is something to resume at once), then whenever `intervalMs`
// of active training (steps and checkpoints, not pauses) has passed since the last checkpoint.
// Either way a run also checkpoints when it is paused and when it ends, unless that step is saved.

/** The default interval of the time rule: at most one checkpoint per 2 minutes of training. */
export const AUTOSAVE_INTERVAL_MS = 2 * 60_000;

export interface SaveRule {
  /** TrainingArguments' save_steps: > 0 saves every save_steps steps and turns the time rule off. */
  saveSteps: number;
  /** Active milliseconds between checkpoints when saveSteps is 0; 0 keeps only pause and end. */
  intervalMs: number;
}

export interface SavePoint {
  /** The optimizer step just finished. */
  step: number;
  /** Active training time so far, in ms. */
  activeMs: number;
  /** The last checkpoint of this run (null: none yet). */
  last: { step: number; activeMs: number } | null;
  /** Why the run asks: after a step, on pause, at the end. */
  event: 'step' | 'pause' | 'end';
}

export function shouldSave(rule: SaveRule, p: SavePoint): boolean {
  if (p.step <= 0 || p.last?.step === p.step) return false;
  if (p.event !== 'step') return true;
  if (rule.saveSteps > 0) return p.step % rule.saveSteps === 0;
  if (rule.intervalMs <= 0) return false;
  return p.last === null || p.activeMs - p.last.activeMs >= rule.intervalMs;
}
