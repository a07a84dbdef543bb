// `npm run bench [-- flags]`: LoRA training throughput and memory of the engine on this machine's
// WebGPU adapter (Dawn in Node), one JSON line per configuration on stdout (progress on stderr),
// comparable with scripts/peft_baseline.py's PyTorch + PEFT figures. Built into one
// self-contained dist-cli/bench.mjs that needs only the `webgpu` package beside it, so it runs on a
// GPU machine from shared/gpu/pack.sh's kit (see docs/performance.md).
//   --kernels: the matmul variants' micro-benchmark instead; --memory: the estimates only;
//   --prefill: prompt feeding for generation, batched against token by token.
//   --dataset: real-token throughput on a dataset's lengths, padded batches vs packed rows.

import { GpuContext, fmtBytes } from '../engine/gpu/context';
import { nodeGpu } from '../engine/node/webgpu';
import { LINEAR_MODULES, type LinearModule } from '../engine/model/config';
import { describeEstimate, estimateMemory } from '../engine/model/memory';
import type { WeightDType } from '../engine/model/weights';
import { SHAPES, SHAPE_NAMES, type ShapeName, shapeByName } from '../bench/shapes';
import { benchMemoryInput, benchTraining, type TrainBenchOptions } from '../bench/train';
import { benchMatmul, benchReductions, matmulCases } from '../bench/kernels';
import { benchPrefill } from '../bench/prefill';
import { benchDataset, generateAlpacaLike, parseAlpacaJsonl } from '../bench/dataset';
import { readFileSync } from 'node:fs';
import { UsageError, parseArgv } from './args';
import { openGpu } from './common';

const USAGE = `usage: npm run bench -- [options]

  --shape S          tiny | smollm2-135m | qwen2.5-0.5b, or a comma list (default: every shape this
                     adapter can run; on a CPU adapter only tiny, the others would take hours)
  --targets T        q_proj,v_proj (default) | all-linear | any comma list of linear modules
  --r 8 --batch 8 --seq 256
  --steps N          timed optimizer steps (default 20; 3 on a CPU adapter)
  --warmup N         untimed steps first (default 5; 1 on a CPU adapter)
  --dtype D          bf16 (default) | f16 | f32: the random checkpoint's dtype
  --nf4              frozen linear weights in NF4 (QLoRA)
  --checkpointing    gradient checkpointing
  --budget GB        refuse configurations whose memory estimate exceeds this
  --no-profile       skip the per-kernel timestamp breakdown
  --kernels          kernel micro-benchmarks instead: the matmul variants (blocked vs tiled) at the
                     models' shapes, and reductions with and without subgroups; --tokens N (rows),
                     --reps N, --only matmul|reductions
  --memory           print the memory estimates only (no GPU work)
  --prefill          generation's prompt feeding instead: a random prompt of --tokens N (default
                     1300; --shape default tiny) read in batched chunks and token by token (the old
                     path, one logits read-back per token; --no-token-path skips it), tokens/s each
  --dataset D        real (non-padding) tokens/s and the padding share on a dataset's lengths: D is an
                     Alpaca JSONL file or "generated" (the shipped Alpaca-like set, --records N, default
                     400: median about a third of 512 tokens). One token per word, hashed into the
                     shape's vocabulary. Defaults here: --shape tiny --seq 512 --batch 8.
  --packing M        with --dataset: both (default: padded batches, then packed rows, in one run) |
                     on | off`;

const BOOLEANS = new Set([
  'nf4',
  'checkpointing',
  'no_profile',
  'kernels',
  'memory',
  'prefill',
  'no_token_path',
  'help',
]);
const KNOWN = new Set([
  ...BOOLEANS,
  'dataset',
  'packing',
  'records',
  'shape',
  'targets',
  'r',
  'batch',
  'seq',
  'steps',
  'warmup',
  'dtype',
  'budget',
  'tokens',
  'reps',
  'only',
]);

function int(flags: Map<string, string | true>, name: string, dflt: number): number {
  const v = flags.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n < (name === 'warmup' ? 0 : 1)) {
    throw new UsageError(`--${name} must be a whole number${name === 'warmup' ? '' : ' >= 1'}`);
  }
  return n;
}

