// Step 2, the dataset: drop or pick a JSON/JSONL file (or take the demo's), see the format found
// (with an override), the records that could not be read (record, line, field), statistics of the
// encoded examples and a preview of every record as the model reads it.

import { useRef } from 'react';
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useStudio } from '../store/store';
import { loadDatasetFile, loadDemoDataset, setDatasetFormat } from '../store/dataset.actions';
import { Alert, Card, EmptyState, Progress, Stat } from '../components/common';
import { fmtBytes, fmtCount, plural } from '../lib/format';
import { RecordPreview } from './RecordPreview';
import type { DatasetFormat, RecordError } from '../../worker/api';

const FORMAT_NAMES: Record<DatasetFormat, string> = {
  alpaca: 'Alpaca (instruction, input, output)',
  chat: 'Chat (messages: role, content)',
  sharegpt: 'ShareGPT (conversations: from, value)',
};

function PickFile({ label, primary }: { label: string; primary?: boolean }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <button type="button" className={`button ${primary ? 'primary' : ''}`} onClick={() => input.current?.click()}>
        {label}
      </button>
      <input
        ref={input}
        type="file"
        hidden
        accept=".json,.jsonl,.ndjson,application/json"
        onChange={(e) => {
          const f = e.target.files?.[0];
          e.target.value = '';
          if (f) void loadDatasetFile(f);
        }}
        data-testid="dataset-input"
      />
    </>
  );
}

