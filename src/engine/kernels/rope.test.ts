import { describe, expect, it } from 'vitest';
import { expectClose } from '../testing/gpu';
import { longRopeFactors, ropeInvFreq, ropeTables } from './rope';

// Expected values from torch 1.13 float32 in /usr/bin/python3, running the tensor expressions of
// transformers' _compute_default_rope_parameters / _compute_llama3_parameters
// (modeling_rope_utils.py) and LlamaRotaryEmbedding.forward, reproduced line for line:
//   inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
//   [llama3] wavelen = 2 * math.pi / inv_freq; torch.where(wavelen > low, inv_freq / factor, ...);
//            smooth = (old / wavelen - low_f) / (high_f - low_f); medium band blended
//   freqs = inv_freq[None, :, None] @ arange(T)[None, None, :].float(); cos/sin of cat(freqs, freqs)
// inv_freq as float32 bit patterns; cos/sin printed with repr(float(x)).

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

// longrope over 131072 / 4096 positions (Phi-3-mini-128k's), at rotary dim 12: 6 factors of each kind.
const PHI3_LONGROPE = {
  ropeType: 'longrope' as const,
  factor: 32,
  shortFactor: [1, 1.05, 1.5, 2.25, 3, 7.5],
  longFactor: [1, 2, 4, 8, 16, 32],
  originalMaxPositionEmbeddings: 4096,
  attentionFactor: Math.sqrt(1 + Math.log(32) / Math.log(4096)),
};

const DEFAULT_INV = [0x3f800000, 0x3ea1e89b, 0x3dcccccd, 0x3d0186e3, 0x3c23d70a, 0x3b4f3e38, 0x3a83126f, 0x39a5cb60];
const DEFAULT_ROWS: Record<number, [number[], number[]]> = {
  1: [
    [
      0.5403023362159729, 0.950415313243866, 0.9950041770935059, 0.999500036239624, 0.9999499917030334,
      0.9999949932098389, 0.9999995231628418, 0.9999999403953552,
    ],
    [
      0.8414709568023682, 0.3109835982322693, 0.0998334214091301, 0.031617507338523865, 0.009999833069741726,
      0.003162272507324815, 0.0009999999310821295, 0.0003162277862429619,
    ],
  ],
  7: [
    [
      0.7539022564888, -0.5994374752044678, 0.7648422122001648, 0.9755998849868774, 0.9975510239601135,
      0.9997550249099731, 0.9999755024909973, 0.9999975562095642,
    ],
    [
      0.6569865942001343, 0.8004215955734253, 0.6442176699638367, 0.21955610811710358, 0.06994284689426422,
      0.02213413640856743, 0.0069999429397284985, 0.002213592641055584,
    ],
  ],
  4096: [
    [
      0.8039906024932861, 0.5956291556358337, 0.36890920996665955, -0.7507481575012207, -0.9928928017616272,
      0.9263020753860474, -0.5780922770500183, 0.27205440402030945,
    ],
    [
      -0.5946419835090637, 0.803259551525116, 0.9294654130935669, -0.6605885624885559, -0.11901184171438217,
      0.37678173184394836, -0.8159713745117188, 0.9622818827629089,
    ],
  ],
};

// Llama 3.2: theta 500000, head_dim 64, rope_scaling {factor 32, low 1, high 4, original 8192}.
// Dimensions 0-14 keep their frequency, 15-17 are blended, 18-31 are divided by 32.
const LLAMA32 = {
  ropeType: 'llama3',
  factor: 32,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalMaxPositionEmbeddings: 8192,
} as const;
const LLAMA3_INV = [
  0x3f800000, 0x3f29e1c6, 0x3ee177bc, 0x3e959ee3, 0x3e4693b0, 0x3e03c6a0, 0x3daee4ad, 0x3d681e67, 0x3d1a08c8,
  0x3ccc6f49, 0x3c87a9c3, 0x3c340d6d, 0x3beef74f, 0x3b9e9402, 0x3b527720, 0x3aa9279b, 0x39e13620, 0x38cb98f7,
  0x37a3418d, 0x3758ac81, 0x370fc8f8, 0x36bed4f4, 0x367d45c3, 0x3628126b, 0x35df10c4, 0x359406cb, 0x35447610,
  0x35025f34, 0x34ad07a7, 0x3465a54d, 0x341864a7, 0x33ca41b0,
];
const LLAMA3_COLS = [0, 9, 14, 15, 16, 17, 18, 31];
const LLAMA3_ROWS: Record<number, [number[], number[]]> = {
  1: [
    [0.5403023362159729, 0.9996886253356934, 0.9999948740005493, 0.9999991655349731, 0.9999999403953552, 1.0, 1.0, 1.0],
    [
      0.8414709568023682, 0.02495281770825386, 0.0032114405184984207, 0.0012905476614832878, 0.000429556705057621,
      9.708286233944818e-5, 1.9461638657958247e-5, 9.418306490260875e-8,
    ],
  ],
  100: [
    [
      0.8623188734054565, -0.7984669804573059, 0.9488747715950012, 0.9916839599609375, 0.999077558517456,
      0.9999529123306274, 0.9999980926513672, 1.0,
    ],
    [
      -0.5063656568527222, 0.6020386219024658, 0.31565284729003906, 0.12869685888290405, 0.042942460626363754,
      0.009708133526146412, 0.0019461625488474965, 9.418306945008226e-6,
    ],
  ],
  8192: [
    [
      0.2928018271923065, -0.9733955264091492, 0.38515064120292664, -0.4108671247959137, -0.9296495318412781,
      0.7000685930252075, 0.9873179793357849, 0.9999997019767761,
    ],
    [
      -0.9561731815338135, -0.2291313111782074, 0.9228537082672119, -0.9116952419281006, -0.3684450685977936,
      0.7140756249427795, 0.15875521302223206, 0.00077154760947451,
    ],
  ],
};

