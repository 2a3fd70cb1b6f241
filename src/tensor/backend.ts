// The kernel interface: everything the nn blocks compute that is worth making fast goes through here.
// `reference` (plain TypeScript) is the ground truth; a fast backend (WASM SIMD, threads) implements
// the same methods and is tested against it.
import type { Matrix } from './tensor.js';

export interface Backend {
  readonly name: string;
  /**
   * out[m, n] = Σ_k x[m, k] · W[n, k] (+ bias[n]) for m < rows. x is [rows, W.cols], out is [rows, W.rows].
   * Every Matrix kind (f32, q8_0) is accepted; activations are float32.
   */
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
  /**
   * In place: x = 0.5·x·(1 + erf(x/√2)) (BERT's exact GELU). Optional: a backend without it borrows the
   * reference's (see nn/feedforward.ts).
   */
  geluErf?(x: Float32Array, n: number): void;
  /**
   * Bidirectional attention (encoders): each of the t queries sees keys 0..validKeys-1 (positions from
   * validKeys on are padding). q/k/v are [t, heads·hd] as in `attention`; probs, when given, [nHeads, t, t].
   * Optional, like geluErf.
   */
  attentionBidirectional?(
    out: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    t: number,
    validKeys: number,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
    probs?: Float32Array,
  ): void;
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

  /**
   * Weight placement, called once per matrix by matrixF32 / matrixQ8_0 when a model is built (so: with
   * the backend active at load time). Returns the matrix this backend's matmul wants to read: the
   * reference returns `m` itself; the wasm backend copies the arrays into WebAssembly linear memory and
   * returns a matrix whose arrays are views of it (reading them back still works with any backend).
   * Optional: a backend without it gets the matrix as built.
   */
  placeMatrix?(m: Matrix): Matrix;
  /**
   * Zeroed storage for n float32 weights that this backend reads in place: the reference gives
   * `new Float32Array(n)`, the wasm backend a view of its linear memory. A loader can fill it and wrap it
   * with matrixF32 without a second copy. The memory lives as long as the returned array (or the matrix
   * made from it) is reachable — a subarray of it does not keep it, and matrixF32 copies a subarray.
   * Optional: callers use `allocWeights()` from tensor.ts, which falls back to a plain Float32Array.
   */
  allocWeights?(n: number): Float32Array;
}
