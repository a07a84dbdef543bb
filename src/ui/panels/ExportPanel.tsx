// Step 6, export: the adapter in PEFT's layout (the last weights, and the best by validation loss
// when there was validation; each says its step and loss), and the run report: metrics as CSV,
// the resolved configuration as JSON, the loss chart as PNG; and the run as a Hugging Face +
// Accelerate recipe (before training too).

import { useState } from 'react';
import type { Studio } from '../store/types';
import { useWhileShown } from '../components/panel-shown';
import {
  exportAdapter,
  exportConfig,
  exportLossChart,
  exportMetrics,
  saveAdapterToFolder,
  type ExportResult,
} from '../store/export.actions';
import { Alert, Card, EmptyState } from '../components/common';
import { LossChart } from './TrainingPanel';
import { RecipeCard } from './RecipeCard';
import { RunItCard } from './RunItCard';
import { fmtLoss } from '../lib/format';

function AdapterRow(props: {
  which: 'last' | 'best';
  title: string;
  detail: string;
  onResult: (r: ExportResult) => void;
}) {
  const [busy, setBusy] = useState(false);
  const run = async (fn: (w: 'last' | 'best') => Promise<ExportResult>) => {
    setBusy(true);
    props.onResult(await fn(props.which));
    setBusy(false);
  };
  return (
    <div className="export-row" data-testid={`export-${props.which}`}>
      <div>
        <strong>{props.title}</strong>
        <div className="muted small">{props.detail}</div>
      </div>
      <div className="row">
        <button
          type="button"
          className="button primary"
          disabled={busy}
          onClick={() => void run(exportAdapter)}
          data-testid={`download-${props.which}`}
        >
          Download
        </button>
        <button type="button" className="button" disabled={busy} onClick={() => void run(saveAdapterToFolder)}>
          Save to a folder…
        </button>
      </div>
    </div>
  );
}

const trainingOf = (s: Studio) => s.training;

export function ExportPanel() {
  // held while the panel is hidden: a run's steps do not re-render it there
  const t = useWhileShown(trainingOf);
  const [result, setResult] = useState<ExportResult | null>(null);
  const has = t.status !== 'idle' && t.status !== 'starting' && t.history.length > 0;
  const lastStep = t.history.last()?.step ?? 0;
  const lastEval = t.history.lastEval;
  const running = t.status === 'running' || t.status === 'paused' || t.status === 'stopping';
  return (
    <div className="panel" data-testid="panel-export">
      <div className="panel-head">
        <h1>Export</h1>
        <p className="lead">
          The adapter loads unchanged in PEFT (<code>PeftModel.from_pretrained(base, folder)</code>), transformers, vLLM
          and llama.cpp's converter. Put both files in one folder.
        </p>
      </div>
      {!has ? (
        <EmptyState title="Nothing to export yet">
          Train first: the adapter appears here after the first step.
        </EmptyState>
      ) : (
        <>
          {result && (
            <Alert kind={result.ok ? 'success' : 'error'} onDismiss={() => setResult(null)} testId="export-result">
              {result.message}
            </Alert>
          )}
          <Card title="Adapter (PEFT LoRA)">
            {running && (
              <p className="muted small">The run is still going: the last adapter is the one at the current step.</p>
            )}
            <AdapterRow
              which="last"
              title="Last adapter"
              detail={`step ${lastStep}${lastEval?.step === lastStep ? `, validation loss ${fmtLoss(lastEval.evalLoss)}` : ', not evaluated at this step'}`}
              onResult={setResult}
            />
            {t.best ? (
              <AdapterRow
                which="best"
                title="Best adapter (lowest validation loss)"
                detail={`step ${t.best.step}, validation loss ${fmtLoss(t.best.evalLoss)}`}
                onResult={setResult}
              />
            ) : (
              <p className="muted small">
                No best adapter: there was no validation yet (it needs val_split_fraction above 0 and an evaluation).
              </p>
            )}
            <p className="muted small">
              Each download is a pair of files named <code>adapter_model.safetensors</code> and{' '}
              <code>adapter_config.json</code>. "Save to a folder" writes both into a new folder for you.
            </p>
          </Card>
          <RunItCard hasBest={!!t.best} disabled={running} />
        </>
      )}
      {/* Mounted with the panel, before there is a run, and only hidden while there is none: showing the
          panel during a run then mounts no chart (a chart's first mount is the costliest update it has). */}
      <div className={has ? 'report-slot' : 'report-slot offstage'} inert={!has} aria-hidden={!has}>
        <Card title="Run report">
          <div className="row">
            <button type="button" className="button" onClick={exportMetrics} data-testid="download-metrics">
              Metrics (CSV)
            </button>
            <button type="button" className="button" onClick={exportConfig} data-testid="download-config">
              Configuration (JSON)
            </button>
            <button
              type="button"
              className="button"
              onClick={() => void exportLossChart().then(setResult)}
              data-testid="download-chart"
            >
              Loss chart (PNG)
            </button>
          </div>
          <LossChart height={220} id="export-loss" slot={5} followHidden />
        </Card>
      </div>
      <RecipeCard />
    </div>
  );
}
