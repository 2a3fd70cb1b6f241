// Normalisation: keeps each token's vector at a steady scale between blocks.
// LayerNorm (GPT-2, BERT) centres and scales; RMSNorm (Llama, T5) only scales.
import type { Act, Ops } from './ops.js';
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
  constructor(
    readonly gamma: Float32Array,
    readonly eps: number,
  ) {}
  get dim(): number {
    return this.gamma.length;
  }
  /** y = x / √(mean(x²) + ε) · γ, per row */
  forward<T extends Act>(f: Ops<T>, x: T): T {
    return f.rmsNorm(x, this.gamma, this.eps);
  }
  weights(): Weight[] {
    return [{ name: 'weight', value: this.gamma, shape: [this.dim], decay: false }];
  }
}
