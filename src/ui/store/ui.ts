// What only the page cares about: the open panel, chart settings, the drag-and-drop overlay, and
// one line of notice for things that belong to no panel (a dropped file of an unknown kind).

import type { SliceCreator } from './types';

/** The numbered steps of a fine-tune, in order. */
export const TABS = ['model', 'dataset', 'hparams', 'training', 'samples', 'export'] as const;
export type StepTab = (typeof TABS)[number];
/** The steps, and the benchmark page beside them. */
export type Tab = StepTab | 'bench';

export interface UiSlice {
  ui: {
    tab: Tab;
    logScale: boolean;
    /** TensorBoard-style EMA weight for the training loss. */
    smoothing: number;
    dragging: boolean;
    notice: { kind: 'info' | 'error'; text: string } | null;
  };
  setTab: (tab: Tab) => void;
  setLogScale: (on: boolean) => void;
  setSmoothing: (w: number) => void;
  setDragging: (on: boolean) => void;
  notify: (kind: 'info' | 'error', text: string) => void;
  dismissNotice: () => void;
}

export const createUiSlice: SliceCreator<UiSlice> = (set) => ({
  ui: { tab: 'model', logScale: false, smoothing: 0.6, dragging: false, notice: null },
  setTab: (tab) => set((s) => ({ ui: { ...s.ui, tab } })),
  setLogScale: (logScale) => set((s) => ({ ui: { ...s.ui, logScale } })),
  setSmoothing: (smoothing) => set((s) => ({ ui: { ...s.ui, smoothing: Math.min(0.99, Math.max(0, smoothing)) } })),
  setDragging: (dragging) => set((s) => (s.ui.dragging === dragging ? s : { ui: { ...s.ui, dragging } })),
  notify: (kind, text) => set((s) => ({ ui: { ...s.ui, notice: { kind, text } } })),
  dismissNotice: () => set((s) => ({ ui: { ...s.ui, notice: null } })),
});
