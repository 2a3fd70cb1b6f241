// One transformer block. Pre-norm (GPT-2, Llama):
//   x = x + Attention(Norm1(x))
//   x = x + FeedForward(Norm2(x))
// Post-norm (BERT-era encoders, Marian):
//   x = Norm1(x + Attention(x))
//   x = Norm2(x + FeedForward(x))
// An encoder-decoder's decoder block adds cross-attention to the source between the two:
//   x = x + Cross(NormX(x), source)   (pre-norm)      x = NormX(x + Cross(x, source))   (post-norm)
// Sandwich norms (Gemma 2/3) add a norm on each sublayer's output before it joins the stream:
//   x = x + PostNormA(Attention(Norm1(x)))
//   x = x + PostNormF(FeedForward(Norm2(x)))
// Stacked N times; the residual stream x carries each token's vector from block to block. T5's relative
// position bias (computed once per pass by the stack) reaches every block's self-attention as `bias`.
import type { Attention } from './attention.js';
import type { CrossAttention } from './cross-attention.js';
import type { FeedForward } from './feedforward.js';
import type { Norm } from './norm.js';
import type { Act, Ops } from './ops.js';
import { prefixed, type Weight } from './weights.js';

export type BlockKind = 'pre-norm' | 'post-norm';

/** A decoder block's cross-attention to the encoder's output, with its norm. */
export interface CrossPart {
  norm: Norm;
  attention: CrossAttention;
}

/** Sandwich norms (pre-norm blocks): applied to the attention's and the feed-forward's outputs. */
export interface PostNorms {
  attention: Norm;
  ffn: Norm;
}

export class Block {
  constructor(
    readonly norm1: Norm,
    readonly attention: Attention,
    readonly norm2: Norm,
    readonly ffn: FeedForward,
    readonly kind: BlockKind = 'pre-norm',
    /** Encoder-decoder models' decoder blocks: cross-attention to the source. */
    readonly cross: CrossPart | null = null,
    /** Gemma 2/3: a norm on each sublayer's output (pre-norm blocks only). */
    readonly post: PostNorms | null = null,
  ) {
    if (post && kind !== 'pre-norm') throw new Error('block: sandwich norms need a pre-norm block');
  }

  /**
   * The residual stream after block `layer`:  [rows, dim] → [rows, dim] (x itself may be overwritten).
   * `source` is the encoder's output [srcRows, dim], for a block with cross-attention; `bias` the
   * self-attention's score bias (T5, see Ops.attend).
   */
  forward<T extends Act>(f: Ops<T>, x: T, layer: number, source: T | null = null, bias: T | null = null): T {
    f.look(layer, 'residualIn', x);
    const cross = this.cross;
    if (cross && !source) throw new Error(`block ${layer}: cross-attention without a source`);
    if (this.kind === 'pre-norm') {
      let a = this.attention.forward(f, this.norm1.forward(f, x), layer, bias);
      if (this.post) a = this.post.attention.forward(f, a);
      f.look(layer, 'attentionOut', a);
      x = f.add(x, a);
      if (cross) x = f.add(x, cross.attention.forward(f, cross.norm.forward(f, x), source!, layer));
      let h = this.ffn.forward(f, this.norm2.forward(f, x), layer);
      if (this.post) h = this.post.ffn.forward(f, h);
      f.look(layer, 'ffnOut', h);
      x = f.add(x, h);
    } else {
      const a = this.attention.forward(f, x, layer, bias);
      f.look(layer, 'attentionOut', a);
      x = this.norm1.forward(f, f.add(a, x));
      if (cross) x = cross.norm.forward(f, f.add(cross.attention.forward(f, x, source!, layer), x));
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
      ...(this.cross
        ? [
            ...prefixed('cross_norm', this.cross.norm.weights()),
            ...prefixed('cross', this.cross.attention.weights()),
          ]
        : []),
      ...prefixed('norm2', this.norm2.weights()),
      ...prefixed('ffn', this.ffn.weights()),
      ...(this.post
        ? [
            ...prefixed('post_attn_norm', this.post.attention.weights()),
            ...prefixed('post_ffn_norm', this.post.ffn.weights()),
          ]
        : []),
    ];
  }
}
