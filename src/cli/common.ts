// What the command-line programs share: the error policy (one clear line, a non-zero exit, never
// a stack trace), reading a dataset file as a stream, and opening the GPU in Node.

import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { basename } from 'node:path';
import { GpuContext, type ContextOptions } from '../engine/gpu/context';
import { gpuLine, nodeGpu } from '../engine/node/webgpu';
import type { ParsedDataset } from '../data/parse';
import { readDataset as readStream } from '../run/data';
import type { DatasetFormat } from '../data/formats';
import { UsageError } from './args';

export async function cliMain(usage: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
    process.exit(0);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${msg}\n\n${usage}\n`);
      process.exit(2);
    }
    process.stderr.write(`error: ${msg}\n`);
    if (process.env.LORA_STUDIO_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  }
}

export function required(flags: Map<string, string | true>, name: string): string {
  const v = flags.get(name);
  if (v === undefined || v === true) throw new UsageError(`--${name} is required`);
  return v;
}

export async function readDataset(path: string, format?: DatasetFormat): Promise<ParsedDataset> {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new Error(`${path}: no such file`);
  }
  const stream = Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>;
  return readStream(stream, { name: basename(path), format, totalBytes: size });
}

/** Opens the GPU and says which adapter it got (`say`: the program's first line). */
export async function openGpu(
  say: (line: string) => void = (l) => console.log(l),
  opts?: ContextOptions,
): Promise<GpuContext> {
  const ctx = await GpuContext.create(nodeGpu(), opts);
  say(gpuLine(ctx.caps));
  return ctx;
}

export function fmtNum(x: number, digits = 4): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}