// torch's float32 cos/sin are not correctly rounded, Math.cos rounded to f32 is: they differ by at
// most one ulp here (6e-8 seen); 1.2e-7 is two ulps of values in [0.5, 1).
const TRIG = { atol: 1.2e-7, rtol: 0 };

describe('ropeTables (transformers float32 semantics)', () => {
  it('default RoPE (theta 10000, hd 16): inv_freq bit-exact, cos/sin to 1 ulp, up to t = 4096', () => {
    expect(bits(ropeInvFreq(16, 10000, null))).toEqual(DEFAULT_INV);
    const { cos, sin } = ropeTables(4097, 16, 10000, null);
    expect(Array.from(cos.subarray(0, 8))).toEqual(new Array(8).fill(1));
    expect(Array.from(sin.subarray(0, 8))).toEqual(new Array(8).fill(0));
    for (const [t, [c, s]] of Object.entries(DEFAULT_ROWS)) {
      expectClose(cos.subarray(+t * 8, +t * 8 + 8), c, TRIG, `cos[${t}]`);
      expectClose(sin.subarray(+t * 8, +t * 8 + 8), s, TRIG, `sin[${t}]`);
    }
  });

  it('Llama 3.2 "llama3" scaling (theta 500000, hd 64): inv_freq bit-exact in all three bands', () => {
    expect(bits(ropeInvFreq(64, 500000, LLAMA32))).toEqual(LLAMA3_INV);
    const { cos, sin } = ropeTables(8193, 64, 500000, LLAMA32);
    for (const [t, [c, s]] of Object.entries(LLAMA3_ROWS)) {
      expectClose(
        LLAMA3_COLS.map((d) => cos[+t * 32 + d]),
        c,
        TRIG,
        `cos[${t}]`,
      );
      expectClose(
        LLAMA3_COLS.map((d) => sin[+t * 32 + d]),
        s,
        TRIG,
        `sin[${t}]`,
      );
    }
  });

  it('Phi-3 "longrope" (rotary dim 12, short factors, attention factor of 131072 / 4096 positions)', () => {
    // torch 1.13 float32, _compute_longrope_parameters + Phi3RotaryEmbedding.forward:
    //   inv_freq = 1.0 / (ext_factors * base ** (arange(0, dim, 2).float() / dim))
    //   cos = emb.cos() * attention_factor, attention_factor = sqrt(1 + ln(32) / ln(4096))
    const scaling = PHI3_LONGROPE;
    expect(bits(ropeInvFreq(12, 10000, scaling))).toEqual([
      0x3f800000, 0x3e521bd3, 0x3cfd7e1b, 0x3b91a2b4, 0x3a3c41e1, 0x3881c9cb,
    ]);
    const { cos, sin } = ropeTables(4096, 12, 10000, scaling);
    const rows: Record<number, [number[], number[]]> = {
      1: [
        [
          0.6430884599685669, 1.1652710437774658, 1.1896682977676392, 1.1902263164520264, 1.1902378797531128,
          1.190238118171692,
        ],
        [
          1.0015507936477661, 0.24250812828540802, 0.03682475537061691, 0.005289929918944836, 0.0008547632023692131,
          7.366129284491763e-5,
        ],
      ],
      4000: [
        [
          -0.8688107132911682, -0.8450021147727966, -0.37127724289894104, 0.5696056485176086, -1.1474294662475586,
          1.1539541482925415,
        ],
        [
          -0.813532292842865, -0.8382351994514465, -1.1308492422103882, -1.0450915098190308, 0.31634220480918884,
          0.29164496064186096,
        ],
      ],
    };
    // one ulp of cos/sin, then the product with the factor rounded: two ulps of values below 2
    const tol = { atol: 2.5e-7, rtol: 0 };
    for (const [t, [c, s]] of Object.entries(rows)) {
      expectClose(cos.subarray(+t * 6, +t * 6 + 6), c, tol, `cos[${t}]`);
      expectClose(sin.subarray(+t * 6, +t * 6 + 6), s, tol, `sin[${t}]`);
    }
  });

  it('Phi-3 "longrope" past original_max_position_embeddings: the long factors, the same attention factor', () => {
    // torch 1.13 float32, _compute_longrope_parameters(config, device, seq_len) with
    // seq_len > original_max_position_embeddings (ext_factors = long_factor), as
    // dynamic_rope_update's longrope_frequency_update calls it once torch.max(position_ids) + 1 > 4096;
    // cos = (inv_freq @ position_ids).cos() * attention_factor, printed with repr(float(x)).
    const scaling = PHI3_LONGROPE;
    expect(longRopeFactors(scaling, 4096)).toBe(false);
    expect(longRopeFactors(scaling, 4097)).toBe(true);
    expect(longRopeFactors(null, 1e6)).toBe(false);
    const LONG_INV = [0x3f800000, 0x3ddc9d35, 0x3c3e1e95, 0x3aa3d70a, 0x390d3169, 0x37735a5c];
    expect(bits(ropeInvFreq(12, 10000, scaling, 4097))).toEqual(LONG_INV);
    // seqLen up to the original length: the short factors (the previous test's bits)
    expect(bits(ropeInvFreq(12, 10000, scaling, 4096))[1]).toBe(0x3e521bd3);
    const { cos, sin } = ropeTables(6001, 12, 10000, scaling);
    const rows: Record<number, [number[], number[]]> = {
      1: [
        [
          0.6430884599685669, 1.18333899974823, 1.1901580095291138, 1.1902371644973755, 1.190238118171692,
          1.190238118171692,
        ],
        [
          1.0015507936477661, 0.12796667218208313, 0.013811178505420685, 0.001487797242589295, 0.00016026811499614269,
          1.726436494209338e-5,
        ],
      ],
      4097: [
        [
          1.1126011610031128, 0.06882976740598679, -1.0879647731781006, 0.4731960594654083, 1.0136669874191284,
          1.1881370544433594,
        ],
        [
          0.42283010482788086, 1.188246250152588, -0.48270031809806824, -1.0921319723129272, 0.6238157749176025,
          0.07069047540426254,
        ],
      ],
      6000: [
        [
          1.0758699178695679, 0.7964191436767578, 1.039478063583374, 0.4125785529613495, 0.8224648237228394,
          1.185733437538147,
        ],
        [
          -0.5090880393981934, -0.8845243453979492, 0.5797863602638245, 1.1164432764053345, 0.8603594899177551,
          0.10345546901226044,
        ],
      ],
    };
    // one ulp of cos/sin, then the product with the factor rounded: two ulps of values below 2
    const tol = { atol: 2.5e-7, rtol: 0 };
    for (const [t, [c, s]] of Object.entries(rows)) {
      expectClose(cos.subarray(+t * 6, +t * 6 + 6), c, tol, `cos[${t}]`);
      expectClose(sin.subarray(+t * 6, +t * 6 + 6), s, tol, `sin[${t}]`);
    }
    // The factors follow seqLen, not the number of rows: 16 rows of a 4097-long sequence are the
    // first rows of the long tables; of a 4096-long one, the first rows of the short tables.
    const head = ropeTables(16, 12, 10000, scaling, 4097);
    expect(Array.from(head.cos)).toEqual(Array.from(cos.subarray(0, 16 * 6)));
    expect(Array.from(head.sin)).toEqual(Array.from(sin.subarray(0, 16 * 6)));
    const short = ropeTables(16, 12, 10000, scaling);
    expect(Array.from(ropeTables(16, 12, 10000, scaling, 4096).cos)).toEqual(Array.from(short.cos));
    expect(short.cos[6 + 1]).not.toBe(head.cos[6 + 1]);
  });

  it('rejects an odd head_dim and a bad scaling', () => {
    expect(() => ropeTables(4, 7, 10000, null)).toThrow(/head_dim 7/);
    expect(() => ropeTables(4, 8, 10000, { ...LLAMA32, highFreqFactor: 1 })).toThrow(/llama3/);
  });
});
