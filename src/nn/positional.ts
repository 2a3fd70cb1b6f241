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

/**
 * Rotary position embedding (RoPE, Llama): instead of adding a vector, rotate each pair of q and k
 * coordinates by an angle that grows with the position, pos · θ^(−2i/d), so q·k depends on the distance.
 * Two pairings exist: 'interleaved' pairs (x₀,x₁), (x₂,x₃)… (llama2.c, GGUF); 'half' pairs
 * (xᵢ, x_{i+d/2}) (Hugging Face checkpoints, whose q/k rows are permuted to match).
 */
export type RopeStyle = 'interleaved' | 'half';

export class RotaryEmbedding {
  readonly kind = 'rope';
  /** cos/sin tables [maxPositions, rotaryDim/2], computed in float64 once. */
  private readonly cos: Float32Array;
  private readonly sin: Float32Array;
  readonly half: number;

  constructor(
    readonly headDim: number,
    readonly maxPositions: number,
    readonly theta = 10000,
    readonly style: RopeStyle = 'interleaved',
    /** How many leading dims of each head rotate (all by default). */
    readonly rotaryDim = headDim,
  ) {
    this.half = rotaryDim / 2;
    this.cos = new Float32Array(maxPositions * this.half);
    this.sin = new Float32Array(maxPositions * this.half);
    for (let p = 0; p < maxPositions; p++) {
      for (let i = 0; i < this.half; i++) {
        const angle = p * Math.pow(theta, (-2 * i) / rotaryDim);
        this.cos[p * this.half + i] = Math.cos(angle);
        this.sin[p * this.half + i] = Math.sin(angle);
      }
    }
  }

  /** The rotation applied at one position: the angle of each pair (for display). */
  angles(pos: number): Float32Array {
    const out = new Float32Array(this.half);
    for (let i = 0; i < this.half; i++)
      out[i] = Math.atan2(this.sin[pos * this.half + i], this.cos[pos * this.half + i]);
    return out;
  }

  /**
   * Rotates, in place, `nHeads` heads of `headDim` found at `offset` within each of `rows` rows of `stride`
   * values, the rows being positions pos0, pos0+1, …:  (a, b) ← (a·cos − b·sin, a·sin + b·cos).
   */
  apply(
    x: Float32Array,
    rows: number,
    nHeads: number,
    headDim: number,
    pos0: number,
    stride: number,
    offset: number,
  ): void {
    const half = this.half;
    const interleaved = this.style === 'interleaved';
    for (let t = 0; t < rows; t++) {
      const tab = (pos0 + t) * half;
      for (let h = 0; h < nHeads; h++) {
        const base = t * stride + offset + h * headDim;
        for (let i = 0; i < half; i++) {
          const ia = interleaved ? base + 2 * i : base + i;
          const ib = interleaved ? ia + 1 : ia + half;
          const c = this.cos[tab + i];
          const s = this.sin[tab + i];
          const a = x[ia];
          const b = x[ib];
          x[ia] = a * c - b * s;
          x[ib] = a * s + b * c;
        }
      }
    }
  }
}
