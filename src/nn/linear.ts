// A linear map y = W·x + b, the workhorse of attention and the feed-forward network.
import { backend, type Matrix } from '../tensor/index.js';

export class Linear {
  constructor(
    readonly weight: Matrix,
    readonly bias: Float32Array | null = null,
  ) {}

  get inDim(): number {
    return this.weight.cols;
  }
  get outDim(): number {
    return this.weight.rows;
  }

  /** y[t] = W·x[t] + b for each of the `rows` input rows. */
  forward(
    x: Float32Array,
    rows: number,
    out: Float32Array = new Float32Array(rows * this.outDim),
  ): Float32Array {
    backend().matmul(out, x, this.weight, this.bias, rows);
    return out;
  }
}
