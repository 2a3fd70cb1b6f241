// The kernel interface: everything the nn blocks compute that is worth making fast goes through here.
// `reference` (plain TypeScript) is the ground truth; a fast backend (WASM SIMD, threads) implements
// the same methods and is tested against it. Every member is required: a backend is a complete value, and
// callers use whichever is active without checking what it has (a fast backend without a fast kernel for
// something delegates to the reference itself).
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
  /** In place: x = 0.5·x·(1 + erf(x/√2)) (BERT's exact GELU). */
  geluErf(x: Float32Array, n: number): void;
  /**
   * Bidirectional attention (encoders): each of the t queries sees keys 0..validKeys-1 (positions from
   * validKeys on are padding). q/k/v are [t, heads·hd] as in `attention`; probs, when given, [nHeads, t, t].
   */
  attentionBidirectional(
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
    terms?: ScoreTerms,
  ): void;
  /**
   * Cross-attention (encoder-decoder): each of tq queries sees all tk keys — the source's encoded tokens,
   * no mask (pass only the valid ones). q, out: [tq, nHeads·hd]; k, v: [tk, nKvHeads·hd]; probs, when
   * given, [nHeads, tq, tk]. Scaled by 1/√hd as `attention` is (unless terms.scale says otherwise).
   */
  crossAttention(
    out: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    tq: number,
    tk: number,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
    probs?: Float32Array,
    terms?: ScoreTerms,
  ): void;
  /** In place: x = x·σ(x). */
  silu(x: Float32Array, n: number): void;
  /** In place: each row of length cols becomes softmax(row) over its first `valid` entries (rest set to 0). */
  softmax(x: Float32Array, rows: number, cols: number, valid?: number): void;
  /** The index of the largest of x[0..n) (the first of equal ones; NaN as the plain loop: sampler.ts argmax). */
  argmax(x: Float32Array, n: number): number;
  /** out = a + b, elementwise over n values (out may alias a). */
  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;
  /** out = a ⊙ b, elementwise (out may alias a). */
  mul(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;
  /**
   * Causal scaled-dot-product attention for `t` new queries at absolute positions pos0..pos0+t-1 against
   * keys/values 0..pos0+t-1 in the cache. q: [t, nHeads·hd], kCache/vCache: [ctx, nKvHeads·hd],
   * out: [t, nHeads·hd]. Query head h reads kv head floor(h / (nHeads / nKvHeads)) (grouped-query).
   * probs (optional, [nHeads, t, pos0+t]) receives the attention weights, for the trace.
   * `terms` (T5) changes the scores before the mask and softmax: see ScoreTerms.
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
    terms?: ScoreTerms,
  ): void;
  /**
   * Decode attention for several sequences in one call (continuous batching): for each item, one new
   * query at position pos0 against its own cache's keys 0..pos0 — attention(out, q, kCache, vCache, 1,
   * pos0, …) with plain scores and no weights reported, all in one pass the threads can share. The
   * reference: attention() once per item.
   */
  attentionDecode(
    items: ReadonlyArray<DecodeAttention>,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
  ): void;
  /**
   * Drops any copy the backend keeps of `a` (the wasm backend mirrors a KV cache array that does not live
   * in its memory) now rather than when `a` is collected: a KV cache calls it when its rows are replaced
   * (copyFrom). The reference keeps no copies: a no-op there.
   */
  forget(a: Float32Array): void;

  /**
   * Training's products, in the layouts the backward passes need, with no transposed copy first:
   * y[m, n] (+)= Σ_k X[m, k]·W[n, k] (+ bias[n]) for m < M, n < N, k < K, where X is x as [M, K] or, with
   * xT, x [K, M] read transposed; W is w as [N, K] or, with wT, w [K, N] read transposed. accumulate: add
   * into y (no bias then). Unlike matmul, w is any float32 array (a weight just updated, an activation).
   * layout.triangle says which part of a causal attention's square product is needed: the reference skips
   * the rest, a fast backend may compute everything.
   */
  gemm(
    y: Float32Array,
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    M: number,
    K: number,
    N: number,
    layout?: GemmLayout,
  ): void;
  /**
   * Training: dx[i] += dy[i]·gelu_tanh′(x[i]) for i < n — the backward pass of geluTanh (tanh is
   * recomputed from x).
   */
  geluTanhBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number): void;
  /** Training: the gradient of causal attention, added into g.dqkv (see AttentionGrad). */
  attentionBackward(g: AttentionGrad): void;

  /**
   * Weight placement, called once per matrix by matrixF32 / matrixQ8_0 when a model is built (so: with
   * the backend active at load time). Returns the matrix this backend's matmul wants to read: the
   * reference returns `m` itself; the wasm backend copies the arrays into WebAssembly linear memory and
   * returns a matrix whose arrays are views of it (reading them back still works with any backend).
   */
  placeMatrix(m: Matrix): Matrix;
  /**
   * Zeroed storage for n float32 weights that this backend reads in place: the reference gives
   * `new Float32Array(n)`, the wasm backend a view of its linear memory. A loader can fill it and wrap it
   * with matrixF32 without a second copy. The memory lives as long as the returned array (or the matrix
   * made from it) is reachable — a subarray of it does not keep it, and matrixF32 copies a subarray.
   * Callers use `allocWeights()` from tensor.ts (the active backend's).
   */
  allocWeights(n: number): Float32Array;
  /**
   * Zeroed storage for n float32 activations that this backend's kernels use in place (no copy in or
   * out), for callers that keep their buffers over many calls — the training tape. Where such arrays could
   * be invalidated (a wasm memory that is not shared detaches its views when it grows) a plain
   * Float32Array. The reference: `new Float32Array(n)`.
   */
  allocActivations(n: number): Float32Array;
  /**
   * Gives back now all the backend holds for `a`, which must not be used after: its storage if
   * allocActivations returned it, and any copy of it (as forget). Else both go when `a` is collected. A KV
   * cache calls it when it grows or is released, a forward pass when it ends. The reference: a no-op.
   */
  freeActivations(a: Float32Array): void;
}

