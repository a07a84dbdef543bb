// The studio's frame. Layout choice: a left sidebar of six numbered steps (Model, Dataset,
// Hyperparameters, Training, Samples, Export) with one panel open at a time, and a run bar that
// stays at the top of every panel. Fine-tuning is a sequence a newcomer walks through once, in
// order (the sidebar says where they are and what is done, as LLaMA-Factory's tabs and H2O LLM
// Studio's experiment pages do); afterwards a practitioner jumps between Training, Samples and
// Export while the run goes on, and the run bar keeps its progress and Pause/Stop in reach from
// each. One panel at a time also keeps the page light: a hidden panel stays mounted (hidden by
// CSS, its effects and charts intact) and the live charts take new values only while shown.

import { type ReactNode, startTransition, useDeferredValue, useEffect, useRef, useState } from 'react';
import { useStudio } from './store/store';
import type { Tab } from './store/ui';
import { Sidebar } from './components/Sidebar';
import { RunBar } from './components/RunBar';
import { ResumeBanner } from './components/ResumeBanner';
import { DropZone } from './components/DropZone';
import { Alert } from './components/common';
import { ModelPanel } from './panels/ModelPanel';
import { DatasetPanel } from './panels/DatasetPanel';
import { HparamsPanel } from './panels/HparamsPanel';
import { TrainingPanel } from './panels/TrainingPanel';
import { SamplesPanel } from './panels/SamplesPanel';
import { ExportPanel } from './panels/ExportPanel';
import { BenchPanel } from './panels/BenchPanel';
import { PanelShown } from './components/panel-shown';

function Notice() {
  const notice = useStudio((s) => s.ui.notice);
  const dismiss = useStudio((s) => s.dismissNotice);
  if (!notice) return null;
  return (
    <Alert kind={notice.kind} onDismiss={dismiss} testId="notice">
      {notice.text}
    </Alert>
  );
}

function NoWebGpu() {
  const error = useStudio((s) => s.gpu.error);
  return (
    <div className="no-gpu">
      <h2>This browser cannot run the studio</h2>
      <p role="alert" data-testid="webgpu-error">
        {error}
      </p>
      <p className="muted">
        LoRA Studio trains on your graphics card through WebGPU, inside the browser. Nothing is uploaded anywhere, so it
        needs a browser that exposes your GPU.
      </p>
    </div>
  );
}

/** One element per panel, created once: a tab switch re-renders no panel, it only hides one. */
const PANELS: Record<Tab, ReactNode> = {
  model: <ModelPanel />,
  dataset: <DatasetPanel />,
  hparams: <HparamsPanel />,
  training: <TrainingPanel />,
  samples: <SamplesPanel />,
  export: <ExportPanel />,
  bench: <BenchPanel />,
};

/**
 * The chosen step, delivered as a transition. The store's own hook (useSyncExternalStore) makes
 * every update it delivers a blocking one, so a step click rendered the panels' switch (the panel
 * hidden and the one shown, and what reads whether it is shown) inside the click's task, with that
 * frame's style and layout: 50-60 ms of thread time on a 4x-throttled CPU. Taken from a store
 * subscription into a transition, it renders in slices React yields between; the sidebar, which
 * reads the store directly, still marks the step at once.
 */
function useTabInTransition(): Tab {
  const [tab, setTab] = useState(() => useStudio.getState().ui.tab);
  useEffect(() => {
    const follow = () => {
      const next = useStudio.getState().ui.tab;
      startTransition(() => setTab(next));
    };
    follow(); // a change between this render and this effect
    return useStudio.subscribe((s, prev) => {
      if (s.ui.tab !== prev.ui.tab) follow();
    });
  }, []);
  return tab;
}

/** The six steps, mounted ahead of time (hidden) in this order once the page is idle. */
const STEPS: Tab[] = ['model', 'dataset', 'hparams', 'training', 'samples', 'export'];

