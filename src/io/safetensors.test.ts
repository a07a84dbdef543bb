import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DTYPE_SIZE,
  MAX_HEADER_BYTES,
  type TensorToWrite,
  duplicateKey,
  openSafetensors,
  writeSafetensors,
} from './safetensors';
import { blobSource, bytesSource } from './source';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../util/half';

/** A file with a hand-written header (padded to 8) and `dataLength` bytes of data. */
function craft(header: string | object, dataLength = 0, lengthOverride?: bigint): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const n = Math.ceil(h.length / 8) * 8;
  const out = new Uint8Array(8 + n + dataLength);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(n), true);
  out.set(h, 8);
  out.fill(0x20, 8 + h.length, 8 + n);
  for (let i = 0; i < dataLength; i++) out[8 + n + i] = i & 0xff;
  return out;
}

const open = (bytes: Uint8Array, name = 'model.safetensors') => openSafetensors(bytesSource(bytes, name));
const t = (dtype: string, shape: number[], begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

// The Python writer's formula (fixtures/make_reference_safetensors.py): (i * 0.37 - 1.1) * (k + 1).
const floats = (k: number, n: number) => Float32Array.from({ length: n }, (_, i) => (i * 0.37 - 1.1) * (k + 1));
const i64 = (xs: bigint[]) => new Uint8Array(BigInt64Array.from(xs).buffer);

function referenceTensors(): TensorToWrite[] {
  return [
    { name: 'b.weight', dtype: 'F32', shape: [2, 3], data: floats(0, 6) },
    { name: 'a.weight', dtype: 'F32', shape: [3], data: floats(1, 3) },
    { name: 'emb', dtype: 'F16', shape: [2, 5], data: floats(2, 10) },
    { name: 'norm', dtype: 'BF16', shape: [7], data: floats(3, 7) },
    { name: 'ids', dtype: 'I64', shape: [4], data: i64([0n, -1n, 2n ** 40n, -(2n ** 33n)]) },
    {
      name: 'pos',
      dtype: 'I32',
      shape: [2, 2],
      data: new Uint8Array(Int32Array.from([1, -2, 2 ** 31 - 1, -(2 ** 31)]).buffer),
    },
    { name: 'mask', dtype: 'BOOL', shape: [3], data: Uint8Array.from([1, 0, 1]) },
    { name: 'bytes', dtype: 'U8', shape: [5], data: Uint8Array.from([0, 1, 127, 128, 255]) },
    { name: 'small', dtype: 'I8', shape: [3], data: new Uint8Array(Int8Array.from([-128, 0, 127]).buffer) },
    { name: 'shorts', dtype: 'I16', shape: [2], data: new Uint8Array(Int16Array.from([-32768, 32767]).buffer) },
    { name: 'scalar', dtype: 'F64', shape: [], data: floats(10, 1) },
    { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    { name: 'z.f64', dtype: 'F64', shape: [2], data: floats(12, 2) },
    { name: 'ünïcode', dtype: 'F32', shape: [1], data: floats(13, 1) },
  ];
}

describe('writeSafetensors', () => {
  it('matches the bytes of the reference Python writer (fixtures/reference.safetensors)', () => {
    const ref = new Uint8Array(readFileSync(new URL('./fixtures/reference.safetensors', import.meta.url)));
    const ours = writeSafetensors(referenceTensors(), { format: 'pt', creator: 'make_reference_safetensors.py' });
    expect(ours.length).toBe(ref.length);
    expect(Buffer.from(ours).equals(Buffer.from(ref))).toBe(true);
  });

  it('reproduces the byte vectors of the reference library tests (tensor.rs)', () => {
    // test_serialization: {"attn.0": F32 [1, 2, 3] = 0..5}
    const data = Float32Array.from([0, 1, 2, 3, 4, 5]);
    expect([...writeSafetensors([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data }])]).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
      70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95,
      111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0,
      64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
    // test_empty, without and with metadata
    expect([...writeSafetensors([])]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect([...writeSafetensors([], { framework: 'pt' })]).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102, 114,
      97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
  });

  it('round-trips every dtype, shape and the metadata through the reader', async () => {
    const tensors = referenceTensors();
    const f = await open(writeSafetensors(tensors, { format: 'pt' }));
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.headerLength % 8).toBe(0);
    expect([...f.tensors.keys()].sort()).toEqual(tensors.map((x) => x.name).sort());
    for (const x of tensors) {
      const e = f.tensors.get(x.name)!;
      expect(e.dtype).toBe(x.dtype);
      expect(e.shape).toEqual(x.shape);
      expect(e.byteOffset % DTYPE_SIZE[e.dtype]).toBe(0); // sorted by alignment, header padded: every tensor aligned
      if (!(x.data instanceof Float32Array)) expect([...(await f.read(x.name))]).toEqual([...x.data]);
    }
    expect([...(await f.readAsF32('b.weight'))]).toEqual([...floats(0, 6)]);
    expect([...(await f.readAsF32('z.f64'))]).toEqual([...floats(12, 2)]);
    expect([...(await f.readAsF32('emb'))]).toEqual([...floats(2, 10)].map((v) => f16ToF32(f32ToF16(v))));
    expect([...(await f.readAsF32('norm'))]).toEqual([...floats(3, 7)].map((v) => bf16ToF32(f32ToBf16(v))));
    expect((await f.read('empty')).length).toBe(0);
    await expect(f.readAsF32('ids')).rejects.toThrow(
      /tensor "ids" has dtype I64, which cannot be read as floating point/,
    );
    await expect(f.read('nope')).rejects.toThrow('model.safetensors: has no tensor "nope"');
  });

  it('reads the reference file from a Blob, and its values are the ones the script wrote', async () => {
    const ref = new Uint8Array(readFileSync(new URL('./fixtures/reference.safetensors', import.meta.url)));
    const f = await openSafetensors(blobSource(new Blob([ref]), 'reference.safetensors'));
    expect(f.metadata).toEqual({ creator: 'make_reference_safetensors.py', format: 'pt' });
    expect([...(await f.readAsF32('a.weight'))]).toEqual([...floats(1, 3)]);
    expect([...(await f.readAsF32('ünïcode'))]).toEqual([...floats(13, 1)]);
    expect([...new BigInt64Array((await f.read('ids')).slice().buffer)]).toEqual([0n, -1n, 2n ** 40n, -(2n ** 33n)]);
    expect(f.tensors.get('scalar')!.shape).toEqual([]);
    expect(f.tensors.get('empty')!.byteLength).toBe(0);
  });

  it('refuses what the format cannot hold', () => {
    const d = new Float32Array(2);
    expect(() => writeSafetensors([{ name: 'x', dtype: 'F32', shape: [3], data: d }])).toThrow(
      /has 2 values, shape \[3\] needs 3/,
    );
    expect(() =>
      writeSafetensors([
        { name: 'x', dtype: 'F32', shape: [2], data: d },
        { name: 'x', dtype: 'F32', shape: [2], data: d },
      ]),
    ).toThrow(/tensor "x": appears twice/);
    expect(() => writeSafetensors([{ name: 'x', dtype: 'I32', shape: [2], data: d }])).toThrow(
      /f32 values cannot be stored as I32/,
    );
    expect(() => writeSafetensors([{ name: '__metadata__', dtype: 'F32', shape: [2], data: d }])).toThrow(/reserved/);
  });
});

describe('openSafetensors on hostile files', () => {
  const ok = { w: t('F32', [2], 0, 8) };
  const reject = async (bytes: Uint8Array, msg: RegExp) => {
    await expect(open(bytes)).rejects.toThrow(msg);
    await expect(open(bytes)).rejects.toMatchObject({ file: 'model.safetensors' });
  };

  it('accepts the well-formed baseline the hostile cases are mutated from', async () => {
    const f = await open(craft(ok, 8));
    expect([...(await f.read('w'))]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('reads a slice of a tensor, and refuses one outside it naming the tensor', async () => {
    const f = await open(craft(ok, 8));
    expect([...(await f.readRange('w', 3, 4))]).toEqual([3, 4, 5, 6]);
    expect([...(await f.readRange('w', 8, 0))]).toEqual([]);
    await expect(f.readRange('w', 6, 4)).rejects.toThrow(
      'model.safetensors: tensor "w": read of bytes [6, 10) is outside its 8 bytes',
    );
  });

  it('file shorter than the 8-byte length', () =>
    reject(new Uint8Array(5), /is 5 bytes, too small to be a safetensors file/));

  it('header length past the end of the file', () =>
    reject(craft(ok, 8, 4096n), /model\.safetensors: header length 4096 runs past the end of the file \(\d+ bytes\)/));

  it('absurd header lengths (over 100 MB, over 2^53), refused before any allocation', async () => {
    await reject(
      craft(ok, 8, BigInt(MAX_HEADER_BYTES + 1)),
      /header length 100000001 is larger than the 100000000-byte limit/,
    );
    await reject(craft(ok, 8, 2n ** 64n - 1n), /header length 18446744073709551615 is larger than/);
  });

  it('header that is not UTF-8, not JSON, or not an object', async () => {
    const bad = craft('{"w":1}');
    bad[9] = 0xff;
    await reject(bad, /the header is not valid UTF-8/);
    await reject(craft('{"w": {"dtype": "F32",'), /the header is not valid JSON/);
    await reject(craft('[1, 2]'), /the header must be a JSON object, got an array/);
    await reject(craft('null'), /the header must be a JSON object, got null/);
    await reject(craft('"text"'), /the header must be a JSON object, got string/);
  });

  it('missing or wrong-typed fields', async () => {
    await reject(craft({ w: 5 }), /tensor "w": entry must be an object/);
    await reject(
      craft({ w: { shape: [2], data_offsets: [0, 8] } }, 8),
      /tensor "w": "dtype" must be a string, got nothing/,
    );
    await reject(
      craft({ w: { dtype: 'F32', data_offsets: [0, 8] } }, 8),
      /tensor "w": "shape" must be an array of dimensions, got nothing/,
    );
    await reject(craft({ w: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, 8), /"shape" must be an array/);
    await reject(
      craft({ w: { dtype: 'F32', shape: [2] } }, 8),
      /tensor "w": "data_offsets" must be two non-negative integers/,
    );
    await reject(
      craft({ w: t('F32', [2], 0, 8.5) }, 8),
      /"data_offsets" must be two non-negative integers \[begin, end\], got \[0,8.5\]/,
    );
    await reject(craft({ w: t('F32', [2], -8, 0) }, 8), /"data_offsets" must be two non-negative integers/);
    await reject(craft({ w: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8), /"data_offsets" must be two/);
    await reject(craft({ __metadata__: { format: 1 }, ...ok }, 8), /"__metadata__"\."format" must be a string, got 1/);
    await reject(craft({ __metadata__: ['pt'], ...ok }, 8), /"__metadata__" must be an object of strings/);
  });

  it('negative, fractional, unsafe or overflowing dimensions', async () => {
    await reject(
      craft({ w: t('F32', [-2], 0, 8) }, 8),
      /tensor "w": shape\[0\] must be a non-negative integer, got -2/,
    );
    await reject(craft({ w: t('F32', [1.5, 2], 0, 8) }, 8), /shape\[0\] must be a non-negative integer, got 1.5/);
    await reject(
      craft({ w: { dtype: 'F32', shape: [2, '2'], data_offsets: [0, 8] } }, 8),
      /shape\[1\] must be a non-negative integer, got "2"/,
    );
    await reject(craft({ w: t('F32', [2 ** 30, 2 ** 30, 2 ** 30], 0, 8) }, 8), /has too many elements/);
  });

  it('unknown dtype', () =>
    reject(
      craft({ w: t('F4', [2], 0, 1) }, 1),
      /tensor "w": dtype "F4" is not supported \(supported: BOOL, U8, .*F32, F64/,
    ));

  it('byte length that disagrees with dtype x shape', async () => {
    await reject(
      craft({ w: t('F32', [3], 0, 8) }, 8),
      /tensor "w": data_offsets \[0, 8\] hold 8 bytes, but F32 \[3\] needs 12/,
    );
    await reject(craft({ w: t('BF16', [2, 2], 0, 4) }, 4), /hold 4 bytes, but BF16 \[2, 2\] needs 8/);
  });

  it('offsets out of range or reversed', async () => {
    await reject(
      craft({ w: t('F32', [2], 8, 16) }, 8),
      /tensor "w": data_offsets \[8, 16\] run past the end of the data region \(8 bytes\)/,
    );
    await reject(craft({ w: t('F32', [0], 8, 4) }, 8), /data_offsets \[8, 4\] end before they begin/);
  });

  it('overlapping tensors', () =>
    reject(
      craft({ a: t('F32', [2], 0, 8), b: t('F32', [2], 4, 12) }, 12),
      /tensor "b" \(bytes \[4, 12\)\) overlaps tensor "a" \(which ends at byte 8\)/,
    ));

  it('two tensors sharing the same bytes', () =>
    reject(craft({ a: t('F32', [2], 0, 8), b: t('F32', [2], 0, 8) }, 8), /overlaps tensor "a"/));

  it('a hole in the data region', () =>
    reject(
      craft({ a: t('F32', [1], 0, 4), b: t('F32', [1], 8, 12) }, 12),
      /bytes \[4, 8\) of the data region belong to no tensor \(a hole before tensor "b"\)/,
    ));

  it('data not starting at 0', () =>
    reject(craft({ a: t('F32', [1], 4, 8) }, 8), /bytes \[0, 4\) of the data region belong to no tensor/));

  it('trailing bytes after the last tensor', () =>
    reject(
      craft(ok, 12),
      /the tensors cover 8 bytes but the data region is 12 bytes \(4 unindexed bytes at the end\)/,
    ));

  it('duplicate tensor names and duplicate fields', async () => {
    await reject(
      craft(
        '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
        8,
      ),
      /the header names tensor "w" twice/,
    );
    await reject(
      craft('{"w":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}}', 8),
      /repeats the field "dtype" inside one entry/,
    );
  });

  it('accepts tensors listed in any order, zero-size tensors and scalars', async () => {
    const f = await open(craft({ b: t('I32', [], 4, 8), e: t('F16', [0], 4, 4), a: t('F32', [1], 0, 4) }, 8));
    expect([...f.tensors.keys()]).toEqual(['a', 'e', 'b']);
    expect(f.tensors.get('b')!.byteOffset - f.tensors.get('a')!.byteOffset).toBe(4);
  });
});

describe('duplicateKey', () => {
  it('finds repeats per object, through escapes, nesting and arrays', () => {
    expect(duplicateKey('{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}')).toBeNull();
    expect(duplicateKey('{"a\\"x":1,"a\\u0022x":2}')).toEqual({ key: 'a"x', depth: 1 });
    expect(duplicateKey('{"k":[{"q":"{\\"q\\":1}","q":3}]}')).toEqual({ key: 'q', depth: 3 });
    expect(duplicateKey('{"s":"a,\\"b\\":","b":1}')).toBeNull();
  });
});
