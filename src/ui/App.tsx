// The studio's frame. Layout choice: a left sidebar of six numbered steps (Model, Dataset,
// Hyperparameters, Training, Samples, Export) with one panel open at a time, and a run bar that
// stays at the top of every panel. Fine-tuning is a sequence a newcomer walks through once, in
// order (the sidebar says where they are and what is done, as LLaMA-Factory's tabs and H2O LLM
// Studio's experiment pages do); afterwards a practitioner jumps between Training, Samples and
// Export while the run goes on, and the run bar keeps its progress and Pause/Stop in reach from
// each. One panel at a time also keeps the page light: a hidden panel stays mounted but its
// effects are down, so the live charts take new values only while shown.

import { Activity, type ReactNode, useDeferredValue, useEffect, useState } from 'react';
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

const PANELS: Record<Tab, () => ReactNode> = {
  model: ModelPanel,
  dataset: DatasetPanel,
  hparams: HparamsPanel,
  training: TrainingPanel,
  samples: SamplesPanel,
  export: ExportPanel,
  bench: BenchPanel,
};

/**
 * The open panel. Deferred: a click on a step highlights it at once, and the panel it opens
 * renders at low priority, in slices. A panel once opened stays mounted, hidden (React
 * Activity: no effects, and its updates wait for idle time while hidden), so going back to it
 * shows it again instead of building it anew, and what was on it (an export's result, an open
 * section) is still there.
 */
function Panels() {
  const tab = useDeferredValue(useStudio((s) => s.ui.tab));
  const [visited, setVisited] = useState<ReadonlySet<Tab>>(() => new Set([tab]));
  if (!visited.has(tab)) setVisited(new Set(visited).add(tab));
  return (Object.keys(PANELS) as Tab[])
    .filter((t) => t === tab || visited.has(t))
    .map((t) => {
      const P = PANELS[t];
      return (
        <Activity key={t} mode={t === tab ? 'visible' : 'hidden'}>
          <P />
        </Activity>
      );
    });
}

export function App() {
  const gpuStatus = useStudio((s) => s.gpu.status);
  const gpuError = useStudio((s) => s.gpu.error);
  const noWebGpu = gpuStatus === 'error' && !('gpu' in navigator && navigator.gpu);
  const tab = useStudio((s) => s.ui.tab);
  useEffect(() => {
    window.scrollTo({ top: 0 });
  }, [tab]);
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
    </div>
  );
}
