// Quantized weight matrices: building Q8_0 matrices from float32 (with ggml's rounding, so the quants are
// bit-identical to llama.cpp's) or from GGUF Q8_0 bytes, and expanding any matrix back to float32.
import { quantizeQ8_0 } from './ggml-quant.js';
import { f16ToF32 } from '../util/half.js';
import {
  allocWeights,
  matrixF32,
  matrixQ8_0,
  Q8_0_BLOCK,
  type Matrix,
  type MatrixF32,
  type MatrixQ8_0,
} from './tensor.js';

/** GGUF bytes of Q8_0 blocks (f16 d, int8 q[32]; 34 bytes each) → a Q8_0 matrix [rows, cols]. */
export function matrixQ8_0FromGguf(rows: number, cols: number, bytes: Uint8Array): MatrixQ8_0 {
  const nb = (rows * cols) / Q8_0_BLOCK;
  if (!Number.isInteger(nb) || cols % Q8_0_BLOCK !== 0)
    throw new Error(`q8_0 matrix: ${cols} columns are not a whole number of ${Q8_0_BLOCK}-blocks`);
  if (bytes.length !== nb * 34)
    throw new Error(`q8_0 matrix: ${rows}x${cols} needs ${nb * 34} bytes, got ${bytes.length}`);
  const scales = new Uint16Array(nb);
  const quants = new Int8Array(rows * cols);
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let b = 0, p = 0; b < nb; b++, p += 34) {
    scales[b] = bytes[p] | (bytes[p + 1] << 8);
    quants.set(q.subarray(p + 2, p + 34), b * Q8_0_BLOCK);
  }
  return matrixQ8_0(rows, cols, scales, quants);
}

/**
 * float32 [rows, cols] → Q8_0, as ggml quantizes (d = max|x|/127 rounded to f16, q = round(x/d), halves
 * away from zero; src/tensor/ggml-quant.ts). Scales keep their f16 bits, as in a GGUF file.
 */
export function quantizeMatrixQ8_0(rows: number, cols: number, data: Float32Array): MatrixQ8_0;
export function quantizeMatrixQ8_0(m: MatrixF32): MatrixQ8_0;
export function quantizeMatrixQ8_0(a: number | MatrixF32, cols?: number, data?: Float32Array): MatrixQ8_0 {
  const [r, c, d] = typeof a === 'number' ? [a, cols!, data!] : [a.rows, a.cols, a.data];
  if (d.length !== r * c) throw new Error(`quantize: ${r}x${c} needs ${r * c} values, got ${d.length}`);
  if (c % Q8_0_BLOCK !== 0)
    throw new Error(`quantize: ${c} columns are not a whole number of ${Q8_0_BLOCK}-blocks`);
  return matrixQ8_0FromGguf(r, c, quantizeQ8_0(d));
}

/** Any matrix → its float32 values [rows, cols] (a new array, except an f32 matrix's own data). */
export function dequantizeMatrix(m: Matrix): Float32Array {
  if (m.kind === 'f32') return m.data;
  const out = new Float32Array(m.rows * m.cols);
  const { scales, quants } = m;
  const f16 = !(scales instanceof Float32Array);
  for (let b = 0; b < scales.length; b++) {
    const d = f16 ? f16ToF32(scales[b]) : scales[b];
    const o = b * Q8_0_BLOCK;
    for (let i = 0; i < Q8_0_BLOCK; i++) out[o + i] = quants[o + i] * d;
  }
  return out;
}

/** Bytes a matmul reads per use of the matrix (weights only): what decode speed is bounded by. */
export function matrixBytes(m: Matrix): number {
  if (m.kind === 'f32') return m.rows * m.cols * 4;
  return m.rows * m.cols + m.scales.length * m.scales.BYTES_PER_ELEMENT;
}

/** How a loader stores the weight matrices of the linear layers (`--dtype`). */
export type WeightDtype = 'f32' | 'q8_0';

/**
 * float32 [rows, cols] → a weight matrix of the requested dtype, placed by the active backend. Q8_0 needs
 * whole 32-blocks per row: a matrix whose rows are not (stories260K's ffn_down, 172 columns) stays f32,
 * as llama.cpp would refuse it.
 */
/**
 * Storage for the float values of a weight matrix of `cols` columns that weightMatrix will make with
 * `dtype`: where it stays float32, in the backend's memory (allocWeights), which the matrix then adopts
 * as it is — the loader reads or transposes straight into it and the weights are held once; where it
 * will be quantized, a temporary array.
 */
export function weightStorage(n: number, cols: number, dtype: WeightDtype = 'f32'): Float32Array {
  return dtype === 'q8_0' && cols % Q8_0_BLOCK === 0 ? new Float32Array(n) : allocWeights(n);
}

export function weightMatrix(
  rows: number,
  cols: number,
  data: Float32Array,
  dtype: WeightDtype = 'f32',
): Matrix {
  if (dtype === 'q8_0' && cols % Q8_0_BLOCK === 0) return quantizeMatrixQ8_0(rows, cols, data);
  return matrixF32(rows, cols, data);
}
