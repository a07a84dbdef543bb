// `npm run export -- --model DIR --adapter DIR --out DIR --format merged|gguf|gguf-lora`: the
// studio's Export panel from the command line (both call src/run/export.ts). No GPU: merging and
// writing run on the CPU, one tensor at a time.

import { fileSetFromDir } from '../io/source.node';
import { nodeFolderSink } from '../io/sink.node';
import { readAdapter } from '../io/peft';
import { parseHfConfig } from '../io/hf-config';
import { readJson } from '../io/source';
import { EXPORT_FORMATS, type ExportFormat, GGUF_OUTTYPES, type GgufOutType, runExport } from '../run/export-model';
import { parseArgv, UsageError } from './args';
import { cliMain, required } from './common';

const USAGE = `usage: npm run export -- --model DIR --out DIR --format merged|gguf|gguf-lora [options]

  --model DIR        the base model (a Hugging Face folder with config.json and safetensors)
  --adapter DIR      a PEFT LoRA adapter folder (required for merged and gguf-lora; with gguf,
                     the merged model is written, without it the base)
  --out DIR          where the files go (created if missing)
  --format F         merged: a Hugging Face folder with the adapter merged in, in the base's dtype
                     gguf: one GGUF file for llama.cpp / Ollama, plus a Modelfile
                     gguf-lora: the adapter as a GGUF LoRA, the base GGUF and a Modelfile
  --outtype T        GGUF storage: f32, f16 (default), bf16 or q8_0
  --from NAME        gguf-lora: FROM this existing base GGUF or Ollama model instead of writing one
  --name NAME        general.name inside GGUF files (default: the model folder's name)`;

const KNOWN = new Set(['model', 'adapter', 'out', 'format', 'outtype', 'from', 'name', 'help']);

await cliMain(USAGE, async () => {
  const { flags } = parseArgv(process.argv.slice(2), new Set(['help']));
  if (flags.has('help')) {
    console.log(USAGE);
    return;
  }
  for (const k of flags.keys()) if (!KNOWN.has(k)) throw new UsageError(`unknown flag --${k}`);
  const format = required(flags, 'format') as ExportFormat;
  if (!EXPORT_FORMATS.includes(format))
    throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(', ')} (got "${format}")`);
  const outType = (flags.get('outtype') ?? 'f16') as GgufOutType;
  if (!GGUF_OUTTYPES.includes(outType))
    throw new UsageError(`--outtype must be one of ${GGUF_OUTTYPES.join(', ')} (got "${String(outType)}")`);
  const base = await fileSetFromDir(required(flags, 'model'));
  const adapterDir = flags.get('adapter');
  if (typeof adapterDir !== 'string' && format !== 'gguf')
    throw new UsageError(`--format ${format} needs --adapter DIR`);
  const config = parseHfConfig(await readJson(base.require('config.json')), 'config.json').model;
  const adapter = typeof adapterDir === 'string' ? await readAdapter(await fileSetFromDir(adapterDir), config) : null;
  const outDir = required(flags, 'out');
  const out = await nodeFolderSink(outDir);
  const str = (k: string) => (typeof flags.get(k) === 'string' ? (flags.get(k) as string) : undefined);
  let lastPct = -1;
  const res = await runExport(base, adapter, out, { format, outType, from: str('from'), name: str('name') }, (p) => {
    const pct = Math.floor((100 * p.bytesDone) / Math.max(1, p.bytesTotal));
    if (pct >= lastPct + 10 || p.bytesDone === p.bytesTotal) {
      lastPct = pct === 100 ? -1 : pct;
      process.stderr.write(`${p.file}: ${pct}% of ${(p.bytesTotal / 1e6).toFixed(1)} MB\n`);
    }
  });
  console.log(`wrote ${res.files.join(', ')} to ${outDir}`);
  if (res.files.includes('Modelfile'))
    console.log(`run it in Ollama: cd ${outDir} && ollama create my-model -f Modelfile && ollama run my-model`);
});
