// The safetensors format (github.com/huggingface/safetensors, README "Format" and
// safetensors/src/tensor.rs), read lazily from a ByteSource and written byte-for-byte as the
// reference library writes it. Layout:
//   8 bytes   N, u64 little-endian
//   N bytes   UTF-8 JSON object: {"__metadata__"?: {str: str}, name: {dtype, shape, data_offsets: [begin, end)}}
//             (offsets relative to the first byte after the header; may be padded with spaces)
//   rest      the data region, row-major little-endian, every byte owned by exactly one tensor.
// Files come from strangers, so every number in the header is checked before it is used: the
// same rules as the reference reader (100 MB header cap, offsets contiguous from 0 to the end of
// the file, byte length = dtype size x numel) plus duplicate names, which JSON.parse would hide.

import { type ByteSource, IoError, errorText } from './source';
import { f16ToF32, f32ToBf16, f32ToF16 } from '../util/half';

/** In the reference's alignment order (tensor.rs `enum Dtype`); the writer sorts by it, descending. */
export const DTYPES = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
] as const;
export type Dtype = (typeof DTYPES)[number];

export const DTYPE_SIZE: Record<Dtype, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** The reference reader's limit: larger headers are refused before being read. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte offset in the file (8 + N + data_offsets[0]). */
  byteOffset: number;
  byteLength: number;
}

export interface SafetensorsFile {
  readonly name: string;
  /** Tensors in data order. */
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  /** The `__metadata__` map ({} when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** N, the JSON header's length in bytes. */
  readonly headerLength: number;
  /** The tensor's bytes as stored. */
  read(name: string): Promise<Uint8Array>;
  /** `length` of the tensor's bytes from `offset` within it (rejects outside the tensor). */
  readRange(name: string, offset: number, length: number): Promise<Uint8Array>;
  /** The tensor widened to f32 (F32, F16, BF16 or F64). */
  readAsF32(name: string): Promise<Float32Array>;
}

export async function openSafetensors(src: ByteSource): Promise<SafetensorsFile> {
  const file = src.name;
  const fail = (msg: string) => new IoError(`${file}: ${msg}`, file);
  if (src.size < 8)
    throw fail(`is ${src.size} bytes, too small to be a safetensors file (it starts with an 8-byte header length)`);
  const lenBytes = await src.read(0, 8);
  const n64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    throw fail(
      `header length ${n64} is larger than the ${MAX_HEADER_BYTES}-byte limit: not a safetensors file, or a corrupt one`,
    );
  }
  const n = Number(n64);
  if (8 + n > src.size)
    throw fail(
      `header length ${n} runs past the end of the file (${src.size} bytes): the file is truncated or not safetensors`,
    );
  const headerBytes = await src.read(8, n);
  const { tensors, metadata } = parseHeader(file, headerBytes, src.size - 8 - n, 8 + n);
  const entry = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new IoError(`${file}: has no tensor "${name}"`, file);
    return t;
  };
  const read = async (name: string) => {
    const t = entry(name);
    if (t.byteLength === 0) return new Uint8Array(0);
    return src.read(t.byteOffset, t.byteLength);
  };
  return {
    name: file,
    tensors,
    metadata,
    headerLength: n,
    read,
    async readRange(name, offset, length) {
      const t = entry(name);
      if (
        !Number.isSafeInteger(offset) ||
        !Number.isSafeInteger(length) ||
        offset < 0 ||
        length < 0 ||
        offset + length > t.byteLength
      ) {
        throw new IoError(
          `${file}: tensor "${name}": read of bytes [${offset}, ${offset + length}) is outside its ${t.byteLength} bytes`,
          file,
        );
      }
      if (length === 0) return new Uint8Array(0);
      return src.read(t.byteOffset + offset, length);
    },
    async readAsF32(name) {
      const t = entry(name);
      return toF32(await read(name), t.dtype, `${file}: tensor "${name}"`);
    },
  };
}

/**
 * Parses and checks a header. `dataLength` is the size of the data region and `dataStart` its
 * absolute offset. Exported for tests and for callers holding the header already.
 */
