// The benchmark page: `npm run bench` in the browser. The same benchTraining runs in the studio's
// worker on this tab's WebGPU adapter (random weights with the exact shapes of the tiny demo model,
// SmolLM2-135M and Qwen2.5-0.5B; timed LoRA optimizer steps), so a user sees what their own GPU
// does before they pick a model, and we can compare browsers with Node's Dawn on one machine.

import { useEffect, useState } from 'react';
import { useStudio } from '../store/store';
import { CPU_BENCH } from '../store/bench';
import {
  benchJsonLines,
  clearBenchResults,
  downloadBenchResults,
  refreshBenchEstimate,
  runBench,
} from '../store/bench.actions';
import type { BenchRequest, BenchResult } from '../../worker/api';
import { Alert, Card, KeyValues } from '../components/common';
import { fmtBytes, fmtCount } from '../lib/format';

const SHAPES: { value: BenchRequest['shape']; label: string }[] = [
  { value: 'tiny', label: 'tiny (the demo model)' },
  { value: 'smollm2-135m', label: 'SmolLM2-135M shape' },
  { value: 'qwen2.5-0.5b', label: 'Qwen2.5-0.5B shape' },
];

/** PyTorch + PEFT eager on one H100 (docs/performance.md, scripts/peft_baseline.py): the figures the engine aims to beat. */
const BASELINE: { shape: string; targets: string; dtype: string; tokS: number; peakMb: number }[] = [
  { shape: 'SmolLM2-135M', targets: 'q_proj, v_proj', dtype: 'fp32', tokS: 15058, peakMb: 4647 },
  { shape: 'SmolLM2-135M', targets: 'all-linear', dtype: 'fp32', tokS: 10478, peakMb: 5327 },
  { shape: 'Qwen2.5-0.5B', targets: 'q_proj, v_proj', dtype: 'fp32', tokS: 16286, peakMb: 11171 },
  { shape: 'Qwen2.5-0.5B', targets: 'all-linear', dtype: 'fp32', tokS: 12754, peakMb: 12478 },
];

const NUMBERS: { key: 'r' | 'batch' | 'seq' | 'steps' | 'warmup'; label: string; min: number; max: number }[] = [
  { key: 'r', label: 'r', min: 1, max: 256 },
  { key: 'batch', label: 'batch', min: 1, max: 64 },
  { key: 'seq', label: 'sequence length', min: 8, max: 4096 },
  { key: 'steps', label: 'timed steps', min: 1, max: 200 },
  { key: 'warmup', label: 'warm-up steps', min: 0, max: 50 },
];

function NumberInput(props: {
  label: string;
  value: number;
  min: number;
  max: number;
  onChange: (v: number) => void;
  disabled: boolean;
  testId: string;
}) {
  const [text, setText] = useState(String(props.value));
  // A value set from outside (the CPU defaults) replaces the text: React's "adjust state on a prop change".
  const [shown, setShown] = useState(props.value);
  if (shown !== props.value) {
    setShown(props.value);
    setText(String(props.value));
  }
  const n = Number(text);
  const bad = !Number.isInteger(n) || n < props.min || n > props.max;
  return (
    <label className={bad ? 'field-invalid' : undefined}>
      <span>{props.label}</span>
      <input
        type="text"
        inputMode="numeric"
        value={text}
        disabled={props.disabled}
        aria-invalid={bad}
        data-testid={props.testId}
        onChange={(e) => {
          setText(e.target.value);
          const v = Number(e.target.value);
          if (Number.isInteger(v) && v >= props.min && v <= props.max) {
            setShown(v);
            props.onChange(v);
          }
        }}
      />
      {bad && (
        <span className="field-error">
          a whole number from {props.min} to {props.max}
        </span>
      )}
    </label>
  );
}

