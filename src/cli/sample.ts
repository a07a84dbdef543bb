// `npm run sample -- --model DIR [--adapter DIR] --prompt TEXT`: generation from the same engine
// as the studio's previews. The prompt is rendered as a user turn with the model's chat template
// (or the Alpaca template) unless --raw. --logprobs prints the generated ids and each one's
// log-probability under the model as JSON.

import { fileSetFromDir } from '../io/source.node';
import { readAdapter } from '../io/peft';
import { Arena } from '../engine/gpu/arena';
import { Generator } from '../engine/sample/generator';
import { parseArgv, UsageError } from './args';
import { cliMain, openGpu, required } from './common';
import { openModel, uploadModel } from '../run/model';

const USAGE = `usage: npm run sample -- --model DIR --prompt TEXT [options]

  --adapter DIR          a PEFT LoRA adapter folder (adapter_model.safetensors + adapter_config.json)
  --system TEXT          a system message (chat templates only)
  --raw                  feed the prompt text as is, without the template
  --max_new_tokens N     default 64
  --temperature T        default 0 (greedy)
  --top_p P              default 1
  --seed S               default 0
  --logprobs             print {"ids", "logprobs", "text"} as JSON`;

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
  const model = await openModel(await fileSetFromDir(required(flags, 'model')));
  const c = model.checkpoint.config;
  const system = flags.get('system');
  const text = flags.has('raw')
    ? prompt
    : model.format.renderPrompt({
        system: typeof system === 'string' ? system : undefined,
        turns: [{ role: 'user', content: prompt }],
      });
  let ids = model.tokenizer.encode(text, { addSpecialTokens: false });
  if (model.tokenizer.addBosToken && model.tokenizer.bos && ids[0] !== model.tokenizer.bos.id)
    ids = [model.tokenizer.bos.id, ...ids];

  const ctx = await openGpu((l) => console.error(l));
  const weights = await uploadModel(ctx, model);
  let lora: ConstructorParameters<typeof Generator>[3] = null;
  const adapterDir = flags.get('adapter');
  if (typeof adapterDir === 'string') {
    const a = await readAdapter(await fileSetFromDir(adapterDir), c);
    const arena = new Arena(ctx, 'adapter');
    const params = arena.add([a.layout.size], 'f32', 'adapter');
    arena.allocate();
    ctx.upload(params, a.flat);
    lora = { layout: a.layout, params };
  }
  const gen = new Generator(ctx, c, weights, lora, Math.min(2048, ids.length + maxNew + 1));
  const stopIds = [...new Set([...c.eosTokenIds, ...(model.tokenizer.eos ? [model.tokenizer.eos.id] : [])])];
  const r = await gen.generate(ids, {
    maxNewTokens: maxNew,
    temperature,
    topP,
    seed,
    stopIds,
    withAdapter: lora !== null,
  });
  const out = model.tokenizer.decode(r.ids, { skipSpecialTokens: true });
  if (flags.has('logprobs')) {
    console.log(
      JSON.stringify({ prompt_ids: ids, ids: r.ids, logprobs: r.logprobs, text: out, stopped_by: r.stoppedBy }),
    );
  } else {
    console.log(out);
  }
});
