// The GGUF file format (llama.cpp's ggml/docs/gguf.md and gguf-py/gguf/gguf_writer.py), written
// as a stream and read back for tests. Layout, little-endian, version 3:
//   u32 magic "GGUF", u32 version 3, u64 tensor count, u64 metadata count
//   metadata: string key, u32 value type, value (strings are u64 length + UTF-8; arrays are
//             u32 element type, u64 count, elements)
//   tensor infos: string name, u32 n_dims, u64 dims[n_dims] (ne[0] first: the row-major shape
//             reversed), u32 ggml type, u64 offset into the data section (a multiple of 32)
//   zero padding to 32 bytes, then the data section, each tensor padded to 32 bytes.
// The writer needs every tensor's type and shape before the first byte (the offsets live in the
// header), and then each tensor's bytes one at a time, so a model never sits whole in memory.
// llama.cpp refuses i32/u64/f64 for scalar hyperparameters: write integers as u32, floats as f32.

import { f16ToF32, f32ToBf16, f32ToF16 } from '../util/half';
import type { ByteSink } from './sink';
import { writeChunks } from './safetensors';
import { type ByteSource, IoError } from './source';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_ALIGNMENT = 32;

/** ggml_type values (ggml.h) of the tensor types written here. */
export const GGML_TYPES = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;
export type GgmlType = keyof typeof GGML_TYPES;
/** Q8_0: blocks of 32 weights along a row, each one f16 scale then 32 int8 (34 bytes). */
export const Q8_0_BLOCK = 32;
const Q8_0_BYTES = 34;

/** gguf_type values of metadata. */
const V = {
  U8: 0,
  I8: 1,
  U16: 2,
  I16: 3,
  U32: 4,
  I32: 5,
  F32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  U64: 10,
  I64: 11,
  F64: 12,
} as const;

export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'i32[]'; value: ArrayLike<number> }
  | { type: 'f32[]'; value: ArrayLike<number> };

export const u32 = (value: number): GgufValue => {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
    throw new Error(`GGUF u32: ${value} is out of range`);
  return { type: 'u32', value };
};
export const f32 = (value: number): GgufValue => ({ type: 'f32', value });
export const bool = (value: boolean): GgufValue => ({ type: 'bool', value });
export const str = (value: string): GgufValue => ({ type: 'string', value });
export const strs = (value: readonly string[]): GgufValue => ({ type: 'string[]', value });
export const i32s = (value: ArrayLike<number>): GgufValue => ({ type: 'i32[]', value });

export interface GgufTensorInfo {
  name: string;
  type: GgmlType;
  /** Row-major shape, as PyTorch and safetensors give it. */
  shape: readonly number[];
}

export interface GgufTensor extends GgufTensorInfo {
  /** The tensor's bytes in `type`, whole or in chunks, asked for when the writer reaches it. */
  data: () => Promise<Uint8Array> | AsyncIterable<Uint8Array>;
}

export function tensorBytes(t: GgufTensorInfo): number {
  const n = t.shape.reduce((a, b) => a * b, 1);
  switch (t.type) {
    case 'F32':
      return 4 * n;
    case 'F16':
    case 'BF16':
      return 2 * n;
    case 'Q8_0': {
      const ne0 = t.shape[t.shape.length - 1] ?? 1;
      if (ne0 % Q8_0_BLOCK !== 0)
        throw new Error(`GGUF tensor ${t.name}: Q8_0 needs rows of a multiple of 32 values, got ${ne0}`);
      return (n / Q8_0_BLOCK) * Q8_0_BYTES;
    }
  }
}

const pad = (n: number) => Math.ceil(n / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;

/** A little-endian byte builder for the header. */
class Out {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  n = 0;
  private enc = new TextEncoder();
  private room(k: number) {
    if (this.n + k <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + k) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  u32(x: number) {
    this.room(4);
    this.dv.setUint32(this.n, x, true);
    this.n += 4;
  }
  i32(x: number) {
    this.room(4);
    this.dv.setInt32(this.n, x, true);
    this.n += 4;
  }
  u64(x: number) {
    this.room(8);
    this.dv.setBigUint64(this.n, BigInt(x), true);
    this.n += 8;
  }
  f32(x: number) {
    this.room(4);
    this.dv.setFloat32(this.n, x, true);
    this.n += 4;
  }
  u8(x: number) {
    this.room(1);
    this.buf[this.n++] = x;
  }
  str(s: string) {
    const b = this.enc.encode(s);
    this.u64(b.length);
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  zeros(k: number) {
    this.room(k);
    this.buf.fill(0, this.n, this.n + k);
    this.n += k;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

function writeValue(o: Out, key: string, v: GgufValue) {
  o.str(key);
  switch (v.type) {
    case 'u32':
      o.u32(V.U32);
      o.u32(v.value);
      return;
    case 'f32':
      o.u32(V.F32);
      o.f32(v.value);
      return;
    case 'bool':
      o.u32(V.BOOL);
      o.u8(v.value ? 1 : 0);
      return;
    case 'string':
      o.u32(V.STRING);
      o.str(v.value);
      return;
    case 'string[]':
      o.u32(V.ARRAY);
      o.u32(V.STRING);
      o.u64(v.value.length);
      for (const s of v.value) o.str(s);
      return;
    case 'i32[]':
      o.u32(V.ARRAY);
      o.u32(V.I32);
      o.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) o.i32(v.value[i]);
      return;
    case 'f32[]':
      o.u32(V.ARRAY);
      o.u32(V.F32);
      o.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) o.f32(v.value[i]);
      return;
  }
}

/** The header (everything before the data section, padding included) and each tensor's offset. */
export function ggufHeader(
  metadata: ReadonlyMap<string, GgufValue>,
  tensors: readonly GgufTensorInfo[],
): { header: Uint8Array; offsets: number[]; dataBytes: number } {
  const o = new Out();
  o.u32(GGUF_MAGIC);
  o.u32(GGUF_VERSION);
  o.u64(tensors.length);
  o.u64(metadata.size);
  for (const [k, v] of metadata) writeValue(o, k, v);
  const offsets: number[] = [];
  let off = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`GGUF: tensor ${t.name} appears twice`);
    seen.add(t.name);
    o.str(t.name);
    o.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) o.u64(t.shape[i]);
    o.u32(GGML_TYPES[t.type]);
    o.u64(off);
    offsets.push(off);
    off += pad(tensorBytes(t));
  }
  o.zeros(pad(o.n) - o.n);
  return { header: o.bytes(), offsets, dataBytes: off };
}

