// Progress events from the worker to the page at a bounded rate: a download or an upload reports
// thousands of times, and each message costs the page a render.

import type { LoadStatus } from './api';

type OnStatus = (s: LoadStatus) => void;

/**
 * At most one status message per interval; one that arrives too soon is held and sent when the
 * interval is over unless a newer one replaced it (so the page always ends on the latest state).
 * Start, end and ready messages go at once.
 */
export function throttled(onStatus: OnStatus | undefined, ms = 80): OnStatus {
  let last = 0;
  let held: LoadStatus | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const send = (s: LoadStatus) => {
    last = performance.now();
    onStatus?.(s);
  };
  return (s) => {
    const final =
      (s.status === 'upload' && s.bytesDone === s.bytesTotal) ||
      (s.status === 'download' && s.loaded === s.total) ||
      (s.status === 'encode' && s.done === s.total) ||
      s.status === 'ready' ||
      s.status === 'initiate';
    if (final || performance.now() - last >= ms) {
      held = null;
      if (timer) clearTimeout(timer);
      timer = null;
      send(s);
      return;
    }
    held = s;
    timer ??= setTimeout(
      () => {
        timer = null;
        if (held) send(held);
        held = null;
      },
      ms - (performance.now() - last),
    );
  };
}
