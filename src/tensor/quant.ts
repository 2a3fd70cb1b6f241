// Quantized weight matrices: building Q8_0 matrices from float32 (with ggml's rounding, so the quants are
// bit-identical to llama.cpp's) or from GGUF Q8_0 bytes; Q4_0 / Q4_K / Q5_K / Q6_K matrices kept in their
// GGUF blocks (from a file's bytes, or quantized at load for `--dtype q4_0|q4_k`); and expanding any matrix
// back to float32.
import { dequantize, quantizeQ4_0, quantizeQ4_K, quantizeQ8_0 } from './ggml-quant.js';
import { f16ToF32 } from '../util/half.js';
import {
  allocWeights,
  matrixF32,
  matrixQ8_0,
  matrixQuant,
  Q8_0_BLOCK,
  quantBlock,
  type Matrix,
  type MatrixF32,
  type MatrixQ8_0,
  type MatrixQuant,
  type QuantType,
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

/** GGUF bytes of one QuantType, row-major [rows, cols] → a quantized matrix (one part, bytes kept as they are). */
export function quantMatrixFromGguf(
  type: QuantType,
  rows: number,
  cols: number,
  bytes: Uint8Array,
): MatrixQuant {
  return matrixQuant(rows, cols, [{ type, rows, bytes }]);
}

/**
 * float32 [rows, cols] → a Q4_0 or Q4_K matrix, quantized by ggml's reference quantizers (round to nearest
 * per block; Q4_K with the per-sub-block scale and min search: src/tensor/ggml-quant.ts).
 */
export function quantizeMatrix(
  type: 'Q4_0' | 'Q4_K',
  rows: number,
  cols: number,
  data: Float32Array,
): MatrixQuant {
  if (data.length !== rows * cols)
    throw new Error(`quantize: ${rows}x${cols} needs ${rows * cols} values, got ${data.length}`);
  const bytes = type === 'Q4_0' ? quantizeQ4_0(data) : quantizeQ4_K(data);
  return quantMatrixFromGguf(type, rows, cols, bytes);
}

/** Any matrix → its float32 values [rows, cols] (a new array, except an f32 matrix's own data). */
export function dequantizeMatrix(m: Matrix): Float32Array {
  if (m.kind === 'f32') return m.data;
  const out = new Float32Array(m.rows * m.cols);
  if (m.kind === 'quant') {
    let at = 0;
    for (const p of m.parts) at += dequantize(p.type, p.bytes, out, at);
    return out;
  }
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
  if (m.kind === 'quant') return m.parts.reduce((a, p) => a + p.bytes.length, 0);
  return m.rows * m.cols + m.scales.length * m.scales.BYTES_PER_ELEMENT;
}

/**
 * How a loader stores the weight matrices of the linear layers (`--dtype`): f32; q8_0 (int8 blocks of 32,
 * 8.5 bits a weight); q4_0 (4-bit blocks of 32, 4.5 bits); q4_k (4-bit super-blocks of 256 with 6-bit
 * sub-block scales and mins, 4.5 bits). Weights a GGUF file already stores in Q4_0 / Q4_K / Q5_K / Q6_K are
 * kept as they are whatever the dtype (see quantizedWeight in models/llama.ts).
 */
export type WeightDtype = 'f32' | 'q8_0' | 'q4_0' | 'q4_k';

/**
 * What weightMatrix makes of a matrix of `cols` columns in `dtype`: its rows must be whole blocks. A q4_k
 * matrix whose rows are not whole 256-blocks falls back to q4_0, and any whose rows are not whole 32-blocks
 * (stories260K's ffn_down, 172 columns) stays f32, as llama.cpp would do.
 */
function storedAs(cols: number, dtype: WeightDtype): 'f32' | 'q8_0' | 'Q4_0' | 'Q4_K' {
  if (dtype === 'f32' || cols % Q8_0_BLOCK !== 0) return 'f32';
  if (dtype === 'q8_0') return 'q8_0';
  return dtype === 'q4_k' && cols % quantBlock('Q4_K').size === 0 ? 'Q4_K' : 'Q4_0';
}

/**
 * Storage for the float values of a weight matrix of `cols` columns that weightMatrix will make with
 * `dtype`: where it stays float32, in the backend's memory (allocWeights), which the matrix then adopts
 * as it is — the loader reads or transposes straight into it and the weights are held once; where it
 * will be quantized, a temporary array.
 */
export function weightStorage(n: number, cols: number, dtype: WeightDtype = 'f32'): Float32Array {
  return storedAs(cols, dtype) === 'f32' ? allocWeights(n) : new Float32Array(n);
}

/** float32 [rows, cols] → a weight matrix of the requested dtype, placed by the active backend. */
export function weightMatrix(
  rows: number,
  cols: number,
  data: Float32Array,
  dtype: WeightDtype = 'f32',
): Matrix {
  const as = storedAs(cols, dtype);
  if (as === 'q8_0') return quantizeMatrixQ8_0(rows, cols, data);
  if (as === 'f32') return matrixF32(rows, cols, data);
  return quantizeMatrix(as, rows, cols, data);
}