/**
 * Streams a GGUF file: the header, then each tensor's bytes in order (asked for one at a time),
 * each padded to 32 bytes. `onTensor` reports progress after each tensor is written.
 */
export async function writeGguf(
  sink: ByteSink,
  metadata: ReadonlyMap<string, GgufValue>,
  tensors: readonly GgufTensor[],
  onTensor?: (done: number, total: number, name: string) => void,
): Promise<number> {
  const { header, dataBytes } = ggufHeader(metadata, tensors);
  await sink.write(header);
  const zeros = new Uint8Array(GGUF_ALIGNMENT);
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    const want = tensorBytes(t);
    const n = await writeChunks(sink, t.data());
    if (n !== want) throw new Error(`GGUF tensor ${t.name}: got ${n} bytes, ${t.type} [${t.shape}] needs ${want}`);
    const p = pad(want) - want;
    if (p) await sink.write(zeros.subarray(0, p));
    onTensor?.(i + 1, tensors.length, t.name);
  }
  await sink.close();
  return header.byteLength + dataBytes;
}

/** f32 values -> the bytes of `type`, as gguf-py's quants.py does (Q8_0 blocks run along rows). */
export function encodeTensor(x: Float32Array, type: GgmlType): Uint8Array {
  switch (type) {
    case 'F32':
      return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    case 'F16':
    case 'BF16': {
      const conv = type === 'F16' ? f32ToF16 : f32ToBf16;
      const h = new Uint16Array(x.length);
      for (let i = 0; i < x.length; i++) h[i] = conv(x[i]);
      return new Uint8Array(h.buffer);
    }
    case 'Q8_0':
      return quantizeQ8_0(x);
  }
}

/**
 * gguf-py's Q8_0 (bit-exact with ggml-quants.c quantize_row_q8_0_ref): per block of 32,
 * d = max|x| / 127 in f32, q = roundf(x * (1/d)) (half away from zero), d stored as f16.
 */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  if (x.length % Q8_0_BLOCK !== 0) throw new Error(`Q8_0: ${x.length} values is not a multiple of 32`);
  const nb = x.length / Q8_0_BLOCK;
  const out = new Uint8Array(nb * Q8_0_BYTES);
  const dv = new DataView(out.buffer);
  const q = new Int8Array(out.buffer);
  for (let b = 0; b < nb; b++) {
    const base = b * Q8_0_BLOCK;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(x[base + j]));
    const d = Math.fround(amax / 127);
    const id = d === 0 ? 0 : Math.fround(1 / d);
    dv.setUint16(b * Q8_0_BYTES, f32ToF16(d), true);
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const v = Math.fround(x[base + j] * id);
      q[b * Q8_0_BYTES + 2 + j] = Math.sign(v) * Math.round(Math.abs(v));
    }
  }
  return out;
}

export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < n / Q8_0_BLOCK; b++) {
    const d = f16ToF32(dv.getUint16(b * Q8_0_BYTES, true));
    for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = q[b * Q8_0_BYTES + 2 + j] * d;
  }
  return out;
}

// ---- reading (tests, and a check of what was written) ----

export interface GgufFile {
  version: number;
  metadata: Map<string, unknown>;
  tensors: Map<string, GgufTensorInfo & { offset: number; byteLength: number }>;
  dataStart: number;
  readF32(name: string): Promise<Float32Array>;
  read(name: string): Promise<Uint8Array>;
}

const TYPE_NAMES = new Map<number, GgmlType>(Object.entries(GGML_TYPES).map(([k, v]) => [v, k as GgmlType]));

