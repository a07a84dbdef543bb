// Step 5, samples. Compare: the base model and the model with the adapter answer the same prompt
// side by side: a validation record (held out from training, with the dataset's answer to compare)
// or a typed prompt. Chat: a conversation with the model, the adapter on or off, each answer
// reading the whole history. Text streams in as it is generated, and Stop ends a generation
// early. Works during training too: the worker runs the generation between two steps.

import { useEffect, useRef } from 'react';
import { useStudio } from '../store/store';
import { adapterAvailable, generateSample, sendChatMessage, stopGeneration } from '../store/samples.actions';
import type { ChatMessage } from '../store/samples';
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
          : o.stoppedBy === 'aborted'
            ? 'stopped by you'
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
        <pre className="sample-text streaming" data-testid={`${props.testId}-text`}>
          {props.streaming || '…'}
        </pre>
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

/** max_new_tokens and temperature, shared by both modes. */
function Options() {
  const maxNew = useStudio((s) => s.samples.maxNewTokens);
  const temperature = useStudio((s) => s.samples.temperature);
  const setOptions = useStudio((s) => s.setSampleOptions);
  return (
    <>
      <label className="field-compact">
        <span>max_new_tokens</span>
        <input
          type="number"
          min={1}
          max={1024}
          value={maxNew}
          onChange={(e) => setOptions({ maxNewTokens: Math.max(1, Math.min(1024, Number(e.target.value) || 1)) })}
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
    </>
  );
}

function StopButton() {
  return (
    <button type="button" className="button danger" onClick={() => void stopGeneration()} data-testid="sample-stop">
      Stop
    </button>
  );
}

function Compare() {
  const prompts = useStudio((s) => s.samples.prompts);
  const choice = useStudio((s) => s.samples.choice);
  const custom = useStudio((s) => s.samples.custom);
  const running = useStudio((s) => s.samples.running);
  const setChoice = useStudio((s) => s.setSampleChoice);
  const setCustom = useStudio((s) => s.setCustomPrompt);
  const selected = choice === 'custom' ? null : prompts.find((p) => p.record === choice);
  return (
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
          <textarea rows={3} value={custom} onChange={(e) => setCustom(e.target.value)} data-testid="sample-custom" />
        </label>
      ) : (
        selected && <p className="sample-selected">{selected.text}</p>
      )}
      <div className="row">
        <Options />
        <button type="submit" className="button primary" disabled={running} data-testid="generate">
          {running ? 'Generating…' : 'Generate'}
        </button>
        {running && <StopButton />}
      </div>
    </form>
  );
}

function Message({ m, i }: { m: ChatMessage; i: number }) {
  return (
    <div className={`chat-msg ${m.role}`} data-testid="chat-message" data-role={m.role} data-index={i}>
      <div className="muted small">{m.role === 'user' ? 'You' : m.model}</div>
      <pre className="sample-text" data-testid="chat-message-text">
        {m.content || '(nothing)'}
      </pre>
      {m.out && <div className="muted small">{stopText(m.out)}</div>}
    </div>
  );
}

