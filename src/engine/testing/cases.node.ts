// Loads a reference case (reference/cases/<name>, written by reference/make_cases.py) for the
// engine's tests: the checkpoint, the initial PEFT adapter, the micro-batches and the goldens the
// independent PyTorch referee computed.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileSetFromDir, nodeFileSource } from '../../io/source.node';
import { openCheckpoint, type Checkpoint } from '../../io/checkpoint';
import { readAdapter } from '../../io/peft';
import { openSafetensors } from '../../io/safetensors';
import { IGNORE_INDEX, type Batch } from '../../data/types';
import type { LoraSpec } from '../model/lora';
import type { BatchSource } from '../train/trainer';

export const REPO_ROOT = join(import.meta.dirname, '../../..');

export interface ReferenceCase {
  name: string;
  checkpoint: Checkpoint;
  lora: LoraSpec;
  initial: Float32Array;
  training: Record<string, number | string>;
  microBatches: Batch[];
  evalBatches: Batch[];
  golden: {
    step0_loss: number;
    losses: number[];
    lrs: number[];
    grad_norms: number[];
    eval_loss_init: number;
    eval_loss_final: number;
  };
  /** Golden tensors: step0.logits, step0.grad.<key>, final.<key>. */
  tensor(name: string): Promise<Float32Array>;
}

export function toBatch(mb: { input_ids: number[][]; labels: number[][] }): Batch {
  const B = mb.input_ids.length;
  const T = mb.input_ids[0].length;
  const inputIds = new Int32Array(mb.input_ids.flat());
  const labels = new Int32Array(mb.labels.flat());
  let numTargets = 0;
  for (let b = 0; b < B; b++) for (let t = 1; t < T; t++) if (labels[b * T + t] !== IGNORE_INDEX) numTargets++;
  // The reference's micro-batches carry no attention mask: every position counts as a token
  // (the count only feeds the throughput figure).
  return { inputIds, labels, batchSize: B, seqLen: T, numTargets, numTokens: B * T };
}

export async function loadCase(name: string): Promise<ReferenceCase> {
  const dir = join(REPO_ROOT, 'reference/cases', name);
  const c = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
  const modelDir = c.model_dir.startsWith('/') ? c.model_dir : join(REPO_ROOT, c.model_dir);
  const checkpoint = await openCheckpoint(await fileSetFromDir(modelDir));
  const adapter = await readAdapter(await fileSetFromDir(join(dir, 'adapter_init')), checkpoint.config);
  const batches = (f: string | undefined) =>
    f
      ? (
          JSON.parse(readFileSync(join(dir, f), 'utf8')).micro_batches as {
            input_ids: number[][];
            labels: number[][];
          }[]
        ).map(toBatch)
      : [];
  const golden = JSON.parse(readFileSync(join(REPO_ROOT, 'reference/golden', `${name}.json`), 'utf8'));
  const st = await openSafetensors(await nodeFileSource(join(REPO_ROOT, 'reference/golden', `${name}.safetensors`)));
  return {
    name,
    checkpoint,
    // LoRA+ and the initialisation are the case's (adapter_init holds PEFT's plain init either way)
    lora: {
      ...adapter.spec,
      ...(c.lora.loraplus_lr_ratio != null ? { loraplus_lr_ratio: c.lora.loraplus_lr_ratio } : {}),
      ...(c.lora.init_lora_weights != null ? { init_lora_weights: c.lora.init_lora_weights } : {}),
    },
    initial: adapter.flat,
    training: c.training,
    microBatches: batches(c.micro_batches),
    evalBatches: batches(c.eval_batches),
    golden,
    tensor: (n) => st.readAsF32(n),
  };
}

/** Micro-batches in order, G per optimizer step. */
export class ListBatchSource implements BatchSource {
  private i = 0;
  constructor(
    private readonly batches: Batch[],
    private readonly G: number,
  ) {}
  get epoch(): number {
    return this.i / this.batches.length;
  }
  nextStep(): Batch[] | null {
    if (this.i >= this.batches.length) return null;
    const out = this.batches.slice(this.i, this.i + this.G);
    this.i += out.length;
    return out;
  }
  state(): unknown {
    return this.i;
  }
  restore(s: unknown): void {
    this.i = s as number;
  }
}
