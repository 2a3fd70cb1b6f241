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
// The 1-3 input rows left after the groups of four (all of them at 2 or 3 sequences) go over one weight row
// at a time instead (rowsLeft): the weights then stream front to back as one sequence, which the
// hardware prefetcher follows best, where the 2 × 2 tile read two rows side by side. GPT-2 124M, one
// thread, CPU ms per decode step: 2 sequences 35-37 → 27-28, 3 sequences 47-49 → 33-35 (one sequence
// 20-22, four 41-45). Tried and dropped: four input rows the same way (eight accumulators: 70-80 ms, or
// two pairs: 48-50), and the inputs packed in blocks with the next weight rows touched inside the tile
// loop (no better at four rows, worse at eight).
//
// Which two rows. The pair is rows j and j + h of the thread's range (h = half of it), not j and j + 1: the
// weights then stream from memory as two long front-to-back streams, which the hardware prefetcher follows
// while the tile computes, where adjacent pairs start a new 3-12 KB stream every pair (and needed the
// weight rows touched into cache first, a read that waited and then a compute that did not read:
// serialized). One thread, 4 rows, each call a cold matrix (40 copies in turn), µs per call, adjacent
// pairs + touch → split halves: 2304×768 555 → 325 (12.7 → 21.7 GB/s, one row streams at 26), 3072×768
// 700 → 440, 768×3072 680 → 685 (rows of 12 KB: no gain — four input rows of 3072 values are all of
// L1; placed in slabs of 512 columns since, 711 → 419-449: kernels.ts, the f32 layout), LM head
// 50257×768 11.3 → 7.0 ms (its read alone ~6.7). GPT-2 124M forwardBatch of 4 sequences, one thread: 45.3 → 35.7 CPU ms/step.
// Tried and dropped with it: four streams (pairs from four quarters: 325 → 455 µs), one weight row × four
// inputs with eight accumulators (one stream; load-bound: 325 → 860), for k = 3072 a 2 × 2 tile that keeps
// the inputs in L1 (685 → 920) or the inputs packed into one stream (685 → 660).

import { fma, hsum, imin } from './simd';

/**
 * One output: the lanes' sum, the scalar tail (values k4..k-1), the bias; stored at out + 4·(m·n + j) —
 * or, with `add` (a slab after the first), added to what is there.
 */
@inline function finish(
  acc: v128,
  x: usize,
  w: usize,
  k4: i32,
  k: i32,
  bias: usize,
  j: i32,
  op: usize,
  add: bool,
): void {
  let s = hsum(acc);
  for (let i = k4; i < k; i++) s += load<f32>(x + ((<usize>i) << 2)) * load<f32>(w + ((<usize>i) << 2));
  const p = op + ((<usize>j) << 2);
  if (add) s += load<f32>(p);
  else if (bias) s += load<f32>(bias + ((<usize>j) << 2));
  store<f32>(p, s);
}

/**
 * One weight row (at wr, output j) × R = 1, 2 or 3 input rows (x0, x0 + kb, …) → out[0…R-1, j] (op,
 * op + nb, …): eight values per turn, two weight loads and 2R input loads into 2R accumulators. R is a
 * constant at every call (the inlined copies keep the accumulators they use).
 */
@inline function rowGroup(R: i32, op: usize, x0: usize, wr: usize, bias: usize, k: i32, j: i32, kb: usize, nb: usize, add: bool): void {
  const k4 = k & ~3;
  const k8 = k & ~7;
  const x1 = x0 + kb;
  const x2 = x1 + kb;
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let b0 = f32x4.splat(0);
  let b1 = f32x4.splat(0);
  let b2 = f32x4.splat(0);
  let i = 0;
  if (R == 1) {
    // one input row: sixteen values per turn into four accumulators, so that four chains of multiply-adds
    // are in flight instead of two (with two, each turn waits on the adds' latency). GPT-2 124M
    // forwardBatch of 5 sequences (the fifth runs here), one thread: 63-77 → 47-51 CPU ms/step. Two input
    // rows the same way (eight accumulators, twelve loads a turn) made 2 sequences 27 → 44.
    const k16 = k & ~15;
    let c0 = f32x4.splat(0);
    let d0 = f32x4.splat(0);
    for (; i < k16; i += 16) {
      const o = (<usize>i) << 2;
      a0 = fma(v128.load(x0 + o), v128.load(wr + o), a0);
      b0 = fma(v128.load(x0 + o, 16), v128.load(wr + o, 16), b0);
      c0 = fma(v128.load(x0 + o, 32), v128.load(wr + o, 32), c0);
      d0 = fma(v128.load(x0 + o, 48), v128.load(wr + o, 48), d0);
    }
    a0 = f32x4.add(a0, c0);
    b0 = f32x4.add(b0, d0);
  }
  for (; i < k8; i += 8) {
    const o = (<usize>i) << 2;
    const wa = v128.load(wr + o);
    const wb = v128.load(wr + o, 16);
    a0 = fma(v128.load(x0 + o), wa, a0);
    if (R > 1) a1 = fma(v128.load(x1 + o), wa, a1);
    if (R > 2) a2 = fma(v128.load(x2 + o), wa, a2);
    b0 = fma(v128.load(x0 + o, 16), wb, b0);
    if (R > 1) b1 = fma(v128.load(x1 + o, 16), wb, b1);
    if (R > 2) b2 = fma(v128.load(x2 + o, 16), wb, b2);
  }
  if (i < k4) {
    const o = (<usize>i) << 2;
    const wa = v128.load(wr + o);
    a0 = fma(v128.load(x0 + o), wa, a0);
    if (R > 1) a1 = fma(v128.load(x1 + o), wa, a1);
    if (R > 2) a2 = fma(v128.load(x2 + o), wa, a2);
  }
  finish(f32x4.add(a0, b0), x0, wr, k4, k, bias, j, op, add);
  if (R > 1) finish(f32x4.add(a1, b1), x1, wr, k4, k, bias, j, op + nb, add);
  if (R > 2) finish(f32x4.add(a2, b2), x2, wr, k4, k, bias, j, op + 2 * nb, add);
}

