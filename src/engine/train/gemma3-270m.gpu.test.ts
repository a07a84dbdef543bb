// Gemma 3 270M at its real size (the published config.json's fields, random weights): every tensor
// is uploaded under the device's binding limit and the LM head reads the embedding's shards. A
// training step at this size does not fit SwiftShader's time budget (it ran past 600 s), so the
// step itself is covered by tiny-gemma3 (golden.gpu.test.ts) and the memory estimate by
// model/memory.gemma3.test.ts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { testContext } from '../testing/gpu';
import { uploadWeights, type GpuWeights } from '../model/gpu-weights';
import { RandomWeightSource } from '../../bench/random-weights';
import { parseHfConfig } from '../../io/hf-config';
import GEMMA3_270M from '../../io/fixtures/gemma3-270m-config.json';

const config = parseHfConfig(GEMMA3_270M).model;
const src = new RandomWeightSource(config, 'BF16', 1);

describe('Gemma 3 270M (real shape, random weights)', () => {
  let ctx: GpuContext;
  let weights: GpuWeights;

  beforeAll(async () => {
    ctx = await testContext();
    // shards of 65,536 rows (84 MB): four of them, whatever this device's binding limit
    weights = await uploadWeights(ctx, config, src, undefined, { maxShardRows: 65536 });
  }, 600_000);
  afterAll(() => {
    weights?.arena.destroy();
  });

  it('uploads 268,098,176 BF16 parameters, the embedding in four shards holding all 262,144 rows', async () => {
    expect(weights.bytes).toBeGreaterThanOrEqual(2 * 268_098_176);
    expect(weights.embed.map((s) => [s.rowStart, s.rows])).toEqual([
      [0, 65536],
      [65536, 65536],
      [131072, 65536],
      [196608, 65536],
    ]);
    // the vocabulary's last row, byte for byte
    const row = 640 * 2;
    const want = (await src.read('model.embed_tokens.weight')).subarray(262143 * row);
    const last = new Uint8Array(await ctx.read(weights.embed[3].weight)).subarray(65535 * row, 65536 * row);
    expect(Buffer.from(last).equals(Buffer.from(want))).toBe(true);
    weights.lmHead.forEach((s, i) => expect(s.weight).toBe(weights.embed[i].weight)); // tied
    for (const s of weights.embed) expect(s.weight.size).toBeLessThanOrEqual(ctx.caps.maxStorageBufferBindingSize);
    expect(weights.layers[17].gemma).not.toBeNull();
  });
});
