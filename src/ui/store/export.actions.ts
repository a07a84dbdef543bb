// Downloads: the PEFT adapter (last or best) and the run report (metrics CSV, resolved config
// JSON, loss chart PNG). Each file is a separate download with a name that says what it is.

import { errorMessage, studioWorker } from '../../worker/client';
import { downloadBlob, downloadText } from '../lib/download';
import { metricsCsv, resolvedConfigJson } from '../lib/report';
import { svgToPng } from '../lib/chart-png';
import { useStudio } from './store';

const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
const ADAPTER_CONFIG = 'adapter_config.json';

const get = useStudio.getState;

export interface ExportResult {
  ok: boolean;
  message: string;
}

function prefix(): string {
  const id = get().training.runId ?? 'run';
  return id.replace(/[^\w.-]/g, '_');
}

async function fetchAdapter(which: 'last' | 'best') {
  const a = await studioWorker().exportAdapter(which);
  return { ...a, weights: new Blob([a.safetensors as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }) };
}

function describe(which: 'last' | 'best', step: number, evalLoss: number | null): string {
  return `the ${which} adapter (step ${step}${evalLoss !== null ? `, validation loss ${evalLoss.toFixed(4)}` : ''})`;
}

/** Downloads adapter_model.safetensors and adapter_config.json, named as PEFT expects them. */
export async function exportAdapter(which: 'last' | 'best'): Promise<ExportResult> {
  try {
    const a = await fetchAdapter(which);
    downloadBlob(a.weights, ADAPTER_WEIGHTS);
    downloadText(a.config, ADAPTER_CONFIG);
    return { ok: true, message: `Downloaded ${describe(which, a.step, a.evalLoss)}.` };
  } catch (e) {
    return { ok: false, message: errorMessage(e) };
  }
}

/** Chrome's folder picker: writes both files into a new sub-folder, ready for PeftModel.from_pretrained. */
export async function saveAdapterToFolder(which: 'last' | 'best'): Promise<ExportResult> {
  const pick = (window as unknown as { showDirectoryPicker?: (o: object) => Promise<FileSystemDirectoryHandle> })
    .showDirectoryPicker;
  if (!pick) return { ok: false, message: 'This browser cannot write into a folder; use the downloads.' };
  try {
    const a = await fetchAdapter(which);
    const parent = await pick({ mode: 'readwrite', id: 'lora-studio-adapters' });
    const name = `${prefix()}-${which}-step-${a.step}`;
    const dir = await parent.getDirectoryHandle(name, { create: true });
    for (const [file, data] of [
      [ADAPTER_WEIGHTS, a.weights],
      [ADAPTER_CONFIG, new Blob([a.config], { type: 'application/json' })],
    ] as const) {
      const w = await (await dir.getFileHandle(file, { create: true })).createWritable();
      await w.write(data);
      await w.close();
    }
    return { ok: true, message: `Saved ${describe(which, a.step, a.evalLoss)} to ${parent.name}/${name}.` };
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') return { ok: false, message: 'No folder was chosen.' };
    return { ok: false, message: errorMessage(e) };
  }
}

export function exportMetrics(): void {
  downloadText(metricsCsv(get().training.history.toArray()), `${prefix()}_metrics.csv`, 'text/csv');
}

export function exportConfig(): void {
  const s = get();
  const t = s.training;
  downloadText(
    resolvedConfigJson({
      hparams: t.hparams ?? s.hparams,
      baseModel: s.model.summary?.baseModelNameOrPath ?? '',
      dataset: s.dataset.summary?.name ?? '',
      totalSteps: t.totalSteps,
      train: t.train,
      val: t.val,
      trainableLine: t.trainableLine,
      stop: t.end,
      best: t.best,
      fromImportedAdapter: t.fromAdapter,
      modelType: s.model.summary?.modelType,
    }),
    `${prefix()}_config.json`,
  );
}

export async function exportLossChart(): Promise<ExportResult> {
  // The Export panel's own copy of the loss chart, on screen when this runs (the Training panel's
  // may be mounted too, hidden, with the values it had when it was last shown).
  const svg = document.querySelector<SVGSVGElement>('[data-chart="export-loss"] svg.recharts-surface');
  if (!svg) return { ok: false, message: 'The loss chart is not on screen.' };
  try {
    const name = `${prefix()}_loss.png`;
    downloadBlob(await svgToPng(svg), name);
    return { ok: true, message: `Downloaded the loss chart as ${name}.` };
  } catch (e) {
    return { ok: false, message: errorMessage(e) };
  }
}

/**
 * The run as a Hugging Face transformers + PEFT + Accelerate folder (train.py, the split data as
 * JSONL, LoraConfig and TrainingArguments as here, Accelerate and DeepSpeed ZeRO-2 configs), zipped.
 * Uses the run's settings once a run exists, the form's before.
 */
export async function exportRecipe(): Promise<ExportResult> {
  const s = get();
  const h = s.training.hparams ?? s.hparams;
  try {
    const r = await studioWorker().exportRecipe(h);
    const name = `${prefix()}_recipe.zip`;
    downloadBlob(new Blob([r.zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }), name);
    return {
      ok: true,
      message: `Downloaded ${name}: ${r.files.length} files, ${r.train} training and ${r.val} validation records, base model ${r.baseModel}. Unzip it and follow its README.md.`,
    };
  } catch (e) {
    return { ok: false, message: errorMessage(e) };
  }
}
