// "Export recipe" (issue 7): the same fine-tune as a folder for Hugging Face transformers + PEFT
// under Accelerate, for when a user outgrows the browser (a bigger model, one big GPU or several).
// Available as soon as a model and a dataset are loaded: it needs no training.

import { useState } from 'react';
import { useStudio } from '../store/store';
import { exportRecipe, type ExportResult } from '../store/export.actions';
import { datasetUsable } from '../store/dataset';
import { Alert, Card } from '../components/common';
import { RECIPE_MODEL_FLAG } from '../../recipe/flags';

export function RecipeCard() {
  const model = useStudio((s) => s.model.summary);
  const usable = useStudio((s) => datasetUsable(s.dataset));
  const runHparams = useStudio((s) => s.training.hparams);
  const issues = useStudio((s) => Object.keys(s.hparamIssues).length);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ExportResult | null>(null);
  const ready = !!model && usable && (runHparams !== null || issues === 0);
  const run = async () => {
    setBusy(true);
    setResult(await exportRecipe());
    setBusy(false);
  };
  return (
    <Card title="Recipe for Hugging Face + Accelerate" testId="recipe-card">
      <p className="small">
        Outgrown the browser? Download this run as a folder that trains the same adapter with transformers, PEFT and
        Accelerate: <code>train.py</code> with the same prompt template, label masking, truncation, validation split and
        seed; the same <code>LoraConfig</code> and <code>TrainingArguments</code>; your data as JSONL; an Accelerate
        config for one GPU and a DeepSpeed ZeRO-2 config for several; pinned requirements and a README. Point{' '}
        <code>{RECIPE_MODEL_FLAG}</code> at a bigger model of the same family to scale up.
      </p>
      <p className="muted small">
        {runHparams
          ? 'It uses the settings of the current run.'
          : 'It uses the settings of the Hyperparameters step (no run yet).'}{' '}
        The adapter it saves is in the PEFT layout, so you can import it back here to compare samples or train on.
      </p>
      {result && (
        <Alert kind={result.ok ? 'success' : 'error'} onDismiss={() => setResult(null)} testId="recipe-result">
          {result.message}
        </Alert>
      )}
      <div className="row">
        <button
          type="button"
          className="button"
          disabled={!ready || busy}
          onClick={() => void run()}
          data-testid="download-recipe"
        >
          {busy ? 'Building…' : 'Export recipe (.zip)'}
        </button>
        {!ready && (
          <span className="muted small">
            {!model
              ? 'Load a model first.'
              : !usable
                ? 'Load a dataset first.'
                : 'Fix the hyperparameters marked in the Hyperparameters step first.'}
          </span>
        )}
      </div>
    </Card>
  );
}