/** The 1-3 input rows left after the groups of four against weight row j (at wr). */
function rowsLeft(left: i32, op: usize, x: usize, wr: usize, bias: usize, k: i32, j: i32, kb: usize, nb: usize, add: bool): void {
  if (left == 3) rowGroup(3, op, x, wr, bias, k, j, kb, nb, add);
  else if (left == 2) rowGroup(2, op, x, wr, bias, k, j, kb, nb, add);
  else if (left == 1) rowGroup(1, op, x, wr, bias, k, j, kb, nb, add);
}

/**
 * The tile: W weight rows (j, jb; W = 2 or 1) × four input rows (m…m+3), all k values. W is a constant
 * at every call: the inlined copies keep only the accumulators they use.
 * x, out: the input and output rows m; kb, nb: their strides in bytes; k values of rows ws bytes apart
 * from w (a slab: k its width); add: into out (a slab after the first).
 */
@inline function tile(
  W: i32,
  out: usize,
  x: usize,
  w: usize,
  bias: usize,
  k: i32,
  j: i32,
  jb: i32,
  kb: usize,
  nb: usize,
  ws: usize,
  add: bool,
): void {
  const k4 = k & ~3;
  const x0 = x;
  const x1 = x0 + kb;
  const x2 = x1 + kb;
  const x3 = x2 + kb;
  const w0 = w + <usize>j * ws;
  const w1 = w + <usize>jb * ws;
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
    xv = v128.load(x1 + o);
    a01 = fma(xv, wa, a01);
    if (W > 1) a11 = fma(xv, wb, a11);
    xv = v128.load(x2 + o);
    a02 = fma(xv, wa, a02);
    if (W > 1) a12 = fma(xv, wb, a12);
    xv = v128.load(x3 + o);
    a03 = fma(xv, wa, a03);
    if (W > 1) a13 = fma(xv, wb, a13);
  }
  // sums, tails, bias → out[m…m+3, j], out[m…m+3, j+1]
  finish(a00, x0, w0, k4, k, bias, j, out, add);
  finish(a01, x1, w0, k4, k, bias, j, out + nb, add);
  finish(a02, x2, w0, k4, k, bias, j, out + 2 * nb, add);
  finish(a03, x3, w0, k4, k, bias, j, out + 3 * nb, add);
  if (W > 1) {
    finish(a10, x0, w1, k4, k, bias, jb, out, add);
    finish(a11, x1, w1, k4, k, bias, jb, out + nb, add);
    finish(a12, x2, w1, k4, k, bias, jb, out + 2 * nb, add);
    finish(a13, x3, w1, k4, k, bias, jb, out + 3 * nb, add);
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
  slab: i32,
): void {
  const kb = (<usize>k) << 2;
  const nb = (<usize>n) << 2;
  const r4 = rows & ~3;
  const left = rows - r4;
  const ol = out + <usize>r4 * nb;
  // slab by slab (one slab, the whole row, unless k > F32_SLAB_FROM_K): rows of `len` values at ws
  for (let kk = 0; kk < k; kk += slab) {
    const len = imin(slab, k - kk);
    const ws = w + <usize>kk * nb;
    const rb = (<usize>len) << 2;
    const xs = x + ((<usize>kk) << 2);
    const xl = xs + <usize>r4 * kb;
    const add = kk > 0;
    let j = j0;
    if (r4 == 0) {
      // 2 or 3 input rows: one weight row at a time, a single stream
      for (; j < j1; j++) rowsLeft(left, ol, xl, ws + <usize>j * rb, bias, len, j, kb, nb, add);
      continue;
    }
    // pairs of weight rows j and j + h, the two halves of the range side by side, against four input
    // rows at a time; a group of four input rows goes over all the pairs before the next group starts
    // (the last 1-3 input rows, row by row, with the last group). So at 8 or 12 rows the weights stream
    // from memory once per group: all the groups against one pair in turn (the pair re-read from L1)
    // left the memory idle during the later groups, and the prefetcher did not run ahead to cover it.
    // One thread, cold 3072×768 (a standalone copy): 8 rows 1188-1198 → 871-877 µs, 4 rows 444-451.
    const h = (j1 - j0) >> 1;
    for (let m = 0; m < r4; m += 4) {
      const last = m + 4 == r4;
      for (j = j0; j < j0 + h; j++) {
        tile(2, out + <usize>m * nb, xs + <usize>m * kb, ws, bias, len, j, j + h, kb, nb, rb, add);
        if (last && left > 0) {
          rowsLeft(left, ol, xl, ws + <usize>j * rb, bias, len, j, kb, nb, add);
          rowsLeft(left, ol, xl, ws + <usize>(j + h) * rb, bias, len, j + h, kb, nb, add);
        }
      }
    }
    // an odd last weight row
    j = j0 + 2 * h;
    if (j < j1) {
      for (let m = 0; m < r4; m += 4)
        tile(1, out + <usize>m * nb, xs + <usize>m * kb, ws, bias, len, j, j, kb, nb, rb, add);
      rowsLeft(left, ol, xl, ws + <usize>j * rb, bias, len, j, kb, nb, add);
    }
  }
}