function ErrorList({ errors, total, what }: { errors: RecordError[]; total: number; what: string }) {
  return (
    <div className="errors">
      <table className="table" data-testid={`${what}-errors`}>
        <thead>
          <tr>
            <th>Record</th>
            <th>Line</th>
            <th>Field</th>
            <th>Problem</th>
          </tr>
        </thead>
        <tbody>
          {errors.map((e) => (
            <tr key={`${e.record}-${e.field}`} data-testid="error-row" data-record={e.record} data-line={e.line ?? ''}>
              <td>#{e.record}</td>
              <td>{e.line ?? '—'}</td>
              <td>{e.field ? <code>{e.field}</code> : '—'}</td>
              <td>{e.message.replace(/^record #\d+( \(line \d+\))?: /, '')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {total > errors.length && <p className="muted small">… and {fmtCount(total - errors.length)} more.</p>}
    </div>
  );
}

function Summary() {
  const d = useStudio((s) => s.dataset.summary)!;
  const format = useStudio((s) => s.dataset.format);
  const accepted = useStudio((s) => s.dataset.accepted);
  const accept = useStudio((s) => s.acceptDatasetErrors);
  const busy = useStudio((s) => s.dataset.status === 'loading');
  return (
    <Card
      title={<>Dataset: {d.name}</>}
      testId="dataset-summary"
      actions={
        <>
          <PickFile label="Choose another file…" />
        </>
      }
    >
      <div className="stats-row">
        <Stat label="good records" value={fmtCount(d.records)} testId="dataset-records" />
        <Stat label="records in the file" value={fmtCount(d.totalRecords)} />
        <Stat label="could not be read" value={fmtCount(d.errorCount)} testId="dataset-error-count" />
        <Stat label={d.container === 'jsonl' ? 'JSON Lines' : 'JSON array'} value={fmtBytes(d.bytes)} />
      </div>
      <label className="field-inline">
        <span>Format</span>
        <select
          value={format ?? ''}
          disabled={busy}
          onChange={(e) => void setDatasetFormat((e.target.value || null) as DatasetFormat | null)}
          data-testid="dataset-format"
        >
          <option value="">Detected: {FORMAT_NAMES[d.format]}</option>
          {(Object.keys(FORMAT_NAMES) as DatasetFormat[]).map((f) => (
            <option key={f} value={f}>
              Read as {FORMAT_NAMES[f]}
            </option>
          ))}
        </select>
      </label>
      {d.errorCount > 0 && (
        <div className="bad-records">
          <Alert kind={accepted ? 'info' : 'warning'} testId="dataset-errors-alert">
            {d.errorCount === 1 ? 'One record' : `${fmtCount(d.errorCount)} records`} of {fmtCount(d.totalRecords)}{' '}
            could not be read and will be left out.{' '}
            {accepted
              ? `Training uses the ${fmtCount(d.records)} good records.`
              : 'Fix the file and drop it again, or continue with the good records.'}
          </Alert>
          <ErrorList errors={d.errors} total={d.errorCount} what="dataset" />
          {!accepted && (
            <button type="button" className="button primary" onClick={accept} data-testid="accept-good-records">
              Continue with the {fmtCount(d.records)} good records
            </button>
          )}
        </div>
      )}
    </Card>
  );
}

function Statistics() {
  const p = useStudio((s) => s.dataset.prepared);
  const preparing = useStudio((s) => s.dataset.preparing);
  const error = useStudio((s) => s.dataset.prepareError);
  const maxSeq = useStudio((s) => s.hparams.training.max_seq_length);
  const hasModel = useStudio((s) => s.model.status === 'ready');
  const progress = useStudio((s) => s.dataset.progress);
  if (!hasModel) {
    return (
      <Card title="Statistics and preview">
        <p className="muted">
          Load a base model: records are measured in its tokens and shown with its prompt template.
        </p>
      </Card>
    );
  }
  if (error) return <Alert kind="error">{error}</Alert>;
  if (!p) {
    return (
      <Card title="Statistics">
        <p className="muted">Tokenizing the records for the model…</p>
        <Progress
          value={progress?.status === 'encode' ? progress.done : undefined}
          max={progress?.status === 'encode' ? progress.total : undefined}
          label="Tokenizing"
        />
      </Card>
    );
  }
  const s = p.stats;
  const hist = s.histogram.map((b) => ({ range: `${b.lo}–${b.hi - 1}`, count: b.count }));
  return (
    <Card
      title="Statistics"
      testId="dataset-stats"
      actions={preparing ? <span className="muted small">updating…</span> : null}
    >
      <div className="stats-row">
        <Stat label="training examples" value={fmtCount(p.train)} testId="stat-train" />
        <Stat label="validation examples" value={fmtCount(p.val)} testId="stat-val" />
        <Stat
          label={`truncated to ${maxSeq} tokens`}
          value={fmtCount(s.truncated)}
          testId="stat-truncated"
          hint={s.truncated > 0 ? 'raise max_seq_length to keep them whole' : undefined}
          warn
        />
        <Stat label="tokens masked (prompt)" value={`${(100 * s.maskedShare).toFixed(1)}%`} testId="stat-masked" />
        <Stat
          label="tokens per record (median · p95 · max)"
          value={`${Math.round(s.length.median)} · ${Math.round(s.length.p95)} · ${s.length.max}`}
        />
      </div>
      {p.encodeErrors.length > 0 && (
        <>
          <Alert kind="warning">
            {plural(p.encodeErrors.length, 'record')} could not be encoded for this model and{' '}
            {p.encodeErrors.length === 1 ? 'is' : 'are'} left out.
          </Alert>
          <ErrorList errors={p.encodeErrors} total={p.encodeErrors.length} what="encode" />
        </>
      )}
      {p.notes.length > 0 && (
        <div data-testid="data-notes">
          {p.notes.map((n, i) => (
            <Alert key={i} kind="warning">
              {n}
            </Alert>
          ))}
        </div>
      )}
      {p.withoutTargets > 0 && (
        <p className="muted small">
          {plural(p.withoutTargets, 'record')} {p.withoutTargets === 1 ? 'has' : 'have'} nothing left to train on (the
          answer was cut by max_seq_length) and {p.withoutTargets === 1 ? 'is' : 'are'} left out.
        </p>
      )}
      <h3 className="subhead">Token length per record (after truncation)</h3>
      <div className="chart-box" data-testid="length-histogram">
        <ResponsiveContainer width="100%" height={180}>
          <BarChart data={hist} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="var(--grid)" />
            <XAxis dataKey="range" tick={{ fontSize: 11 }} interval="preserveStartEnd" />
            <YAxis tick={{ fontSize: 11 }} width={36} allowDecimals={false} />
            <Tooltip formatter={(v) => [v, 'records']} labelFormatter={(l) => `${l} tokens`} />
            <Bar dataKey="count" fill="var(--accent)" isAnimationActive={false} />
          </BarChart>
        </ResponsiveContainer>
      </div>
    </Card>
  );
}

export function DatasetPanel() {
  const status = useStudio((s) => s.dataset.status);
  const has = useStudio((s) => s.dataset.summary !== null);
  const error = useStudio((s) => s.dataset.error);
  const loading = useStudio((s) => s.dataset.loading);
  const progress = useStudio((s) => s.dataset.progress);
  const hasModel = useStudio((s) => s.model.status === 'ready');
  return (
    <div className="panel" data-testid="panel-dataset">
      <div className="panel-head">
        <h1>Dataset</h1>
        <p className="lead">
          Examples of what the model should do: instructions and answers (Alpaca), or conversations (chat{' '}
          <code>messages</code>, ShareGPT). JSON or JSON Lines.
        </p>
      </div>
      {error && (
        <Alert kind="error" testId="dataset-error">
          {error}
        </Alert>
      )}
      {status === 'loading' && (
        <Card>
          <p className="muted">Reading {loading}…</p>
          <Progress
            value={progress?.status === 'parse' ? progress.bytesRead : undefined}
            max={progress?.status === 'parse' ? (progress.totalBytes ?? undefined) : undefined}
            label="Reading the dataset"
          />
        </Card>
      )}
      {!has && status !== 'loading' && (
        <EmptyState
          title="Drop a dataset anywhere on this page"
          action={
            <div className="row center">
              <button
                type="button"
                className="button primary"
                onClick={() => void loadDemoDataset()}
                data-testid="load-demo-dataset"
              >
                Use the demo dataset (400 SQL questions)
              </button>
              <PickFile label="Choose a file…" />
            </div>
          }
        >
          A <code>.json</code> file holding a list of records, or a <code>.jsonl</code> file with one record per line.
          For example{' '}
          <code>{'{"instruction": "How many customers are from Canada?", "output": "SELECT COUNT(*) …"}'}</code>.
          {!hasModel && ' The demo dataset goes with the demo model.'}
        </EmptyState>
      )}
      {has && (
        <>
          <Summary />
          <Statistics />
          {hasModel && (
            <Card title="Preview: what the model reads" testId="preview-card">
              <RecordPreview />
            </Card>
          )}
        </>
      )}
    </div>
  );
}
