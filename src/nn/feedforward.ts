// Stage 6 — feed-forward: the same small MLP applied to every token on its own.
// GELU (GPT-2, BERT): down(gelu(up·x)); SwiGLU (Llama): down(silu(gate·x) ⊙ up·x); GeGLU (Flan-T5's
// "gated-gelu"): down(gelu_tanh(gate·x) ⊙ up·x), gate = wi_0, up = wi_1.
import type { Linear } from './linear.js';
import type { Act, Ops } from './ops.js';
import { prefixed, type Weight } from './weights.js';

/**
 * 'gelu' is the tanh approximation (GPT-2's gelu_new); 'gelu_erf' the exact one (BERT's gelu); 'silu'
 * (Marian's swish) and 'relu' (T5) are plain MLPs too; 'swiglu' (Llama) and 'geglu' (Flan-T5, GELU's
 * tanh approximation) are gated.
 */
export type FeedForwardKind = 'gelu' | 'gelu_erf' | 'silu' | 'relu' | 'swiglu' | 'geglu';

export class FeedForward {
  constructor(
    readonly kind: FeedForwardKind,
    readonly up: Linear,
    readonly down: Linear,
    readonly gate: Linear | null = null,
  ) {
    if ((kind === 'swiglu' || kind === 'geglu') && !gate)
      throw new Error(`${kind} feed-forward needs a gate projection`);
  }

  get hiddenDim(): number {
    return this.up.outDim;
  }

  /**
   * gelu: W2·gelu(W1·x + b1) + b2;  swiglu: W2·(silu(Wg·x) ⊙ W1·x);  geglu: W2·(gelu(Wg·x) ⊙ W1·x).
   * [rows, dim] → [rows, dim]
   */
  forward<T extends Act>(f: Ops<T>, x: T, layer: number): T {
    let h = this.up.forward(f, x); // [rows, hidden]
    if (this.kind === 'gelu') h = f.geluTanh(h);
    else if (this.kind === 'gelu_erf') h = f.geluErf(h);
    else if (this.kind === 'silu') h = f.silu(h);
    else if (this.kind === 'relu') h = f.relu(h);
    else if (this.kind === 'geglu') h = f.mul(h, f.geluTanh(this.gate!.forward(f, x)));
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