export function parseHeader(
  file: string,
  headerBytes: Uint8Array,
  dataLength: number,
  dataStart: number,
): { tensors: Map<string, TensorEntry>; metadata: Record<string, string> } {
  const fail = (msg: string) => new IoError(`${file}: ${msg}`, file);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw fail('the header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw fail(`the header is not valid JSON (${errorText(e)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw fail(
      `the header must be a JSON object, got ${header === null ? 'null' : Array.isArray(header) ? 'an array' : typeof header}`,
    );
  }
  const dup = duplicateKey(text);
  if (dup) {
    throw fail(
      dup.depth === 1
        ? `the header names tensor "${dup.key}" twice`
        : `the header repeats the field "${dup.key}" inside one entry`,
    );
  }

  let metadata: Record<string, string> = {};
  const list: TensorEntry[] = [];
  const begins = new Map<string, number>();
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(file, raw);
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw fail(`${where}: entry must be an object with dtype, shape and data_offsets`);
    const info = raw as Record<string, unknown>;
    if (typeof info.dtype !== 'string') throw fail(`${where}: "dtype" must be a string, got ${show(info.dtype)}`);
    if (!(DTYPES as readonly string[]).includes(info.dtype)) {
      throw fail(`${where}: dtype "${info.dtype}" is not supported (supported: ${DTYPES.join(', ')})`);
    }
    const dtype = info.dtype as Dtype;
    if (!Array.isArray(info.shape))
      throw fail(`${where}: "shape" must be an array of dimensions, got ${show(info.shape)}`);
    const shape = info.shape as unknown[];
    let numel = 1;
    shape.forEach((d, i) => {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
        throw fail(`${where}: shape[${i}] must be a non-negative integer, got ${show(d)}`);
      numel *= d;
      if (!Number.isSafeInteger(numel)) throw fail(`${where}: shape [${shape.join(', ')}] has too many elements`);
    });
    const off = info.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)
    ) {
      throw fail(`${where}: "data_offsets" must be two non-negative integers [begin, end], got ${show(off)}`);
    }
    const [begin, end] = off as [number, number];
    if (end < begin) throw fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength)
      throw fail(`${where}: data_offsets [${begin}, ${end}] run past the end of the data region (${dataLength} bytes)`);
    const expected = numel * DTYPE_SIZE[dtype];
    if (!Number.isSafeInteger(expected) || end - begin !== expected) {
      throw fail(
        `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} [${shape.join(', ')}] needs ${expected}`,
      );
    }
    list.push({ name, dtype, shape: shape as number[], byteOffset: dataStart + begin, byteLength: end - begin });
    begins.set(name, begin);
  }

  // The reference's rule: sorted by offsets, each tensor starts where the previous one ended, the
  // last ends at the end of the file. So no overlap, no hole, no trailing bytes.
  list.sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  let cursor = 0;
  let prev: TensorEntry | null = null;
  for (const t of list) {
    const begin = begins.get(t.name)!;
    if (begin < cursor) {
      throw fail(
        `tensor "${t.name}" (bytes [${begin}, ${begin + t.byteLength})) overlaps tensor "${prev!.name}" (which ends at byte ${cursor})`,
      );
    }
    if (begin > cursor) {
      throw fail(
        `bytes [${cursor}, ${begin}) of the data region belong to no tensor (a hole before tensor "${t.name}")`,
      );
    }
    cursor = begin + t.byteLength;
    prev = t;
  }
  if (cursor !== dataLength) {
    throw fail(
      `the tensors cover ${cursor} bytes but the data region is ${dataLength} bytes (${dataLength - cursor} unindexed bytes at the end)`,
    );
  }
  return { tensors: new Map(list.map((t) => [t.name, t])), metadata };
}

function parseMetadata(file: string, raw: unknown): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new IoError(`${file}: "__metadata__" must be an object of strings, got ${show(raw)}`, file);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string')
      throw new IoError(`${file}: "__metadata__"."${k}" must be a string, got ${show(v)}`, file);
    out[k] = v;
  }
  return out;
}

