// Step 3, hyperparameters, grouped as PEFT's LoraConfig and Hugging Face's TrainingArguments and
// named as they name them, so a recipe read elsewhere maps field for field. Above the form, what
// the values mean for this model and data: trainable parameters (PEFT's line), steps, memory.
// Continuing an imported adapter is here too, since its rank and targets replace the form's.

import { useRef } from 'react';
import { type ModelType, linearModules } from '../../engine/model/config';
import { INIT_LORA_WEIGHTS, QUANT_TYPES, SCHEDULERS, fieldHelp } from '../../config/hparams';
import { useStudio } from '../store/store';
import { clearImportedAdapter, importAdapter, setUseImportedAdapter } from '../store/training.actions';
import { fromInput } from '../components/files';
import { Alert, Card, Stat } from '../components/common';
import { BoolField, NumberField, SelectField, TextField } from '../components/fields';
import { fmtBytes, fmtCount } from '../lib/format';

function TargetModules({ disabled }: { disabled: boolean }) {
  const value = useStudio((s) => s.hparams.lora.target_modules);
  const issue = useStudio((s) => s.hparamIssues['lora.target_modules']);
  const set = useStudio((s) => s.setLora);
  const modelType = useStudio((s) => s.model.summary?.modelType);
  // The loaded model's family decides the names (Phi-3: fused qkv_proj, gate_up_proj); Llama's otherwise.
  const family = linearModules({ modelType: (modelType ?? 'llama') as ModelType });
  const fused = family.includes('qkv_proj');
  const all = value === 'all-linear';
  const regex = typeof value === 'string' && !all;
  const chosen = new Set(all || regex ? family : value);
  return (
    <fieldset
      className={`field field-wide ${issue ? 'field-invalid' : ''}`}
      data-testid="field-target_modules"
      disabled={disabled}
    >
      <legend className="field-label">
        <code>target_modules</code>
      </legend>
      <label className="check">
        <input
          type="checkbox"
          checked={all}
          disabled={regex}
          onChange={(e) =>
            set('target_modules', e.target.checked ? 'all-linear' : fused ? ['qkv_proj'] : ['q_proj', 'v_proj'])
          }
          data-testid="target-all-linear"
        />
        <span>
          <code>all-linear</code> (all {fused ? 'four' : 'seven'} linear layers of every block: usually better than{' '}
          {fused ? 'qkv alone' : 'q/v alone'})
        </span>
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={regex}
          onChange={(e) =>
            set(
              'target_modules',
              e.target.checked ? 'model\\.layers\\.\\d+\\.self_attn\\.(q|v)_proj' : ['q_proj', 'v_proj'],
            )
          }
          data-testid="target-regex"
        />
        <span>
          a regular expression (PEFT: it must match the whole name, e.g. <code>model.layers.3.mlp.down_proj</code>):
          pick modules of some layers only
        </span>
      </label>
      {regex && (
        <input
          type="text"
          value={value}
          onChange={(e) => set('target_modules', e.target.value)}
          data-testid="target-regex-input"
          aria-label="target_modules regular expression"
        />
      )}
      <div className="checks">
        {family.map((m) => (
          <label className="check" key={m}>
            <input
              type="checkbox"
              checked={chosen.has(m)}
              disabled={all || regex}
              onChange={(e) => {
                const next = family.filter((x) => (x === m ? e.target.checked : chosen.has(x)));
                set('target_modules', next);
              }}
              data-testid={`target-${m}`}
            />
            <code>{m}</code>
          </label>
        ))}
      </div>
      <div className="field-help">
        {fused
          ? 'which linear layers get a LoRA adapter; attention: qkv (fused), o; MLP: gate_up (fused), down'
          : 'which linear layers get a LoRA adapter; attention: q, k, v, o; MLP: gate, up, down'}
      </div>
      {issue && <div className="field-error">{issue}</div>}
    </fieldset>
  );
}

