// Step 1, the base model: the built-in demo in one click, a folder or files from disk, or a Hub
// repo; then what it is (architecture, size, dtype, prompt format), the GPU memory a run with the
// current hyperparameters will take, and this GPU's limits and self-test.

import { useRef, useState } from 'react';
import { useStudio } from '../store/store';
import { cancelDownload, loadDemoModel, loadHubModel, loadModelFiles } from '../store/model.actions';
import { fromInput } from '../components/files';
import { Alert, Card, EmptyState, KeyValues, Progress } from '../components/common';
import { fmtBytes, fmtCount, fmtParams } from '../lib/format';
import type { LoadStatus } from '../../worker/api';
import { MODEL_FAMILIES } from '../../engine/model/config';

/** "Llama, Mistral, ... or Gemma 3": the families a checkpoint may be (model/config.ts). */
const FAMILY_NAMES = Object.values(MODEL_FAMILIES)
  .map((f) => f.name)
  .join(', ')
  .replace(/, ([^,]*)$/, ' or $1');

function LoadProgress({ progress, label }: { progress: LoadStatus | null; label: string }) {
  if (!progress || progress.status === 'initiate' || progress.status === 'ready') {
    return (
      <div className="load-progress">
        <div className="muted">Opening {label}…</div>
        <Progress label={`Loading ${label}`} />
      </div>
    );
  }
  if (progress.status === 'download') {
    return (
      <div className="load-progress" data-testid="hub-progress">
        <div className="muted">
          Downloading {progress.file} ({fmtBytes(progress.loaded)} of {fmtBytes(progress.total)}) · file{' '}
          {Math.min(progress.filesDone + (progress.loaded < progress.total ? 1 : 0), progress.filesTotal)} of{' '}
          {progress.filesTotal} · {fmtBytes(progress.bytesLoaded)} of {fmtBytes(progress.bytesTotal)} in all
        </div>
        <Progress value={progress.bytesLoaded} max={progress.bytesTotal} label="Download" testId="download-bar" />
      </div>
    );
  }
  if (progress.status === 'upload') {
    return (
      <div className="load-progress">
        <div className="muted">
          Copying the weights to the GPU: {fmtBytes(progress.bytesDone)} of {fmtBytes(progress.bytesTotal)}
        </div>
        <Progress value={progress.bytesDone} max={progress.bytesTotal} label="Upload to GPU" />
      </div>
    );
  }
  return <Progress label={`Loading ${label}`} />;
}

function Sources({ withDemo }: { withDemo: boolean }) {
  const status = useStudio((s) => s.model.status);
  const loading = useStudio((s) => s.model.loading);
  const progress = useStudio((s) => s.model.progress);
  const hub = useStudio((s) => s.hub);
  const setHub = useStudio((s) => s.setHub);
  const folderInput = useRef<HTMLInputElement>(null);
  const filesInput = useRef<HTMLInputElement>(null);
  const [advanced, setAdvanced] = useState(false);
  const busy = status === 'loading';
  const fromHub = busy && loading === hub.repo.trim();
  return (
    <div className={`sources ${withDemo ? '' : 'sources-2'}`}>
      {withDemo && (
        <div className="source">
          <h3>Built-in demo</h3>
          <p className="muted">
            A tiny Llama (250K parameters) that knows a small shop database but not how to answer questions. With the
            demo dataset it learns to answer in SQL in a few minutes, even on a laptop.
          </p>
          <button
            type="button"
            className="button primary"
            disabled={busy}
            onClick={() => void loadDemoModel()}
            data-testid="load-demo-model"
          >
            Use the demo model
          </button>
        </div>
      )}
      <div className="source">
        <h3>From your disk</h3>
        <p className="muted">
          A Hugging Face checkpoint folder: <code>config.json</code>, <code>*.safetensors</code>,{' '}
          <code>tokenizer.json</code>, <code>tokenizer_config.json</code>. Or drop the folder anywhere on this page.
        </p>
        <div className="row">
          <button type="button" className="button" disabled={busy} onClick={() => folderInput.current?.click()}>
            Choose folder…
          </button>
          <button type="button" className="button" disabled={busy} onClick={() => filesInput.current?.click()}>
            Choose files…
          </button>
        </div>
        <input
          ref={folderInput}
          type="file"
          hidden
          {...{ webkitdirectory: '', directory: '' }}
          onChange={(e) => {
            const files = fromInput(e.target.files);
            e.target.value = '';
            if (files.length) void loadModelFiles(files);
          }}
          data-testid="model-folder-input"
        />
        <input
          ref={filesInput}
          type="file"
          hidden
          multiple
          onChange={(e) => {
            const files = fromInput(e.target.files);
            e.target.value = '';
            if (files.length) void loadModelFiles(files);
          }}
          data-testid="model-files-input"
        />
      </div>
      <form
        className="source"
        onSubmit={(e) => {
          e.preventDefault();
          void loadHubModel();
        }}
      >
        <h3>From the Hugging Face Hub</h3>
        <label className="field-compact">
          <span>Model id</span>
          <input
            type="text"
            value={hub.repo}
            placeholder="HuggingFaceTB/SmolLM2-135M-Instruct"
            onChange={(e) => setHub({ repo: e.target.value })}
            autoComplete="off"
            spellCheck={false}
            data-testid="hub-repo"
          />
        </label>
        <div className="row">
          <label className="field-compact grow">
            <span>Revision</span>
            <input
              type="text"
              value={hub.revision}
              onChange={(e) => setHub({ revision: e.target.value })}
              data-testid="hub-revision"
            />
          </label>
          <label className="field-compact grow">
            <span>Access token</span>
            <input
              type="password"
              value={hub.token}
              placeholder="hf_… (private or gated models)"
              autoComplete="off"
              onChange={(e) => setHub({ token: e.target.value })}
              data-testid="hub-token"
            />
          </label>
        </div>
        <button type="button" className="link-button" aria-expanded={advanced} onClick={() => setAdvanced(!advanced)}>
          {advanced ? 'Hide' : 'Show'} advanced settings
        </button>
        {advanced && (
          <label className="field-compact">
            <span>Hub endpoint (a mirror, or a local server)</span>
            <input
              type="url"
              value={hub.endpoint}
              onChange={(e) => setHub({ endpoint: e.target.value })}
              data-testid="hub-endpoint"
            />
          </label>
        )}
        <div className="row">
          <button type="submit" className="button" disabled={busy} data-testid="hub-download">
            Download
          </button>
          {fromHub && (
            <button type="button" className="button" onClick={() => cancelDownload()}>
              Cancel
            </button>
          )}
        </div>
        <p className="muted small">The token stays in this tab: it is sent to the Hub only and never saved.</p>
      </form>
      {busy && <LoadProgress progress={progress} label={loading ?? 'the model'} />}
    </div>
  );
}

