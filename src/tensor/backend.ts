// The kernel interface: everything the nn blocks compute that is worth making fast goes through here.
// `reference` (plain TypeScript) is the ground truth; a fast backend (WASM SIMD, threads) implements
// the same methods and is tested against it.
import type { Matrix } from './tensor.js';

export interface Backend {
  readonly name: string;
  /** out[m, n] = Σ_k x[m, k] · W[n, k] (+ bias[n]) for m < rows. x is [rows, W.cols], out is [rows, W.rows]. */
  matmul(out: Float32Array, x: Float32Array, w: Matrix, bias: Float32Array | null, rows: number): void;
  /** out = (x - mean) / sqrt(var + eps) · gamma + beta, per row of length dim. */
  layerNorm(
    out: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    rows: number,
    dim: number,
    eps: number,
  ): void;
  /** out = x / sqrt(mean(x²) + eps) · gamma, per row of length dim. */
  rmsNorm(
    out: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    rows: number,
    dim: number,
    eps: number,
  ): void;
  /** In place: x = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (GPT-2's "gelu_new"). */
  geluTanh(x: Float32Array, n: number): void;
  /** In place: x = x·σ(x). */
  silu(x: Float32Array, n: number): void;
  /** In place: each row of length cols becomes softmax(row) over its first `valid` entries (rest set to 0). */
  softmax(x: Float32Array, rows: number, cols: number, valid?: number): void;
  /** out = a + b, elementwise over n values (out may alias a). */
  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;
  /** out = a ⊙ b, elementwise (out may alias a). */
  mul(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;
  /**
   * Causal scaled-dot-product attention for `t` new queries at absolute positions pos0..pos0+t-1 against
   * keys/values 0..pos0+t-1 in the cache. q: [t, nHeads·hd], kCache/vCache: [ctx, nKvHeads·hd],
   * out: [t, nHeads·hd]. Query head h reads kv head floor(h / (nHeads / nKvHeads)) (grouped-query).
   * probs (optional, [nHeads, t, pos0+t]) receives the attention weights, for the trace.
   */
  attention(
    out: Float32Array,
    q: Float32Array,
    kCache: Float32Array,
    vCache: Float32Array,
    t: number,
    pos0: number,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
    probs?: Float32Array,
  ): void;
}
