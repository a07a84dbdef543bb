import { describe, expect, it } from 'vitest';
import { AUTOSAVE_INTERVAL_MS, shouldSave, type SaveRule } from './save-rule';

/** The steps a run of `n` steps checkpoints after, one step every `msPerStep` of active time. */
function savedSteps(rule: SaveRule, n: number, msPerStep: number, pauses: number[] = []): number[] {
  const saved: number[] = [];
  let last: { step: number; activeMs: number } | null = null;
  const save = (step: number, event: 'step' | 'pause' | 'end') => {
    const activeMs = step * msPerStep;
    if (shouldSave(rule, { step, activeMs, last, event })) {
      saved.push(step);
      last = { step, activeMs };
    }
  };
  for (let step = 1; step <= n; step++) {
    save(step, 'step');
    if (pauses.includes(step)) save(step, 'pause');
  }
  save(n, 'end');
  return saved;
}

describe('shouldSave', () => {
  const auto: SaveRule = { saveSteps: 0, intervalMs: AUTOSAVE_INTERVAL_MS };

  it('by default saves after the first step, then every two minutes of training, and at the end', () => {
    // 30 s per step: steps 1, 5 (2 min after step 1), 9, 13, then the end at 14
    expect(savedSteps(auto, 14, 30_000)).toEqual([1, 5, 9, 13, 14]);
    // 50 s per step: 1, then the first step at least 120 s later (step 4 at 200 s vs 50 s)
    expect(savedSteps(auto, 10, 50_000)).toEqual([1, 4, 7, 10]);
  });

  it('saves a short run after its first step and at its end only', () => {
    expect(savedSteps(auto, 6, 1_000)).toEqual([1, 6]);
    expect(savedSteps(auto, 1, 1_000)).toEqual([1]);
  });

  it('keeps Hugging Face meaning of save_steps when it is set: every save_steps steps, plus the end', () => {
    expect(savedSteps({ saveSteps: 4, intervalMs: AUTOSAVE_INTERVAL_MS }, 10, 60_000)).toEqual([4, 8, 10]);
    expect(savedSteps({ saveSteps: 5, intervalMs: AUTOSAVE_INTERVAL_MS }, 10, 60_000)).toEqual([5, 10]);
  });

  it('saves on pause unless that step is already saved', () => {
    expect(savedSteps(auto, 8, 1_000, [3, 6])).toEqual([1, 3, 6, 8]);
    expect(savedSteps({ saveSteps: 2, intervalMs: 0 }, 6, 1_000, [2, 3])).toEqual([2, 3, 4, 6]);
  });

  it('with the time rule off (interval 0) saves only on pause and at the end', () => {
    expect(savedSteps({ saveSteps: 0, intervalMs: 0 }, 5, 1_000_000, [2])).toEqual([2, 5]);
  });

  it('never saves before the first step', () => {
    expect(shouldSave(auto, { step: 0, activeMs: 0, last: null, event: 'pause' })).toBe(false);
    expect(shouldSave(auto, { step: 0, activeMs: 0, last: null, event: 'end' })).toBe(false);
  });
});
