// `npm run sample -- --model DIR [--adapter DIR] --prompt TEXT`: the studio's sampling
// (src/run/sample.ts) from the command line. The prompt is a user turn rendered with the model's
// chat template and its generation prompt (or the Alpaca prompt) unless --raw. --logprobs prints
// the prompt ids, the generated ids and each one's log-probability under the model as JSON.

import { fileSetFromDir } from '../io/source.node';
import { readAdapter } from '../io/peft';
import { parseArgv, UsageError } from './args';
import { cliMain, openGpu, required } from './common';
import { openModel, uploadModel } from '../run/model';
import { encodePrompt, sample } from '../run/sample';

const USAGE = `usage: npm run sample -- --model DIR --prompt TEXT [options]

  --adapter DIR          a PEFT LoRA adapter folder (adapter_model.safetensors + adapter_config.json)
  --system TEXT          a system message (chat templates only)
  --raw                  feed the prompt text as is, without the template
  --max_new_tokens N     default 64
  --temperature T        default 0 (greedy)
  --top_p P              default 1
  --seed S               default 0
  --logprobs             print {"prompt_ids", "ids", "logprobs", "text", "stopped_by"} as JSON`;

const BOOLEANS = new Set(['raw', 'logprobs', 'help']);
const KNOWN = new Set([
  'model',
  'adapter',
  'prompt',
  'system',
  'raw',
  'max_new_tokens',
  'temperature',
  'top_p',
  'seed',
  'logprobs',
  'help',
]);

function num(
  flags: Map<string, string | true>,
  name: string,
  def: number,
  check: (x: number) => boolean,
  what: string,
): number {
  const v = flags.get(name);
  if (v === undefined) return def;
  const x = v === true ? NaN : Number(v);
  if (!Number.isFinite(x) || !check(x)) throw new UsageError(`--${name} ${what} (got "${v === true ? '' : v}")`);
  return x;
}

await cliMain(USAGE, async () => {
  const { flags } = parseArgv(process.argv.slice(2), BOOLEANS);
  if (flags.has('help')) {
    console.log(USAGE);
    return;
  }
  for (const k of flags.keys()) if (!KNOWN.has(k)) throw new UsageError(`unknown flag --${k}`);
  const maxNew = num(
    flags,
    'max_new_tokens',
    64,
    (x) => Number.isInteger(x) && x >= 1 && x <= 2048,
    'must be a whole number from 1 to 2048',
  );
  const temperature = num(flags, 'temperature', 0, (x) => x >= 0, 'must be 0 or more');
  const topP = num(flags, 'top_p', 1, (x) => x > 0 && x <= 1, 'must be in (0, 1]');
  const seed = num(flags, 'seed', 0, (x) => Number.isInteger(x) && x >= 0, 'must be a whole number');
  const prompt = required(flags, 'prompt');
  const modelDir = required(flags, 'model');
  const model = await openModel(await fileSetFromDir(modelDir), { kind: 'path', path: modelDir });
  const system = flags.get('system');
  const { ids } = encodePrompt(
    model,
    { system: typeof system === 'string' ? system : undefined, turns: [{ role: 'user', content: prompt }] },
    { raw: flags.has('raw') },
  );

  const ctx = await openGpu((l) => console.error(l));
  const weights = await uploadModel(ctx, model);
  const adapterDir = flags.get('adapter');
  const adapter =
    typeof adapterDir === 'string' ? await readAdapter(await fileSetFromDir(adapterDir), model.info.config) : null;
  const side = adapter ? 'tuned' : 'base';
  const r = (
    await sample(ctx, model, weights, adapter, ids, { maxNewTokens: maxNew, temperature, topP, seed }, [side])
  )[side]!;
  const out = model.tokenizer.decode(r.ids, { skipSpecialTokens: true });
  if (flags.has('logprobs')) {
    console.log(
      JSON.stringify({ prompt_ids: ids, ids: r.ids, logprobs: r.logprobs, text: out, stopped_by: r.stoppedBy }),
    );
  } else {
    console.log(out);
  }
});