/**
 * The open panel. A panel once mounted stays mounted, hidden by CSS, so that switching to it is
 * a style change, not a commit: its effects stay up (recharts re-registers a whole chart in the
 * store of its own when its effects come back, a long task per chart) and what was on it (an
 * export's result, an open section) is still there. A hidden panel's charts hold their values
 * (PanelShown) and catch up, one chart per task, when shown again.
 *
 * A hidden panel is skipped by the browser's rendering (content-visibility: hidden), not taken
 * out of it (display: none): its style and layout are kept, so showing it again is a paint, not a
 * style and layout pass over its whole tree (which `window.scrollTo` below forced inside the
 * click's task: 300-400 ms on a 4x-throttled CPU; docs/performance.md).
 *
 * Mounting a panel is the costly part, so it happens ahead of time: after the first paint the
 * other steps mount one per idle period, before there is a run whose updates would keep
 * interrupting the low-priority render. A panel chosen before its turn mounts deferred (a
 * transition) while the one before stays on screen.
 */
function Panels() {
  const tab = useTabInTransition();
  const deferred = useDeferredValue(tab);
  const [mounted, setMounted] = useState<ReadonlySet<Tab>>(() => new Set([tab]));
  if (!mounted.has(deferred)) setMounted(new Set(mounted).add(deferred));
  useEffect(() => {
    const next = STEPS.find((t) => !mounted.has(t));
    if (!next) return;
    const idle = globalThis.requestIdleCallback ?? ((f: () => void) => setTimeout(f, 200));
    const cancel = globalThis.cancelIdleCallback ?? clearTimeout;
    const id = idle(() => startTransition(() => setMounted((m) => new Set(m).add(next))), { timeout: 3000 });
    return () => cancel(id as number);
  }, [mounted]);
  // On screen: the chosen panel once it has mounted; until then the one that was.
  const shown = mounted.has(tab) ? tab : deferred;
  return (
    <div className="panel-slots">
      {(Object.keys(PANELS) as Tab[])
        .filter((t) => mounted.has(t))
        .map((t) => (
          <div key={t} className="panel-slot" hidden={t !== shown}>
            <PanelShown value={t === shown}>{PANELS[t]}</PanelShown>
          </div>
        ))}
    </div>
  );
}

/**
 * Back to the top on a step change; its own component, so that a step change re-renders no more
 * than this. Only when the page is scrolled (known from scroll events, where reading the position
 * costs nothing), and in the next frame's animation callback: a scroll inside the click's task
 * forced the style and layout of the panel being shown there (36 ms of a 4x-throttled click's
 * 80 ms task, docs/performance.md), where the frame does that layout once anyway.
 */
function ScrollTopOnStep() {
  const tab = useTabInTransition();
  const scrolled = useRef(false);
  useEffect(() => {
    const onScroll = () => {
      scrolled.current = window.scrollY > 0;
    };
    window.addEventListener('scroll', onScroll, { passive: true });
    return () => window.removeEventListener('scroll', onScroll);
  }, []);
  useEffect(() => {
    if (!scrolled.current) return;
    const id = requestAnimationFrame(() => window.scrollTo({ top: 0 }));
    return () => cancelAnimationFrame(id);
  }, [tab]);
  return null;
}

export function App() {
  const gpuStatus = useStudio((s) => s.gpu.status);
  const gpuError = useStudio((s) => s.gpu.error);
  const noWebGpu = gpuStatus === 'error' && !('gpu' in navigator && navigator.gpu);
  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <span className="logo" aria-hidden="true" />
          <span className="brand-name">LoRA Studio</span>
        </div>
        <span className="tagline">
          Fine-tune a language model on your own GPU, in this tab. Nothing leaves your computer.
        </span>
      </header>
      {noWebGpu ? (
        <NoWebGpu />
      ) : (
        <div className="shell">
          <Sidebar />
          <main className="main">
            <RunBar />
            <div className="panel-wrap">
              {gpuStatus === 'error' && (
                <Alert kind="error" testId="webgpu-error">
                  {gpuError}
                </Alert>
              )}
              <ResumeBanner />
              <Notice />
              <Panels />
            </div>
          </main>
        </div>
      )}
      <DropZone />
      <ScrollTopOnStep />
    </div>
  );
}