function Chat() {
  const chat = useStudio((s) => s.samples.chat);
  const running = useStudio((s) => s.samples.running);
  const streaming = useStudio((s) => s.samples.streaming);
  const hasAdapter = useStudio(adapterAvailable);
  const setDraft = useStudio((s) => s.setChatDraft);
  const setSystem = useStudio((s) => s.setChatSystem);
  const setAdapter = useStudio((s) => s.setChatAdapter);
  const reset = useStudio((s) => s.resetChat);
  const withAdapter = chat.adapter && hasAdapter;
  const send = () => void sendChatMessage();
  // Follow the conversation: the newest message (or the streamed answer) stays in view.
  const log = useRef<HTMLDivElement>(null);
  const partial = withAdapter ? streaming.tuned : streaming.base;
  useEffect(() => {
    const el = log.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [chat.messages.length, partial, running]);
  return (
    <div className="sample-form" data-testid="chat">
      <label className="field-compact">
        <span>System prompt (optional)</span>
        <input
          type="text"
          value={chat.system}
          onChange={(e) => setSystem(e.target.value)}
          placeholder="e.g. You answer with one SQL query."
          data-testid="chat-system"
        />
      </label>
      <div className="row">
        <label className="check">
          <input
            type="checkbox"
            checked={withAdapter}
            disabled={!hasAdapter || running}
            onChange={(e) => setAdapter(e.target.checked)}
            data-testid="chat-adapter"
          />
          <span>Answer with the adapter</span>
        </label>
        <span className="muted small" data-testid="chat-model">
          {withAdapter ? 'Answering: the model with the adapter' : 'Answering: the base model'}
          {!hasAdapter && ' (no adapter yet: start training or import one)'}
        </span>
      </div>
      <div className="chat-log" ref={log} data-testid="chat-log">
        {chat.messages.length === 0 && !running && (
          <p className="muted small">
            Type a message. Each answer reads the whole conversation, rendered with the model's chat template.
          </p>
        )}
        {chat.messages.map((m, i) => (
          <Message m={m} i={i} key={i} />
        ))}
        {running && (
          <div className="chat-msg assistant" data-testid="chat-streaming">
            <div className="muted small">{withAdapter ? 'With the adapter' : 'Base model'}</div>
            <pre className="sample-text streaming" data-testid="chat-streaming-text">
              {partial || '…'}
            </pre>
          </div>
        )}
      </div>
      <form
        className="sample-form"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <textarea
          rows={2}
          value={chat.draft}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              send();
            }
          }}
          placeholder="Your message (Enter sends, Shift+Enter for a new line)"
          data-testid="chat-input"
        />
        <div className="row">
          <Options />
          <button
            type="submit"
            className="button primary"
            disabled={running || !chat.draft.trim()}
            data-testid="chat-send"
          >
            {running ? 'Answering…' : 'Send'}
          </button>
          {running && <StopButton />}
          <button
            type="button"
            className="button"
            disabled={running || chat.messages.length === 0}
            onClick={reset}
            data-testid="chat-reset"
          >
            New conversation
          </button>
        </div>
      </form>
      {chat.rendered !== null && (
        <details>
          <summary className="small">The last answer's prompt, as the model read it</summary>
          <pre className="record-text" data-testid="chat-rendered">
            {chat.rendered}
          </pre>
        </details>
      )}
    </div>
  );
}

export function SamplesPanel() {
  const hasModel = useStudio((s) => s.model.status === 'ready');
  const mode = useStudio((s) => s.samples.mode);
  const running = useStudio((s) => s.samples.running);
  const streaming = useStudio((s) => s.samples.streaming);
  const results = useStudio((s) => s.samples.results);
  const error = useStudio((s) => s.samples.error);
  const setMode = useStudio((s) => s.setSampleMode);
  const training = useStudio((s) => s.training.status === 'running');
  return (
    <div className="panel" data-testid="panel-samples">
      <div className="panel-head">
        <h1>Samples</h1>
        <p className="lead">
          Ask both models the same thing, or chat with one. Validation records were held out of training, so they show
          whether the model learned the task rather than the examples.
        </p>
      </div>
      {!hasModel ? (
        <EmptyState title="No model yet">Load a base model first; samples compare it with your adapter.</EmptyState>
      ) : (
        <Card
          title={mode === 'chat' ? 'Chat' : 'Prompt'}
          actions={
            <div className="row">
              <button
                type="button"
                className={mode === 'compare' ? 'button primary' : 'button'}
                aria-pressed={mode === 'compare'}
                disabled={running}
                onClick={() => setMode('compare')}
                data-testid="sample-mode-compare"
              >
                Compare
              </button>
              <button
                type="button"
                className={mode === 'chat' ? 'button primary' : 'button'}
                aria-pressed={mode === 'chat'}
                disabled={running}
                onClick={() => setMode('chat')}
                data-testid="sample-mode-chat"
              >
                Chat
              </button>
            </div>
          }
        >
          {mode === 'chat' ? <Chat /> : <Compare />}
          {training && <p className="muted small">Training is running: generation happens between two steps.</p>}
          {error && <Alert kind="error">{error}</Alert>}
        </Card>
      )}
      {mode === 'compare' && running && (
        <Card>
          <div className="sample-cols">
            <Output title="Base model" out={null} streaming={streaming.base} testId="stream-base" />
            <Output title="With the adapter" out={null} streaming={streaming.tuned} testId="stream-tuned" />
          </div>
        </Card>
      )}
      {mode === 'compare' && results.map((r, i) => <Result r={r} key={results.length - i} />)}
    </div>
  );
}
