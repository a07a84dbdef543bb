// Step 5, samples: the base model and the model with the adapter answer the same prompt side by
// side: a validation record (held out from training, with the dataset's answer to compare) or a
// typed prompt. Works during training too: the worker runs the generation between two steps.

import { useStudio } from '../store/store';
import { generateSample } from '../store/samples.actions';
import { Alert, Card, EmptyState } from '../components/common';
import type { SampleOutput, SampleResult } from '../../worker/api';

function stopText(o: SampleOutput): string {
  const why =
    o.stoppedBy === 'stop_token'
      ? 'stopped at an end token'
      : o.stoppedBy === 'max_new_tokens'
        ? 'reached max new tokens'
        : o.stoppedBy === 'max_length'
          ? 'reached the context length'
          : 'stopped';
  return `${o.tokens} tokens · ${why} · ${(o.ms / 1000).toFixed(1)} s`;
}

function Output(props: { title: string; out: SampleOutput | null; streaming?: string; testId: string; note?: string }) {
  return (
    <div className="sample-col" data-testid={props.testId}>
      <h3>{props.title}</h3>
      {props.out ? (
        <>
          <pre className="sample-text" data-testid={`${props.testId}-text`}>
            {props.out.text || '(nothing)'}
          </pre>
          <div className="muted small">{stopText(props.out)}</div>
        </>
      ) : props.streaming !== undefined ? (
        <pre className="sample-text streaming">{props.streaming || '…'}</pre>
      ) : (
        <p className="muted">{props.note}</p>
      )}
    </div>
  );
}

function Result({ r }: { r: SampleResult }) {
  return (
    <Card testId="sample-result">
      <div className="sample-prompt">
        <span className="muted small">Prompt</span>
        <p>{r.prompt}</p>
        <details>
          <summary className="small">As the model reads it</summary>
          <pre className="record-text">{r.rendered}</pre>
        </details>
      </div>
      <div className="sample-cols">
        <Output title="Base model" out={r.base} testId="sample-base" />
        <Output
          title={r.adapterLabel ? `With the adapter (${r.adapterLabel})` : 'With the adapter'}
          out={r.tuned}
          testId="sample-tuned"
          note="No adapter yet: start training (or import an adapter) to compare."
        />
        {r.reference !== null && (
          <div className="sample-col">
            <h3>Dataset answer</h3>
            <pre className="sample-text reference">{r.reference}</pre>
          </div>
        )}
      </div>
    </Card>
  );
}

export function SamplesPanel() {
  const hasModel = useStudio((s) => s.model.status === 'ready');
  const prompts = useStudio((s) => s.samples.prompts);
  const choice = useStudio((s) => s.samples.choice);
  const custom = useStudio((s) => s.samples.custom);
  const maxNew = useStudio((s) => s.samples.maxNewTokens);
  const temperature = useStudio((s) => s.samples.temperature);
  const running = useStudio((s) => s.samples.running);
  const streaming = useStudio((s) => s.samples.streaming);
  const results = useStudio((s) => s.samples.results);
  const error = useStudio((s) => s.samples.error);
  const setChoice = useStudio((s) => s.setSampleChoice);
  const setCustom = useStudio((s) => s.setCustomPrompt);
  const setOptions = useStudio((s) => s.setSampleOptions);
  const training = useStudio((s) => s.training.status === 'running');
  const selected = choice === 'custom' ? null : prompts.find((p) => p.record === choice);
  return (
    <div className="panel" data-testid="panel-samples">
      <div className="panel-head">
        <h1>Samples</h1>
        <p className="lead">
          Ask both models the same thing. Validation records were held out of training, so they show whether the model
          learned the task rather than the examples.
        </p>
      </div>
      {!hasModel ? (
        <EmptyState title="No model yet">Load a base model first; samples compare it with your adapter.</EmptyState>
      ) : (
        <Card title="Prompt">
          <form
            className="sample-form"
            onSubmit={(e) => {
              e.preventDefault();
              void generateSample();
            }}
          >
            <label className="field-compact">
              <span>From</span>
              <select
                value={String(choice)}
                onChange={(e) => setChoice(e.target.value === 'custom' ? 'custom' : Number(e.target.value))}
                data-testid="sample-choice"
              >
                {prompts.map((p) => (
                  <option key={p.record} value={p.record}>
                    Validation #{p.record}: {p.text.length > 90 ? `${p.text.slice(0, 90)}…` : p.text}
                  </option>
                ))}
                <option value="custom">Type my own prompt</option>
              </select>
            </label>
            {choice === 'custom' ? (
              <label className="field-compact">
                <span>Your prompt (the model's template is applied)</span>
                <textarea
                  rows={3}
                  value={custom}
                  onChange={(e) => setCustom(e.target.value)}
                  data-testid="sample-custom"
                />
              </label>
            ) : (
              selected && <p className="sample-selected">{selected.text}</p>
            )}
            <div className="row">
              <label className="field-compact">
                <span>max_new_tokens</span>
                <input
                  type="number"
                  min={1}
                  max={1024}
                  value={maxNew}
                  onChange={(e) =>
                    setOptions({ maxNewTokens: Math.max(1, Math.min(1024, Number(e.target.value) || 1)) })
                  }
                />
              </label>
              <label className="field-compact">
                <span>temperature (0: greedy)</span>
                <input
                  type="number"
                  min={0}
                  max={2}
                  step={0.1}
                  value={temperature}
                  onChange={(e) => setOptions({ temperature: Math.max(0, Math.min(2, Number(e.target.value) || 0)) })}
                />
              </label>
              <button type="submit" className="button primary" disabled={running} data-testid="generate">
                {running ? 'Generating…' : 'Generate'}
              </button>
            </div>
            {training && <p className="muted small">Training is running: generation happens between two steps.</p>}
          </form>
          {error && <Alert kind="error">{error}</Alert>}
        </Card>
      )}
      {running && (
        <Card>
          <div className="sample-cols">
            <Output title="Base model" out={null} streaming={streaming.base} testId="stream-base" />
            <Output title="With the adapter" out={null} streaming={streaming.tuned} testId="stream-tuned" />
          </div>
        </Card>
      )}
      {results.map((r, i) => (
        <Result r={r} key={results.length - i} />
      ))}
    </div>
  );
}
