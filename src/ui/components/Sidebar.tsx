// The six steps, each with a one-word state, as buttons (keyboard: Tab, Enter; arrow keys move).

import type { KeyboardEvent } from 'react';
import { useStudio } from '../store/store';
import { TABS, type StepTab as Tab } from '../store/ui';
import { datasetUsable } from '../store/dataset';
import { plural } from '../lib/format';

const LABELS: Record<Tab, string> = {
  model: 'Model',
  dataset: 'Dataset',
  hparams: 'Hyperparameters',
  training: 'Training',
  samples: 'Samples',
  export: 'Export',
};

function useStepState(tab: Tab): { text: string; done: boolean } {
  const model = useStudio((s) => s.model.summary?.name ?? null);
  const modelStatus = useStudio((s) => s.model.status);
  const records = useStudio((s) => s.dataset.summary?.records ?? null);
  const usable = useStudio((s) => datasetUsable(s.dataset));
  const issues = useStudio((s) => Object.keys(s.hparamIssues).length);
  const customized = useStudio((s) => s.estimate !== null);
  const steps = useStudio((s) => s.estimate?.totalSteps ?? null);
  const status = useStudio((s) => s.training.status);
  // Only the Training step shows the step count: the other five do not re-render per step.
  const step = useStudio((s) => (tab === 'training' ? (s.training.history.last()?.step ?? 0) : 0));
  const total = useStudio((s) => (tab === 'training' ? s.training.totalSteps : 0));
  const results = useStudio((s) => s.samples.results.length);
  switch (tab) {
    case 'model':
      return modelStatus === 'loading'
        ? { text: 'loading…', done: false }
        : { text: model ?? 'not loaded', done: !!model };
    case 'dataset':
      return records === null ? { text: 'no data', done: false } : { text: plural(records, 'record'), done: usable };
    case 'hparams':
      return issues
        ? { text: `${issues} to fix`, done: false }
        : { text: steps ? plural(steps, 'step') : 'review', done: customized && steps !== null };
    case 'training':
      return status === 'idle'
        ? { text: 'not started', done: false }
        : status === 'done'
          ? { text: 'finished', done: true }
          : { text: `${status === 'paused' ? 'paused' : 'step'} ${step}/${total}`, done: false };
    case 'samples':
      return { text: results ? `${results} generated` : 'compare outputs', done: results > 0 };
    case 'export':
      return { text: status === 'done' ? 'ready' : 'after training', done: false };
  }
}

function Step({ tab, index }: { tab: Tab; index: number }) {
  const current = useStudio((s) => s.ui.tab) === tab;
  const setTab = useStudio((s) => s.setTab);
  const state = useStepState(tab);
  const onKey = (e: KeyboardEvent<HTMLButtonElement>) => {
    const d = e.key === 'ArrowDown' ? 1 : e.key === 'ArrowUp' ? -1 : 0;
    if (!d) return;
    e.preventDefault();
    const next = TABS[(TABS.indexOf(tab) + d + TABS.length) % TABS.length];
    setTab(next);
    document.getElementById(`step-${next}`)?.focus();
  };
  return (
    <li>
      <button
        type="button"
        id={`step-${tab}`}
        className={`step ${current ? 'step-current' : ''} ${state.done ? 'step-done' : ''}`}
        aria-current={current ? 'step' : undefined}
        onClick={() => setTab(tab)}
        onKeyDown={onKey}
        data-testid={`tab-${tab}`}
      >
        <span className="step-index" aria-hidden="true">
          {state.done ? '✓' : index + 1}
        </span>
        <span className="step-text">
          <span className="step-label">{LABELS[tab]}</span>
          <span className="step-state">{state.text}</span>
        </span>
      </button>
    </li>
  );
}

/** The benchmark page: beside the steps, not one of them. */
function BenchLink() {
  const current = useStudio((s) => s.ui.tab) === 'bench';
  const setTab = useStudio((s) => s.setTab);
  const results = useStudio((s) => s.bench.results.length);
  const running = useStudio((s) => s.bench.running);
  return (
    <button
      type="button"
      className={`step step-aside ${current ? 'step-current' : ''}`}
      aria-current={current ? 'page' : undefined}
      onClick={() => setTab('bench')}
      data-testid="tab-bench"
    >
      <span className="step-index" aria-hidden="true">
        <svg width="12" height="12" viewBox="0 0 12 12" fill="none" stroke="currentColor" strokeWidth="1.6">
          <circle cx="6" cy="6.6" r="4.4" />
          <path d="M6 6.6 8 4.6M4.6 1h2.8" strokeLinecap="round" />
        </svg>
      </span>
      <span className="step-text">
        <span className="step-label">Benchmark</span>
        <span className="step-state">
          {running ? 'running…' : results ? `${results} measured` : 'speed of this GPU'}
        </span>
      </span>
    </button>
  );
}

export function Sidebar() {
  return (
    <nav className="sidebar" aria-label="Steps">
      <ol>
        {TABS.map((t, i) => (
          <Step key={t} tab={t} index={i} />
        ))}
      </ol>
      <div className="sidebar-bottom">
        <BenchLink />
        <p className="sidebar-foot">
          Adapters are saved in the PEFT format: <code>adapter_model.safetensors</code> +{' '}
          <code>adapter_config.json</code>.
        </p>
      </div>
    </nav>
  );
}
