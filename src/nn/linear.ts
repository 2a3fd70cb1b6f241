// A linear map y = W·x + b, the workhorse of attention and the feed-forward network.
import type { Matrix } from '../tensor/index.js';
import type { Act, Ops } from './ops.js';
import type { Weight } from './weights.js';

export class Linear {
  readonly kind = 'linear';
  constructor(
    /** W: [out, in] (float32 or quantized). */
    readonly weight: Matrix,
    readonly bias: Float32Array | null = null,
  ) {}

  get inDim(): number {
    return this.weight.cols;
  }
  get outDim(): number {
    return this.weight.rows;
  }

  /** y[t] = W·x[t] + b for each row:  [rows, in] → [rows, out] */
  forward<T extends Act>(f: Ops<T>, x: T): T {
    return f.matmul(x, this.weight, this.bias);
  }

  weights(): Weight[] {
    const w: Weight[] = [
      { name: 'weight', value: this.weight, shape: [this.outDim, this.inDim], decay: true },
    ];
    if (this.bias) w.push({ name: 'bias', value: this.bias, shape: [this.outDim], decay: false });
    return w;
  }
}
