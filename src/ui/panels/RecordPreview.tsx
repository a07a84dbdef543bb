// The dataset's records exactly as the model will read them: the template applied, special tokens
// shown as chips, the trained part (what the loss is taken on) highlighted, what falls past
// max_seq_length struck through. A virtualized list (only the rows on screen exist in the DOM);
// rows are rendered by the worker in pages of 20 and cached until the model, the file or the
// settings that shape them change.

import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useStudio } from '../store/store';
import { studioWorker, errorMessage } from '../../worker/client';
import type { PreviewRow } from '../../worker/api';

const PAGE = 20;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Splits text at special tokens so each can be drawn as a chip. */
function withSpecials(text: string, re: RegExp | null, key: string): ReactNode[] {
  if (!re) return [text];
  const out: ReactNode[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(
      <span className="tok-special" key={`${key}-${m.index}`}>
        {m[0]}
      </span>,
    );
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function Row({ row, specials }: { row: PreviewRow; specials: RegExp | null }) {
  return (
    <article className="record" data-testid="preview-row" data-record={row.record}>
      <header className="record-head">
        <span>
          Record #{row.record} · line {row.line}
        </span>
        <span className="muted">
          {row.error
            ? 'cannot be encoded'
            : `${row.numTokens} tokens · ${row.numTrained} trained${row.truncated ? ' · truncated' : ''}`}
        </span>
      </header>
      {row.tools && (
        <details className="record-tools" data-testid="preview-tools">
          <summary>
            {row.tools.length === 1 ? '1 tool definition' : `${row.tools.length} tool definitions`} (passed to the
            template as tools)
          </summary>
          {row.tools.map((t, i) => (
            <pre key={i} className="record-tool">
              {t}
            </pre>
          ))}
        </details>
      )}
      {row.error ? (
        <p className="record-error">{row.error}</p>
      ) : (
        <pre className="record-text">
          {row.segments.map((s, i) => (
            <span
              key={i}
              className={
                (s.truncated ? 'seg-cut' : s.trained ? 'seg-trained' : 'seg-prompt') + (s.kind ? ` seg-${s.kind}` : '')
              }
              data-trained={s.trained ? 'true' : undefined}
              data-kind={s.kind}
              title={
                s.kind === 'call' ? 'tool call (trained)' : s.kind === 'result' ? 'tool result (masked)' : undefined
              }
            >
              {withSpecials(s.text, specials, String(i))}
            </span>
          ))}
        </pre>
      )}
    </article>
  );
}

export function RecordPreview() {
  const count = useStudio((s) => s.dataset.summary?.records ?? 0);
  const revision = useStudio((s) => s.dataset.summary?.revision ?? 0);
  const fingerprint = useStudio((s) => s.model.summary?.fingerprint ?? '');
  const specialTokens = useStudio((s) => s.model.summary?.specialTokens);
  const maxSeq = useStudio((s) => s.hparams.training.max_seq_length);
  const trainOnInputs = useStudio((s) => s.hparams.training.train_on_inputs);
  const maskHistory = useStudio((s) => s.hparams.training.mask_history);
  const seqValid = useStudio((s) => !s.hparamIssues['training.max_seq_length']);
  const key = `${fingerprint}|${revision}|${maxSeq}|${trainOnInputs}|${maskHistory}`;
  const cache = useRef<{ key: string; rows: Map<number, PreviewRow>; pending: Set<number> }>({
    key: '',
    rows: new Map(),
    pending: new Set(),
  });
  const [, setVersion] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const specials = useMemo(
    () => (specialTokens?.length ? new RegExp(specialTokens.map(escapeRe).join('|'), 'g') : null),
    [specialTokens],
  );
  const scrollRef = useRef<HTMLDivElement>(null);
  // eslint-disable-next-line react-hooks/incompatible-library -- TanStack Virtual is designed for this use
  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 150,
    overscan: 3,
  });
  const items = virtualizer.getVirtualItems();
  const first = items[0]?.index ?? 0;
  const last = items.at(-1)?.index ?? 0;

  useEffect(() => {
    const c = cache.current;
    if (c.key !== key) {
      c.key = key;
      c.rows = new Map();
      c.pending = new Set();
    }
    if (!seqValid || count === 0) return;
    for (let page = Math.floor(first / PAGE); page <= Math.floor(last / PAGE); page++) {
      if (c.pending.has(page) || c.rows.has(page * PAGE)) continue;
      c.pending.add(page);
      studioWorker()
        .preview(page * PAGE, PAGE, {
          max_seq_length: maxSeq,
          train_on_inputs: trainOnInputs,
          mask_history: maskHistory,
        })
        .then((rows) => {
          if (cache.current.key !== key) return;
          for (const r of rows) cache.current.rows.set(r.position, r);
          cache.current.pending.delete(page);
          setError(null);
          setVersion((v) => v + 1);
        })
        .catch((e: unknown) => {
          cache.current.pending.delete(page);
          setError(errorMessage(e));
        });
    }
  }, [key, first, last, count, maxSeq, trainOnInputs, maskHistory, seqValid]);

  if (error) return <p className="record-error">{error}</p>;
  const rows = cache.current.key === key ? cache.current.rows : new Map<number, PreviewRow>();
  return (
    <div className="preview">
      <div className="preview-legend" aria-hidden="true">
        <span className="seg-prompt legend-chip">prompt (masked, -100)</span>
        <span className="seg-trained legend-chip">trained: the loss is taken here</span>
        <span className="tok-special">special token</span>
        <span className="seg-cut legend-chip">past max_seq_length (cut)</span>
        <span className="seg-trained seg-call legend-chip">tool call (trained)</span>
        <span className="seg-prompt seg-result legend-chip">tool result (masked)</span>
      </div>
      <div
        ref={scrollRef}
        className="preview-scroll"
        data-testid="preview"
        tabIndex={0}
        aria-label="Records as the model reads them"
      >
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {items.map((v) => {
            const row = rows.get(v.index);
            return (
              <div
                key={v.key}
                data-index={v.index}
                ref={virtualizer.measureElement}
                className="preview-item"
                style={{ transform: `translateY(${v.start}px)` }}
              >
                {row ? (
                  <Row row={row} specials={specials} />
                ) : (
                  <div className="record record-loading">Rendering record…</div>
                )}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
