// Spreading chart work over separate main-thread tasks. Four charts refreshed together would make
// one long task. Each chart instead takes a new value in its own timer task (slot * SLOT_MS after
// the change, at most once per MIN_INTERVAL_MS), as a transition React may interrupt, and mounts
// in its own task after the panel opens.

import { startTransition, useEffect, useLayoutEffect, useRef, useState } from 'react';

const SLOT_MS = 40;
const MIN_INTERVAL_MS = 400;

/** A store as zustand's hooks see it. */
export interface ReadableStore<S> {
  getState(): S;
  subscribe(listener: () => void): () => void;
}

/**
 * `select(state)`, delivered to this component later, in its own task, and throttled (never
 * starved). The component subscribes to the store itself rather than through a selector hook, so
 * a store change does not re-render it: only the delivery does (a step event's synchronous render
 * leaves the charts out). While `paused` (its panel hidden) nothing is delivered; the latest
 * value follows on resuming. At most one delivery per `minIntervalMs`. `select` must be stable
 * (module level) and return the same object while its values are the same.
 */
export function useStaggered<S, T>(
  store: ReadableStore<S>,
  select: (s: S) => T,
  slot: number,
  paused = false,
  minIntervalMs = MIN_INTERVAL_MS,
): T {
  const [shown, setShown] = useState(() => select(store.getState()));
  const shownRef = useRef(shown);
  const lastAt = useRef(0);
  useEffect(() => {
    if (paused) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const check = () => {
      if (timer !== null || select(store.getState()) === shownRef.current) return;
      const wait = Math.max(16 + slot * SLOT_MS, lastAt.current + minIntervalMs - performance.now());
      timer = setTimeout(() => {
        timer = null;
        lastAt.current = performance.now();
        const next = select(store.getState());
        shownRef.current = next;
        startTransition(() => setShown(next));
      }, wait);
    };
    // shown again (or first mounted): catch up, then follow the store
    check();
    const unsubscribe = store.subscribe(check);
    return () => {
      unsubscribe();
      if (timer !== null) clearTimeout(timer);
    };
  }, [store, select, slot, paused, minIntervalMs]);
  return shown;
}

let waitingMounts = 0;
let onMounted: (() => void)[] = [];

function mounted(): void {
  waitingMounts--;
  if (waitingMounts === 0) {
    const waiting = onMounted;
    onMounted = [];
    // one more frame, so the last chart's commit and paint are behind us
    requestAnimationFrame(() => setTimeout(() => waiting.forEach((f) => f()), 0));
  }
}

/** false until this component's turn to mount its chart (slot * SLOT_MS * 2 after it appears). */
export function useStaggeredMount(slot: number): boolean {
  const [ready, setReady] = useState(false);
  const pending = useRef(false);
  const readyRef = useRef(false);
  // A layout effect: counted at commit, before anyone can look for the charts in the DOM. A chart
  // already mounted (its panel hidden and shown again) has nothing to wait for.
  useLayoutEffect(() => {
    if (readyRef.current) return;
    waitingMounts++;
    pending.current = true;
    const id = setTimeout(
      () => {
        readyRef.current = true;
        startTransition(() => setReady(true));
      },
      16 + slot * SLOT_MS * 2,
    );
    return () => {
      clearTimeout(id);
      if (pending.current) {
        pending.current = false;
        mounted();
      }
    };
  }, [slot]);
  useEffect(() => {
    if (ready && pending.current) {
      pending.current = false;
      mounted();
    }
  }, [ready]);
  return ready;
}

/**
 * Resolves once the charts inside `selector` (a panel that may still be rendering, since panels
 * render deferred) have all mounted, or after `timeoutMs`. Starting GPU work after this keeps
 * the charts' first render off a CPU that the GPU driver is about to load.
 */
export function whenChartsMounted(selector: string, timeoutMs = 2000): Promise<void> {
  if (typeof requestAnimationFrame !== 'function') return Promise.resolve();
  return new Promise((resolve) => {
    let finished = false;
    const done = () => {
      if (!finished) {
        finished = true;
        resolve();
      }
    };
    setTimeout(done, timeoutMs);
    const look = () => {
      if (finished) return;
      // The panel is committed and its charts registered; wait for the last of them.
      if (document.querySelector(selector) && document.querySelector(`${selector} [data-chart]`)) {
        if (waitingMounts === 0) done();
        else onMounted.push(done);
        return;
      }
      requestAnimationFrame(() => setTimeout(look, 0));
    };
    look();
  });
}
