// The numbers every stage passes along: a shape and a flat Float32Array, row-major.

export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export function tensor(shape: readonly number[], data?: Float32Array): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data && data.length !== n)
    throw new Error(`tensor: shape [${shape}] needs ${n} values, got ${data.length}`);
  return { shape: [...shape], data: data ?? new Float32Array(n) };
}

/** Row r of a 2-D tensor (a view, no copy). */
export function row(t: Tensor, r: number): Float32Array {
  const cols = t.shape[t.shape.length - 1];
  return t.data.subarray(r * cols, (r + 1) * cols);
}

/**
 * A weight matrix as the kernels see it: `rows` outputs × `cols` inputs, each output's weights
 * contiguous (PyTorch nn.Linear layout), so a matrix-vector product streams memory in order.
 * Quantized kinds (q8_0...) join this union later; the models never look inside.
 */
export interface MatrixF32 {
  readonly kind: 'f32';
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
}
export type Matrix = MatrixF32;

export function matrixF32(rows: number, cols: number, data: Float32Array): MatrixF32 {
  if (data.length !== rows * cols)
    throw new Error(`matrix: ${rows}x${cols} needs ${rows * cols} values, got ${data.length}`);
  return { kind: 'f32', rows, cols, data };
}

/** Transposes a [rows, cols] row-major array into a new [cols, rows] one. */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c];
  }
  return out;
}
