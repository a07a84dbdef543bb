// Whether the panel a component sits in is the one on screen. Panels stay mounted when hidden
// (App.tsx); what costs time per update there (the live charts) holds still while this is false.

import { createContext, useContext } from 'react';

export const PanelShown = createContext(true);

export function usePanelShown(): boolean {
  return useContext(PanelShown);
}
