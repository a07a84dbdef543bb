// Step 4, the run: why it ended (when it did), live charts of the training loss (raw and
// smoothed), validation loss with the best step marked, learning rate, gradient norm and
// throughput, and the step log. Controls live in the run bar above every panel.

import { useMemo } from 'react';
import { useStudio } from '../store/store';
import { checkpointStat } from '../store/training';
import { Alert, Card, EmptyState, Stat } from '../components/common';
import { MetricChart, type LineSpec } from '../charts/MetricChart';
import { useStaggered } from '../charts/useStaggered';
import { usePanelShown, useWhileShown } from '../components/panel-shown';
import type { Studio } from '../store/types';
import { SavedRuns } from './SavedRuns';
import { evaluateNow } from '../store/training.actions';
import { logRows, LossSeries, MetricSeries, runView, type RunView } from '../charts/charts';
import { fmtBytes, fmtDuration, fmtLoss, fmtSci } from '../lib/format';
import type { StepMetrics } from '../../engine/train/trainer';

const LOSS_LINES: LineSpec[] = [
  { key: 'loss', name: 'training loss', color: '#a5b4fc', width: 1 },
  { key: 'smoothed', name: 'smoothed', color: '#4f46e5', width: 2 },
  { key: 'eval', name: 'validation loss', color: '#ea580c', width: 2, dots: true },
];

const LOSS_LEGEND = (
  <span className="legend">
    <span className="key key-raw">training</span>
    <span className="key key-smooth">smoothed</span>
    <span className="key key-eval">validation</span>
  </span>
);

/**
 * What a chart shows of the run (history, step count, best step), delivered to it in its own
 * task (see useStaggered): a step the worker reports re-renders no chart, nor its host,
 * synchronously, and nothing at all while the panel is hidden.
 */
function useRunView(slot: number, followHidden = false): RunView {
  const shown = usePanelShown();
  return useStaggered(useStudio, runView, slot, !shown && !followHidden, shown ? undefined : HIDDEN_EVERY_MS);
}

/** How often a chart that follows the run while its panel is hidden takes a new value there. */
const HIDDEN_EVERY_MS = 3000;

/**
 * The loss chart. `followHidden`: it keeps following the run, every few seconds, while its panel is
 * hidden (the Export panel's copy), so that showing the panel finds it already drawn for this run: a
 * chart catching up on a new run re-registers its x axis in recharts' store (the run's length), a
 * long task on a slow CPU, better spent while the panel is out of sight than in the click that shows it.
 */
export function LossChart({
  height,
  id = 'loss',
  slot = 0,
  followHidden = false,
}: {
  height?: number;
  id?: string;
  slot?: number;
  followHidden?: boolean;
}) {
  const { history, totalSteps, best } = useRunView(slot, followHidden);
  const smoothing = useStudio((s) => s.ui.smoothing);
  const log = useStudio((s) => s.ui.logScale);
  const series = useMemo(() => new LossSeries(smoothing, log), [smoothing, log]);
  const rows = useMemo(() => series.rows(history), [series, history]);
  return (
    <MetricChart
      id={id}
      slot={slot}
      title="Loss"
      rows={rows}
      log={log}
      totalSteps={totalSteps}
      height={height ?? 260}
      markerStep={best?.step ?? null}
      markerLabel={best ? `best ${best.evalLoss.toFixed(4)}` : undefined}
      legend={LOSS_LEGEND}
      lines={LOSS_LINES}
    />
  );
}

const LR_LINES: LineSpec[] = [{ key: 'y', name: 'learning rate', color: '#0d9488' }];
const NORM_LINES: LineSpec[] = [{ key: 'y', name: 'gradient norm', color: '#9333ea' }];
const TPS_LINES: LineSpec[] = [{ key: 'y', name: 'tokens/s', color: '#0284c7' }];

function SmallChart(props: {
  id: string;
  slot: number;
  title: string;
  f: (m: StepMetrics) => number;
  lines: LineSpec[];
  logOk?: boolean;
  /** The y axis starts at 0 (the learning rate, whose schedule ends there). */
  zero?: boolean;
}) {
  const { history, totalSteps: total } = useRunView(props.slot);
  const log = useStudio((s) => s.ui.logScale) && props.logOk !== false;
  const { f } = props;
  const series = useMemo(() => new MetricSeries(f, log), [f, log]);
  const rows = useMemo(() => series.rows(history), [series, history]);
  return (
    <MetricChart
      id={props.id}
      slot={props.slot}
      title={props.title}
      rows={rows}
      log={log}
      totalSteps={total}
      height={160}
      lines={props.lines}
      yFromZero={props.zero}
    />
  );
}

