// One transformer block. Pre-norm (GPT-2, Llama):
//   x = x + Attention(Norm1(x))
//   x = x + FeedForward(Norm2(x))
// Post-norm (BERT-era encoders):
//   x = Norm1(x + Attention(x))
//   x = Norm2(x + FeedForward(x))
// Stacked N times; the residual stream x carries each token's vector from block to block.
import type { Attention } from './attention.js';
import type { FeedForward } from './feedforward.js';
import type { Norm } from './norm.js';
import type { Act, Ops } from './ops.js';
import { prefixed, type Weight } from './weights.js';

export type BlockKind = 'pre-norm' | 'post-norm';

export class Block {
  constructor(
    readonly norm1: Norm,
    readonly attention: Attention,
    readonly norm2: Norm,
    readonly ffn: FeedForward,
    readonly kind: BlockKind = 'pre-norm',
  ) {}

  /** The residual stream after block `layer`:  [rows, dim] → [rows, dim] (x itself may be overwritten). */
  forward<T extends Act>(f: Ops<T>, x: T, layer: number): T {
    f.look(layer, 'residualIn', x);
    if (this.kind === 'pre-norm') {
      const a = this.attention.forward(f, this.norm1.forward(f, x), layer);
      f.look(layer, 'attentionOut', a);
      x = f.add(x, a);
      const h = this.ffn.forward(f, this.norm2.forward(f, x), layer);
      f.look(layer, 'ffnOut', h);
      x = f.add(x, h);
    } else {
      const a = this.attention.forward(f, x, layer);
      f.look(layer, 'attentionOut', a);
      x = this.norm1.forward(f, f.add(a, x));
      const h = this.ffn.forward(f, x, layer);
      f.look(layer, 'ffnOut', h);
      x = this.norm2.forward(f, f.add(h, x));
    }
    f.look(layer, 'residualOut', x);
    return x;
  }

  weights(): Weight[] {
    return [
      ...prefixed('norm1', this.norm1.weights()),
      ...prefixed('attn', this.attention.weights()),
      ...prefixed('norm2', this.norm2.weights()),
      ...prefixed('ffn', this.ffn.weights()),
    ];
  }
}
