// The numbers every stage passes along: a shape and a flat Float32Array, row-major.
import { backend } from './active.js';

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
 * The models never look inside; each backend's matmul handles every kind.
 *
 * Placement: matrixF32 / matrixQ8_0 / matrixQuant hand the new matrix to the active backend's `placeMatrix`, once, at
 * load time. The reference keeps it as it is; the wasm backend copies it into WebAssembly linear memory
 * and returns a matrix whose arrays are views of that memory (so set the backend before loading).
 */
export interface MatrixF32 {
  readonly kind: 'f32';
  readonly rows: number;
  readonly cols: number;
  /** [rows, cols] row-major (a backend keeping another layout goes back to this one when asked). */
  readonly data: Float32Array;
  /** Row j into dst at `at`, whatever the layout in memory (absent: read `data`). */
  readRow?(j: number, dst: Float32Array, at: number): void;
}

/**
 * GGUF's Q8_0: each row cut into blocks of 32 weights, stored as 32 int8 `quants` and one `scales` entry
 * d per block (w = q·d). `scales` is float32, or the f16 bit patterns as GGUF stores them (Uint16Array).
 * quants: rows·cols values, row-major; scales: rows·cols/32 values (cols must be a multiple of 32).
 */
export interface MatrixQ8_0 {
  readonly kind: 'q8_0';
  readonly rows: number;
  readonly cols: number;
  readonly scales: Float32Array | Uint16Array;
  readonly quants: Int8Array;
}

/**
 * ggml block types kept as they are in memory (the GGUF bytes, unexpanded), layouts in ggml-quant.ts:
 * Q4_0 (32 values in 18 bytes, 4.5 bits each), Q4_K (256 in 144: 4.5), Q5_K (256 in 176: 5.5), Q6_K
 * (256 in 210: 6.5625).
 */
export type QuantType = 'Q4_0' | 'Q4_K' | 'Q5_K' | 'Q6_K';
export const QUANT_TYPES: readonly QuantType[] = ['Q4_0', 'Q4_K', 'Q5_K', 'Q6_K'];

/** `rows` consecutive rows of a quantized matrix in one type: each row cols/blockSize whole blocks. */
export interface QuantPart {
  readonly type: QuantType;
  readonly rows: number;
  readonly bytes: Uint8Array;
}

/**
 * A matrix kept in ggml blocks (the one quantized kind beside Q8_0's unpacked arrays): its rows top to
 * bottom as parts, each a run of rows in one QuantType, row-major as GGUF stores them. Most matrices are
 * one part; a q/k/v projection fused from a Q4_K_M file (q, k in Q4_K, v in Q6_K) is several.
 */
export interface MatrixQuant {
  readonly kind: 'quant';
  readonly rows: number;
  readonly cols: number;
  readonly parts: readonly QuantPart[];
}

export type Matrix = MatrixF32 | MatrixQ8_0 | MatrixQuant;

/** Q8_0's block length. */
export const Q8_0_BLOCK = 32;

/** The active backend's placement of a freshly built matrix (the reference: the matrix itself). */
function place<M extends Matrix>(m: M): M {
  return backend().placeMatrix(m) as M;
}

export function matrixF32(rows: number, cols: number, data: Float32Array): MatrixF32 {
  if (data.length !== rows * cols)
    throw new Error(`matrix: ${rows}x${cols} needs ${rows * cols} values, got ${data.length}`);
  return place({ kind: 'f32', rows, cols, data });
}

export function matrixQ8_0(
  rows: number,
  cols: number,
  scales: Float32Array | Uint16Array,
  quants: Int8Array,
): MatrixQ8_0 {
  if (cols % Q8_0_BLOCK !== 0)
    throw new Error(`q8_0 matrix: ${cols} columns are not a whole number of ${Q8_0_BLOCK}-blocks`);
  if (quants.length !== rows * cols)
    throw new Error(`q8_0 matrix: ${rows}x${cols} needs ${rows * cols} quants, got ${quants.length}`);
  if (scales.length !== (rows * cols) / Q8_0_BLOCK)
    throw new Error(
      `q8_0 matrix: ${rows}x${cols} needs ${(rows * cols) / Q8_0_BLOCK} scales, got ${scales.length}`,
    );
  return place({ kind: 'q8_0', rows, cols, scales, quants });
}

/** Values per block and bytes per block of a QuantType (ggml's). */
export function quantBlock(type: QuantType): { size: number; bytes: number } {
  switch (type) {
    case 'Q4_0':
      return { size: 32, bytes: 18 };
    case 'Q4_K':
      return { size: 256, bytes: 144 };
    case 'Q5_K':
      return { size: 256, bytes: 176 };
    case 'Q6_K':
      return { size: 256, bytes: 210 };
  }
}

/** A quantized matrix [rows, cols] from its parts (checked: whole blocks per row, the bytes each needs). */
export function matrixQuant(rows: number, cols: number, parts: readonly QuantPart[]): MatrixQuant {
  let total = 0;
  for (const p of parts) {
    const { size, bytes } = quantBlock(p.type);
    if (cols % size !== 0)
      throw new Error(`${p.type} matrix: ${cols} columns are not a whole number of ${size}-blocks`);
    const need = (p.rows * cols * bytes) / size;
    if (p.bytes.length !== need)
      throw new Error(`${p.type} matrix: ${p.rows}x${cols} needs ${need} bytes, got ${p.bytes.length}`);
    total += p.rows;
  }
  if (total !== rows) throw new Error(`quantized matrix: parts hold ${total} rows, expected ${rows}`);
  return place({ kind: 'quant', rows, cols, parts });
}

/**
 * Storage for n weights that the active backend's kernels read in place (reference: a new
 * Float32Array; wasm: a view of its linear memory). Fill it, then wrap it with matrixF32 — no copy.
 */
export function allocWeights(n: number): Float32Array {
  return backend().allocWeights(n);
}

/** Transposes a [rows, cols] row-major array into a [cols, rows] one (a new array, or `out`). */
export function transpose(
  data: Float32Array,
  rows: number,
  cols: number,
  out: Float32Array = new Float32Array(rows * cols),
): Float32Array {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c];
  }
  return out;
}
