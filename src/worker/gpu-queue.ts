// One GPU, many requests: a training step, a sample, an evaluation, a checkpoint read-back. They
// must not interleave (they share the device queue, scratch buffers and the adapter's weights),
// so every piece of GPU work runs through this FIFO. The training loop takes one turn per step,
// which lets a sample asked for mid-run slip in between two steps.

export class GpuQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  /** Runs `fn` after everything queued before it; its rejection is the caller's alone. */
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    this.pending++;
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => this.pending--,
      () => this.pending--,
    );
    return result;
  }

  /** Jobs queued or running. */
  get size(): number {
    return this.pending;
  }
}
