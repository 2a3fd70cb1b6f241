// Training — the one matrix product every product on the tape goes through: y = x·wᵀ (+ bias), in the
// layouts of Backend.gemm. Float32 operands go to the given backend's gemm (the tape's) (the WASM SIMD one reads
// transposed operands in place; the reference transposes them first, see tensor/reference/kernels.ts);
// float64 ones — the gradient checks', or a float64 score buffer — to the reference's, which takes both.
import { referenceBackend, type Backend, type GemmLayout } from '../tensor/index.js';
import type { Arr } from './autograd.js';

/** dst [cols, rows] = srcᵀ (blocked; the reference's, which gemm uses for a transposed operand). */
export { transposeInto } from '../tensor/reference/kernels.js';

/**
 * y[m, n] (+)= Σ_k X[m, k]·W[n, k] (+ bias[n]) for y [M, N]: X is x [M, K], or x [K, M] read transposed
 * (xT); W is w [N, K], or w [K, N] read transposed (wT). accumulate: add into y instead of overwriting.
 */
export function gemm(
  be: Backend,
  y: Arr,
  x: Arr,
  w: Arr,
  bias: Arr | null,
  M: number,
  K: number,
  N: number,
  o: GemmLayout = {},
): void {
  if (
    y instanceof Float32Array &&
    x instanceof Float32Array &&
    w instanceof Float32Array &&
    (bias === null || bias instanceof Float32Array)
  )
    be.gemm(y, x, w, bias, M, K, N, o);
  else referenceBackend.gemm(y, x, w, bias, M, K, N, o);
}