const lrOf = (m: StepMetrics) => m.lr;
const normOf = (m: StepMetrics) => m.gradNorm;
const tpsOf = (m: StepMetrics) => m.tokensPerSecond;

function ChartControls() {
  const log = useStudio((s) => s.ui.logScale);
  const smoothing = useStudio((s) => s.ui.smoothing);
  const setLog = useStudio((s) => s.setLogScale);
  const setSmoothing = useStudio((s) => s.setSmoothing);
  return (
    <div className="chart-controls">
      <label className="check">
        <input type="checkbox" checked={log} onChange={(e) => setLog(e.target.checked)} data-testid="log-scale" />
        <span>Log scale</span>
      </label>
      <label className="slider">
        <span>Smoothing</span>
        <input
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={smoothing}
          onChange={(e) => setSmoothing(Number(e.target.value))}
          aria-valuetext={smoothing.toFixed(2)}
        />
        <span className="mono">{smoothing.toFixed(2)}</span>
      </label>
    </div>
  );
}

function StepLog() {
  const { history, best: bestInfo } = useRunView(4);
  const best = bestInfo?.step;
  const every = useStudio((s) => s.training.hparams?.training.logging_steps ?? 1);
  const rows = useMemo(() => logRows(history, every, 50), [history, every]);
  return (
    <Card
      title="Step log"
      actions={<span className="muted small">newest first · last 50 entries · logging_steps {every}</span>}
    >
      <div className="table-scroll">
        <table className="table num" data-testid="step-log">
          <thead>
            <tr>
              <th>step</th>
              <th>epoch</th>
              <th>loss</th>
              <th>eval_loss</th>
              <th>learning_rate</th>
              <th>grad_norm</th>
              <th>tokens/s</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr
                key={r.step}
                data-step={r.step}
                data-loss={r.loss}
                data-eval-loss={r.evalLoss ?? ''}
                className={r.step === best ? 'row-best' : ''}
              >
                <td>{r.step}</td>
                <td>{r.epoch.toFixed(2)}</td>
                <td>{fmtLoss(r.loss)}</td>
                <td>{r.evalLoss !== undefined ? fmtLoss(r.evalLoss) : ''}</td>
                <td>{fmtSci(r.lr)}</td>
                <td>{fmtLoss(r.gradNorm)}</td>
                <td>{Math.round(r.tps)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Card>
  );
}

function Outcome() {
  const end = useStudio((s) => s.training.end);
  const best = useStudio((s) => s.training.best);
  const error = useStudio((s) => s.training.error);
  const warnings = useStudio((s) => s.training.warnings);
  const setTab = useStudio((s) => s.setTab);
  return (
    <>
      {error && (
        <Alert kind="error" testId="training-error">
          {error}
        </Alert>
      )}
      {warnings.map((w, i) => (
        <Alert kind="warning" key={i}>
          {w}
        </Alert>
      ))}
      {end && (
        <Alert
          kind={end.kind === 'completed' ? 'success' : end.kind === 'non_finite' ? 'error' : 'info'}
          testId="run-end"
        >
          <span data-testid="stop-reason" data-kind={end.kind} data-step={end.step}>
            Training {end.message}.
          </span>{' '}
          {best && (
            <span>
              Lowest validation loss {best.evalLoss.toFixed(4)} at step {best.step}.{' '}
            </span>
          )}
          <button type="button" className="link-button" onClick={() => setTab('samples')}>
            Compare samples →
          </button>{' '}
          <button type="button" className="link-button" onClick={() => setTab('export')}>
            Export the adapter →
          </button>
        </Alert>
      )}
    </>
  );
}

function EvaluateNow() {
  const val = useStudio((s) => s.training.val);
  const evaluating = useStudio((s) => s.training.evaluating);
  const evaluated = useStudio((s) => s.training.evaluated);
  const status = useStudio((s) => s.training.status);
  if (val === 0 || status === 'starting' || status === 'idle') return null;
  return (
    <div className="row center-y">
      <button
        type="button"
        className="button"
        disabled={evaluating}
        onClick={() => void evaluateNow()}
        data-testid="evaluate-now"
      >
        {evaluating ? 'Evaluating…' : 'Evaluate now'}
      </button>
      {evaluated && (
        <span className="small" data-testid="evaluated">
          Validation loss at step {evaluated.step}: <strong>{evaluated.loss.toFixed(4)}</strong>
        </span>
      )}
    </div>
  );
}

const trainingOf = (s: Studio) => s.training;

/** Its own component: the time changes every step, and only this line should re-render for it. */
function ActiveTime() {
  const activeMs = useWhileShown(activeMsOf);
  return <span className="muted small">Active training time {fmtDuration(activeMs)}.</span>;
}
const activeMsOf = (s: Studio) => s.training.activeMs;

function Summary() {
  const t = useWhileShown(trainingOf);
  const last = t.history.last();
  const checkpoint = checkpointStat(t);
  return (
    <div className="stats-row">
      <Stat label="training loss (last step)" value={fmtLoss(last?.loss)} testId="last-loss" />
      <Stat
        label="best validation loss"
        value={t.best ? `${fmtLoss(t.best.evalLoss)} @ ${t.best.step}` : '—'}
        testId="best-eval"
      />
      <Stat label="tokens per second" value={last ? Math.round(last.tokensPerSecond) : '—'} />
      <Stat label="examples (train · validation)" value={`${t.train} · ${t.val}`} />
      <Stat label="GPU buffers held" value={fmtBytes(t.gpuBytes)} testId="gpu-held" />
      <Stat label="last checkpoint" value={checkpoint.value} hint={checkpoint.hint} testId="last-checkpoint" />
    </div>
  );
}

export function TrainingPanel() {
  const status = useStudio((s) => s.training.status);
  const trainable = useStudio((s) => s.training.trainableLine);
  const resumedFrom = useStudio((s) => s.training.resumedFrom);
  const fromAdapter = useStudio((s) => s.training.fromAdapter);
  const error = useStudio((s) => s.training.error);
  return (
    <div className="panel" data-testid="panel-training">
      <div className="panel-head">
        <h1>Training</h1>
        <p className="lead">
          Loss going down means the model is learning your examples; validation loss tells whether it generalizes.
        </p>
      </div>
      {status === 'idle' ? (
        <>
          {error && (
            <Alert kind="error" testId="training-error">
              {error}
            </Alert>
          )}
          <EmptyState title="Nothing trained yet">
            Press <strong>Start training</strong> at the top when the model and dataset are loaded. The charts fill in
            after every optimizer step; you can pause, stop, or switch to Samples at any time. Checkpoints are kept in
            this browser (after the first step, then every 2 minutes of training, or every <code>save_steps</code>), so
            a reload or a closed tab can resume.
          </EmptyState>
          <SavedRuns />
        </>
      ) : (
        <>
          <Outcome />
          {status === 'starting' && (
            <Alert kind="info">
              Preparing the run: tokenizing, allocating GPU buffers, compiling kernels. The first step takes longest.
            </Alert>
          )}
          <Card>
            {trainable && (
              <p className="peft-line">
                <code>{trainable}</code>
              </p>
            )}
            {resumedFrom !== null && <p className="muted small">Resumed from the checkpoint at step {resumedFrom}.</p>}
            {fromAdapter && <p className="muted small">Continues the imported adapter {fromAdapter}.</p>}
            <Summary />
            <div className="row center-y spread">
              <ActiveTime />
              <EvaluateNow />
            </div>
          </Card>
          <Card title="Charts" actions={<ChartControls />} testId="charts">
            <LossChart />
            <div className="grid-3">
              <SmallChart id="lr" slot={1} title="Learning rate" f={lrOf} lines={LR_LINES} logOk={false} zero />
              <SmallChart
                id="grad-norm"
                slot={2}
                title="Gradient norm (before clipping)"
                f={normOf}
                lines={NORM_LINES}
              />
              <SmallChart id="tokens" slot={3} title="Tokens per second" f={tpsOf} lines={TPS_LINES} />
            </div>
          </Card>
          <StepLog />
          <SavedRuns />
        </>
      )}
    </div>
  );
}
