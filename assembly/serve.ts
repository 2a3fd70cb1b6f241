// Serving's kernels (re-exported by assembly/kernels.ts): what continuous batching runs once per decode step
// for all the sequences in flight.
//
// matmulF32Rows: a few input rows — one per sequence decoded this step, 2 ≤ rows < FEW_ROWS (backend.ts) —
// against row-major f32 weights. A decode step is bound by streaming the weights from memory (GPT-2 124M:
// ~500 MB per step), so a step of B sequences should cost little more than a step of one. The other two
// products miss that at these sizes:
//   matmulF32 (one row at a time, rows < 4) re-reads each block of weight rows from cache once per input
//     row, at two loads (x and w) per multiply-add;
//   matmulF32Batched (rows ≥ 4, prefill) repacks every block of weights into panels first (a load, a
//     shuffle and a store per weight, then a reload from L2): worth it when many input groups reuse a
//     panel, pure overhead when one or two do.
// This one reads the weights in place, two rows at a time, each pair against every input row, four at a
// time, while the pair is in L1 (2 × 3072 floats at most for GPT-2): per step of four values, two weight
// loads and four input loads feed eight multiply-adds into eight accumulators (no repacking; a horizontal
// sum per output at the end). Measured against four weight rows × two input rows (more weight streams, a
// block that outgrows L1 at k = 3072): GPT-2 124M forwardBatch of 4 sequences, CPU ms/step 69-80 → 65-75.

import { fma, hsum, imin, touch } from './simd';

/**
 * Weight rows brought into cache at a time by touch() before the tiles read them (8 rows: 24 KB at k = 768,
 * 96 KB at k = 3072, inside L2).
 */
const TOUCH_ROWS: i32 = 8;

/** One output: the lanes' sum, the scalar tail (values k4..k-1), the bias; stored at out + 4·(m·n + j). */
@inline function finish(
  acc: v128,
  x: usize,
  w: usize,
  k4: i32,
  k: i32,
  bias: usize,
  j: i32,
  op: usize,
): void {
  let s = hsum(acc);
  for (let i = k4; i < k; i++) s += load<f32>(x + ((<usize>i) << 2)) * load<f32>(w + ((<usize>i) << 2));
  if (bias) s += load<f32>(bias + ((<usize>j) << 2));
  store<f32>(op + ((<usize>j) << 2), s);
}

/**
 * The tile: W weight rows (j, j+1; W = 2 or 1) × R input rows (m…m+R-1; R = 4, 2 or 1), all k values.
 * W and R are constants at every call: the inlined copies keep only the accumulators they use.
 * x, out: the input and output rows m; kb, nb: their strides in bytes.
 */
@inline function tile(
  W: i32,
  R: i32,
  out: usize,
  x: usize,
  w: usize,
  bias: usize,
  k: i32,
  j: i32,
  kb: usize,
  nb: usize,
): void {
  const k4 = k & ~3;
  const x0 = x;
  const x1 = x0 + kb;
  const x2 = x1 + kb;
  const x3 = x2 + kb;
  const w0 = w + <usize>j * kb;
  const w1 = w0 + kb;
  // accumulators: weight row r × input row s → a{r}{s}
  let a00 = f32x4.splat(0);
  let a01 = f32x4.splat(0);
  let a02 = f32x4.splat(0);
  let a03 = f32x4.splat(0);
  let a10 = f32x4.splat(0);
  let a11 = f32x4.splat(0);
  let a12 = f32x4.splat(0);
  let a13 = f32x4.splat(0);
  for (let i = 0; i < k4; i += 4) {
    const o = (<usize>i) << 2;
    const wa = v128.load(w0 + o);
    const wb = W > 1 ? v128.load(w1 + o) : wa;
    let xv = v128.load(x0 + o);
    a00 = fma(xv, wa, a00);
    if (W > 1) a10 = fma(xv, wb, a10);
    if (R > 1) {
      xv = v128.load(x1 + o);
      a01 = fma(xv, wa, a01);
      if (W > 1) a11 = fma(xv, wb, a11);
    }
    if (R > 2) {
      xv = v128.load(x2 + o);
      a02 = fma(xv, wa, a02);
      if (W > 1) a12 = fma(xv, wb, a12);
      xv = v128.load(x3 + o);
      a03 = fma(xv, wa, a03);
      if (W > 1) a13 = fma(xv, wb, a13);
    }
  }
  // sums, tails, bias → out[m…m+R-1, j], out[m…m+R-1, j+1]
  finish(a00, x0, w0, k4, k, bias, j, out);
  if (R > 1) finish(a01, x1, w0, k4, k, bias, j, out + nb);
  if (R > 2) {
    finish(a02, x2, w0, k4, k, bias, j, out + 2 * nb);
    finish(a03, x3, w0, k4, k, bias, j, out + 3 * nb);
  }
  if (W > 1) {
    finish(a10, x0, w1, k4, k, bias, j + 1, out);
    if (R > 1) finish(a11, x1, w1, k4, k, bias, j + 1, out + nb);
    if (R > 2) {
      finish(a12, x2, w1, k4, k, bias, j + 1, out + 2 * nb);
      finish(a13, x3, w1, k4, k, bias, j + 1, out + 3 * nb);
    }
  }
}

/**
 * out[m, j] = Σ_i x[m, i] · W[j, i] (+ bias[j]) for m in [0, rows), j in [j0, j1): x [rows, k] and out
 * [rows, n] row-major, W [n, k] row-major (as placed), bias [n] or 0. Any rows ≥ 1, n, k (the tails run
 * the narrower tiles); threads take ranges of j.
 */
export function matmulF32Rows(
  out: usize,
  x: usize,
  w: usize,
  bias: usize,
  rows: i32,
  n: i32,
  k: i32,
  j0: i32,
  j1: i32,
): void {
  const kb = (<usize>k) << 2;
  const nb = (<usize>n) << 2;
  const r4 = rows & ~3;
  const left = rows - r4;
  const ol = out + <usize>r4 * nb;
  const xl = x + <usize>r4 * kb;
  let j = j0;
  // pairs of weight rows, each against every input row four at a time (then the last 1-3: 2 + 1)
  for (; j + 2 <= j1; j += 2) {
    if ((j - j0) % TOUCH_ROWS == 0) touch(w + <usize>j * kb, <usize>imin(TOUCH_ROWS, j1 - j) * kb, out + <usize>j * 4);
    for (let m = 0; m < r4; m += 4) tile(2, 4, out + <usize>m * nb, x + <usize>m * kb, w, bias, k, j, kb, nb);
    if (left >= 2) tile(2, 2, ol, xl, w, bias, k, j, kb, nb);
    if (left & 1) tile(2, 1, ol + <usize>(left - 1) * nb, xl + <usize>(left - 1) * kb, w, bias, k, j, kb, nb);
  }
  // an odd last weight row
  if (j < j1) {
    for (let m = 0; m < r4; m += 4) tile(1, 4, out + <usize>m * nb, x + <usize>m * kb, w, bias, k, j, kb, nb);
    if (left >= 2) tile(1, 2, ol, xl, w, bias, k, j, kb, nb);
    if (left & 1) tile(1, 1, ol + <usize>(left - 1) * nb, xl + <usize>(left - 1) * kb, w, bias, k, j, kb, nb);
  }
}
