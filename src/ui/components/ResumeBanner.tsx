// After a reload or a crash: the runs that stopped before they finished, with their last
// checkpoint, offered for resumption (or to be discarded).

import { useStudio } from '../store/store';
import { deleteSavedRun, resumeSavedRun } from '../store/training.actions';
import { Alert } from './common';
import { fmtDateTime } from '../lib/format';

export function ResumeBanner() {
  const list = useStudio((s) => s.checkpoints.list);
  const busy = useStudio((s) => s.checkpoints.busy);
  const error = useStudio((s) => s.checkpoints.error);
  const runId = useStudio((s) => s.training.runId);
  const status = useStudio((s) => s.training.status);
  const open = list.filter((c) => !c.finished && c.runId !== runId);
  if (open.length === 0 && !error) return null;
  const training = status === 'running' || status === 'paused' || status === 'starting' || status === 'stopping';
  return (
    <div className="resume" data-testid="resume-banner">
      {open.map((c) => (
        <div className="resume-item" key={c.runId} data-testid="resume-item" data-run={c.runId} data-step={c.step}>
          <div>
            <strong>An unfinished run can be resumed.</strong> It stopped after step {c.step} of {c.totalSteps} (
            {c.modelName}, {c.dataset}), checkpoint saved {fmtDateTime(c.savedAt)}.
          </div>
          <div className="resume-actions">
            <button
              type="button"
              className="button primary"
              disabled={busy !== null || training}
              onClick={() => void resumeSavedRun(c)}
              data-testid="resume-run"
            >
              {busy === c.runId ? 'Resuming…' : `Resume from step ${c.step}`}
            </button>
            <button
              type="button"
              className="button"
              disabled={busy !== null}
              onClick={() => void deleteSavedRun(c.runId)}
            >
              Discard
            </button>
          </div>
        </div>
      ))}
      {error && <Alert kind="error">{error}</Alert>}
    </div>
  );
}
