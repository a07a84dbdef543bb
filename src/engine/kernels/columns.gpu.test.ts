import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { Program } from '../gpu/program';
import { copyColumnsRef } from '../reference/columns';
import { withWorkgroupLimit } from '../testing/fold';
import { testContext } from '../testing/gpu';
import { Rng } from '../../util/rng';
import { copyColumns } from './columns';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

/** Splits src [N, sum(widths)] into parts and gathers them back into a fresh matrix: both exact. */
async function roundTrip(N: number, widths: number[], limit?: number): Promise<void> {
  const F = widths.reduce((s, w) => s + w, 0);
  const src = new Rng(N * 31 + F).uniformArray(N * F);
  const SRC = ctx.tensor([N, F], 'f32', 'fused', src);
  const parts = widths.map((w, i) => ctx.tensor([N, w], 'f32', `part${i}`));
  const BACK = ctx.tensor([N, F], 'f32', 'gathered');
  const record = async () => {
    const p = new Program(ctx, 'columns');
    let off = 0;
    widths.forEach((w, i) => {
      copyColumns(p, parts[i], w, 0, SRC, F, off, N, w);
      off += w;
    });
    off = 0;
    widths.forEach((w, i) => {
      copyColumns(p, BACK, F, off, parts[i], w, 0, N, w);
      off += w;
    });
    await p.run();
    p.destroy();
  };
  await (limit ? withWorkgroupLimit(ctx, limit, record) : record());
  let off = 0;
  for (let i = 0; i < widths.length; i++) {
    const want = new Float64Array(N * widths[i]);
    copyColumnsRef(want, widths[i], 0, src, F, off, N, widths[i]);
    expect(Array.from(await ctx.readF32(parts[i]))).toEqual(Array.from(want));
    off += widths[i];
  }
  expect(Array.from(await ctx.readF32(BACK))).toEqual(Array.from(src));
}

describe('copyColumns (GPU) against the CPU reference: exact copies', () => {
  it('N=1, one column per part', () => roundTrip(1, [1, 1, 1]));
  it('qkv of 5 heads + 2 kv heads of 6 dims over 7 tokens (widths 30, 12, 12)', () => roundTrip(7, [30, 12, 12]));
  it('gate/up of 37 over 13 tokens (widths 37, 37: 962 elements, 4 workgroups)', () => roundTrip(13, [37, 37]));
  it('folds the grid into y (widths 37, 37 under a limit of 2 workgroups per dimension)', () =>
    roundTrip(13, [37, 37], 2));
  it('leaves the columns outside the block untouched and refuses blocks that do not fit', async () => {
    const dst = ctx.tensor([2, 5], 'f32', 'dst', new Float32Array(10).fill(-1));
    const src = ctx.tensor([2, 3], 'f32', 'src', Float32Array.from([1, 2, 3, 4, 5, 6]));
    const p = new Program(ctx, 'block');
    copyColumns(p, dst, 5, 1, src, 3, 1, 2, 2);
    await p.run();
    expect(Array.from(await ctx.readF32(dst))).toEqual([-1, 2, 3, -1, -1, -1, 5, 6, -1, -1]);
    expect(() => copyColumns(p, dst, 5, 4, src, 3, 0, 2, 2)).toThrow(/do not fit/);
    expect(() => copyColumns(p, dst, 5, 0, dst, 5, 1, 2, 2)).toThrow(/overlap/);
  });
});
