// CPU float64 reference for shaders/swiglu.wgsl, forward and backward: h = act(gate) * up with
// act = silu (Llama) or gelu_tanh (Gemma; transformers' gelu_pytorch_tanh).

export type GateActRef = 'silu' | 'gelu_tanh';

function sigmoid(x: number): number {
  const e = Math.exp(-Math.abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/** gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_K * (x + GELU_C * x ** 3)));
}

function geluTanhGrad(x: number): number {
  const t = Math.tanh(GELU_K * (x + GELU_C * x ** 3));
  const tail = Math.abs(t) === 1 ? 0 : 0.5 * x * (1 - t * t) * GELU_K * (1 + 3 * GELU_C * x * x);
  return 0.5 * (1 + t) + tail;
}

/** out (n) = act(gate) * up. */
export function swigluForwardRef(
  out: Float64Array,
  gate: ArrayLike<number>,
  up: ArrayLike<number>,
  n: number,
  act: GateActRef = 'silu',
): void {
  for (let i = 0; i < n; i++) {
    out[i] = (act === 'silu' ? gate[i] * sigmoid(gate[i]) : geluTanh(gate[i])) * up[i];
  }
}

/** dgate (n), dup (n) assigned. */
export function swigluBackwardRef(
  dgate: Float64Array,
  dup: Float64Array,
  dout: ArrayLike<number>,
  gate: ArrayLike<number>,
  up: ArrayLike<number>,
  n: number,
  act: GateActRef = 'silu',
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    if (act === 'gelu_tanh') {
      dgate[i] = dout[i] * up[i] * geluTanhGrad(g);
      dup[i] = dout[i] * geluTanh(g);
      continue;
    }
    const s = sigmoid(g);
    dgate[i] = dout[i] * up[i] * s * (1 + g * (1 - s));
    dup[i] = dout[i] * g * s;
  }
}