function targetsOf(v: string | true | undefined): LinearModule[] {
  if (v === undefined) return ['q_proj', 'v_proj'];
  if (v === true) throw new UsageError('--targets needs a value');
  if (v === 'all-linear') return [...LINEAR_MODULES];
  const list = v.split(',').map((s) => s.trim());
  for (const m of list) {
    if (!(LINEAR_MODULES as readonly string[]).includes(m)) {
      throw new UsageError(`--targets: "${m}" is not one of ${LINEAR_MODULES.join(', ')} (or all-linear)`);
    }
  }
  return list as LinearModule[];
}

/** FLOP of one training step, roughly: forward and input-gradient products, LM head thrice. */
function stepFlop(shape: ShapeName, tokens: number): number {
  const c = SHAPES[shape];
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const perLayer = c.hiddenSize * (2 * q + 2 * kv) + 3 * c.hiddenSize * c.intermediateSize;
  return 4 * tokens * c.numLayers * perLayer + 6 * tokens * c.vocabSize * c.hiddenSize;
}

async function main(): Promise<void> {
  const { flags, positional } = parseArgv(process.argv.slice(2), BOOLEANS);
  if (flags.has('help')) {
    console.log(USAGE);
    return;
  }
  if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
  for (const k of flags.keys()) if (!KNOWN.has(k)) throw new UsageError(`unknown flag --${k}\n\n${USAGE}`);
  const dtypeFlag = String(flags.get('dtype') ?? 'bf16').toUpperCase();
  if (!['BF16', 'F16', 'F32'].includes(dtypeFlag)) throw new UsageError('--dtype is bf16, f16 or f32');
  const budgetFlag = flags.get('budget');
  const budgetBytes = budgetFlag === undefined ? undefined : Number(budgetFlag) * 2 ** 30;
  if (budgetBytes !== undefined && !(budgetBytes > 0)) throw new UsageError('--budget is a size in GiB, e.g. 1.5');
  const explicit = flags.get('shape');
  if (explicit === true) throw new UsageError('--shape needs a value');
  const shapes = explicit ? explicit.split(',').map((s) => (shapeByName(s.trim()), s.trim() as ShapeName)) : null;

  if (flags.has('memory')) {
    // An H100's limits through Dawn (2 GiB bindings); no adapter needed.
    const limits = {
      minStorageBufferOffsetAlignment: 256,
      maxBufferSize: 2 ** 40,
      maxStorageBufferBindingSize: 2 ** 31,
    };
    for (const shape of shapes ?? SHAPE_NAMES) {
      for (const [dtype, nf4] of [
        ['F32', false],
        ['BF16', false],
        ['BF16', true],
      ] as const) {
        for (const checkpointing of [false, true]) {
          const o = options(flags, shape, dtype, nf4, checkpointing, budgetBytes, false);
          const e = estimateMemory(benchMemoryInput(limits, o));
          console.log(
            JSON.stringify({
              shape,
              targets: o.targets.join(','),
              r: o.r,
              batch: o.batch,
              seq: o.seq,
              dtype: dtype.toLowerCase(),
              nf4,
              gradient_checkpointing: checkpointing,
              estimate_bytes: e.total,
              weights: e.weights,
              activations: e.activations,
              lora_state: e.loraState,
              lm_head: e.lmHead,
              estimate: describeEstimate(e),
            }),
          );
        }
      }
    }
    return;
  }

  const ctx = await openGpu((l) => console.error(l), { timestamps: !flags.has('no_profile') });
  const c = ctx.caps;
  console.error(
    `limits: maxBufferSize ${fmtBytes(c.maxBufferSize)}, maxStorageBufferBindingSize ${fmtBytes(c.maxStorageBufferBindingSize)}, timestamps ${c.timestamps}, subgroups ${c.subgroups}`,
  );
  const log = (line: string) => console.error(line);

  if (flags.has('prefill')) {
    for (const shape of shapes ?? ['tiny' as const]) {
      const r = await benchPrefill(ctx, {
        shape,
        tokens: int(flags, 'tokens', 1300),
        dtype: dtypeFlag as WeightDType,
        tokenPath: !flags.has('no_token_path'),
        log,
      });
      console.log(JSON.stringify(r));
    }
    ctx.destroy();
    return;
  }

  if (flags.has('kernels')) {
    const tokens = int(flags, 'tokens', c.isCpu ? 256 : 2048);
    const reps = int(flags, 'reps', c.isCpu ? 3 : 20);
    const adapter = { description: c.description, isCpu: c.isCpu };
    const only = flags.get('only');
    if (only !== undefined && only !== 'matmul' && only !== 'reductions') {
      throw new UsageError('--only is matmul or reductions');
    }
    if (only !== 'reductions') {
      for (const r of await benchMatmul(ctx, matmulCases(tokens), reps, log)) {
        console.log(JSON.stringify({ adapter, ...r }));
      }
    }
    if (only !== 'matmul') {
      if (c.subgroupSize === null) console.error('no checked subgroups on this adapter: no reduction comparison');
      else {
        // This device kind's workgroup size; on a CPU adapter also the GPU kind's (256), forced.
        const kinds = c.isCpu ? [true, false] : [false];
        for (const isCpu of kinds) {
          const sub = isCpu === c.isCpu ? ctx : await GpuContext.create(nodeGpu(), { forceCpuVariants: isCpu });
          const plain = await GpuContext.create(nodeGpu(), { forceCpuVariants: isCpu, subgroups: false });
          for (const C of [576, 896]) {
            console.log(JSON.stringify({ adapter, ...(await benchReductions(sub, plain, tokens, C, reps, log)) }));
          }
          plain.destroy();
          if (sub !== ctx) sub.destroy();
        }
      }
    }
    return;
  }

  const dtype = dtypeFlag as WeightDType;
  const dataset = flags.get('dataset');
  if (dataset !== undefined) {
    if (dataset === true) throw new UsageError('--dataset needs a file or "generated"');
    const packing = String(flags.get('packing') ?? 'both');
    if (!['both', 'on', 'off'].includes(packing)) throw new UsageError('--packing is both, on or off');
    const seq = int(flags, 'seq', 512);
    const records =
      dataset === 'generated'
        ? generateAlpacaLike(int(flags, 'records', 400), 0, seq)
        : parseAlpacaJsonl(readFileSync(dataset, 'utf8'), dataset);
    for (const shape of shapes ?? (['tiny'] as ShapeName[])) {
      const o = options(flags, shape, dtype, flags.has('nf4'), flags.has('checkpointing'), budgetBytes, c.isCpu);
      const r = await benchDataset(ctx, {
        ...o,
        batch: int(flags, 'batch', 8),
        seq,
        records,
        dataset,
        modes: packing === 'both' ? ['padded', 'packed'] : packing === 'on' ? ['packed'] : ['padded'],
        log,
      });
      console.log(JSON.stringify(r));
    }
    ctx.destroy();
    return;
  }

  const wanted = shapes ?? SHAPE_NAMES;
  for (const shape of wanted) {
    const o = options(flags, shape, dtype, flags.has('nf4'), flags.has('checkpointing'), budgetBytes, c.isCpu);
    if (!shapes && c.isCpu && shape !== 'tiny') {
      const flop = stepFlop(shape, o.batch * o.seq);
      console.log(
        JSON.stringify({
          shape,
          skipped: `CPU adapter: about ${(flop / 1e12).toFixed(2)} TFLOP per step, hours at SwiftShader's ~2 GFLOP/s; pass --shape ${shape} to run it anyway`,
        }),
      );
      continue;
    }
    try {
      const r = await benchTraining(ctx, { ...o, log });
      console.log(JSON.stringify(r));
    } catch (e) {
      // A configuration that does not fit is a result, not a crash: report it and go on.
      console.log(JSON.stringify({ shape, error: e instanceof Error ? e.message : String(e) }));
      if (shapes) process.exitCode = 1;
    }
  }
  ctx.destroy();
}

function options(
  flags: Map<string, string | true>,
  shape: ShapeName,
  dtype: WeightDType,
  nf4: boolean,
  checkpointing: boolean,
  budgetBytes: number | undefined,
  isCpu: boolean,
): TrainBenchOptions {
  return {
    shape,
    targets: targetsOf(flags.get('targets')),
    r: int(flags, 'r', 8),
    batch: int(flags, 'batch', 8),
    seq: int(flags, 'seq', 256),
    steps: int(flags, 'steps', isCpu ? 3 : 20),
    warmup: int(flags, 'warmup', isCpu ? 1 : 5),
    dtype,
    nf4,
    checkpointing,
    profile: !flags.has('no_profile'),
    budgetBytes,
  };
}

main().catch((e) => {
  if (e instanceof UsageError) {
    console.error(e.message);
    process.exit(2);
  }
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