/** One sequence of Backend.attentionDecode: q and out [nHeads·hd], its cache, the new query's position. */
export interface DecodeAttention {
  out: Float32Array;
  q: Float32Array;
  kCache: Float32Array;
  vCache: Float32Array;
  pos0: number;
}

/**
 * What the attention kernels may change in their scores (T5, Gemma 2/3, Mistral), query row i, key j, head h:
 *   S[h, i, j] = scale · q_i·k_j + bias[(i·total + j)·nHeads + h]
 *   S[h, i, j] = softcap · tanh(S[h, i, j] / softcap)            (when softcap is given)
 * where `total` is the kernel's key count (pos0 + t causal, t bidirectional, tk cross). The bias is laid
 * out per (query, key) pair, its heads innermost: a learned [buckets, nHeads] table's rows gathered by
 * bucket give exactly that. Then the mask: causal, and under a sliding window (causal kernels only) the
 * query at absolute position p = pos0 + i sees only keys j with p − window < j ≤ p (Hugging Face's
 * `kv_idx > q_idx − sliding_window`: the query itself and the window − 1 keys before it). Keys outside
 * the mask get no weight whatever their score; their weights (probs) are 0.
 */
export interface ScoreTerms {
  /** Multiplies q·k (default 1/√headDim; T5: 1; Gemma: query_pre_attn_scalar^−½). */
  scale?: number;
  /** [t, total, nHeads] added to the scaled scores (default none). */
  bias?: Float32Array;
  /** Keys visible to a query, itself included (causal kernels; default: all earlier keys). */
  window?: number;
  /** Soft-cap of the scores, c·tanh(S/c), before the mask (Gemma 2 attn_logit_softcapping; default none). */
  softcap?: number;
}

/**
 * The operands of causal attention's backward pass, in the training tape's fused layout: `batch`
 * sequences of t positions; each row of qkv ([batch·t, width]) holds nHeads query heads at qOffset and
 * nKvHeads key and value heads at kOffset, vOffset (headDim values each). The forward pass was
 * P = softmax(q·Kᵀ/√headDim, causal), out = P·V per (sequence, head); query head h reads kv head
 * ⌊h / (nHeads / nKvHeads)⌋.
 *   dP = dOut·Vᵀ;  dS = P ⊙ (dP − rowsum(P ⊙ dP)) / √headDim;  dq += dS·K;  dK += dSᵀ·q;  dV += Pᵀ·dOut
 * — each added into dqkv at the same place as its operand in qkv.
 */
export interface AttentionGrad {
  /** [batch·t, width]: the gradients are added into it. */
  dqkv: Float32Array;
  qkv: Float32Array;
  width: number;
  qOffset: number;
  kOffset: number;
  vOffset: number;
  /** [batch·t, nHeads·headDim]: the gradient of the attention's output. */
  dOut: Float32Array;
  /** [batch, nHeads, t, t]: the forward pass's attention weights (zeros above the diagonal). */
  probs: Float32Array;
  batch: number;
  t: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

/**
 * Which part of a square product a causal attention needs, by row block [m, m+rows) of y:
 * 'full' everything; 'cols' only columns j < m+rows (y's upper triangle is masked anyway);
 * 'kUpper' x's row i is zero past column i, so the dot stops at k < m+rows; 'kLower' x's row i is zero
 * before column i, so the dot starts at k = m. Entries outside a 'cols' range may be left as they were or
 * computed (a fast backend computes the whole product: at its speed that beats skipping half).
 */
export type Triangle = 'full' | 'cols' | 'kUpper' | 'kLower';

/** How gemm reads its operands (see Backend.gemm). */
export interface GemmLayout {
  /** x is stored [K, M] (read as its transpose). */
  xT?: boolean;
  /** w is stored [K, N] (read as its transpose). */
  wT?: boolean;
  /** Add into y instead of overwriting it. */
  accumulate?: boolean;
  /** The part of a causal attention's square product that is needed (default 'full'; see Triangle). */
  triangle?: Triangle;
}