/** "0,2,5" <-> [0, 2, 5]; empty <-> null (every layer). */
function parseLayers(t: string): { value: unknown } | { error: string } {
  if (t.trim() === '') return { value: null };
  const ids = t.split(',').map((s) => Number(s.trim()));
  return ids.every((n) => Number.isInteger(n) && n >= 0)
    ? { value: ids }
    : { error: 'layer indices from 0, separated by commas (empty: every layer)' };
}

/** "down_proj=16, o_proj=4" <-> {down_proj: 16, o_proj: 4}. */
function parsePatterns(t: string): { value: unknown } | { error: string } {
  const out: Record<string, number> = {};
  for (const part of t.split(',').filter((s) => s.trim())) {
    const eq = part.lastIndexOf('=');
    const v = Number(part.slice(eq + 1));
    if (eq <= 0 || !Number.isFinite(v)) return { error: 'pattern=value pairs separated by commas, e.g. down_proj=16' };
    out[part.slice(0, eq).trim()] = v;
  }
  return { value: out };
}

const showLayers = (v: unknown) => (Array.isArray(v) ? v.join(', ') : v == null ? '' : String(v));
const showPatterns = (v: unknown) =>
  Object.entries((v ?? {}) as Record<string, number>)
    .map(([k, x]) => `${k}=${x}`)
    .join(', ');

