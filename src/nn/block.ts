// One transformer block (pre-norm, as GPT-2 and Llama):
//   x = x + Attention(Norm1(x))
//   x = x + FeedForward(Norm2(x))
// Stacked N times; the residual stream x carries each token's vector from block to block.
import { backend } from '../tensor/index.js';
import type { Attention } from './attention.js';
import type { FeedForward } from './feedforward.js';
import type { Norm } from './norm.js';
import type { LayerTap } from './tap.js';

export class Block {
  constructor(
    readonly norm1: Norm,
    readonly attention: Attention,
    readonly norm2: Norm,
    readonly ffn: FeedForward,
  ) {}

  /**
   * The post-norm block of BERT-era encoders, bidirectional and without a cache:
   *   x = Norm1(x + Attention(x));  x = Norm2(x + FeedForward(x))
   * `validKeys` < rows marks the tail as padding.
   */
  forwardPostNorm(x: Float32Array, rows: number, validKeys = rows, tap: LayerTap | null = null): void {
    const be = backend();
    const n = rows * this.norm1.dim;
    tap?.residualIn(x, rows);
    const a = this.attention.forwardBidirectional(x, rows, validKeys, tap);
    tap?.attentionOut(a, rows);
    be.add(a, x, a, n);
    this.norm1.forward(a, rows, x);
    const f = this.ffn.forward(x, rows, undefined, tap);
    tap?.ffnOut(f, rows);
    be.add(f, x, f, n);
    this.norm2.forward(f, rows, x);
    tap?.residualOut(x, rows);
  }

  /** Updates the residual stream x ([rows, dim]) in place; a tap (trace) sees each stage. */
  forward(
    x: Float32Array,
    rows: number,
    kCache: Float32Array,
    vCache: Float32Array,
    pos0: number,
    tap: LayerTap | null = null,
  ): void {
    const be = backend();
    const n = rows * this.norm1.dim;
    tap?.residualIn(x, rows);
    const a = this.attention.forward(this.norm1.forward(x, rows), rows, kCache, vCache, pos0, tap);
    tap?.attentionOut(a, rows);
    be.add(x, x, a, n);
    const f = this.ffn.forward(this.norm2.forward(x, rows), rows, undefined, tap);
    tap?.ffnOut(f, rows);
    be.add(x, x, f, n);
    tap?.residualOut(x, rows);
  }
}
