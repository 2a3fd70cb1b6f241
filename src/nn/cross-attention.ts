// Cross-attention (encoder-decoder models: the original Transformer, Marian, T5): the decoder's tokens ask
// questions (queries) of the source sentence the encoder read — the keys and values are projections of the
// encoder's output, the same for every step, so inference computes them once per source. Its weights are
// the alignment: which source token each output token looked at.
import type { Linear } from './linear.js';
import type { AttentionConfig } from './attention.js';
import type { Act, AttentionShape, Ops } from './ops.js';
import { prefixed, type Weight } from './weights.js';

export class CrossAttention implements AttentionShape {
  readonly kind = 'cross-attention';
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly causal = false;
  /** What q·k is multiplied by; undefined: 1/√headDim (T5: 1). */
  readonly scale: number | undefined;

  constructor(
    config: AttentionConfig,
    /** Queries from the decoder's stream: dim → nHeads·headDim. */
    readonly q: Linear,
    /** Keys and values from the encoder's output, fused: dim → [k | v], 2·nKvHeads·headDim. */
    readonly kv: Linear,
    /** Output projection, nHeads·headDim → dim. */
    readonly out: Linear,
  ) {
    this.nHeads = config.nHeads;
    this.nKvHeads = config.nKvHeads;
    this.headDim = config.headDim;
    this.scale = config.scale;
    if (q.outDim !== this.nHeads * this.headDim)
      throw new Error(
        `cross-attention: q projection has ${q.outDim} outputs, expected ${this.nHeads * this.headDim}`,
      );
    if (kv.outDim !== 2 * this.nKvHeads * this.headDim)
      throw new Error(
        `cross-attention: kv projection has ${kv.outDim} outputs, expected ${2 * this.nKvHeads * this.headDim}`,
      );
  }

  /**
   *   q = W_q·x;  [k | v] = W_kv·source;  head_h = softmax(q_h·K_hᵀ / √d) · V_h;  y = W_o · concat(heads)
   * x: [rows, dim] (the decoder's), source: [srcRows, dim] (the encoder's output) → [rows, dim]
   */
  forward<T extends Act>(f: Ops<T>, x: T, source: T, layer: number): T {
    const q = this.q.forward(f, x); // [rows, H·hd]
    const kv = f.sourceKV(layer, () => this.kv.forward(f, source)); // [srcRows, 2·Hkv·hd]
    const heads = f.crossAttend(q, kv, this, layer); // [rows, H·hd]
    return this.out.forward(f, heads); // [rows, dim]
  }

  weights(): Weight[] {
    return [
      ...prefixed('q', this.q.weights()),
      ...prefixed('kv', this.kv.weights()),
      ...prefixed('out', this.out.weights()),
    ];
  }
}
