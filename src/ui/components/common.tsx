// Small building blocks every panel uses: cards, alerts, a progress bar, key-value tables.

import type { ReactNode } from 'react';

export function Card(props: {
  title?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  testId?: string;
}) {
  return (
    <section className={`card ${props.className ?? ''}`} data-testid={props.testId}>
      {(props.title || props.actions) && (
        <header className="card-head">
          {props.title && <h2>{props.title}</h2>}
          {props.actions && <div className="card-actions">{props.actions}</div>}
        </header>
      )}
      {props.children}
    </section>
  );
}

export function Alert(props: {
  kind?: 'error' | 'warning' | 'info' | 'success';
  children: ReactNode;
  testId?: string;
  onDismiss?: () => void;
}) {
  const kind = props.kind ?? 'error';
  return (
    <div className={`alert alert-${kind}`} role={kind === 'error' ? 'alert' : 'status'} data-testid={props.testId}>
      <div className="alert-body">{props.children}</div>
      {props.onDismiss && (
        <button type="button" className="icon-button" aria-label="Dismiss" onClick={props.onDismiss}>
          ×
        </button>
      )}
    </div>
  );
}

/** A determinate bar when `value` and `max` are known, an indeterminate one otherwise. */
export function Progress(props: { value?: number; max?: number; label: string; testId?: string }) {
  const known = props.value !== undefined && props.max !== undefined && props.max > 0;
  const pct = known ? Math.min(100, (100 * props.value!) / props.max!) : 0;
  return (
    <div
      className={`progress ${known ? '' : 'progress-indeterminate'}`}
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={known ? props.max : undefined}
      aria-valuenow={known ? props.value : undefined}
      data-testid={props.testId}
    >
      <div className="progress-fill" style={known ? { width: `${pct}%` } : undefined} />
    </div>
  );
}

export function KeyValues(props: { rows: [ReactNode, ReactNode][]; testId?: string }) {
  return (
    <dl className="kv" data-testid={props.testId}>
      {props.rows.map(([k, v], i) => (
        <div className="kv-row" key={i}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function EmptyState(props: { title: string; children: ReactNode; action?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{props.title}</h3>
      <div className="empty-text">{props.children}</div>
      {props.action && <div className="empty-action">{props.action}</div>}
    </div>
  );
}

export function Stat(props: { label: string; value: ReactNode; hint?: ReactNode; warn?: boolean; testId?: string }) {
  return (
    <div className="stat">
      <div className="stat-value" data-testid={props.testId}>
        {props.value}
      </div>
      <div className="stat-label">{props.label}</div>
      {props.hint && <div className={`stat-hint ${props.warn ? 'stat-warn' : ''}`}>{props.hint}</div>}
    </div>
  );
}
