// Training — the one matrix kernel every product on the tape goes through: y = x·wᵀ (+ bias), both operands
// row-major with the shared dimension contiguous, so the innermost loop is a dot product that streams two
// rows in memory order. Products that are not in that form (dx = dy·W, dW = dyᵀ·x, attention's P·V) are
// brought to it by transposing one operand first: a transpose costs one pass over a matrix, the product
// many, and the dot form runs about twice as fast in JavaScript as the accumulate-into-a-row (i-k-j) form,
// which must load and store its output row on every step.
//
// The kernel computes a 2×4 tile of y at once: each value loaded from x feeds four multiply-adds, each value
// of w two — 6 loads per 8 multiply-adds instead of 2 per 1. Sums run in JS numbers (float64).
//
// When a faster backend than the reference is active (the WASM SIMD one, possibly threaded), float32
// products go to its gemm instead, which reads transposed operands in place (no transpose first).
import { backend, referenceBackend, type GemmLayout } from '../tensor/index.js';
import type { Arr } from './autograd.js';

/**
 * Which part of a square product a causal attention needs, by row block [m, m+rows) of y:
 * 'full' everything; 'cols' only columns j < m+rows (y's upper triangle is masked anyway);
 * 'kUpper' x's row i is zero past column i, so the dot stops at k < m+rows; 'kLower' x's row i is zero
 * before column i, so the dot starts at k = m. Entries outside a 'cols' range may be left as they were or
 * computed (a fast backend computes the whole product: at its speed that beats skipping half).
 */
export type Triangle = 'full' | 'cols' | 'kUpper' | 'kLower';

export interface GemmOptions extends GemmLayout {
  /** The part of a causal attention's square product that is needed (the plain kernel skips the rest). */
  triangle?: Triangle;
}

/**
 * y[m, n] (+)= Σ_k X[m, k]·W[n, k] (+ bias[n]) for y [M, N]: X is x [M, K], or x [K, M] read transposed
 * (xT); W is w [N, K], or w [K, N] read transposed (wT). accumulate: add into y instead of overwriting.
 */
export function gemm(
  y: Arr,
  x: Arr,
  w: Arr,
  bias: Arr | null,
  M: number,
  K: number,
  N: number,
  o: GemmOptions = {},
): void {
  const be = backend();
  if (
    be !== referenceBackend &&
    be.gemm &&
    y instanceof Float32Array &&
    x instanceof Float32Array &&
    w instanceof Float32Array &&
    (bias === null || bias instanceof Float32Array)
  ) {
    be.gemm(y, x, w, bias, M, K, N, o);
    return;
  }
  // The plain kernel reads both operands row-major: transposed ones are transposed first.
  if (o.xT) x = transposed(x, K, M, 0);
  if (o.wT) w = transposed(w, K, N, 1);
  dotKernel(y, x, w, bias, M, K, N, o.accumulate ?? false, o.triangle ?? 'full');
}

/** Transposes of operands, in two buffers per (dtype, size) reused from call to call (slot 0: x, 1: w). */
const scratch = new Map<string, Arr>();

function transposed(src: Arr, rows: number, cols: number, slot: number): Arr {
  const key = `${src instanceof Float64Array ? 64 : 32}:${rows * cols}:${slot}`;
  let dst = scratch.get(key);
  if (!dst) {
    dst = src instanceof Float64Array ? new Float64Array(rows * cols) : new Float32Array(rows * cols);
    scratch.set(key, dst);
  }
  transposeInto(dst, src, rows, cols);
  return dst;
}

/** The plain kernel: both operands row-major, 2×4 tiles of dot products (see the top of this file). */
function dotKernel(
  y: Arr,
  x: Arr,
  w: Arr,
  bias: Arr | null,
  M: number,
  K: number,
  N: number,
  accumulate: boolean,
  triangle: Triangle,
): void {
  for (let m = 0; m < M; m += 2) {
    const two = m + 1 < M;
    const x0 = m * K;
    const x1 = two ? x0 + K : x0;
    const y0 = m * N;
    const y1 = y0 + N;
    const jEnd = triangle === 'cols' ? Math.min(N, m + 2) : N;
    const kStart = triangle === 'kLower' ? m : 0;
    const kEnd = triangle === 'kUpper' ? Math.min(K, m + 2) : K;
    let j = 0;
    for (; j + 3 < jEnd; j += 4) {
      const w0 = j * K;
      const w1 = w0 + K;
      const w2 = w1 + K;
      const w3 = w2 + K;
      // Starting from the bias (as the inference kernel does) keeps the two bit-for-bit alike.
      const b0 = bias ? bias[j] : 0;
      const b1 = bias ? bias[j + 1] : 0;
      const b2 = bias ? bias[j + 2] : 0;
      const b3 = bias ? bias[j + 3] : 0;
      // prettier-ignore
      let s00 = b0, s01 = b1, s02 = b2, s03 = b3, s10 = b0, s11 = b1, s12 = b2, s13 = b3;
      for (let k = kStart; k < kEnd; k++) {
        const a0 = x[x0 + k];
        const a1 = x[x1 + k];
        const c0 = w[w0 + k];
        const c1 = w[w1 + k];
        const c2 = w[w2 + k];
        const c3 = w[w3 + k];
        s00 += a0 * c0;
        s01 += a0 * c1;
        s02 += a0 * c2;
        s03 += a0 * c3;
        s10 += a1 * c0;
        s11 += a1 * c1;
        s12 += a1 * c2;
        s13 += a1 * c3;
      }
      if (accumulate) {
        y[y0 + j] += s00;
        y[y0 + j + 1] += s01;
        y[y0 + j + 2] += s02;
        y[y0 + j + 3] += s03;
        if (two) {
          y[y1 + j] += s10;
          y[y1 + j + 1] += s11;
          y[y1 + j + 2] += s12;
          y[y1 + j + 3] += s13;
        }
      } else {
        y[y0 + j] = s00;
        y[y0 + j + 1] = s01;
        y[y0 + j + 2] = s02;
        y[y0 + j + 3] = s03;
        if (two) {
          y[y1 + j] = s10;
          y[y1 + j + 1] = s11;
          y[y1 + j + 2] = s12;
          y[y1 + j + 3] = s13;
        }
      }
    }
    for (; j < jEnd; j++) {
      const wo = j * K;
      let s0 = bias ? bias[j] : 0;
      let s1 = s0;
      for (let k = kStart; k < kEnd; k++) {
        s0 += x[x0 + k] * w[wo + k];
        s1 += x[x1 + k] * w[wo + k];
      }
      if (accumulate) {
        y[y0 + j] += s0;
        if (two) y[y1 + j] += s1;
      } else {
        y[y0 + j] = s0;
        if (two) y[y1 + j] = s1;
      }
    }
  }
}

/** dst [cols, rows] = srcᵀ for src [rows, cols]. */
export function transposeInto(dst: Arr, src: Arr, rows: number, cols: number): void {
  // Blocks of 32×32 keep both the reads and the writes within a few cache lines.
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const o = r * cols;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[o + c];
      }
    }
  }
}
