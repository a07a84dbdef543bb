// A WeightSource of random weights with a model's exact tensor names and shapes, generated in
// memory (seeded, per tensor, on demand), so the benchmark needs no checkpoint download: BF16
// (or F16/F32) values ~ U(-a, a) with std 0.02 like transformers' initializer_range, norm
// weights 1 (Gemma 3: 0, its norms scale by 1 + w) and biases 0, as a freshly initialized model has.

import { type ModelConfig, expectedWeights } from '../engine/model/config';
import type { WeightDType, WeightInfo, WeightSource } from '../engine/model/weights';
import { f32ToF16 } from '../util/half';

/** std 0.02 as a uniform: a = 0.02 * sqrt(3). */
const BOUND = 0.02 * Math.sqrt(3);

function hash(s: string, seed: number): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export class RandomWeightSource implements WeightSource {
  private readonly infos: WeightInfo[];
  constructor(
    readonly config: ModelConfig,
    readonly dtype: WeightDType = 'BF16',
    readonly seed = 0,
  ) {
    this.infos = expectedWeights(config).map((w) => ({ name: w.name, shape: w.shape, dtype }));
  }

  list(): WeightInfo[] {
    return this.infos;
  }

  async read(name: string): Promise<Uint8Array> {
    const info = this.infos.find((w) => w.name === name);
    if (!info) throw new Error(`random weights: no tensor ${name}`);
    const n = info.shape.reduce((a, b) => a * b, 1);
    const kind = name.endsWith('norm.weight') ? 'one' : name.endsWith('.bias') ? 'zero' : 'random';
    const values = new Float32Array(n);
    if (kind === 'one')
      values.fill(this.config.gemma3 ? 0 : 1); // Gemma3RMSNorm is (1 + w), initialised at 0
    else if (kind === 'random') {
      // xorshift32: fast enough for 500M values, and the same bytes on every run.
      let s = hash(name, this.seed) || 1;
      for (let i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        values[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * BOUND;
      }
    }
    if (this.dtype === 'F32') return new Uint8Array(values.buffer);
    const out = new Uint16Array(n);
    const u = new Uint32Array(values.buffer);
    if (this.dtype === 'BF16') {
      for (let i = 0; i < n; i++) out[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16; // round to nearest even
    } else {
      for (let i = 0; i < n; i++) out[i] = f32ToF16(values[i]);
    }
    return new Uint8Array(out.buffer);
  }
}