function ModelCard() {
  const m = useStudio((s) => s.model.summary)!;
  return (
    <Card title={<>Model: {m.name}</>} testId="model-card">
      <KeyValues
        testId="model-info"
        rows={[
          [
            'Family',
            <span data-testid="model-family" key="f">
              {m.family}
            </span>,
          ],
          ['Architecture', `${m.architecture} (${m.modelType})`],
          [
            'Parameters',
            <span data-testid="model-params" key="p">{`${fmtParams(m.params)} (${fmtCount(m.params)})`}</span>,
          ],
          ['Layers', m.numLayers],
          ['Hidden size', m.hiddenSize],
          ['Attention heads', `${m.numHeads} query, ${m.numKvHeads} key/value (head dim ${m.headDim})`],
          ['MLP size', m.intermediateSize],
          ['Vocabulary', fmtCount(m.vocabSize)],
          ['Context length', fmtCount(m.maxPositionEmbeddings)],
          ['Weights', `${m.dtype}, ${fmtBytes(m.weightBytes)}`],
          ['Embeddings', m.tiedEmbeddings ? 'tied to the LM head' : 'separate LM head'],
          [
            'Prompt format',
            m.promptFormat === 'chat'
              ? "the model's chat template (tokenizer_config.json)"
              : 'Alpaca (the model has no chat template)',
          ],
          [
            'Special tokens',
            m.specialTokens.length ? (
              <span className="chips" key="s">
                {m.specialTokens.map((t) => (
                  <span className="tok-special" key={t}>
                    {t}
                  </span>
                ))}
              </span>
            ) : (
              'none'
            ),
          ],
          ['Adapter name', <code key="b">{m.baseModelNameOrPath}</code>],
          ['Files', m.files.join(', ')],
        ]}
      />
    </Card>
  );
}

