// Stage 2 — embedding: each token id picks one row of a learned table; similar tokens get nearby rows.
import type { Matrix, MatrixF32 } from '../tensor/index.js';
import { Linear } from './linear.js';
import type { Act, Ops } from './ops.js';
import type { Weight } from './weights.js';

export class Embedding {
  readonly kind = 'embedding';
  constructor(
    /**
     * [vocab, dim] row-major: an array, or an f32 matrix whose rows are the table (a tied LM head's, in
     * whatever memory the backend placed it: one table, not two).
     */
    private readonly table: Float32Array | MatrixF32,
    readonly vocabSize: number,
    readonly dim: number,
    /** The rows are multiplied by this (Marian, the original Transformer: √dim). */
    readonly scale = 1,
  ) {}

  /** The table, [vocab, dim] row-major. */
  get weight(): Float32Array {
    return this.table instanceof Float32Array ? this.table : this.table.data;
  }

  /** out[t] = E[ids[t]] · scale:  ids [rows] → [rows, dim] */
  forward<T extends Act>(f: Ops<T>, ids: ArrayLike<number>): T {
    const x = f.gather(this.table, this.dim, ids);
    return this.scale === 1 ? x : f.scale(x, this.scale);
  }

  weights(): Weight[] {
    return [{ name: 'weight', value: this.table, shape: [this.vocabSize, this.dim], decay: false }];
  }
}

/**
 * A decoder's token embedding and LM head. Tied: one table — where the head's matrix is float32, the
 * embedding reads its rows (in whatever memory the backend placed it), so the table is held once; a
 * quantized head keeps the float table for the embedding.
 */
export function embeddingAndHead(
  table: Float32Array,
  head: Matrix,
  tied: boolean,
  /** The embedding's rows × this (Gemma: √dim); the head is not scaled. */
  scale = 1,
): { embedding: Embedding; lmHead: Linear } {
  const shared = tied && head.kind === 'f32';
  return {
    embedding: new Embedding(shared ? head : table, head.rows, head.cols, scale),
    lmHead: new Linear(head),
  };
}
