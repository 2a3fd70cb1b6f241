// Stages 4 and 5 — self-attention, multi-head: every token scores the tokens it may see (the earlier ones
// in a decoder, all of them in an encoder), each head with its own query/key/value projections, and mixes
// their values by those scores. Grouped-query attention (Llama 2 70B, Mistral...) lets several query heads
// share one key/value head.
import type { Linear } from './linear.js';
import type { HeadNorm } from './norm.js';
import type { Act, AttentionShape, Ops } from './ops.js';
import type { RotaryEmbedding } from './positional.js';
import { prefixed, type Weight } from './weights.js';

export interface AttentionConfig {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** What q·k is multiplied by; absent: 1/√headDim (T5: 1; Gemma: query_pre_attn_scalar^−½). */
  scale?: number;
  /** Sliding window: a query at position p sees keys p − window < j ≤ p (Mistral, Gemma's local layers). */
  window?: number;
  /** Scores soft-capped to c·tanh(S/c) before the mask (Gemma 2's attn_logit_softcapping). */
  softcap?: number;
}

export class Attention implements AttentionShape {
  readonly kind = 'attention';
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly scale: number | undefined;
  readonly window: number | undefined;
  readonly softcap: number | undefined;
  readonly qDim: number;
  readonly kvDim: number;

  constructor(
    readonly config: AttentionConfig,
    /** Fused projection x → [q | k | v], out dim (nHeads + 2·nKvHeads)·headDim. */
    readonly qkv: Linear,
    /** Output projection, nHeads·headDim → model dim. */
    readonly out: Linear,
    /** RoPE applied to q and k after the projection; null where positions are added to the embeddings. */
    readonly rotation: RotaryEmbedding | null = null,
    /** Decoders: a token sees only earlier tokens. Encoders (BERT): every token sees every token. */
    readonly causal = true,
    /** RMSNorm of each q and k head before RoPE (Qwen3, Gemma 3); null: none. */
    readonly qkNorm: HeadNorm | null = null,
  ) {
    const { nHeads, nKvHeads, headDim } = config;
    if (nHeads % nKvHeads !== 0)
      throw new Error(`attention: ${nHeads} heads do not group into ${nKvHeads} kv heads`);
    this.nHeads = nHeads;
    this.nKvHeads = nKvHeads;
    this.headDim = headDim;
    this.scale = config.scale;
    this.window = config.window;
    this.softcap = config.softcap;
    this.qDim = nHeads * headDim;
    this.kvDim = nKvHeads * headDim;
    if (qkv.outDim !== this.qDim + 2 * this.kvDim) {
      throw new Error(
        `attention: qkv projection has ${qkv.outDim} outputs, expected ${this.qDim + 2 * this.kvDim}`,
      );
    }
  }

  /**
   *   [q | k | v] = W_qkv·x + b;  (q_h, k_h RMS-normed per head);  q, k rotated (RoPE);
   *   S_h = q_h·K_hᵀ·scale (+ B_h);  (S_h = c·tanh(S_h / c));  head_h = softmax(S_h + mask) · V_h;
   *   y = W_o · concat(head_1..head_H) + b_o
   * scale is 1/√d (T5: 1; Gemma: query_pre_attn_scalar^−½); the mask is causal, and under a sliding window
   * hides keys `window` or more positions back. In inference the keys/values of earlier positions come
   * from (and these go into) the KV cache. B is T5's relative position bias (nn/positional.ts), computed
   * once per pass for every block.
   */
  forward<T extends Act>(f: Ops<T>, x: T, layer: number, bias: T | null = null): T {
    let qkv = this.qkv.forward(f, x); // [rows, (H + 2·Hkv)·hd]
    if (this.qkNorm) qkv = this.qkNorm.forward(f, qkv, this);
    if (this.rotation) qkv = f.rotate(qkv, this.rotation, this);
    const heads = f.attend(qkv, this, layer, bias); // [rows, H·hd]
    return this.out.forward(f, heads); // [rows, dim]
  }

  weights(): Weight[] {
    return [
      ...prefixed('qkv', this.qkv.weights()),
      ...(this.qkNorm ? prefixed('qk_norm', this.qkNorm.weights()) : []),
      ...prefixed('out', this.out.weights()),
    ];
  }
}
