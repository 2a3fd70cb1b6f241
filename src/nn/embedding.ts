// Stage 2 — embedding: each token id picks one row of a learned table; similar tokens get nearby rows.
import { GlassError } from '../util/errors.js';

export class Embedding {
  constructor(
    /** [vocab, dim] row-major. */
    readonly weight: Float32Array,
    readonly vocabSize: number,
    readonly dim: number,
  ) {}

  /** out[t] = E[ids[t]] */
  forward(ids: ArrayLike<number>, out: Float32Array = new Float32Array(ids.length * this.dim)): Float32Array {
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t];
      if (!(id >= 0 && id < this.vocabSize)) {
        throw new GlassError(
          'BAD_INPUT',
          `token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`,
        );
      }
      out.set(this.weight.subarray(id * this.dim, (id + 1) * this.dim), t * this.dim);
    }
    return out;
  }
}