function Form() {
  const req = useStudio((s) => s.bench.request);
  const running = useStudio((s) => s.bench.running);
  const setReq = useStudio((s) => s.setBenchRequest);
  const allLinear = req.targets === 'all-linear';
  return (
    <div className="bench-form" data-testid="bench-form">
      <label>
        <span>Model shape</span>
        <select
          value={req.shape}
          disabled={running}
          onChange={(e) => setReq({ shape: e.target.value as BenchRequest['shape'] })}
          data-testid="bench-shape"
        >
          {SHAPES.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span>LoRA targets</span>
        <select
          value={allLinear ? 'all-linear' : 'qv'}
          disabled={running}
          onChange={(e) => setReq({ targets: e.target.value === 'all-linear' ? 'all-linear' : ['q_proj', 'v_proj'] })}
          data-testid="bench-targets"
        >
          <option value="qv">q_proj, v_proj</option>
          <option value="all-linear">all-linear</option>
        </select>
      </label>
      {NUMBERS.map((f) => (
        <NumberInput
          key={f.key}
          label={f.label}
          value={req[f.key]}
          min={f.min}
          max={f.max}
          disabled={running}
          testId={`bench-${f.key}`}
          onChange={(v) => setReq({ [f.key]: v })}
        />
      ))}
      <label>
        <span>weights dtype</span>
        <select
          value={req.dtype}
          disabled={running}
          onChange={(e) => setReq({ dtype: e.target.value as BenchRequest['dtype'] })}
          data-testid="bench-dtype"
        >
          <option value="BF16">bf16</option>
          <option value="F16">f16</option>
          <option value="F32">f32</option>
        </select>
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={req.nf4}
          disabled={running}
          onChange={(e) => setReq({ nf4: e.target.checked })}
        />
        <span>NF4 base weights (QLoRA)</span>
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={req.checkpointing}
          disabled={running}
          onChange={(e) => setReq({ checkpointing: e.target.checked })}
        />
        <span>gradient checkpointing</span>
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={req.profile}
          disabled={running}
          onChange={(e) => setReq({ profile: e.target.checked })}
        />
        <span>per-kernel times</span>
      </label>
    </div>
  );
}

function Kernels({ r }: { r: BenchResult }) {
  if (!r.kernels?.length) return <span className="muted small">no per-kernel times (no timestamp-query)</span>;
  const total = r.kernels.reduce((a, k) => a + k.ms, 0);
  const top = [...r.kernels].sort((a, b) => b.ms - a.ms).slice(0, 12);
  return (
    <details>
      <summary className="small">per-kernel GPU time ({total.toFixed(1)} ms in one profiled micro-batch)</summary>
      <table className="table num">
        <thead>
          <tr>
            <th>kernel</th>
            <th>dispatches</th>
            <th>ms</th>
            <th>share</th>
          </tr>
        </thead>
        <tbody>
          {top.map((k) => (
            <tr key={k.label}>
              <td>{k.label}</td>
              <td>{k.count}</td>
              <td>{k.ms.toFixed(3)}</td>
              <td>{((100 * k.ms) / total).toFixed(1)}%</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

function Results() {
  const results = useStudio((s) => s.bench.results);
  const [copied, setCopied] = useState(false);
  if (!results.length) return null;
  const copy = async () => {
    await navigator.clipboard?.writeText(benchJsonLines());
    setCopied(true);
  };
  return (
    <Card
      title="Results"
      testId="bench-results"
      actions={
        <>
          <button type="button" className="button" onClick={() => void copy()}>
            {copied ? 'Copied' : 'Copy JSON lines'}
          </button>
          <button type="button" className="button" onClick={downloadBenchResults} data-testid="bench-download">
            Download (.jsonl)
          </button>
          <button type="button" className="button" onClick={clearBenchResults}>
            Clear
          </button>
        </>
      }
    >
      <div className="table-scroll">
        <table className="table num">
          <thead>
            <tr>
              <th>shape</th>
              <th>targets, r</th>
              <th>batch × seq</th>
              <th>weights</th>
              <th>tokens/s</th>
              <th>ms/step</th>
              <th>peak GPU</th>
              <th>estimate</th>
              <th>loss</th>
            </tr>
          </thead>
          <tbody>
            {results.map((r, i) => (
              <tr key={i} data-testid="bench-row">
                <td>{r.shape}</td>
                <td>
                  {r.targets.split(',').length === 7 ? 'all-linear' : r.targets}, {r.r}
                </td>
                <td>
                  {r.batch} × {r.seq}
                </td>
                <td>
                  {r.nf4 ? 'nf4' : r.dtype}
                  {r.gradient_checkpointing ? ', ckpt' : ''}
                </td>
                <td data-testid="bench-tokens">{fmtCount(r.tokens_per_s)}</td>
                <td>{r.ms_per_step.toFixed(1)}</td>
                <td data-testid="bench-peak">{fmtBytes(r.peak_bytes)}</td>
                <td>{fmtBytes(r.estimate_bytes)}</td>
                <td>{r.final_loss.toFixed(4)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {results.map((r, i) => (
        <div key={i} className="small">
          <strong>
            #{i + 1} {r.shape}
          </strong>{' '}
          on{' '}
          {[r.adapter.vendor, r.adapter.architecture, r.adapter.description].filter(Boolean).join(' · ') ||
            'this adapter'}
          : step times {r.ms_steps.join(', ')} ms. <Kernels r={r} />
        </div>
      ))}
    </Card>
  );
}

export function BenchPanel() {
  const req = useStudio((s) => s.bench.request);
  const estimate = useStudio((s) => s.bench.estimate);
  const running = useStudio((s) => s.bench.running);
  const log = useStudio((s) => s.bench.log);
  const error = useStudio((s) => s.bench.error);
  const info = useStudio((s) => s.gpu.info);
  const training = useStudio((s) => s.training.status);
  const setReq = useStudio((s) => s.setBenchRequest);
  const busyTraining =
    training === 'running' || training === 'paused' || training === 'starting' || training === 'stopping';
  const isCpu = info?.isCpu ?? false;
  useEffect(() => {
    if (info) void refreshBenchEstimate(req);
  }, [req, info]);
  // A CPU adapter: the CLI's shorter defaults, once.
  useEffect(() => {
    if (isCpu && req.steps === 20 && req.warmup === 5) setReq(CPU_BENCH);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [isCpu]);
  return (
    <div className="panel" data-testid="panel-bench">
      <div className="panel-head">
        <h1>Benchmark this GPU</h1>
        <p className="lead">
          Times LoRA fine-tuning steps on your GPU with the studio's own kernels: random-weight models with the exact
          shapes of the demo model, SmolLM2-135M and Qwen2.5-0.5B, random tokens, AdamW, one micro-batch per step. It is{' '}
          <code>npm run bench</code> run in this tab; each result is the same JSON line the command prints.
        </p>
      </div>
      {info && (
        <Card title="This adapter">
          <KeyValues
            rows={[
              ['kind', isCpu ? 'CPU (software WebGPU: only ratios between runs mean anything)' : 'GPU'],
              ['largest buffer', fmtBytes(info.limits.maxBufferSize)],
              ['largest storage binding', fmtBytes(info.limits.maxStorageBufferBindingSize)],
              ['subgroup operations', info.subgroups ? 'yes' : 'no (fallback kernels)'],
            ]}
          />
        </Card>
      )}
      <Card title="Configuration">
        <Form />
        {estimate &&
          (estimate.problem ? (
            <Alert kind="error" testId="bench-problem">
              Does not fit this adapter: {estimate.problem}
            </Alert>
          ) : (
            <p className="small" data-testid="bench-estimate">
              GPU memory estimate: {estimate.text}
            </p>
          ))}
        {isCpu && req.shape !== 'tiny' && (
          <Alert kind="warning">
            This is a CPU adapter: one step of this shape takes many minutes here. The tiny shape is the one to run.
          </Alert>
        )}
        {busyTraining && (
          <Alert kind="info">A run is training: the benchmark waits until it ends (they share the GPU).</Alert>
        )}
        {error && (
          <Alert kind="error" testId="bench-error">
            {error}
          </Alert>
        )}
        <div className="row">
          <button
            type="button"
            className="button primary"
            disabled={running || busyTraining || !info || !!estimate?.problem}
            onClick={() => void runBench()}
            data-testid="bench-run"
          >
            {running ? 'Running…' : 'Run benchmark'}
          </button>
        </div>
        {log.length > 0 && (
          <pre className="bench-log" data-testid="bench-log">
            {log.slice(-12).join('\n')}
          </pre>
        )}
      </Card>
      <Results />
      <Card title="What to compare with">
        <p className="small">
          PyTorch + PEFT eager on one NVIDIA H100 (<code>scripts/peft_baseline.py</code>: LoRA r 8, batch 8 × 256,
          random weights). Compare only figures measured on the same GPU. The studio computes in fp32 whatever the
          weights' storage dtype (bf16 weights are widened inside the kernels), so its runs compare with the fp32 rows.
        </p>
        <table className="table num">
          <thead>
            <tr>
              <th>shape</th>
              <th>targets</th>
              <th>dtype</th>
              <th>tokens/s</th>
              <th>peak MB</th>
            </tr>
          </thead>
          <tbody>
            {BASELINE.map((b, i) => (
              <tr key={i}>
                <td>{b.shape}</td>
                <td>{b.targets}</td>
                <td>{b.dtype}</td>
                <td>{fmtCount(b.tokS)}</td>
                <td>{fmtCount(b.peakMb)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
    </div>
  );
}