function show(v: unknown): string {
  const s = v === undefined ? 'nothing' : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * The first key repeated inside one object of a valid JSON text (depth 1 = the top level).
 * JSON.parse keeps the last duplicate silently; the format disallows them.
 */
export function duplicateKey(json: string): { key: string; depth: number } | null {
  const stack: (Set<string> | null)[] = []; // null marks an array
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (json.charCodeAt(j) !== 0x22) j += json.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) return { key, depth: stack.length };
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] !== null;
    }
  }
  return null;
}

let f16Table: Float32Array | null = null;

/** Widens stored bytes to a fresh Float32Array. Assumes a little-endian host (every browser and Node target is). */
export function toF32(bytes: Uint8Array, dtype: Dtype, what: string): Float32Array {
  const n = bytes.byteLength / (DTYPE_SIZE[dtype] ?? 1);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    case 'BF16': {
      const h = new Uint16Array(n);
      new Uint8Array(h.buffer).set(bytes);
      const out = new Float32Array(n);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = h[i] << 16;
      return out;
    }
    case 'F16': {
      if (!f16Table) {
        f16Table = new Float32Array(65536);
        for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
      }
      const h = new Uint16Array(n);
      new Uint8Array(h.buffer).set(bytes);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16Table[h[i]];
      return out;
    }
    case 'F64': {
      const d = new Float64Array(n);
      new Uint8Array(d.buffer).set(bytes);
      return Float32Array.from(d);
    }
    default:
      throw new IoError(
        `${what} has dtype ${dtype}, which cannot be read as floating point (F32, F16, BF16 or F64)`,
        what,
      );
  }
}

/** Narrows f32 values to the bytes of a floating dtype (round to nearest even). */
export function fromF32(x: Float32Array, dtype: 'F32' | 'F16' | 'BF16' | 'F64'): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    case 'F64':
      return new Uint8Array(Float64Array.from(x).buffer);
    case 'F16':
    case 'BF16': {
      const conv = dtype === 'F16' ? f32ToF16 : f32ToBf16;
      const h = new Uint16Array(x.length);
      for (let i = 0; i < x.length; i++) h[i] = conv(x[i]);
      return new Uint8Array(h.buffer);
    }
  }
}

export interface TensorToWrite {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
  /** Raw little-endian bytes in `dtype`, or f32 values converted to a floating `dtype`. */
  data: Uint8Array | Float32Array;
}

/**
 * Serializes like the reference (tensor.rs `prepare`): tensors sorted by dtype alignment
 * (descending) then name, data laid out in that order, header JSON without spaces with
 * `__metadata__` first (its keys sorted, so the output is deterministic), padded with spaces to a
 * multiple of 8 bytes so every tensor starts aligned.
 */