function MemoryCard() {
  const est = useStudio((s) => s.estimate);
  const error = useStudio((s) => s.estimateError);
  const held = useStudio((s) => s.training.gpuBytes);
  const running = useStudio((s) => s.training.status !== 'idle');
  if (error) return <Alert kind="warning">{error}</Alert>;
  if (!est) return null;
  const m = est.memory;
  const parts: [string, number][] = [
    ['Frozen weights', m.weights],
    ['Activations', m.activations],
    ['LM head scratch', m.lmHead],
    ['LoRA weights, gradients, AdamW', m.loraState],
  ];
  return (
    <Card title="GPU memory for a run" testId="memory-card">
      <div className="memory-total">
        <span className="big" data-testid="memory-total">
          {fmtBytes(m.total)}
        </span>
        <span className="muted"> with the current hyperparameters (batch, sequence length, rank)</span>
      </div>
      <div className="membar" aria-hidden="true">
        {parts.map(([label, b]) => (
          <div
            key={label}
            className={`membar-part membar-${label.split(' ')[0].toLowerCase()}`}
            style={{ flexGrow: b }}
            title={label}
          />
        ))}
      </div>
      <KeyValues
        rows={parts.map(([l, b]) => [
          <span key={l}>
            <i className={`swatch membar-${l.split(' ')[0].toLowerCase()}`} aria-hidden="true" /> {l}
          </span>,
          fmtBytes(b),
        ])}
      />
      <p className="muted small">
        The engine&apos;s own allocation plan, checked before a run starts; per-dispatch uniforms are left out.
      </p>
      {m.problem && (
        <p className="error small" data-testid="memory-problem">
          {m.problem}
        </p>
      )}
      {running && held > 0 && (
        <p className="small">
          Measured: the current run holds <strong>{fmtBytes(held)}</strong> of GPU buffers.
        </p>
      )}
    </Card>
  );
}

function GpuCard() {
  const info = useStudio((s) => s.gpu.info);
  const status = useStudio((s) => s.gpu.status);
  if (status === 'checking') {
    return (
      <Card title="Your GPU">
        <p className="muted">Checking WebGPU…</p>
      </Card>
    );
  }
  if (!info) return null;
  const t = info.selftest;
  const l = info.limits;
  return (
    <Card title="Your GPU" testId="gpu-card">
      <p data-testid="gpu-selftest" data-ok={String(t.ok)} className={t.ok ? 'ok-line' : 'bad-line'}>
        {t.adapter}: matmul {t.shape.join('×')} max error {t.maxAbsError.toExponential(2)} {t.ok ? 'OK' : 'FAILED'}
      </p>
      {info.isCpu && (
        <p className="muted small">
          This is a software (CPU) WebGPU adapter: everything works, but training is slow. A real GPU is much faster.
        </p>
      )}
      <KeyValues
        rows={[
          ['maxBufferSize', fmtBytes(l.maxBufferSize)],
          ['maxStorageBufferBindingSize', fmtBytes(l.maxStorageBufferBindingSize)],
          ['maxStorageBuffersPerShaderStage', l.maxStorageBuffersPerShaderStage],
          ['maxComputeWorkgroupStorageSize', fmtBytes(l.maxComputeWorkgroupStorageSize)],
          ['maxComputeInvocationsPerWorkgroup', l.maxComputeInvocationsPerWorkgroup],
          ['maxComputeWorkgroupsPerDimension', fmtCount(l.maxComputeWorkgroupsPerDimension)],
          ['subgroups', info.subgroups ? 'yes' : 'no'],
        ]}
      />
    </Card>
  );
}

export function ModelPanel() {
  const status = useStudio((s) => s.model.status);
  const hasModel = useStudio((s) => s.model.summary !== null);
  const inUse = useStudio((s) => s.model.summary?.name);
  const error = useStudio((s) => s.model.error);
  const setTab = useStudio((s) => s.setTab);
  return (
    <div className="panel" data-testid="panel-model">
      <div className="panel-head">
        <h1>Base model</h1>
        <p className="lead">The model you fine-tune. It stays frozen; training adds a small LoRA adapter on top.</p>
      </div>
      {!hasModel && status !== 'loading' && (
        <EmptyState
          title="Start with the demo model"
          action={
            <button
              type="button"
              className="button primary large"
              onClick={() => void loadDemoModel()}
              data-testid="empty-demo-model"
            >
              Use the demo model
            </button>
          }
        >
          New to fine-tuning? The demo model and its dataset show the whole loop in minutes: train, compare answers
          before and after, export an adapter. Or bring a {FAMILY_NAMES} checkpoint below.
        </EmptyState>
      )}
      {error && (
        <Alert kind="error" testId="model-error">
          {error}
        </Alert>
      )}
      {!hasModel && (
        <Card title="Or bring your own model">
          <Sources withDemo={false} />
        </Card>
      )}
      {hasModel && (
        <>
          <Alert kind="success" testId="model-loaded">
            Model loaded: {inUse}.{' '}
            <button type="button" className="link-button" onClick={() => setTab('dataset')}>
              Next: add a dataset →
            </button>
          </Alert>
          <div className="grid-2">
            <ModelCard />
            <div className="stack">
              <MemoryCard />
              <GpuCard />
            </div>
          </div>
          <details className="card other-model" open={status === 'loading' || !!error}>
            <summary>
              <h2>Load a different model</h2>
            </summary>
            <Sources withDemo />
          </details>
        </>
      )}
      {!hasModel && <GpuCard />}
    </div>
  );
}