/** Reads a GGUF file's header, refusing anything this writer would not have written. */
export async function readGguf(src: ByteSource): Promise<GgufFile> {
  const fail = (msg: string) => new IoError(`${src.name}: ${msg}`, src.name);
  // The header is small next to the data; read a growing prefix until it parses.
  let len = Math.min(src.size, 1 << 20);
  for (;;) {
    const bytes = await src.read(0, len);
    try {
      return parse(bytes);
    } catch (e) {
      if (e instanceof RangeError && len < src.size) {
        len = Math.min(src.size, len * 4);
        continue;
      }
      if (e instanceof RangeError) throw fail('is truncated');
      throw e;
    }
  }

  function parse(bytes: Uint8Array): GgufFile {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const dec = new TextDecoder();
    let p = 0;
    const u32r = () => ((p += 4), dv.getUint32(p - 4, true));
    const u64r = () => ((p += 8), Number(dv.getBigUint64(p - 8, true)));
    const strr = () => {
      const n = u64r();
      if (p + n > bytes.length) throw new RangeError('string');
      p += n;
      return dec.decode(bytes.subarray(p - n, p));
    };
    const scalar = (t: number): unknown => {
      switch (t) {
        case V.U8:
          return ((p += 1), dv.getUint8(p - 1));
        case V.I8:
          return ((p += 1), dv.getInt8(p - 1));
        case V.U16:
          return ((p += 2), dv.getUint16(p - 2, true));
        case V.I16:
          return ((p += 2), dv.getInt16(p - 2, true));
        case V.U32:
          return u32r();
        case V.I32:
          return ((p += 4), dv.getInt32(p - 4, true));
        case V.F32:
          return ((p += 4), dv.getFloat32(p - 4, true));
        case V.BOOL:
          return ((p += 1), dv.getUint8(p - 1) !== 0);
        case V.STRING:
          return strr();
        case V.U64:
          return u64r();
        case V.I64:
          return ((p += 8), Number(dv.getBigInt64(p - 8, true)));
        case V.F64:
          return ((p += 8), dv.getFloat64(p - 8, true));
        default:
          throw fail(`unknown metadata value type ${t}`);
      }
    };
    if (u32r() !== GGUF_MAGIC) throw fail('is not a GGUF file (no "GGUF" magic)');
    const version = u32r();
    if (version !== GGUF_VERSION) throw fail(`is GGUF version ${version}, expected ${GGUF_VERSION}`);
    const nTensors = u64r();
    const nKv = u64r();
    const metadata = new Map<string, unknown>();
    for (let i = 0; i < nKv; i++) {
      const key = strr();
      const t = u32r();
      if (t === V.ARRAY) {
        const et = u32r();
        const n = u64r();
        const arr: unknown[] = [];
        for (let j = 0; j < n; j++) arr.push(scalar(et));
        metadata.set(key, arr);
      } else metadata.set(key, { type: t, value: scalar(t) });
    }
    const tensors = new Map<string, GgufTensorInfo & { offset: number; byteLength: number }>();
    for (let i = 0; i < nTensors; i++) {
      const name = strr();
      const nd = u32r();
      const dims: number[] = [];
      for (let j = 0; j < nd; j++) dims.push(u64r());
      const tcode = u32r();
      const type = TYPE_NAMES.get(tcode);
      if (!type) throw fail(`tensor ${name} has ggml type ${tcode}, which this reader does not know`);
      const offset = u64r();
      const info = { name, type, shape: dims.reverse() };
      tensors.set(name, { ...info, offset, byteLength: tensorBytes(info) });
    }
    const dataStart = pad(p);
    if (dataStart > bytes.length && bytes.length < src.size) throw new RangeError('header');
    const read = async (name: string) => {
      const t = tensors.get(name);
      if (!t) throw fail(`has no tensor ${name}`);
      return src.read(dataStart + t.offset, t.byteLength);
    };
    return {
      version,
      metadata,
      tensors,
      dataStart,
      read,
      async readF32(name) {
        const t = tensors.get(name)!;
        const b = await read(name);
        const n = t.shape.reduce((a, c) => a * c, 1);
        if (t.type === 'Q8_0') return dequantizeQ8_0(b, n);
        if (t.type === 'F32') return new Float32Array(b.slice().buffer);
        const h = new Uint16Array(b.slice().buffer);
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++)
          out[i] = t.type === 'F16' ? f16ToF32(h[i]) : new Float32Array(new Uint32Array([h[i] << 16]).buffer)[0];
        return out;
      },
    };
  }
}

/** A metadata value as written (scalars are {type, value}; arrays are plain arrays). */
export function metaValue(f: GgufFile, key: string): unknown {
  const v = f.metadata.get(key);
  return Array.isArray(v) ? v : (v as { value: unknown } | undefined)?.value;
}

/** The gguf_type code a scalar was stored with (u32 = 4, f32 = 6, ...), for tests of the rule above. */
export function metaType(f: GgufFile, key: string): number | undefined {
  const v = f.metadata.get(key);
  return Array.isArray(v) ? V.ARRAY : (v as { type: number } | undefined)?.type;
}
