// Stage 6 — feed-forward: the same small MLP applied to every token on its own.
// GELU (GPT-2, BERT): down(gelu(up·x)); SwiGLU (Llama): down(silu(gate·x) ⊙ up·x).
import { backend, referenceBackend } from '../tensor/index.js';
import type { Linear } from './linear.js';
import type { LayerTap } from './tap.js';

/** 'gelu' is the tanh approximation (GPT-2's gelu_new); 'gelu_erf' the exact one (BERT's gelu). */
export type FeedForwardKind = 'gelu' | 'gelu_erf' | 'swiglu';

export class FeedForward {
  constructor(
    readonly kind: FeedForwardKind,
    readonly up: Linear,
    readonly down: Linear,
    readonly gate: Linear | null = null,
  ) {
    if (kind === 'swiglu' && !gate) throw new Error('swiglu feed-forward needs a gate projection');
  }

  get hiddenDim(): number {
    return this.up.outDim;
  }

  /** gelu: W2·gelu(W1·x + b1) + b2;  swiglu: W2·(silu(Wg·x) ⊙ W1·x) */
  forward(x: Float32Array, rows: number, out?: Float32Array, tap: LayerTap | null = null): Float32Array {
    const be = backend();
    const h = this.up.forward(x, rows);
    const n = rows * this.hiddenDim;
    if (this.kind === 'gelu') {
      be.geluTanh(h, n);
    } else if (this.kind === 'gelu_erf') {
      (be.geluErf ? be : referenceBackend).geluErf!(h, n);
    } else {
      const g = this.gate!.forward(x, rows);
      be.silu(g, n);
      be.mul(h, h, g, n);
    }
    tap?.ffnHidden(h, rows, this.hiddenDim);
    return this.down.forward(h, rows, out);
  }
}