function InitLoraWeights({ disabled }: { disabled: boolean }) {
  const value = useStudio((s) => s.hparams.lora.init_lora_weights);
  const issue = useStudio((s) => s.hparamIssues['lora.init_lora_weights']);
  const set = useStudio((s) => s.setLora);
  const options: string[] = [...INIT_LORA_WEIGHTS];
  if (!options.includes(String(value))) options.push(String(value));
  return (
    <div className={`field ${issue ? 'field-invalid' : ''}`} data-testid="field-init_lora_weights">
      <label htmlFor="hp-init_lora_weights" className="field-label">
        <code>init_lora_weights</code>
      </label>
      <div className="field-control">
        <select
          id="hp-init_lora_weights"
          value={String(value)}
          disabled={disabled}
          onChange={(e) => set('init_lora_weights', e.target.value === 'true' ? true : e.target.value)}
          data-testid="input-init_lora_weights"
        >
          {options.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      </div>
      <div className="field-help">{fieldHelp('lora', 'init_lora_weights')}</div>
      {issue && <div className="field-error">{issue}</div>}
    </div>
  );
}

function Outlook() {
  const est = useStudio((s) => s.estimate);
  const hasModel = useStudio((s) => s.model.status === 'ready');
  const hasData = useStudio((s) => s.dataset.prepared !== null);
  const issues = useStudio((s) => Object.keys(s.hparamIssues).length);
  if (!hasModel) {
    return (
      <Card title="What these values mean">
        <p className="muted">Load a base model to see the trainable parameters and memory these values give.</p>
      </Card>
    );
  }
  if (!est) return null;
  return (
    <Card
      title="What these values mean"
      testId="outlook"
      actions={issues ? <span className="muted small">fix the fields marked below</span> : null}
    >
      <div className="stats-row">
        <Stat label="trainable parameters" value={fmtCount(est.trainableParams)} testId="trainable-params" />
        <Stat
          label="optimizer steps"
          value={est.totalSteps === null ? '—' : fmtCount(est.totalSteps)}
          testId="total-steps"
          hint={
            est.totalSteps === null
              ? hasData
                ? undefined
                : 'known once a dataset is loaded'
              : `${est.stepsPerEpoch} per epoch · ${est.warmupSteps} warmup`
          }
        />
        <Stat
          label="examples (train · validation)"
          value={est.train === null ? '—' : `${est.train} · ${est.val}`}
          testId="examples-split"
        />
        <Stat label="GPU memory" value={fmtBytes(est.memory.total)} testId="memory-estimate" />
      </div>
      <p className="peft-line" data-testid="trainable-line">
        <code>{est.trainableLine}</code>
      </p>
      {est.memory.suggestions.length > 0 && (
        <div className="small" data-testid="memory-suggestions">
          To use less GPU memory:
          <ul>
            {est.memory.suggestions.map((s) => (
              <li key={s}>{s}</li>
            ))}
          </ul>
        </div>
      )}
    </Card>
  );
}

function ImportedAdapter() {
  const a = useStudio((s) => s.adapter);
  const hasModel = useStudio((s) => s.model.status === 'ready');
  const folder = useRef<HTMLInputElement>(null);
  const files = useRef<HTMLInputElement>(null);
  const onFiles = (list: FileList | null) => {
    const f = fromInput(list);
    if (f.length) void importAdapter(f);
  };
  return (
    <Card title="Continue training an adapter (optional)" testId="adapter-card">
      {a.imported ? (
        <>
          <p>
            Imported <strong>{a.imported.name}</strong>: r {a.imported.lora.r}, lora_alpha {a.imported.lora.lora_alpha},{' '}
            {a.imported.lora.target_modules.join(', ')}
            {a.imported.lora.use_rslora ? ', rsLoRA' : ''}
            {a.imported.lora.use_dora ? ', DoRA' : ''} ({fmtCount(a.imported.params)} parameters).
          </p>
          <label className="check">
            <input
              type="checkbox"
              checked={a.use}
              onChange={(e) => setUseImportedAdapter(e.target.checked)}
              data-testid="use-adapter"
            />
            <span>Start the next run from this adapter (its r, lora_alpha and target_modules are used)</span>
          </label>
          <button type="button" className="button" onClick={() => void clearImportedAdapter()}>
            Remove
          </button>
        </>
      ) : (
        <>
          <p className="muted">
            A PEFT LoRA adapter (<code>adapter_config.json</code> + <code>adapter_model.safetensors</code>) for this
            base model: training continues from its weights. Drop its folder on the page or choose it.
          </p>
          <div className="row">
            <button
              type="button"
              className="button"
              disabled={!hasModel || a.busy}
              onClick={() => folder.current?.click()}
            >
              Choose adapter folder…
            </button>
            <button
              type="button"
              className="button"
              disabled={!hasModel || a.busy}
              onClick={() => files.current?.click()}
            >
              Choose files…
            </button>
          </div>
          <input
            ref={folder}
            type="file"
            hidden
            {...{ webkitdirectory: '' }}
            onChange={(e) => onFiles(e.target.files)}
          />
          <input
            ref={files}
            type="file"
            hidden
            multiple
            onChange={(e) => onFiles(e.target.files)}
            data-testid="adapter-files-input"
          />
        </>
      )}
      {a.error && <Alert kind="error">{a.error}</Alert>}
    </Card>
  );
}

export function HparamsPanel() {
  const applyDemo = useStudio((s) => s.applyDemoPreset);
  const reset = useStudio((s) => s.resetHparams);
  const lockedByAdapter = useStudio((s) => s.adapter.use && s.adapter.imported !== null);
  const maxSteps = useStudio((s) => s.hparams.training.max_steps);
  const packing = useStudio((s) => s.hparams.training.packing);
  const running = useStudio((s) => ['starting', 'running', 'paused', 'stopping'].includes(s.training.status));
  return (
    <div className="panel" data-testid="panel-hparams">
      <div className="panel-head">
        <h1>Hyperparameters</h1>
        <p className="lead">
          The defaults are a sound start (r 8, alpha 16, learning rate 2e-4, cosine with 10% warmup). Your values are
          kept in this browser.
        </p>
        <div className="row center-y">
          <button type="button" className="button" onClick={applyDemo} data-testid="demo-preset">
            Demo preset
          </button>
          <button type="button" className="button" onClick={reset} data-testid="reset-hparams">
            Reset to defaults
          </button>
          <span className="muted small">
            Demo preset: all-linear, learning_rate 3e-3, 5 epochs, batch 8, max_seq_length 256 (checked on the demo
            model: with q/v only it never learns to stop).
          </span>
        </div>
      </div>
      {running && <Alert kind="info">A run is in progress: changes apply to the next run.</Alert>}
      <Outlook />
      <Card
        title={
          <>
            LoRA <span className="muted">(PEFT LoraConfig)</span>
          </>
        }
      >
        <div className="form-grid">
          <NumberField group="lora" name="r" disabled={lockedByAdapter} />
          <NumberField group="lora" name="lora_alpha" disabled={lockedByAdapter} />
          <NumberField group="lora" name="lora_dropout" />
          <BoolField group="lora" name="use_rslora" disabled={lockedByAdapter} />
          <BoolField group="lora" name="use_dora" disabled={lockedByAdapter} />
          <TargetModules disabled={lockedByAdapter} />
          <TextField
            group="lora"
            name="layers_to_transform"
            format={showLayers}
            parse={parseLayers}
            placeholder="every layer"
            disabled={lockedByAdapter}
          />
          <TextField
            group="lora"
            name="rank_pattern"
            format={showPatterns}
            parse={parsePatterns}
            placeholder="e.g. down_proj=16"
            disabled={lockedByAdapter}
          />
          <TextField
            group="lora"
            name="alpha_pattern"
            format={showPatterns}
            parse={parsePatterns}
            placeholder="e.g. down_proj=32"
            disabled={lockedByAdapter}
          />
          <InitLoraWeights disabled={lockedByAdapter} />
          <NumberField group="lora" name="loraplus_lr_ratio" />
        </div>
      </Card>
      <Card
        title={
          <>
            Training <span className="muted">(TrainingArguments)</span>
          </>
        }
      >
        <h3 className="subhead">Optimizer and schedule</h3>
        <div className="form-grid">
          <NumberField group="training" name="learning_rate" />
          <SelectField group="training" name="lr_scheduler_type" options={SCHEDULERS} />
          <NumberField group="training" name="warmup_ratio" />
          <NumberField group="training" name="warmup_steps" />
          <NumberField group="training" name="weight_decay" />
          <NumberField group="training" name="max_grad_norm" />
        </div>
        <h3 className="subhead">Length of the run</h3>
        <div className="form-grid">
          <NumberField group="training" name="num_train_epochs" disabled={maxSteps > 0} />
          <NumberField group="training" name="max_steps" />
          <NumberField group="training" name="per_device_train_batch_size" />
          <NumberField group="training" name="gradient_accumulation_steps" />
          <NumberField group="training" name="max_seq_length" />
          <BoolField group="training" name="packing" />
          <BoolField group="training" name="group_by_length" disabled={packing} />
        </div>
        <h3 className="subhead">Validation, logging and checkpoints</h3>
        <div className="form-grid">
          <NumberField group="training" name="val_split_fraction" />
          <NumberField group="training" name="eval_steps" />
          <NumberField group="training" name="early_stopping_patience" />
          <NumberField group="training" name="early_stopping_threshold" />
          <NumberField group="training" name="save_steps" />
          <NumberField group="training" name="logging_steps" />
        </div>
        <h3 className="subhead">Data</h3>
        <div className="form-grid">
          <BoolField group="training" name="train_on_inputs" />
          <BoolField group="training" name="mask_history" />
          <NumberField group="training" name="seed" />
        </div>
        <details className="advanced">
          <summary>AdamW settings</summary>
          <div className="form-grid">
            <NumberField group="training" name="adam_beta1" />
            <NumberField group="training" name="adam_beta2" />
            <NumberField group="training" name="adam_epsilon" />
          </div>
        </details>
      </Card>
      <Card
        title={
          <>
            Memory <span className="muted">(gradient checkpointing, QLoRA: BitsAndBytesConfig)</span>
          </>
        }
      >
        <div className="form-grid">
          <BoolField group="training" name="gradient_checkpointing" />
          <BoolField group="quantization" name="load_in_4bit" />
          <SelectField group="quantization" name="bnb_4bit_quant_type" options={QUANT_TYPES} />
        </div>
      </Card>
      <ImportedAdapter />
    </div>
  );
}
