// Stages 4 and 5 — self-attention, multi-head: every token scores every earlier token (causal), each
// head with its own query/key/value projections, and mixes their values by those scores.
// Grouped-query attention (Llama 2 70B, Mistral...) lets several query heads share one key/value head.
import { backend, referenceBackend } from '../tensor/index.js';
import type { Linear } from './linear.js';
import type { LayerTap } from './tap.js';

export interface AttentionConfig {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

/** Applied to q and k in place after projection (rotary embeddings); null for additive positions. */
export interface QKRotation {
  apply(
    qk: Float32Array,
    rows: number,
    nHeads: number,
    headDim: number,
    pos0: number,
    stride: number,
    offset: number,
  ): void;
}

export class Attention {
  readonly qDim: number;
  readonly kvDim: number;

  constructor(
    readonly config: AttentionConfig,
    /** Fused projection x → [q | k | v], out dim (nHeads + 2·nKvHeads)·headDim. */
    readonly qkv: Linear,
    /** Output projection, nHeads·headDim → model dim. */
    readonly out: Linear,
    readonly rotation: QKRotation | null = null,
  ) {
    const { nHeads, nKvHeads, headDim } = config;
    if (nHeads % nKvHeads !== 0)
      throw new Error(`attention: ${nHeads} heads do not group into ${nKvHeads} kv heads`);
    this.qDim = nHeads * headDim;
    this.kvDim = nKvHeads * headDim;
    if (qkv.outDim !== this.qDim + 2 * this.kvDim) {
      throw new Error(
        `attention: qkv projection has ${qkv.outDim} outputs, expected ${this.qDim + 2 * this.kvDim}`,
      );
    }
  }

  /**
   * x: [rows, dim] for positions pos0..pos0+rows-1. Writes their k, v into the cache buffers, then
   *   head_h = softmax(q_h·K_hᵀ / √d + causal mask) · V_h,   y = W_o · concat(head_1..head_H) + b_o
   * A tap, when given, sees the attention weights and each head's output.
   */
  forward(
    x: Float32Array,
    rows: number,
    kCache: Float32Array,
    vCache: Float32Array,
    pos0: number,
    tap: LayerTap | null = null,
  ): Float32Array {
    const { nHeads, nKvHeads, headDim } = this.config;
    const qkvDim = this.qkv.outDim;
    const qkv = this.qkv.forward(x, rows);
    if (this.rotation) {
      this.rotation.apply(qkv, rows, nHeads, headDim, pos0, qkvDim, 0);
      this.rotation.apply(qkv, rows, nKvHeads, headDim, pos0, qkvDim, this.qDim);
    }
    const q = new Float32Array(rows * this.qDim);
    for (let t = 0; t < rows; t++) {
      const src = t * qkvDim;
      const p = (pos0 + t) * this.kvDim;
      q.set(qkv.subarray(src, src + this.qDim), t * this.qDim);
      kCache.set(qkv.subarray(src + this.qDim, src + this.qDim + this.kvDim), p);
      vCache.set(qkv.subarray(src + this.qDim + this.kvDim, src + qkvDim), p);
    }
    const heads = new Float32Array(rows * this.qDim);
    const total = pos0 + rows;
    const probs = tap?.wantsAttention ? new Float32Array(nHeads * rows * total) : undefined;
    backend().attention(heads, q, kCache, vCache, rows, pos0, nHeads, nKvHeads, headDim, probs);
    if (tap) {
      if (probs) tap.attention(probs, nHeads, rows, total);
      tap.heads(heads, rows, nHeads, headDim);
    }
    return this.out.forward(heads, rows);
  }

  /**
   * Encoders (BERT): every token attends to every token, both directions, with no cache. Keys from
   * `validKeys` on are padding and get no weight. x: [rows, dim].
   */
  forwardBidirectional(
    x: Float32Array,
    rows: number,
    validKeys = rows,
    tap: LayerTap | null = null,
  ): Float32Array {
    const { nHeads, nKvHeads, headDim } = this.config;
    const qkvDim = this.qkv.outDim;
    const qkv = this.qkv.forward(x, rows);
    if (this.rotation) {
      this.rotation.apply(qkv, rows, nHeads, headDim, 0, qkvDim, 0);
      this.rotation.apply(qkv, rows, nKvHeads, headDim, 0, qkvDim, this.qDim);
    }
    const q = new Float32Array(rows * this.qDim);
    const k = new Float32Array(rows * this.kvDim);
    const v = new Float32Array(rows * this.kvDim);
    for (let t = 0; t < rows; t++) {
      const src = t * qkvDim;
      q.set(qkv.subarray(src, src + this.qDim), t * this.qDim);
      k.set(qkv.subarray(src + this.qDim, src + this.qDim + this.kvDim), t * this.kvDim);
      v.set(qkv.subarray(src + this.qDim + this.kvDim, src + qkvDim), t * this.kvDim);
    }
    const heads = new Float32Array(rows * this.qDim);
    const probs = tap?.wantsAttention ? new Float32Array(nHeads * rows * rows) : undefined;
    const be = backend();
    (be.attentionBidirectional ? be : referenceBackend).attentionBidirectional!(
      heads,
      q,
      k,
      v,
      rows,
      validKeys,
      nHeads,
      nKvHeads,
      headDim,
      probs,
    );
    if (tap) {
      if (probs) tap.attention(probs, nHeads, rows, rows);
      tap.heads(heads, rows, nHeads, headDim);
    }
    return this.out.forward(heads, rows);
  }
}
