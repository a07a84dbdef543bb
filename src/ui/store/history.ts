// The run's metrics, one entry per optimizer step, as an append-only log shared between the
// states of the store: appending a step is O(1) (the old `[...history, e]` copied the whole run
// on every step). Each History is an immutable view of the log's first `length` entries, so a
// state taken earlier still reads what it held; appending to a view that is not the newest (an
// old state replayed) copies its entries into a new log instead of touching the shared one, and
// the first step of a run starts a log of its own (EMPTY is shared by every idle state).

import type { StepMetrics } from '../../engine/train/trainer';

export class History implements Iterable<StepMetrics> {
  private constructor(
    private readonly log: StepMetrics[],
    readonly length: number,
    /** The newest entry with a validation loss. */
    readonly lastEval: StepMetrics | undefined,
  ) {}

  static readonly EMPTY = History.of([]);

  /** A history holding a copy of `items`. */
  static of(items: readonly StepMetrics[]): History {
    const lastEval = items.findLast((m) => m.evalLoss !== undefined);
    return new History(items.slice(), items.length, lastEval);
  }

  /** This history and `m` after it. */
  append(m: StepMetrics): History {
    const lastEval = m.evalLoss !== undefined ? m : this.lastEval;
    if (this.log.length !== this.length || this.length === 0) {
      const log = this.log.slice(0, this.length);
      log.push(m);
      return new History(log, log.length, lastEval);
    }
    this.log.push(m);
    return new History(this.log, this.length + 1, lastEval);
  }

  /** The entry at index i (negative: from the end), or undefined outside the view. */
  at(i: number): StepMetrics | undefined {
    const j = i < 0 ? this.length + i : i;
    return j >= 0 && j < this.length ? this.log[j] : undefined;
  }

  last(): StepMetrics | undefined {
    return this.at(-1);
  }

  /**
   * Whether `older` is a prefix of this history on the same log, so a derivation that has read
   * `older` can read on from older.length instead of starting again.
   */
  extends(older: History): boolean {
    return older.log === this.log && older.length <= this.length;
  }

  *[Symbol.iterator](): Iterator<StepMetrics> {
    for (let i = 0; i < this.length; i++) yield this.log[i];
  }

  /** A copy as an array (O(steps): for exports, not per step). */
  toArray(): StepMetrics[] {
    return this.log.slice(0, this.length);
  }
}
