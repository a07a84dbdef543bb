// The runs whose checkpoints this browser keeps (origin-private file system): resume an
// unfinished one, or delete any to give the space back.

import { useStudio } from '../store/store';
import { deleteSavedRun, resumeSavedRun } from '../store/training.actions';
import { Card } from '../components/common';
import { fmtDateTime } from '../lib/format';

export function SavedRuns() {
  const list = useStudio((s) => s.checkpoints.list);
  const busy = useStudio((s) => s.checkpoints.busy);
  const current = useStudio((s) => s.training.runId);
  const active = useStudio((s) => ['starting', 'running', 'paused', 'stopping'].includes(s.training.status));
  if (list.length === 0) return null;
  return (
    <Card title="Checkpoints kept in this browser" testId="saved-runs">
      <p className="muted small">
        A run writes its adapter, optimizer state and position to this browser's private storage after its first step,
        then every 2 minutes of training (or every save_steps), when paused and at its end, so a closed tab can resume.
        The two newest checkpoints of each run are kept.
      </p>
      <table className="table">
        <thead>
          <tr>
            <th>Started</th>
            <th>Model · dataset</th>
            <th>Checkpoint</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.map((c) => (
            <tr key={c.runId} data-testid="saved-run" data-run={c.runId}>
              <td>{fmtDateTime(c.createdAt)}</td>
              <td>
                {c.modelName} · {c.dataset}
              </td>
              <td>
                step {c.step} of {c.totalSteps}
              </td>
              <td>{c.runId === current && active ? 'running' : c.finished ? 'finished' : 'can resume'}</td>
              <td className="cell-actions">
                {!c.finished && c.runId !== current && (
                  <button
                    type="button"
                    className="button"
                    disabled={busy !== null || active}
                    onClick={() => void resumeSavedRun(c)}
                  >
                    Resume
                  </button>
                )}
                <button
                  type="button"
                  className="button"
                  disabled={busy !== null || (c.runId === current && active)}
                  onClick={() => void deleteSavedRun(c.runId)}
                  data-testid="delete-run"
                >
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}
