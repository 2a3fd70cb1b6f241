// Stage 6 — feed-forward: the same small MLP applied to every token on its own.
// GELU (GPT-2, BERT): down(gelu(up·x)); SwiGLU (Llama): down(silu(gate·x) ⊙ up·x).
import type { Linear } from './linear.js';
import type { Act, Ops } from './ops.js';
import { prefixed, type Weight } from './weights.js';

/**
 * 'gelu' is the tanh approximation (GPT-2's gelu_new); 'gelu_erf' the exact one (BERT's gelu); 'silu'
 * (Marian's swish) and 'relu' (T5) are plain MLPs too; 'swiglu' (Llama) is gated.
 */
export type FeedForwardKind = 'gelu' | 'gelu_erf' | 'silu' | 'relu' | 'swiglu';

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

  /** gelu: W2·gelu(W1·x + b1) + b2;  swiglu: W2·(silu(Wg·x) ⊙ W1·x).  [rows, dim] → [rows, dim] */
  forward<T extends Act>(f: Ops<T>, x: T, layer: number): T {
    let h = this.up.forward(f, x); // [rows, hidden]
    if (this.kind === 'gelu') h = f.geluTanh(h);
    else if (this.kind === 'gelu_erf') h = f.geluErf(h);
    else if (this.kind === 'silu') h = f.silu(h);
    else if (this.kind === 'relu') h = f.relu(h);
    else h = f.mul(h, f.silu(this.gate!.forward(f, x)));
    f.look(layer, 'ffnHidden', h);
    return this.down.forward(f, h); // [rows, dim]
  }

  weights(): Weight[] {
    return [
      ...prefixed('up', this.up.weights()),
      ...(this.gate ? prefixed('gate', this.gate.weights()) : []),
      ...prefixed('down', this.down.weights()),
    ];
  }
}
