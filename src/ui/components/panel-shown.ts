// Whether the panel a component sits in is the one on screen. Panels stay mounted when hidden
// (App.tsx); what costs time per update there (the live charts) holds still while this is false.

import { createContext, useContext, useMemo } from 'react';
import { useStudio } from '../store/store';
import type { Studio } from '../store/types';

export const PanelShown = createContext(true);

export function usePanelShown(): boolean {
  return useContext(PanelShown);
}

/**
 * useStudio(select), except that while the panel is hidden it keeps the value it had when last
 * shown and does not re-render for store changes (a run's steps), then catches up when shown.
 * `select` must be a stable function (module level).
 */
export function useWhileShown<T>(select: (s: Studio) => T): T {
  const shown = usePanelShown();
  const pick = useMemo(() => {
    if (shown) return select;
    // hidden: the value at the first read after hiding, then the same value (no re-render)
    let held: { value: T } | null = null;
    return (s: Studio) => (held ??= { value: select(s) }).value;
  }, [shown, select]);
  return useStudio(pick);
}