export function writeSafetensors(
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): Uint8Array<ArrayBuffer> {
  const enc = new TextEncoder();
  const seen = new Set<string>();
  const prepared = tensors.map((t) => {
    const where = `writeSafetensors: tensor "${t.name}"`;
    if (t.name === '__metadata__') throw new Error(`${where}: the name is reserved`);
    if (seen.has(t.name)) throw new Error(`${where}: appears twice`);
    seen.add(t.name);
    if (!(DTYPES as readonly string[]).includes(t.dtype)) throw new Error(`${where}: unknown dtype "${t.dtype}"`);
    let numel = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new Error(`${where}: invalid shape [${t.shape.join(', ')}]`);
      numel *= d;
    }
    let bytes: Uint8Array;
    if (t.data instanceof Float32Array) {
      if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16' && t.dtype !== 'F64') {
        throw new Error(`${where}: f32 values cannot be stored as ${t.dtype}`);
      }
      if (t.data.length !== numel)
        throw new Error(`${where}: has ${t.data.length} values, shape [${t.shape.join(', ')}] needs ${numel}`);
      bytes = fromF32(t.data, t.dtype);
    } else {
      bytes = t.data;
      if (bytes.byteLength !== numel * DTYPE_SIZE[t.dtype]) {
        throw new Error(
          `${where}: has ${bytes.byteLength} bytes, ${t.dtype} [${t.shape.join(', ')}] needs ${numel * DTYPE_SIZE[t.dtype]}`,
        );
      }
    }
    return { name: t.name, key: enc.encode(t.name), dtype: t.dtype, shape: [...t.shape], bytes };
  });
  const rank = (d: Dtype) => DTYPES.indexOf(d);
  prepared.sort((a, b) => rank(b.dtype) - rank(a.dtype) || compareBytes(a.key, b.key));

  let json = '{';
  const parts: string[] = [];
  if (metadata) {
    const keys = Object.keys(metadata).sort((a, b) => compareBytes(enc.encode(a), enc.encode(b)));
    parts.push(
      `"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(String(metadata[k]))}`).join(',')}}`,
    );
  }
  let offset = 0;
  for (const t of prepared) {
    const end = offset + t.bytes.byteLength;
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  json += parts.join(',') + '}';
  const header = enc.encode(json);
  const n = Math.ceil(header.byteLength / 8) * 8;
  const out = new Uint8Array(8 + n + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(header, 8);
  out.fill(0x20, 8 + header.byteLength, 8 + n);
  let p = 8 + n;
  for (const t of prepared) {
    out.set(t.bytes, p);
    p += t.bytes.byteLength;
  }
  return out;
}

/** Rust's `String` order: bytewise over UTF-8. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export interface TensorToStream {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
  /** The tensor's bytes in `dtype`, whole or in chunks, asked for when the writer reaches it. */
  data: () => Promise<Uint8Array> | AsyncIterable<Uint8Array>;
}

/** Writes a tensor's bytes (whole or chunked) to `sink`, returning how many were written. */
export async function writeChunks(
  sink: { write(b: Uint8Array): Promise<void> },
  data: Promise<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<number> {
  if (Symbol.asyncIterator in data) {
    let n = 0;
    for await (const c of data) {
      await sink.write(c);
      n += c.byteLength;
    }
    return n;
  }
  const b = await data;
  await sink.write(b);
  return b.byteLength;
}

/**
 * writeSafetensors' exact bytes, streamed: the header is computed from names, dtypes and shapes,
 * then each tensor's bytes are asked for one at a time in the reference's order, so a large
 * checkpoint is never held whole. Returns the file's size.
 */
export async function streamSafetensors(
  sink: { write(b: Uint8Array): Promise<void>; close(): Promise<void> },
  tensors: readonly TensorToStream[],
  metadata?: Record<string, string>,
  onTensor?: (name: string, bytes: number) => void,
): Promise<number> {
  const sizes = tensors.map((t) => t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[t.dtype]);
  // The header: writeSafetensors over empty stand-ins of the right length would cost the data
  // itself, so the same ordering and JSON are built here from the sizes alone.
  const enc = new TextEncoder();
  const order = tensors.map((t, i) => ({ t, i, key: enc.encode(t.name) }));
  const rank = (d: Dtype) => DTYPES.indexOf(d);
  order.sort((a, b) => rank(b.t.dtype) - rank(a.t.dtype) || compareBytes(a.key, b.key));
  const parts: string[] = [];
  if (metadata) {
    const keys = Object.keys(metadata).sort((a, b) => compareBytes(enc.encode(a), enc.encode(b)));
    parts.push(
      `"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(String(metadata[k]))}`).join(',')}}`,
    );
  }
  let offset = 0;
  for (const { t, i } of order) {
    const end = offset + sizes[i];
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const header = enc.encode(`{${parts.join(',')}}`);
  const n = Math.ceil(header.byteLength / 8) * 8;
  const head = new Uint8Array(8 + n);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  head.set(header, 8);
  head.fill(0x20, 8 + header.byteLength);
  await sink.write(head);
  for (const { t, i } of order) {
    const n = await writeChunks(sink, t.data());
    if (n !== sizes[i])
      throw new Error(
        `streamSafetensors: tensor "${t.name}" has ${n} bytes, ${t.dtype} [${t.shape}] needs ${sizes[i]}`,
      );
    onTensor?.(t.name, n);
  }
  await sink.close();
  return head.byteLength + offset;
}
