// Normalisation: keeps each token's vector at a steady scale between blocks.
// LayerNorm (GPT-2, BERT) centres and scales; RMSNorm (Llama, T5) only scales. Gemma's RMSNorm multiplies
// by (1 + w): the same norm with an offset. HeadNorm (Qwen3, Gemma 3's q_norm / k_norm) is RMSNorm over
// each attention head's query and key, between the projection and RoPE.
import type { Act, AttentionShape, Ops } from './ops.js';
import { prefixed } from './weights.js';
import type { Weight } from './weights.js';

export type Norm = LayerNorm | RMSNorm;

export class LayerNorm {
  readonly kind = 'layernorm';
  constructor(
    readonly gamma: Float32Array,
    readonly beta: Float32Array,
    readonly eps: number,
  ) {}
  get dim(): number {
    return this.gamma.length;
  }
  /** y = (x − mean(x)) / √(var(x) + ε) · γ + β, per row */
  forward<T extends Act>(f: Ops<T>, x: T): T {
    return f.layerNorm(x, this.gamma, this.beta, this.eps);
  }
  weights(): Weight[] {
    return [
      { name: 'weight', value: this.gamma, shape: [this.dim], decay: false },
      { name: 'bias', value: this.beta, shape: [this.dim], decay: false },
    ];
  }
}

export class RMSNorm {
  readonly kind = 'rmsnorm';
  /**
   * What the normalised row is multiplied by: the weight, or offset + weight (Gemma's (1 + w), formed once
   * here in float32, as HF's `1.0 + self.weight.float()` is).
   */
  readonly gamma: Float32Array;
  constructor(
    weight: Float32Array,
    readonly eps: number,
    /** Gemma (its HF weights): 1 — the stored weight is γ − 1. GGUF files store γ itself (offset 0). */
    readonly offset = 0,
  ) {
    this.gamma = offset === 0 ? weight : weight.map((w) => w + offset);
  }
  get dim(): number {
    return this.gamma.length;
  }
  /** y = x / √(mean(x²) + ε) · γ, per row (γ = offset + w) */
  forward<T extends Act>(f: Ops<T>, x: T): T {
    return f.rmsNorm(x, this.gamma, this.eps);
  }
  weights(): Weight[] {
    return [{ name: 'weight', value: this.gamma, shape: [this.dim], decay: false }];
  }
}

/**
 * RMSNorm of every head of q and of k inside fused q|k|v rows (Qwen3, Gemma 3): each head's headDim values
 * normalised on their own, q heads by `q`'s γ, k heads by `k`'s ([headDim] each); v untouched.
 */
export class HeadNorm {
  readonly kind = 'headnorm';
  constructor(
    readonly q: RMSNorm,
    readonly k: RMSNorm,
  ) {}
  /** q_h ← RMSNorm_q(q_h), k_h ← RMSNorm_k(k_h):  [rows, (H + 2·Hkv)·hd] → the same */
  forward<T extends Act>(f: Ops<T>, qkv: T, s: AttentionShape): T {
    qkv = f.headRmsNorm(qkv, 0, s.nHeads, s.headDim, this.q.gamma, this.q.eps);
    return f.headRmsNorm(qkv, s.nHeads * s.headDim, s.nKvHeads, s.headDim, this.k.gamma, this.k.eps);
  }
  weights(): Weight[] {
    return [...prefixed('q', this.q.weights()), ...prefixed('k', this.k.weights())];
  }
}
