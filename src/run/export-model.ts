// Exporting where the model will run (export.ts is the recipe and adapter hand-over), the one entry point both doors call (`npm run export` and
// the Export panel): the merged Hugging Face checkpoint, the merged (or base) model as GGUF with
// an Ollama Modelfile, or the adapter as a GGUF LoRA with the base GGUF and a Modelfile naming
// both. Everything streams into a FolderSink one tensor at a time.

import type { FileSet } from '../io/source';
import { readJson, readText } from '../io/source';
import type { FolderSink } from '../io/sink';
import { writeWhole } from '../io/sink';
import { ModelTokenizer } from '../data/tokenizer';
import { resolveChatTemplate } from '../data/template';
import { type ExportProgress, type MergeAdapter, exportMerged } from './export-merged';
import { GGUF_OUTTYPES, type GgufOutType, assertGgufLoraExpressible, exportGguf, exportGgufLora } from './export-gguf';
import { writeModelfile } from './modelfile';
import type { TrainingRun } from './run';

export type ExportFormat = 'merged' | 'gguf' | 'gguf-lora';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['merged', 'gguf', 'gguf-lora'];
export type { ExportProgress, GgufOutType };
export { GGUF_OUTTYPES };

export interface ExportRequest {
  format: ExportFormat;
  /** GGUF storage type (default f16, as convert_hf_to_gguf.py). */
  outType?: GgufOutType;
  /** gguf-lora: an existing base GGUF path or Ollama model name for FROM; the base GGUF is then not written. */
  from?: string | null;
  /** general.name in GGUF files (default: the base folder's name). */
  name?: string;
  /** Merged checkpoints: shard size (default transformers' 5 GB). */
  maxShardBytes?: number;
}

export interface ExportResult {
  files: string[];
}

async function tokenizerFacts(base: FileSet): Promise<{ chatTemplate: string | null; eos: string[] }> {
  const cfgSrc = base.get('tokenizer_config.json');
  const tokSrc = base.get('tokenizer.json');
  if (!cfgSrc || !tokSrc) return { chatTemplate: null, eos: [] };
  const cfg = (await readJson(cfgSrc)) as Record<string, unknown>;
  const jinja = base.get('chat_template.jinja');
  const chatTemplate = resolveChatTemplate(cfg, jinja ? await readText(jinja) : null);
  const tok = ModelTokenizer.load(await readText(tokSrc), cfg);
  const eosIds = new Set<number>(tok.eos ? [tok.eos.id] : []);
  const gen = base.get('generation_config.json');
  if (gen) {
    const e = ((await readJson(gen)) as { eos_token_id?: number | number[] }).eos_token_id;
    for (const id of Array.isArray(e) ? e : e === undefined ? [] : [e]) eosIds.add(id);
  }
  const eos = [...eosIds].map((id) => tok.idToToken(id)).filter((t): t is string => typeof t === 'string');
  return { chatTemplate, eos };
}

/** Runs one export into `out`. `adapter` is required for merged and gguf-lora; gguf without it exports the base. */
export async function runExport(
  base: FileSet,
  adapter: MergeAdapter | null,
  out: FolderSink,
  req: ExportRequest,
  onProgress?: (p: ExportProgress) => void,
): Promise<ExportResult> {
  const outType = req.outType ?? 'f16';
  if (!GGUF_OUTTYPES.includes(outType))
    throw new Error(`outtype "${outType}" is not one of ${GGUF_OUTTYPES.join(', ')}`);
  const name = req.name ?? base.name;
  if (req.format === 'merged') {
    if (!adapter) throw new Error('a merged export needs an adapter');
    return exportMerged(base, adapter, out, { maxShardBytes: req.maxShardBytes, onProgress });
  }
  const facts = await tokenizerFacts(base);
  if (req.format === 'gguf') {
    const file = `${adapter ? 'merged' : 'base'}-${outType}.gguf`;
    await exportGguf(base, adapter, out, file, { outType, name, onProgress });
    const comment = `${adapter ? 'merged model' : 'base model'} ${name} (${outType}), exported by LoRA Studio`;
    await writeWhole(
      out,
      'Modelfile',
      writeModelfile({ from: `./${file}`, chatTemplate: facts.chatTemplate, eosTokens: facts.eos, comment }),
    );
    return { files: [file, 'Modelfile'] };
  }
  if (req.format === 'gguf-lora') {
    if (!adapter) throw new Error('a GGUF LoRA export needs an adapter');
    assertGgufLoraExpressible(adapter); // before the base GGUF is written
    const files: string[] = [];
    let from = req.from ?? null;
    if (!from) {
      const file = `base-${outType}.gguf`;
      await exportGguf(base, null, out, file, { outType, name, onProgress });
      files.push(file);
      from = `./${file}`;
    }
    await exportGgufLora(adapter, out, 'adapter.gguf', { name: `${name} LoRA`, onProgress });
    files.push('adapter.gguf');
    const comment = `base model ${name} with a LoRA adapter, exported by LoRA Studio`;
    await writeWhole(
      out,
      'Modelfile',
      writeModelfile({
        from,
        adapter: './adapter.gguf',
        chatTemplate: facts.chatTemplate,
        eosTokens: facts.eos,
        comment,
      }),
    );
    files.push('Modelfile');
    return { files };
  }
  throw new Error(`format "${String(req.format)}" is not one of ${EXPORT_FORMATS.join(', ')}`);
}

/** The run's adapter as a MergeAdapter: the current weights, or the best by validation loss. */
export async function trainedAdapter(run: TrainingRun, which: 'last' | 'best'): Promise<MergeAdapter> {
  const t = run.trainer;
  if (which === 'best' && !t.best) throw new Error('no validation loss was computed, so there is no best adapter');
  return { layout: t.layout, flat: which === 'best' ? t.best!.params : await t.adapterParams() };
}
