// Normalisation: keeps each token's vector at a steady scale between blocks.
// LayerNorm (GPT-2, BERT) centres and scales; RMSNorm (Llama, T5) only scales.
import { backend } from '../tensor/index.js';

export interface Norm {
  readonly dim: number;
  forward(x: Float32Array, rows: number, out?: Float32Array): Float32Array;
}

export class LayerNorm implements Norm {
  constructor(
    readonly gamma: Float32Array,
    readonly beta: Float32Array,
    readonly eps: number,
  ) {}
  get dim(): number {
    return this.gamma.length;
  }
  /** y = (x − mean(x)) / √(var(x) + ε) · γ + β */
  forward(
    x: Float32Array,
    rows: number,
    out: Float32Array = new Float32Array(rows * this.dim),
  ): Float32Array {
    backend().layerNorm(out, x, this.gamma, this.beta, rows, this.dim, this.eps);
    return out;
  }
}

export class RMSNorm implements Norm {
  constructor(
    readonly gamma: Float32Array,
    readonly eps: number,
  ) {}
  get dim(): number {
    return this.gamma.length;
  }
  /** y = x / √(mean(x²) + ε) · γ */
  forward(
    x: Float32Array,
    rows: number,
    out: Float32Array = new Float32Array(rows * this.dim),
  ): Float32Array {
    backend().rmsNorm(out, x, this.gamma, rows, this.dim, this.eps);
    return out;
  }
}
