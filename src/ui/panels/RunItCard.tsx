// Export for running the fine-tuned model elsewhere (issue 17): merged Hugging Face checkpoint
// (transformers, vLLM), one GGUF for llama.cpp / LM Studio / Ollama's FROM, or the adapter as a
// GGUF LoRA beside the base GGUF (llama-cli --lora, Ollama's ADAPTER). Files stream into the
// folder you pick, with a progress bar; nothing of the size of the model is held twice.

import { useState } from 'react';
import type { ExportFormat, ExportProgress, GgufOutType } from '../../run/export-model';
import { canPickFolder, exportModelFiles } from '../store/export-model.actions';
import type { ExportResult } from '../store/export.actions';
import { Alert, Card, Progress } from '../components/common';

const FORMATS: { value: ExportFormat; label: string }[] = [
  { value: 'merged', label: 'Merged checkpoint (Hugging Face folder, the base dtype)' },
  { value: 'gguf', label: 'Merged GGUF + Ollama Modelfile' },
  { value: 'gguf-lora', label: 'GGUF LoRA adapter + base GGUF + Modelfile' },
];
const OUTTYPES: GgufOutType[] = ['f16', 'bf16', 'q8_0', 'f32'];

export function RunItCard(props: { hasBest: boolean; disabled: boolean }) {
  const [format, setFormat] = useState<ExportFormat>('gguf');
  const [outType, setOutType] = useState<GgufOutType>('f16');
  const [which, setWhich] = useState<'last' | 'best'>('last');
  const [progress, setProgress] = useState<ExportProgress | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ExportResult | null>(null);
  const run = async () => {
    setBusy(true);
    setResult(null);
    setResult(await exportModelFiles(props.hasBest ? which : 'last', { format, outType }, setProgress));
    setProgress(null);
    setBusy(false);
  };
  return (
    <Card title="Run it: merged model, GGUF, Ollama" testId="runit-card">
      <p className="small">
        The merged checkpoint loads in transformers and vLLM like any model. The GGUF runs in llama.cpp, LM Studio and
        Ollama: the folder gets a <code>Modelfile</code>, so <code>ollama create my-model -f Modelfile</code> is all
        that is left. Large models take a while: the files are written one tensor at a time.
      </p>
      <div className="row">
        <label>
          Format{' '}
          <select value={format} onChange={(e) => setFormat(e.target.value as ExportFormat)} data-testid="runit-format">
            {FORMATS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </label>
        {format !== 'merged' && (
          <label>
            GGUF type{' '}
            <select
              value={outType}
              onChange={(e) => setOutType(e.target.value as GgufOutType)}
              data-testid="runit-outtype"
            >
              {OUTTYPES.map((t) => (
                <option key={t} value={t}>
                  {t.toUpperCase()}
                </option>
              ))}
            </select>
          </label>
        )}
        {props.hasBest && (
          <label>
            Adapter{' '}
            <select value={which} onChange={(e) => setWhich(e.target.value as 'last' | 'best')}>
              <option value="last">last</option>
              <option value="best">best</option>
            </select>
          </label>
        )}
        <button
          type="button"
          className="button primary"
          disabled={busy || props.disabled}
          onClick={() => void run()}
          data-testid="runit-export"
        >
          {canPickFolder() ? 'Export to a folder…' : 'Export (downloads)'}
        </button>
      </div>
      {progress && (
        <Progress
          value={progress.bytesDone}
          max={progress.bytesTotal}
          label={`Writing ${progress.file}`}
          testId="runit-progress"
        />
      )}
      {result && (
        <Alert kind={result.ok ? 'success' : 'error'} onDismiss={() => setResult(null)} testId="runit-result">
          {result.message}
        </Alert>
      )}
    </Card>
  );
}
