// The run's controls and progress, pinned above every panel: Start (or why not yet), Pause,
// Resume, Stop; step, epoch, elapsed and remaining time; the latest loss.

import { useEffect, useState } from 'react';
import { useStudio } from '../store/store';
import { pauseTraining, resumeTraining, startBlocker, startTraining, stopTraining } from '../store/training.actions';
import { fmtDuration, fmtLoss, remainingMs } from '../lib/format';
import { Progress } from './common';

/** Elapsed active time, ticking between the worker's reports while the run is going. */
function useElapsed(): number {
  const activeMs = useStudio((s) => s.training.activeMs);
  const reportedAt = useStudio((s) => s.training.reportedAt);
  const ticking = useStudio((s) => s.training.status === 'running');
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    if (!ticking) return;
    const id = setInterval(() => setNow(performance.now()), 1000);
    return () => clearInterval(id);
  }, [ticking]);
  return ticking ? activeMs + Math.max(0, now - reportedAt) : activeMs;
}

function Times() {
  const elapsed = useElapsed();
  const activeMs = useStudio((s) => s.training.activeMs);
  const step = useStudio((s) => s.training.history.last()?.step ?? 0);
  const total = useStudio((s) => s.training.totalSteps);
  const done = useStudio((s) => s.training.status === 'done');
  const left = done ? null : remainingMs(activeMs, step, total);
  return (
    <span className="run-times">
      <span data-testid="run-elapsed">{fmtDuration(elapsed)} elapsed</span>
      {left !== null && <span data-testid="run-remaining"> · about {fmtDuration(left)} left</span>}
    </span>
  );
}

function StartButton() {
  const blocker = useStudio((s) => startBlocker(s));
  const status = useStudio((s) => s.training.status);
  const again = status === 'done';
  return (
    <div className="run-start">
      <button
        type="button"
        className="button primary"
        disabled={blocker !== null}
        onClick={() => void startTraining()}
        data-testid="start-training"
      >
        {again ? 'Train again' : 'Start training'}
      </button>
      {blocker && (
        <span className="run-hint" data-testid="start-blocker">
          To start: {blocker}.
        </span>
      )}
    </div>
  );
}

export function RunBar() {
  const status = useStudio((s) => s.training.status);
  const last = useStudio((s) => s.training.history.last());
  const total = useStudio((s) => s.training.totalSteps);
  const stepsPerEpoch = useStudio((s) => s.training.stepsPerEpoch);
  const end = useStudio((s) => s.training.end);
  const active = status === 'running' || status === 'paused' || status === 'stopping' || status === 'starting';
  const step = last?.step ?? 0;
  return (
    <div className="runbar" data-testid="runbar" data-status={status}>
      <div className="runbar-controls">
        {!active && <StartButton />}
        {status === 'running' && (
          <button type="button" className="button" onClick={pauseTraining} data-testid="pause-training">
            Pause
          </button>
        )}
        {status === 'paused' && (
          <button type="button" className="button primary" onClick={resumeTraining} data-testid="resume-training">
            Resume
          </button>
        )}
        {(status === 'running' || status === 'paused') && (
          <button
            type="button"
            className="button danger"
            onClick={() => void stopTraining()}
            data-testid="stop-training"
          >
            Stop
          </button>
        )}
        {status === 'starting' && <span className="run-hint">Preparing the run: compiling GPU kernels…</span>}
        {status === 'stopping' && <span className="run-hint">Stopping after the current step…</span>}
      </div>
      {status !== 'idle' && status !== 'starting' && (
        <div className="runbar-progress">
          <div className="run-line">
            <strong data-testid="run-step">
              Step {step} / {total}
            </strong>
            <span>
              epoch {last ? last.epoch.toFixed(2) : '0.00'}
              {stepsPerEpoch && total >= stepsPerEpoch ? ` of ${+(total / stepsPerEpoch).toFixed(2)}` : ''}
            </span>
            <Times />
            {last && <span className="run-loss">loss {fmtLoss(last.loss)}</span>}
            <span className={`pill pill-${status}`}>
              {status === 'done' ? (end?.kind === 'completed' ? 'completed' : 'stopped') : status}
            </span>
          </div>
          <Progress value={step} max={total} label="Training progress" testId="run-progress" />
        </div>
      )}
    </div>
  );
}
