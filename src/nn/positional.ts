// Stage 3 — positional encoding: tell the model where each token sits. Three kinds exist:
// learned (GPT-2, BERT: a second table added to the embeddings), sinusoidal (the original Transformer,
// T5-era models) and rotary (Llama: q and k are rotated inside attention; see attention.ts).

export interface AdditivePositional {
  readonly kind: 'learned' | 'sinusoidal';
  readonly maxPositions: number;
  /** x[t] += P[pos0 + t] for t < rows. */
  addTo(x: Float32Array, rows: number, pos0: number): void;
  /** The positional vector of one position (for display). */
  vector(pos: number): Float32Array;
}

/** GPT-2 / BERT: a learned [maxPositions, dim] table. */
export class LearnedPositional implements AdditivePositional {
  readonly kind = 'learned';
  constructor(
    readonly weight: Float32Array,
    readonly maxPositions: number,
    readonly dim: number,
  ) {}

  addTo(x: Float32Array, rows: number, pos0: number): void {
    const d = this.dim;
    for (let t = 0; t < rows; t++) {
      const p = (pos0 + t) * d;
      const o = t * d;
      for (let i = 0; i < d; i++) x[o + i] += this.weight[p + i];
    }
  }

  vector(pos: number): Float32Array {
    return this.weight.subarray(pos * this.dim, (pos + 1) * this.dim);
  }
}
