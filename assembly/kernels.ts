// glasslm's fast kernels: AssemblyScript compiled to WebAssembly with 128-bit SIMD (v128, f32x4...).
// Built by scripts/build-wasm.mjs (`npm run build`) into src/tensor/wasm/kernels*.wasm; driven by
// src/tensor/wasm/backend.ts, which owns the memory: every argument below is a byte offset into linear
// memory (the JS side allocates, this module never does), so the same code runs single-threaded on a
// plain memory or from several workers on one shared memory, each given its own range of output rows.
//
// Semantics are those of the reference backend (src/tensor/reference/kernels.ts); sums run in float32
// with several independent accumulators.

// ---------------------------------------------------------------------------------------------------
// helpers

import { absMax32, fma, hsum, imin } from './simd';
import { softcapRow, windowStart } from './score-terms';

@inline function ldf(p: usize): f32 {
  return load<f32>(p);
}

/**
 * e^x on four lanes (Cephes expf: range reduction by ln 2, degree-6 polynomial; ~1 ulp). The integer n =
 * round(x·log2 e) comes from adding 1.5·2^23 + 127: the sum's low mantissa bits are then n + 127, which a
 * shift by 23 makes the exponent of 2^n — where trunc_sat_f32x4_s (V8: ~8 instructions on x64, to
 * saturate and zero NaN) and a separate rounding took ten. geluTanh / silu / geluErf on 12288 values
 * (GPT-2's MLP at four rows), one thread, ns per value: 2.40 / 2.06 / 2.84 → 2.25 / 1.93 / 2.74 with
 * this, → 1.49 / 1.27 / 2.00 with the clamps below.
 */
@inline function expv(x0: v128): v128 {
  // clamped with pmin / pmax (one minps / maxps each; min / max are ~6 instructions for NaN and −0 rules
  // that the clamp does not need: a NaN still comes out NaN)
  let x = f32x4.pmin(x0, f32x4.splat(88.0));
  x = f32x4.pmax(x, f32x4.splat(-87.33));
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), f32x4.splat(12583039.0)); // n + 127 in its low bits
  const fx = f32x4.sub(t, f32x4.splat(12583039.0)); // n, as a float
  let r = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(y, r), r), r), f32x4.splat(1.0));
  const p2 = i32x4.shl(t, 23); // 2^n: n + 127 (1..254) into the exponent, the rest shifted out
  return f32x4.mul(y, p2);
}

/** e^x for one value, through the same polynomial (so scalar tails match the vector lanes). */
@inline function exps(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}

// Q4_0 / Q4_K / Q5_K / Q6_K weights kept in ggml's blocks (matmulQuant, matmulQuantBatched).
export * from './kquants';

export function heapBase(): usize {
  return __heap_base;
}

// ---------------------------------------------------------------------------------------------------
// matmul, float32 weights: out[m, j] = Σ_i x[m, i] · W[j, i] (+ bias[j]) for j in [j0, j1)
//
// Layout of a placed matrix (f32Slab in src/tensor/wasm/matrices.ts): row-major when its rows are at
// most F32_SLAB_FROM_K values long; longer rows are cut into slabs of KC columns, each slab all n rows of
// its columns, row-major: value i of row j at w + 4·(n·s + j·len + i - s), s = i - i mod KC, len the
// slab's width (KC, or what is left for the last). A kernel then takes the slabs in turn, each a
// contiguous stream with short rows. What that buys, one thread, GPT-2's fc2 (768 × 3072) from memory
// (40 cold copies in turn, a standalone copy of the kernels): four input rows (continuous batching)
// 711-735 → 419-449 µs — four rows of 3072 values are 48 KB, all of L1, and the inputs were re-read
// from L2 for every pair of weight rows; a slab's 4 × 2 KB stay in L1 — and one input row 353-418 →
// 249-271 µs (two rows of a slab side by side, where rows of 3072 ran one at a time). Prefill's panels
// (packPanels) read a slab's KC columns of BATCH_ROWS rows as one contiguous run instead of strided.

/**
 * One input row against weight rows [j0, j1): four weight rows at a time, eight lanes of k per step
 * (rows shorter than STREAM_K; longer ones go to gemvF32Stream). kb: bytes from one weight row to the
 * next (4k for a matrix; decode attention's keys, the rows of a KV cache, are further apart).
 * Multiply then add, not fma(): memory-bound, and measured ~8% faster than the fused form here.
 */
function gemvF32(out: usize, x: usize, w: usize, bias: usize, k: i32, j0: i32, j1: i32, kb: usize, add: bool = false): void {
  const k8 = k & ~7;
  const k4 = k & ~3;
  let j = j0;
  for (; j + 4 <= j1; j += 4) {
    const w0 = w + <usize>j * kb;
    const w1 = w0 + kb;
    const w2 = w1 + kb;
    const w3 = w2 + kb;
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0);
    let b1 = f32x4.splat(0);
    let b2 = f32x4.splat(0);
    let b3 = f32x4.splat(0);
    let i = 0;
    for (; i < k8; i += 8) {
      const o = (<usize>i) << 2;
      const xa = v128.load(x + o);
      const xb = v128.load(x + o, 16);
      a0 = f32x4.add(a0, f32x4.mul(xa, v128.load(w0 + o)));
      b0 = f32x4.add(b0, f32x4.mul(xb, v128.load(w0 + o, 16)));
      a1 = f32x4.add(a1, f32x4.mul(xa, v128.load(w1 + o)));
      b1 = f32x4.add(b1, f32x4.mul(xb, v128.load(w1 + o, 16)));
      a2 = f32x4.add(a2, f32x4.mul(xa, v128.load(w2 + o)));
      b2 = f32x4.add(b2, f32x4.mul(xb, v128.load(w2 + o, 16)));
      a3 = f32x4.add(a3, f32x4.mul(xa, v128.load(w3 + o)));
      b3 = f32x4.add(b3, f32x4.mul(xb, v128.load(w3 + o, 16)));
    }
    for (; i < k4; i += 4) {
      const o = (<usize>i) << 2;
      const xa = v128.load(x + o);
      a0 = f32x4.add(a0, f32x4.mul(xa, v128.load(w0 + o)));
      a1 = f32x4.add(a1, f32x4.mul(xa, v128.load(w1 + o)));
      a2 = f32x4.add(a2, f32x4.mul(xa, v128.load(w2 + o)));
      a3 = f32x4.add(a3, f32x4.mul(xa, v128.load(w3 + o)));
    }
    let s0 = hsum(f32x4.add(a0, b0));
    let s1 = hsum(f32x4.add(a1, b1));
    let s2 = hsum(f32x4.add(a2, b2));
    let s3 = hsum(f32x4.add(a3, b3));
    for (; i < k; i++) {
      const o = (<usize>i) << 2;
      const xv = ldf(x + o);
      s0 += xv * ldf(w0 + o);
      s1 += xv * ldf(w1 + o);
      s2 += xv * ldf(w2 + o);
      s3 += xv * ldf(w3 + o);
    }
    finishRow(out, bias, j, s0, add);
    finishRow(out, bias, j + 1, s1, add);
    finishRow(out, bias, j + 2, s2, add);
    finishRow(out, bias, j + 3, s3, add);
  }
  for (; j < j1; j++) {
    const w0 = w + <usize>j * kb;
    let a0 = f32x4.splat(0);
    let i = 0;
    for (; i < k4; i += 4) {
      const o = (<usize>i) << 2;
      a0 = f32x4.add(a0, f32x4.mul(v128.load(x + o), v128.load(w0 + o)));
    }
    let s0 = hsum(a0);
    for (; i < k; i++) s0 += ldf(x + ((<usize>i) << 2)) * ldf(w0 + ((<usize>i) << 2));
    finishRow(out, bias, j, s0, add);
  }
}

/** out[j] = s + bias[j] (or + 0), or with `add` (a slab after the first) out[j] += s. */
@inline function finishRow(out: usize, bias: usize, j: i32, s: f32, add: bool): void {
  const op = out + ((<usize>j) << 2);
  if (add) s += ldf(op);
  else if (bias) s += ldf(bias + ((<usize>j) << 2));
  store<f32>(op, s);
}

/**
 * gemvF32 for long rows: weight rows j and j + h (h = half the range) side by side, each read front to
 * back, so the matrix streams from memory as two long sequential runs, which the hardware prefetcher
 * follows; x stays in L1 and each of its loads serves both rows. Measured one thread, each call a cold
 * matrix (Zen 5): the rows one at a time (one stream) 2304×768 256-263 µs, LM head 50257×768 5.6 ms;
 * two rows side by side, adjacent (j, j + 1) 526-533 µs; j and j + h 228-231 µs and 5.0 ms — the rate of
 * a plain read of the same bytes (238-241 µs, 4.8-4.9 ms; all in one process, interleaved). Through the
 * backend, separate processes on a noisy host: 2304×768 271-283 → 248-263 µs and the LM head 5.4-5.9 →
 * 4.8 ms in one pair of runs, within noise in the next; GPT-2 decode on one thread, medians of three
 * alternating runs, 23.8-24.7 → 22.9-24.0 ms per token. GPT-2's fc2 (rows of 3072) measured slower in
 * pairs (386-405 → 418-425 µs), so rows of PAIR_MAX_K and more stay one at a time (since then placed in
 * slabs of 512 columns, whose rows go in pairs; a matrix back in row-major, see matrices.ts, still may).
 * For very short rows (under STREAM_K: tiny models, whose weights sit in cache) the per-row sums cost
 * more: gemvF32 keeps those.
 */
function gemvF32Stream(out: usize, x: usize, w: usize, bias: usize, k: i32, j0: i32, j1: i32, add: bool): void {
  const kb = (<usize>k) << 2;
  const h = k < PAIR_MAX_K ? (j1 - j0) >> 1 : 0;
  for (let j = j0; j < j0 + h; j++) streamRows(2, out, x, w, bias, k, j, j + h, kb, add);
  // the rows left (an odd last one; all of them for rows of PAIR_MAX_K and more), one at a time
  for (let j = j0 + 2 * h; j < j1; j++) streamRows(1, out, x, w, bias, k, j, j, kb, add);
}

/**
 * gemvF32Stream's step: weight row j (R = 1), or rows j and jb side by side (R = 2), against x, all k
 * values, each x load serving both rows. R is a constant at every call: the inlined copies keep only the
 * accumulators they use.
 */
@inline function streamRows(R: i32, out: usize, x: usize, w: usize, bias: usize, k: i32, j: i32, jb: i32, kb: usize, add: bool): void {
  const k16 = k & ~15;
  const k4 = k & ~3;
  const w0 = w + <usize>j * kb;
  const w1 = w + <usize>jb * kb;
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0);
  let b1 = f32x4.splat(0);
  let b2 = f32x4.splat(0);
  let b3 = f32x4.splat(0);
  let i = 0;
  for (; i < k16; i += 16) {
    const o = (<usize>i) << 2;
    let xv = v128.load(x + o);
    a0 = f32x4.add(a0, f32x4.mul(xv, v128.load(w0 + o)));
    if (R == 2) b0 = f32x4.add(b0, f32x4.mul(xv, v128.load(w1 + o)));
    xv = v128.load(x + o, 16);
    a1 = f32x4.add(a1, f32x4.mul(xv, v128.load(w0 + o, 16)));
    if (R == 2) b1 = f32x4.add(b1, f32x4.mul(xv, v128.load(w1 + o, 16)));
    xv = v128.load(x + o, 32);
    a2 = f32x4.add(a2, f32x4.mul(xv, v128.load(w0 + o, 32)));
    if (R == 2) b2 = f32x4.add(b2, f32x4.mul(xv, v128.load(w1 + o, 32)));
    xv = v128.load(x + o, 48);
    a3 = f32x4.add(a3, f32x4.mul(xv, v128.load(w0 + o, 48)));
    if (R == 2) b3 = f32x4.add(b3, f32x4.mul(xv, v128.load(w1 + o, 48)));
  }
  for (; i < k4; i += 4) {
    const o = (<usize>i) << 2;
    const xv = v128.load(x + o);
    a0 = f32x4.add(a0, f32x4.mul(xv, v128.load(w0 + o)));
    if (R == 2) b0 = f32x4.add(b0, f32x4.mul(xv, v128.load(w1 + o)));
  }
  let s0 = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  let s1 = R == 2 ? hsum(f32x4.add(f32x4.add(b0, b1), f32x4.add(b2, b3))) : <f32>0;
  for (; i < k; i++) {
    const o = (<usize>i) << 2;
    const xv = ldf(x + o);
    s0 += xv * ldf(w0 + o);
    if (R == 2) s1 += xv * ldf(w1 + o);
  }
  finishRow(out, bias, j, s0, add);
  if (R == 2) finishRow(out, bias, jb, s1, add);
}

/** Row length from which gemvF32Stream reads one weight row at a time instead of two side by side. */
const PAIR_MAX_K: i32 = 2048;

/**
 * Row length from which a matrix-vector product reads one weight row at a time (gemvF32Stream). 512 kept
 * stories15M (rows of 288 and 768, 60 MB of weights: not in cache) on gemvF32's four rows side by side:
 * 3.3-3.5 ms per decoded token on one thread, 2.0 streamed (1.7-1.9 → 1.5 on two).
 */
const STREAM_K: i32 = 128;

/** out[m, j] for every m, j in [j0, j1); one input row at a time (decode), or rows < 4. */
export function matmulF32(
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
  // Several rows (batched decoding: one per sequence) go over the weights a block of 32 rows at a time,
  // every input row against the block while it is in cache, so the weights stream from memory once, not
  // once per input row (as matmulQ8 does).
  const BLK: i32 = rows == 1 ? j1 - j0 : 32;
  // slab by slab (one slab, the whole row, unless k > F32_SLAB_FROM_K): the slab's rows are `len` long
  for (let kk = 0; kk < k; kk += slab) {
    const len = imin(slab, k - kk);
    const ws = w + <usize>kk * nb;
    const xs = x + ((<usize>kk) << 2);
    const add = kk > 0;
    for (let jb = j0; jb < j1; jb += BLK) {
      const je = imin(jb + BLK, j1);
      for (let m = 0; m < rows; m++) {
        const om = out + <usize>m * nb;
        const xm = xs + <usize>m * kb;
        if (len >= STREAM_K) gemvF32Stream(om, xm, ws, bias, len, jb, je, add);
        else gemvF32(om, xm, ws, bias, len, jb, je, (<usize>len) << 2, add);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// the batched (prefill) matmul: a 4 × 8 register tile of outer products
//
// Both operands are repacked so that the inner loop reads each one front to back with constant offsets:
//   x → xp: input rows in groups of four, interleaved value by value ([m/4][k][4], packRows4, once per
//           call by the caller; missing rows of the last group are zeros);
//   W → panels of eight weight rows, interleaved value by value ([k][8]), made per cache block of BATCH_ROWS
//           rows in the calling thread's own scratch (packPanels; the weights themselves stay row-major,
//           as the rest of the engine reads them).
// Each step of k then loads 8 weights (two v128) and 4 inputs (four splats) for 8 multiply-adds into
// 8 accumulators that hold the 4 × 8 outputs: no horizontal sums, and with relaxed SIMD each
// multiply-add is one fused instruction.

/** 4 × 4 transpose of the float32 rows at a, b, c, d (16 bytes each) into four v128 stored at dst + 16·i. */
@inline function transpose4(a: v128, b: v128, c: v128, d: v128, dst: usize, stride: usize): void {
  const t0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(c, d, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<i64>(t0, t2, 0, 2));
  v128.store(dst + stride, v128.shuffle<i64>(t0, t2, 1, 3));
  v128.store(dst + 2 * stride, v128.shuffle<i64>(t1, t3, 0, 2));
  v128.store(dst + 3 * stride, v128.shuffle<i64>(t1, t3, 1, 3));
}

/**
 * Rows [r0, r0 + 4) of src (row stride rs bytes; only `have` of them real: the rest read as zeros), values
 * [0, len), interleaved into dst: value i of row r at dst + i·stride + 4·r. stride 16 for packRows4, 32
 * for a panel half.
 */
function interleave4(dst: usize, src: usize, r0: i32, have: i32, len: i32, rs: usize, stride: usize): void {
  const p0 = src + <usize>r0 * rs;
  if (have >= 4) {
    const l4 = len & ~3;
    let i = 0;
    for (; i < l4; i += 4) {
      const o = (<usize>i) << 2;
      transpose4(
        v128.load(p0 + o),
        v128.load(p0 + rs + o),
        v128.load(p0 + 2 * rs + o),
        v128.load(p0 + 3 * rs + o),
        dst + <usize>i * stride,
        stride,
      );
    }
    for (; i < len; i++) {
      const o = (<usize>i) << 2;
      const d = dst + <usize>i * stride;
      store<f32>(d, ldf(p0 + o));
      store<f32>(d, ldf(p0 + rs + o), 4);
      store<f32>(d, ldf(p0 + 2 * rs + o), 8);
      store<f32>(d, ldf(p0 + 3 * rs + o), 12);
    }
    return;
  }
  for (let i = 0; i < len; i++) {
    const d = dst + <usize>i * stride;
    v128.store(d, f32x4.splat(0));
    for (let r = 0; r < have; r++) store<f32>(d + ((<usize>r) << 2), ldf(p0 + <usize>r * rs + ((<usize>i) << 2)));
  }
}

/** x[rows, k] → xp[ceil(rows/4)][k][4] (the input side of the tile; missing rows zero). */
export function packRows4(x: usize, rows: i32, k: i32, xp: usize): void {
  const gb = (<usize>k) << 4;
  for (let m = 0; m < rows; m += 4) interleave4(xp + <usize>(m >> 2) * gb, x, m, rows - m, k, (<usize>k) << 2, 16);
}

/**
 * The same packing from x stored transposed, as [k, rows] (value i of row m at x + 4·(i·rows + m)): each
 * group's four values per i are contiguous there (training's dW = dyᵀ·x reads dy this way).
 */
export function packCols4(x: usize, rows: i32, k: i32, xp: usize): void {
  const gb = (<usize>k) << 4;
  const rs = (<usize>rows) << 2;
  for (let m = 0; m < rows; m += 4) {
    const dst = xp + <usize>(m >> 2) * gb;
    const have = rows - m;
    let src = x + ((<usize>m) << 2);
    for (let i = 0; i < k; i++) {
      const d = dst + ((<usize>i) << 4);
      if (have >= 4) v128.store(d, v128.load(src));
      else {
        v128.store(d, f32x4.splat(0));
        for (let r = 0; r < have; r++) store<f32>(d + ((<usize>r) << 2), ldf(src + ((<usize>r) << 2)));
      }
      src += rs;
    }
  }
}

/** Weight rows per block of the batched matmul (made into panels of 8 once, reused by every input row). */
export const BATCH_ROWS: i32 = 64;
/** Values of k per block of the batched matmul: a panel (8 × KC) and an input group (4 × KC) fit in L1. */
export const KC: i32 = 512;

/** Rows longer than this are placed in slabs of KC columns (see the f32 matmul's layout, above). */
export const F32_SLAB_FROM_K: i32 = 1024;

/**
 * Rows [jb, je) (≤ BATCH_ROWS), values [kk, kk + kc) of the row-major matrix w (row stride `stride`
 * values) → panels of 8 at pan: value i of row jb + 8p + r at pan + p·kc·32 + i·32 + 4·r (rows past je:
 * zeros). transposed: w is stored [k, …] instead (value i of row j at w + 4·(i·stride + j)), where each
 * panel's eight values per i are contiguous.
 */
export function packPanels(pan: usize, w: usize, jb: i32, je: i32, kk: i32, kc: i32, stride: i32, transposed: bool): void {
  const pb = (<usize>kc) << 5;
  if (transposed) {
    const ns = (<usize>stride) << 2;
    for (let j = jb; j < je; j += 8) {
      const have = je - j;
      let src = w + <usize>kk * ns + ((<usize>j) << 2);
      let d = pan + <usize>((j - jb) >> 3) * pb;
      for (let i = 0; i < kc; i++) {
        if (have >= 8) {
          v128.store(d, v128.load(src));
          v128.store(d, v128.load(src, 16), 16);
        } else {
          v128.store(d, f32x4.splat(0));
          v128.store(d, f32x4.splat(0), 16);
          for (let r = 0; r < have; r++) store<f32>(d + ((<usize>r) << 2), ldf(src + ((<usize>r) << 2)));
        }
        src += ns;
        d += 32;
      }
    }
    return;
  }
  const rs = (<usize>stride) << 2;
  const src = w + <usize>jb * rs + ((<usize>kk) << 2);
  for (let j = jb; j < je; j += 4) {
    const p = (j - jb) >> 3;
    const half = <usize>((j - jb) & 4) << 2;
    interleave4(pan + <usize>p * pb + half, src, j - jb, je - j, kc, rs, 32);
  }
  // a last panel's second half with no rows at all: zeros
  if (((je - jb) & 7) != 0 && ((je - jb) & 7) <= 4) {
    const p = (je - jb) >> 3;
    for (let i = 0; i < kc; i++) v128.store(pan + <usize>p * pb + ((<usize>i) << 5), f32x4.splat(0), 16);
  }
}

/**
 * out[m, j] (+)= Σ_{i in [kk, kk+kc)} x[m, i] · W[j, i] for all rows and j in [jb, je), from packed inputs
 * xp and the block's panels at pan. With `first` (the first k-block of a product that overwrites out) it
 * starts from the bias (or zero), else from what out holds. tmp: 128 bytes for partial tiles (the last
 * input group, a panel of fewer than 8 rows).
 */
export function panelTiles(
  out: usize,
  xp: usize,
  pan: usize,
  bias: usize,
  rows: i32,
  n: i32,
  k: i32,
  kk: i32,
  kc: i32,
  jb: i32,
  je: i32,
  tmp: usize,
  first: bool,
): void {
  const nb = (<usize>n) << 2;
  const gb = (<usize>k) << 4;
  const pb = (<usize>kc) << 5;
  for (let m = 0; m < rows; m += 4) {
    const xq = xp + <usize>(m >> 2) * gb + ((<usize>kk) << 4);
    const xe = xq + ((<usize>kc) << 4);
    const rs = imin(4, rows - m);
    for (let j = jb; j < je; j += 8) {
      const cols = imin(8, je - j);
      const full = cols == 8 && rs == 4;
      const op = out + <usize>m * nb + ((<usize>j) << 2);
      let c00 = f32x4.splat(0);
      let c01 = f32x4.splat(0);
      let c10 = f32x4.splat(0);
      let c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0);
      let c21 = f32x4.splat(0);
      let c30 = f32x4.splat(0);
      let c31 = f32x4.splat(0);
      if (full) {
        if (!first) {
          c00 = v128.load(op);
          c01 = v128.load(op, 16);
          c10 = v128.load(op + nb);
          c11 = v128.load(op + nb, 16);
          c20 = v128.load(op + 2 * nb);
          c21 = v128.load(op + 2 * nb, 16);
          c30 = v128.load(op + 3 * nb);
          c31 = v128.load(op + 3 * nb, 16);
        } else if (bias) {
          c00 = v128.load(bias + ((<usize>j) << 2));
          c01 = v128.load(bias + ((<usize>j) << 2), 16);
          c10 = c00;
          c11 = c01;
          c20 = c00;
          c21 = c01;
          c30 = c00;
          c31 = c01;
        }
      }
      let p = pan + <usize>((j - jb) >> 3) * pb;
      for (let q = xq; q < xe; q += 16) {
        const wa = v128.load(p);
        const wb = v128.load(p, 16);
        let xv = v128.load32_splat(q);
        c00 = fma(xv, wa, c00);
        c01 = fma(xv, wb, c01);
        xv = v128.load32_splat(q, 4);
        c10 = fma(xv, wa, c10);
        c11 = fma(xv, wb, c11);
        xv = v128.load32_splat(q, 8);
        c20 = fma(xv, wa, c20);
        c21 = fma(xv, wb, c21);
        xv = v128.load32_splat(q, 12);
        c30 = fma(xv, wa, c30);
        c31 = fma(xv, wb, c31);
        p += 32;
      }
      if (full) {
        v128.store(op, c00);
        v128.store(op, c01, 16);
        v128.store(op + nb, c10);
        v128.store(op + nb, c11, 16);
        v128.store(op + 2 * nb, c20);
        v128.store(op + 2 * nb, c21, 16);
        v128.store(op + 3 * nb, c30);
        v128.store(op + 3 * nb, c31, 16);
      } else {
        v128.store(tmp, c00);
        v128.store(tmp, c01, 16);
        v128.store(tmp, c10, 32);
        v128.store(tmp, c11, 48);
        v128.store(tmp, c20, 64);
        v128.store(tmp, c21, 80);
        v128.store(tmp, c30, 96);
        v128.store(tmp, c31, 112);
        for (let r = 0; r < rs; r++) {
          const o = op + <usize>r * nb;
          for (let c = 0; c < cols; c++) {
            const oc = o + ((<usize>c) << 2);
            const base: f32 = !first ? ldf(oc) : bias ? ldf(bias + ((<usize>(j + c)) << 2)) : 0;
            store<f32>(oc, base + ldf(tmp + ((<usize>(r * 8 + c)) << 2)));
          }
        }
      }
    }
  }
}

/** Bytes of per-thread scratch the batched kernels need: a block's panels, its expanded rows (Q8_0), tmp. */
export function batchedScratch(k: i32): i32 {
  return 2 * BATCH_ROWS * (imin(k, KC) << 2) + 128;
}

/**
 * matmulF32Batched's flags: W is stored transposed ([k, n]); add into out instead of overwriting it; W is
 * a placed matrix in slabs of KC columns (F32_SLAB_FROM_K, above: the value block kk is then the slab
 * at w + 4·n·kk, its rows kc values long).
 */
const W_TRANSPOSED: i32 = 1;
const ACCUMULATE: i32 = 2;
const W_SLABS: i32 = 4;

/**
 * The batched (prefill) f32 matmul: out[m, j] = Σ_i x[m, i] · W[j, i] (+ bias[j]) for all rows and j in
 * [j0, j1), from xp = packRows4(x) (or packCols4); blocks of BATCH_ROWS weight rows × KC values. scratch:
 * batchedScratch(k) bytes, this thread's. flags (training's products): W_TRANSPOSED, ACCUMULATE.
 */
export function matmulF32Batched(
  out: usize,
  xp: usize,
  w: usize,
  bias: usize,
  rows: i32,
  n: i32,
  k: i32,
  j0: i32,
  j1: i32,
  scratch: usize,
  flags: i32,
): void {
  const tmp = scratch + <usize>(2 * BATCH_ROWS * (imin(k, KC) << 2));
  const wt = (flags & W_TRANSPOSED) != 0;
  const acc = (flags & ACCUMULATE) != 0;
  const slabs = (flags & W_SLABS) != 0;
  for (let jb = j0; jb < j1; jb += BATCH_ROWS) {
    const je = imin(jb + BATCH_ROWS, j1);
    for (let kk = 0; kk < k; kk += KC) {
      const kc = imin(KC, k - kk);
      if (slabs) packPanels(scratch, w + <usize>kk * ((<usize>n) << 2), jb, je, 0, kc, kc, false);
      else packPanels(scratch, w, jb, je, kk, kc, wt ? n : k, wt);
      panelTiles(out, xp, scratch, bias, rows, n, k, kk, kc, jb, je, tmp, kk == 0 && !acc);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// matmul, Q8_0 weights (blocks of 32 int8 with one float32 scale), in one stream at w (made by the JS
// side when the matrix is placed: q8ToKernel in src/tensor/wasm/matrices.ts): row j's region starts at
// w + 36·j·(k/32); within a whole group of four rows, block b is 144 bytes at the group's start + 144·b —
// the four rows' 32 quants one after another, then their four float32 scales — so that a group is read
// front to back as one stream (the prefetcher's favourite; quants and scales as two streams measured ~10%
// slower from memory on one thread) and the four rows' scales of a block are one v128. Rows past the last
// whole group: per block, 32 quants then the scale (36 bytes).
//
// Activations are float32 at the interface. The kernel first rounds each block of 32 input values to
// 16-bit integers with their own scale (quantizeX16: |error| ≤ 2⁻¹⁶ of the block's largest value, well
// under what Q8_0 weights already lose), so that the inner loop is integer: i8 weights widened to i16,
// i32x4.dot_i16x8_s, one float multiply-add per block.

/** x[rows, k] float32 → xq[rows, k] int16 + xs[rows, k/32] float32 scales (k a multiple of 32). */
export function quantizeX16(x: usize, rows: i32, k: i32, xq: usize, xs: usize): void {
  const nb = (rows * k) >> 5;
  for (let b = 0; b < nb; b++) {
    const p = x + ((<usize>b) << 7);
    const amax = absMax32(p);
    const d: f32 = amax / 32767.0;
    const id = f32x4.splat(d != 0 ? <f32>1.0 / d : <f32>0.0);
    store<f32>(xs + ((<usize>b) << 2), d);
    const q = xq + ((<usize>b) << 6);
    for (let u = 0; u < 4; u++) {
      const o = (<usize>u) << 5;
      const lo = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p + o), id)));
      const hi = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p + o, 16), id)));
      v128.store(q + ((<usize>u) << 4), i16x8.narrow_i32x4_s(lo, hi));
    }
  }
}

/** Σ over one block of 32: w (int8) · x (int16), as four i32 lanes. */
@inline function dotBlock(wp: usize, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const wa = v128.load(wp);
  const wb = v128.load(wp, 16);
  let s = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(wa), x0);
  s = i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(wa), x1));
  s = i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(wb), x2));
  return i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(wb), x3));
}

/** [Σ lanes of a, Σ lanes of b, Σ lanes of c, Σ lanes of d], lanes of type T (i32 or f32). */
@inline function reduce4<T>(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = v128.add<T>(v128.shuffle<T>(a, b, 0, 4, 1, 5), v128.shuffle<T>(a, b, 2, 6, 3, 7));
  const cd = v128.add<T>(v128.shuffle<T>(c, d, 0, 4, 1, 5), v128.shuffle<T>(c, d, 2, 6, 3, 7));
  return v128.add<T>(v128.shuffle<i64>(ab, cd, 0, 2), v128.shuffle<i64>(ab, cd, 1, 3));
}

/**
 * out[m, j] for j in [j0, j1) from the quantized input (xq, xs from quantizeX16) and the weights at w (the
 * layout above). j0 must be a multiple of 4 (threads split on groups).
 */
export function matmulQ8(
  out: usize,
  xq: usize,
  xs: usize,
  w: usize,
  bias: usize,
  rows: i32,
  n: i32,
  k: i32,
  j0: i32,
  j1: i32,
): void {
  const nblk = k >> 5;
  const rb = <usize>nblk * 36; // bytes per weight row
  const xsb = (<usize>nblk) << 2; // scale bytes per input row
  const nb = (<usize>n) << 2;
  const groupEnd = n & ~3;
  const BLK: i32 = rows == 1 ? j1 - j0 : 32;
  for (let jb = j0; jb < j1; jb += BLK) {
    const je = imin(jb + BLK, j1);
    for (let m = 0; m < rows; m++) {
      const xqm = xq + <usize>m * ((<usize>k) << 1);
      const xsm = xs + <usize>m * xsb;
      const om = out + <usize>m * nb;
      let j = jb;
      for (; j + 4 <= je && j < groupEnd; j += 4) {
        let gp = w + <usize>j * rb;
        let acc = f32x4.splat(0);
        for (let b = 0; b < nblk; b++) {
          const xp = xqm + ((<usize>b) << 6);
          const x0 = v128.load(xp);
          const x1 = v128.load(xp, 16);
          const x2 = v128.load(xp, 32);
          const x3 = v128.load(xp, 48);
          const r = reduce4<i32>(
            dotBlock(gp, x0, x1, x2, x3),
            dotBlock(gp + 32, x0, x1, x2, x3),
            dotBlock(gp + 64, x0, x1, x2, x3),
            dotBlock(gp + 96, x0, x1, x2, x3),
          );
          const d = f32x4.mul(v128.load(gp, 128), f32x4.splat(ldf(xsm + ((<usize>b) << 2))));
          acc = fma(f32x4.convert_i32x4_s(r), d, acc);
          gp += 144;
        }
        if (bias) acc = f32x4.add(acc, v128.load(bias + ((<usize>j) << 2)));
        v128.store(om + ((<usize>j) << 2), acc);
      }
      for (; j < je; j++) {
        let bp = w + <usize>j * rb;
        let a0 = f32x4.splat(0);
        for (let b = 0; b < nblk; b++) {
          const xp = xqm + ((<usize>b) << 6);
          const dx = ldf(xsm + ((<usize>b) << 2));
          const d = dotBlock(bp, v128.load(xp), v128.load(xp, 16), v128.load(xp, 32), v128.load(xp, 48));
          a0 = fma(f32x4.convert_i32x4_s(d), f32x4.splat(dx * ldf(bp + 32)), a0);
          bp += 36;
        }
        let r0 = hsum(a0);
        if (bias) r0 += ldf(bias + ((<usize>j) << 2));
        store<f32>(om + ((<usize>j) << 2), r0);
      }
    }
  }
}

/**
 * The batched (prefill) Q8_0 matmul, float32 activations as they are (xp = packRows4(x)): each block of
 * BATCH_ROWS weight rows × KC values is expanded to float32 (in the second half of this thread's
 * scratch), made into panels, and multiplied by the f32 tile, so the expansion is paid once per block
 * and reused by every input row. scratch: batchedScratch(k) bytes, this thread's.
 */
export function matmulQ8Batched(
  out: usize,
  xp: usize,
  w: usize,
  bias: usize,
  rows: i32,
  n: i32,
  k: i32,
  j0: i32,
  j1: i32,
  scratch: usize,
): void {
  const nblk = k >> 5;
  const kcMax = imin(k, KC);
  const deq = scratch + <usize>(BATCH_ROWS * (kcMax << 2));
  const tmp = deq + <usize>(BATCH_ROWS * (kcMax << 2));
  const groupEnd = n & ~3;
  const wrb = <usize>nblk * 36; // bytes per weight row
  for (let jb = j0; jb < j1; jb += BATCH_ROWS) {
    const je = imin(jb + BATCH_ROWS, j1);
    for (let kk = 0; kk < k; kk += KC) {
      const kc = imin(KC, k - kk);
      const rb = (<usize>kc) << 2; // bytes of one expanded row
      for (let j = jb; j < je; j++) {
        const dst = deq + <usize>(j - jb) * rb;
        // row j's block b: quants at q + b·step, scale at q + b·step + sOff
        let q: usize;
        let step: usize;
        let sOff: usize;
        if (j < groupEnd) {
          const g = <usize>(j & ~3);
          const r = <usize>(j & 3);
          q = w + g * wrb + (r << 5);
          step = 144;
          sOff = 128 - (r << 5) + (r << 2);
        } else {
          q = w + <usize>j * wrb;
          step = 36;
          sOff = 32;
        }
        const b0 = kk >> 5;
        const b1 = (kk + kc) >> 5;
        for (let b = b0; b < b1; b++) {
          const qp = q + <usize>b * step;
          const d = f32x4.splat(ldf(qp + sOff));
          const o = dst + ((<usize>(b - b0)) << 7);
          for (let h: usize = 0; h < 32; h += 16) {
            const v = v128.load(qp + h);
            const lo = i16x8.extend_low_i8x16_s(v);
            const hi = i16x8.extend_high_i8x16_s(v);
            const oo = o + (h << 2);
            v128.store(oo, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), d));
            v128.store(oo, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), d), 16);
            v128.store(oo, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), d), 32);
            v128.store(oo, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), d), 48);
          }
        }
      }
      // the expanded block: row j at deq + (j - jb)·kc·4, i.e. a matrix of row stride kc from column 0
      packPanels(scratch, deq - <usize>jb * rb, jb, je, 0, kc, kc, false);
      panelTiles(out, xp, scratch, bias, rows, n, k, kk, kc, jb, je, tmp, kk == 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// norms and elementwise

/** Σ of n float32 at p (SIMD, two accumulators). */
@inline function sumf(p: usize, n: i32): f32 {
  let a = f32x4.splat(0);
  let b = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    a = f32x4.add(a, v128.load(p + ((<usize>i) << 2)));
    b = f32x4.add(b, v128.load(p + ((<usize>i) << 2), 16));
  }
  for (; i + 4 <= n; i += 4) a = f32x4.add(a, v128.load(p + ((<usize>i) << 2)));
  let s = hsum(f32x4.add(a, b));
  for (; i < n; i++) s += ldf(p + ((<usize>i) << 2));
  return s;
}

export function layerNorm(out: usize, x: usize, g: usize, bt: usize, rows: i32, dim: i32, eps: f32): void {
  for (let r = 0; r < rows; r++) {
    const xp = x + ((<usize>(r * dim)) << 2);
    const op = out + ((<usize>(r * dim)) << 2);
    const mean = sumf(xp, dim) / <f32>dim;
    const mv = f32x4.splat(mean);
    let a = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= dim; i += 4) {
      const d = f32x4.sub(v128.load(xp + ((<usize>i) << 2)), mv);
      a = f32x4.add(a, f32x4.mul(d, d));
    }
    let v = hsum(a);
    for (; i < dim; i++) {
      const d = ldf(xp + ((<usize>i) << 2)) - mean;
      v += d * d;
    }
    const inv: f32 = <f32>(1.0 / Math.sqrt(<f64>(v / <f32>dim) + <f64>eps));
    const iv = f32x4.splat(inv);
    i = 0;
    for (; i + 4 <= dim; i += 4) {
      const o = (<usize>i) << 2;
      const y = f32x4.mul(f32x4.mul(f32x4.sub(v128.load(xp + o), mv), iv), v128.load(g + o));
      v128.store(op + o, f32x4.add(y, v128.load(bt + o)));
    }
    for (; i < dim; i++) {
      const o = (<usize>i) << 2;
      store<f32>(op + o, (ldf(xp + o) - mean) * inv * ldf(g + o) + ldf(bt + o));
    }
  }
}

export function rmsNorm(out: usize, x: usize, g: usize, rows: i32, dim: i32, eps: f32): void {
  for (let r = 0; r < rows; r++) {
    const xp = x + ((<usize>(r * dim)) << 2);
    const op = out + ((<usize>(r * dim)) << 2);
    let a = f32x4.splat(0);
    let b = f32x4.splat(0);
    let i = 0;
    for (; i + 8 <= dim; i += 8) {
      const u = v128.load(xp + ((<usize>i) << 2));
      const w = v128.load(xp + ((<usize>i) << 2), 16);
      a = f32x4.add(a, f32x4.mul(u, u));
      b = f32x4.add(b, f32x4.mul(w, w));
    }
    for (; i + 4 <= dim; i += 4) {
      const u = v128.load(xp + ((<usize>i) << 2));
      a = f32x4.add(a, f32x4.mul(u, u));
    }
    let ss = hsum(f32x4.add(a, b));
    for (; i < dim; i++) {
      const u = ldf(xp + ((<usize>i) << 2));
      ss += u * u;
    }
    const inv: f32 = <f32>(1.0 / Math.sqrt(<f64>(ss / <f32>dim) + <f64>eps));
    const iv = f32x4.splat(inv);
    i = 0;
    for (; i + 4 <= dim; i += 4) {
      const o = (<usize>i) << 2;
      v128.store(op + o, f32x4.mul(f32x4.mul(v128.load(xp + o), iv), v128.load(g + o)));
    }
    for (; i < dim; i++) {
      const o = (<usize>i) << 2;
      store<f32>(op + o, ldf(xp + o) * inv * ldf(g + o));
    }
  }
}

/** x·σ(c·x) on four lanes = x / (1 + e^(−c·x)). */
@inline function xsigmoid(x: v128, z: v128): v128 {
  return f32x4.div(x, f32x4.add(f32x4.splat(1.0), expv(f32x4.neg(z))));
}

/** gelu_tanh(x) = ½x(1 + tanh(u)) = x·σ(2u), u = √(2/π)(x + 0.044715x³); in place, x[i0, i1). */
export function geluTanh(x: usize, i0: i32, i1: i32): void {
  const c1 = f32x4.splat(2 * 0.7978845608028654);
  const c3 = f32x4.splat(2 * 0.7978845608028654 * 0.044715);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const p = x + ((<usize>i) << 2);
    const v = v128.load(p);
    const z = f32x4.mul(v, f32x4.add(c1, f32x4.mul(c3, f32x4.mul(v, v))));
    v128.store(p, xsigmoid(v, z));
  }
  for (; i < i1; i++) {
    const p = x + ((<usize>i) << 2);
    const v = f32x4.splat(ldf(p));
    const z = f32x4.mul(v, f32x4.add(c1, f32x4.mul(c3, f32x4.mul(v, v))));
    store<f32>(p, f32x4.extract_lane(xsigmoid(v, z), 0));
  }
}

/**
 * ½(1 + erf(z)) on four lanes: Abramowitz & Stegun 7.1.26 (|error of erf| ≤ 1.5·10⁻⁷), written as
 * 1 − ½P for z ≥ 0 and ½P for z < 0 (P = poly(t)·e^(−z²)), so the far negative side keeps its precision.
 */
@inline function halfOnePlusErf(z: v128): v128 {
  const a = f32x4.abs(z);
  const t = f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), f32x4.mul(f32x4.splat(0.3275911), a)));
  let y = f32x4.splat(1.061405429);
  y = fma(y, t, f32x4.splat(-1.453152027));
  y = fma(y, t, f32x4.splat(1.421413741));
  y = fma(y, t, f32x4.splat(-0.284496736));
  y = fma(y, t, f32x4.splat(0.254829592));
  const hp = f32x4.mul(f32x4.mul(f32x4.mul(y, t), expv(f32x4.neg(f32x4.mul(a, a)))), f32x4.splat(0.5));
  return v128.bitselect(f32x4.sub(f32x4.splat(1.0), hp), hp, f32x4.ge(z, f32x4.splat(0)));
}

/** gelu(x) = ½x(1 + erf(x/√2)) (BERT's exact GELU), in place, for x[i0, i1) (threads split the range). */
export function geluErf(x: usize, i0: i32, i1: i32): void {
  const c = f32x4.splat(0.7071067811865476);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const p = x + ((<usize>i) << 2);
    const v = v128.load(p);
    v128.store(p, f32x4.mul(v, halfOnePlusErf(f32x4.mul(v, c))));
  }
  for (; i < i1; i++) {
    const p = x + ((<usize>i) << 2);
    const v = f32x4.splat(ldf(p));
    store<f32>(p, f32x4.extract_lane(f32x4.mul(v, halfOnePlusErf(f32x4.mul(v, c))), 0));
  }
}

export function silu(x: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const p = x + ((<usize>i) << 2);
    const v = v128.load(p);
    v128.store(p, xsigmoid(v, v));
  }
  for (; i < i1; i++) {
    const p = x + ((<usize>i) << 2);
    const v = f32x4.splat(ldf(p));
    store<f32>(p, f32x4.extract_lane(xsigmoid(v, v), 0));
  }
}

/**
 * e^d for a softmax's d = x − max ≤ 0: expv, but exactly 0 below its clamp (−87.33, where expv returns
 * e^−87.33 ≈ 1.2e-38 instead of underflowing): a −Infinity logit (a banned token) then has probability 0,
 * as with Math.exp. A NaN stays NaN.
 */
@inline function expBelowMax(d: v128): v128 {
  return v128.andnot(expv(d), f32x4.lt(d, f32x4.splat(-87.33)));
}

/** In place over one row: x[0..len) ← softmax, returning nothing; the caller zeroes any masked tail. */
function softmaxRow(p: usize, len: i32): void {
  let mv = f32x4.splat(-Infinity);
  let i = 0;
  // (pmax: one maxps; a NaN score that it skips still makes its e^(s − m), and so the sum, NaN)
  for (; i + 4 <= len; i += 4) mv = f32x4.pmax(mv, v128.load(p + ((<usize>i) << 2)));
  let m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  for (; i < len; i++) m = max(m, ldf(p + ((<usize>i) << 2)));
  const ms = f32x4.splat(m);
  let sv = f32x4.splat(0);
  i = 0;
  for (; i + 4 <= len; i += 4) {
    const q = p + ((<usize>i) << 2);
    const e = expBelowMax(f32x4.sub(v128.load(q), ms));
    v128.store(q, e);
    sv = f32x4.add(sv, e);
  }
  let s = hsum(sv);
  for (; i < len; i++) {
    const q = p + ((<usize>i) << 2);
    const e = f32x4.extract_lane(expBelowMax(f32x4.splat(ldf(q) - m)), 0);
    store<f32>(q, e);
    s += e;
  }
  const inv = f32x4.splat(<f32>1.0 / s);
  i = 0;
  for (; i + 4 <= len; i += 4) {
    const q = p + ((<usize>i) << 2);
    v128.store(q, f32x4.mul(v128.load(q), inv));
  }
  const invs: f32 = <f32>1.0 / s;
  for (; i < len; i++) {
    const q = p + ((<usize>i) << 2);
    store<f32>(q, ldf(q) * invs);
  }
}

export function softmax(x: usize, rows: i32, cols: i32, valid: i32): void {
  for (let r = 0; r < rows; r++) {
    const p = x + ((<usize>(r * cols)) << 2);
    softmaxRow(p, valid);
    for (let i = valid; i < cols; i++) store<f32>(p + ((<usize>i) << 2), 0);
  }
}

/**
 * The index of the largest of x[0..n) (the first of equal ones), or -1 when one is NaN (the caller's
 * plain loop then decides, as it would have). Greedy decoding's choice: the row's maximum in four lanes
 * (f32x4.max, NaN-propagating), then the first index holding it.
 */
export function argmaxRow(x: usize, n: i32): i32 {
  if (n <= 0) return 0;
  let m0 = f32x4.splat(-Infinity);
  let m1 = m0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = (<usize>i) << 2;
    m0 = f32x4.max(m0, v128.load(x + o));
    m1 = f32x4.max(m1, v128.load(x + o, 16));
  }
  m0 = f32x4.max(m0, m1);
  let m = max(max(f32x4.extract_lane(m0, 0), f32x4.extract_lane(m0, 1)), max(f32x4.extract_lane(m0, 2), f32x4.extract_lane(m0, 3)));
  for (; i < n; i++) {
    const v = ldf(x + ((<usize>i) << 2));
    m = v != v ? v : max(m, v);
  }
  if (m != m) return -1;
  const top = f32x4.splat(m);
  for (i = 0; i + 4 <= n; i += 4) {
    if (v128.any_true(f32x4.eq(v128.load(x + ((<usize>i) << 2)), top))) break;
  }
  for (; i < n; i++) if (ldf(x + ((<usize>i) << 2)) == m) return i;
  return 0;
}

export function add(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = (<usize>i) << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    store<f32>(out + o, ldf(a + o) + ldf(b + o));
  }
}

export function mul(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = (<usize>i) << 2;
    v128.store(out + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    store<f32>(out + o, ldf(a + o) * ldf(b + o));
  }
}

// ---------------------------------------------------------------------------------------------------
// attention

/** q·k over hd values. */
@inline function dot(a: usize, b: usize, hd: i32): f32 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let d = 0;
  for (; d + 8 <= hd; d += 8) {
    const o = (<usize>d) << 2;
    s0 = fma(v128.load(a + o), v128.load(b + o), s0);
    s1 = fma(v128.load(a + o, 16), v128.load(b + o, 16), s1);
  }
  for (; d + 4 <= hd; d += 4) {
    const o = (<usize>d) << 2;
    s0 = fma(v128.load(a + o), v128.load(b + o), s0);
  }
  let s = hsum(f32x4.add(s0, s1));
  for (; d < hd; d++) s += ldf(a + ((<usize>d) << 2)) * ldf(b + ((<usize>d) << 2));
  return s;
}

/** Σ over hd of four query rows (a0..a3) against one key row b: [a0·b, a1·b, a2·b, a3·b]. */
@inline function dot4(a0: usize, a1: usize, a2: usize, a3: usize, b: usize, hd4: i32): v128 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0);
  for (let d = 0; d < hd4; d += 4) {
    const o = (<usize>d) << 2;
    const kv = v128.load(b + o);
    s0 = fma(v128.load(a0 + o), kv, s0);
    s1 = fma(v128.load(a1 + o), kv, s1);
    s2 = fma(v128.load(a2 + o), kv, s2);
    s3 = fma(v128.load(a3 + o), kv, s3);
  }
  return reduce4<f32>(s0, s1, s2, s3);
}

/** p[j] *= scale for j in [j0, j1). */
@inline function scaleRow(p: usize, j0: i32, j1: i32, scale: f32): void {
  const sv = f32x4.splat(scale);
  let j = j0;
  for (; j + 4 <= j1; j += 4) v128.store(p + ((<usize>j) << 2), f32x4.mul(v128.load(p + ((<usize>j) << 2)), sv));
  for (; j < j1; j++) store<f32>(p + ((<usize>j) << 2), ldf(p + ((<usize>j) << 2)) * scale);
}

/**
 * One query row's output: o[0, hd) = Σ_j p_j · v_j over keys [j0, j1), probabilities at sp, value rows at
 * vh, vh + vs, … (vs: bytes between rows). 16 dims at a time into four accumulators (four independent
 * chains; a pass of 32 dims into eight measured slower), then 4 and single dims. With the scores as
 * gemvF32 (four keys at a time), GPT-2's decode attention (12 heads of 64, one thread, µs per layer) at
 * 51 / 201 / 801 keys: 14.7 / 54 / 219-231 → 8.3-8.6 / 35-38 / 130-142, where the four-row loops ran one
 * row (three rows of zeros, two chains); 9.7 / 44 / 150 with the 32-dim pass. What is left at long
 * contexts is reading the cache: a head's keys are 256 B every 3 KB (a cache row holds all heads).
 */
@inline function valuesOne(o: usize, sp: usize, vh: usize, vs: usize, j0: i32, j1: i32, hd: i32): void {
  let d = 0;
  for (; d + 16 <= hd; d += 16) {
    const vo = vh + ((<usize>d) << 2);
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    for (let j = j0; j < j1; j++) {
      const vp = vo + <usize>j * vs;
      const p = v128.load32_splat(sp + ((<usize>j) << 2));
      a0 = fma(p, v128.load(vp), a0);
      a1 = fma(p, v128.load(vp, 16), a1);
      a2 = fma(p, v128.load(vp, 32), a2);
      a3 = fma(p, v128.load(vp, 48), a3);
    }
    const od = o + ((<usize>d) << 2);
    v128.store(od, a0);
    v128.store(od, a1, 16);
    v128.store(od, a2, 32);
    v128.store(od, a3, 48);
  }
  for (; d + 4 <= hd; d += 4) {
    const vo = vh + ((<usize>d) << 2);
    let a0 = f32x4.splat(0);
    for (let j = j0; j < j1; j++) a0 = fma(v128.load32_splat(sp + ((<usize>j) << 2)), v128.load(vo + <usize>j * vs), a0);
    v128.store(o + ((<usize>d) << 2), a0);
  }
  for (; d < hd; d++) {
    const vo = vh + ((<usize>d) << 2);
    let acc: f32 = 0;
    for (let j = j0; j < j1; j++) acc += ldf(sp + ((<usize>j) << 2)) * ldf(vo + <usize>j * vs);
    store<f32>(o + ((<usize>d) << 2), acc);
  }
}

/**
 * Attention for query heads [h0, h1) (see Backend.attention and attentionBidirectional): query i sees
 * keys [0, pos0 + i + 1) when valid < 0 (causal), else keys [0, valid) (bidirectional, padding from
 * `valid` on). Keys and values: rows [0, pos0 + t) at kc, vc. scores: scratch of 4·(pos0 + t) floats.
 * probs: 0, or [nHeads, t, pos0 + t]. The score terms of ScoreTerms (src/tensor/backend.ts): S = scale·q·k,
 * soft-capped to cap·tanh(S/cap) when cap > 0; window > 0 (causal only): query at position p sees only
 * keys j with p − window < j ≤ p — the keys before the block's first window are neither scored nor read.
 *
 * Queries go four at a time, so each key and value row loaded serves four of them: scores of the four
 * (one row each in scratch), a softmax per row, then out = Σ_j p_j · v_j with 4 queries × 8 dims held in
 * registers across all j.
 */
export function attention(
  out: usize,
  q: usize,
  kc: usize,
  vc: usize,
  t: i32,
  pos0: i32,
  valid: i32,
  nHeads: i32,
  nKv: i32,
  hd: i32,
  probs: usize,
  scores: usize,
  h0: i32,
  h1: i32,
  scale: f32,
  window: i32,
  cap: f32,
): void {
  const qStride = (<usize>(nHeads * hd)) << 2;
  const kvStride = (<usize>(nKv * hd)) << 2;
  const group = nHeads / nKv;
  const total = pos0 + t;
  const sRow = (<usize>total) << 2; // bytes of one row of scores
  const hd4 = hd & ~3;
  const hd8 = hd & ~7;
  for (let h = h0; h < h1; h++) {
    const kvOff = (<usize>((h / group) * hd)) << 2;
    const qOff = (<usize>(h * hd)) << 2;
    for (let i0 = 0; i0 < t; i0 += 4) {
      const nq = imin(4, t - i0);
      // keys the block needs: up to the last query's, from the first query's window on
      const lenMax = valid < 0 ? pos0 + i0 + nq : valid;
      const jLo = windowStart(pos0 + i0, valid, window);
      // ---- scores
      const q0 = q + <usize>i0 * qStride + qOff;
      if (nq == 4) {
        const sv = f32x4.splat(scale);
        for (let j = jLo; j < lenMax; j++) {
          const kp = kc + <usize>j * kvStride + kvOff;
          let r = dot4(q0, q0 + qStride, q0 + 2 * qStride, q0 + 3 * qStride, kp, hd4);
          if (hd4 < hd) {
            for (let d = hd4; d < hd; d++) {
              const kd = f32x4.splat(ldf(kp + ((<usize>d) << 2)));
              const qd = f32x4.replace_lane(
                f32x4.replace_lane(
                  f32x4.replace_lane(f32x4.splat(ldf(q0 + ((<usize>d) << 2))), 1, ldf(q0 + qStride + ((<usize>d) << 2))),
                  2,
                  ldf(q0 + 2 * qStride + ((<usize>d) << 2)),
                ),
                3,
                ldf(q0 + 3 * qStride + ((<usize>d) << 2)),
              );
              r = fma(qd, kd, r);
            }
          }
          r = f32x4.mul(r, sv);
          const sp = scores + ((<usize>j) << 2);
          store<f32>(sp, f32x4.extract_lane(r, 0));
          store<f32>(sp + sRow, f32x4.extract_lane(r, 1));
          store<f32>(sp + 2 * sRow, f32x4.extract_lane(r, 2));
          store<f32>(sp + 3 * sRow, f32x4.extract_lane(r, 3));
        }
      } else if (nq == 1) {
        // one row (decode): the keys as the rows of a matrix-vector product, four at a time, then scaled
        gemvF32(scores, q0, kc + kvOff, 0, hd, jLo, lenMax, kvStride);
        scaleRow(scores, jLo, lenMax, scale);
      } else {
        for (let r = 0; r < nq; r++) {
          const qp = q0 + <usize>r * qStride;
          const sp = scores + <usize>r * sRow;
          for (let j = jLo; j < lenMax; j++) {
            store<f32>(sp + ((<usize>j) << 2), dot(qp, kc + <usize>j * kvStride + kvOff, hd) * scale);
          }
        }
      }
      // ---- softmax per query over its own keys [lo, len); the block's other keys get probability 0
      for (let r = 0; r < nq; r++) {
        const sp = scores + <usize>r * sRow;
        const len = valid < 0 ? pos0 + i0 + r + 1 : valid;
        const lo = windowStart(pos0 + i0 + r, valid, window);
        if (cap > 0) softcapRow(sp + ((<usize>lo) << 2), len - lo, cap);
        softmaxRow(sp + ((<usize>lo) << 2), len - lo);
        for (let j = jLo; j < lo; j++) store<f32>(sp + ((<usize>j) << 2), 0);
        for (let j = len; j < lenMax; j++) store<f32>(sp + ((<usize>j) << 2), 0);
        if (probs) {
          const pp = probs + ((<usize>((h * t + i0 + r) * total)) << 2);
          memory.fill(pp, 0, (<usize>jLo) << 2);
          memory.copy(pp + ((<usize>jLo) << 2), sp + ((<usize>jLo) << 2), (<usize>(lenMax - jLo)) << 2);
          for (let j = lenMax; j < total; j++) store<f32>(pp + ((<usize>j) << 2), 0);
        }
      }
      // ---- out = Σ_j p_j · v_j: 4 query rows (zero probabilities past nq) × 8 dims at a time
      const o0 = out + <usize>i0 * qStride + qOff;
      if (nq == 1) {
        // one row (decode): its own loop, all of each value row at once
        valuesOne(o0, scores, vc + kvOff, kvStride, jLo, lenMax, hd);
        continue;
      }
      if (nq < 4) {
        for (let r = nq; r < 4; r++) memory.fill(scores + <usize>r * sRow, 0, (<usize>lenMax) << 2);
      }
      let d = 0;
      for (; d < hd8; d += 8) {
        const vo = vc + kvOff + ((<usize>d) << 2);
        let a0 = f32x4.splat(0);
        let b0 = f32x4.splat(0);
        let a1 = f32x4.splat(0);
        let b1 = f32x4.splat(0);
        let a2 = f32x4.splat(0);
        let b2 = f32x4.splat(0);
        let a3 = f32x4.splat(0);
        let b3 = f32x4.splat(0);
        for (let j = jLo; j < lenMax; j++) {
          const vp = vo + <usize>j * kvStride;
          const va = v128.load(vp);
          const vb = v128.load(vp, 16);
          const sp = scores + ((<usize>j) << 2);
          let p = v128.load32_splat(sp);
          a0 = fma(p, va, a0);
          b0 = fma(p, vb, b0);
          p = v128.load32_splat(sp + sRow);
          a1 = fma(p, va, a1);
          b1 = fma(p, vb, b1);
          p = v128.load32_splat(sp + 2 * sRow);
          a2 = fma(p, va, a2);
          b2 = fma(p, vb, b2);
          p = v128.load32_splat(sp + 3 * sRow);
          a3 = fma(p, va, a3);
          b3 = fma(p, vb, b3);
        }
        const o = o0 + ((<usize>d) << 2);
        v128.store(o, a0);
        v128.store(o, b0, 16);
        if (nq > 1) {
          v128.store(o + qStride, a1);
          v128.store(o + qStride, b1, 16);
        }
        if (nq > 2) {
          v128.store(o + 2 * qStride, a2);
          v128.store(o + 2 * qStride, b2, 16);
        }
        if (nq > 3) {
          v128.store(o + 3 * qStride, a3);
          v128.store(o + 3 * qStride, b3, 16);
        }
      }
      for (; d < hd; d++) {
        const vo = vc + kvOff + ((<usize>d) << 2);
        for (let r = 0; r < nq; r++) {
          const sp = scores + <usize>r * sRow;
          let acc: f32 = 0;
          for (let j = jLo; j < lenMax; j++) acc += ldf(sp + ((<usize>j) << 2)) * ldf(vo + <usize>j * kvStride);
          store<f32>(o0 + <usize>r * qStride + ((<usize>d) << 2), acc);
        }
      }
    }
  }
}

/**
 * Decode attention for several sequences at once (continuous batching: one new query each, every sequence
 * its own KV cache). desc: per sequence five 32-bit values — out, q, k cache, v cache (addresses), pos0 —
 * and [u0, u1) runs over sequence × head (u = s·nHeads + h), so that one pool job splits all of them;
 * each is attention() for t = 1, causal, plain scores. scores: this thread's scratch of
 * 16·(largest pos0 + 1) bytes.
 */
export function attentionRows(desc: usize, nHeads: i32, nKv: i32, hd: i32, scores: usize, u0: i32, u1: i32, scale: f32): void {
  for (let u = u0; u < u1; u++) {
    const s = u / nHeads;
    const h = u - s * nHeads;
    const d = desc + <usize>(s * 20);
    attention(load<u32>(d), load<u32>(d, 4), load<u32>(d, 8), load<u32>(d, 12), 1, load<i32>(d, 16), -1, nHeads, nKv, hd, 0, scores, h, h + 1, scale, 0, 0);
  }
}

/** Query rows per block of attentionTiled. */
const ATT_QB: i32 = 64;

/** Bytes of per-thread scratch attentionTiled needs for `total` keys and head width hd. */
export function attentionTiledScratch(total: i32, hd: i32): i32 {
  const rows = ATT_QB;
  return rows * hd * 4 + 2 * rows * total * 4 + batchedScratch(max(hd, imin(total, KC))) + 256;
}

/**
 * Attention as two products on the packed 4 × 8 tile, for prefill (many queries, no weights asked for):
 * per head and per block of ATT_QB queries, S = Q·Kᵀ over the keys the block can see, a scaled
 * softmax per row (causal when valid < 0, else keys [0, valid)), then out = P·V with V read transposed in
 * place. Same arguments as attention (without probs); scratch: attentionTiledScratch bytes, this thread's.
 * Under a sliding window both products start at the block's first visible key (rounded down to a tile).
 */
export function attentionTiled(
  out: usize,
  q: usize,
  kc: usize,
  vc: usize,
  t: i32,
  pos0: i32,
  valid: i32,
  nHeads: i32,
  nKv: i32,
  hd: i32,
  scratch: usize,
  h0: i32,
  h1: i32,
  scaleBy: f32,
  window: i32,
  cap: f32,
): void {
  const qStride = (<usize>(nHeads * hd)) << 2;
  const kvStride = nKv * hd;
  const group = nHeads / nKv;
  const scale = f32x4.splat(scaleBy);
  const total = pos0 + t;
  const xq = scratch; // packed query block [QB/4][hd][4]
  const sc = xq + <usize>(ATT_QB * hd * 4); // scores / probabilities [QB][len]
  const xp = sc + <usize>(ATT_QB * total * 4); // packed P [QB/4][len][4]
  const pan = xp + <usize>(ATT_QB * total * 4);
  const tmp = pan + <usize>batchedScratch(max(hd, imin(total, KC))) - 128;
  for (let h = h0; h < h1; h++) {
    const kvOff = (h / group) * hd;
    const kh = kc + ((<usize>kvOff) << 2);
    const vh = vc + ((<usize>kvOff) << 2);
    for (let i0 = 0; i0 < t; i0 += ATT_QB) {
      const qb = imin(ATT_QB, t - i0);
      const len = valid < 0 ? pos0 + i0 + qb : valid;
      const jLo = windowStart(pos0 + i0, valid, window) & ~7; // keys before it: no query of the block sees them
      const qp = q + <usize>i0 * qStride + ((<usize>(h * hd)) << 2);
      for (let g = 0; g < qb; g += 4) interleave4(xq + <usize>(g >> 2) * (<usize>hd << 4), qp, g, qb - g, hd, qStride, 16);
      // S = Q·Kᵀ: the keys in blocks of BATCH_ROWS (hd ≤ KC values each)
      for (let jb = jLo; jb < len; jb += BATCH_ROWS) {
        const je = imin(jb + BATCH_ROWS, len);
        packPanels(pan, kh, jb, je, 0, hd, kvStride, false);
        panelTiles(sc, xq, pan, 0, qb, len, hd, 0, hd, jb, je, tmp, true);
      }
      // P = softmax(S/√hd) per row over the keys it sees; the rest 0
      for (let r = 0; r < qb; r++) {
        const row = sc + <usize>(r * len) * 4;
        const see = valid < 0 ? pos0 + i0 + r + 1 : valid;
        const lo = windowStart(pos0 + i0 + r, valid, window);
        const from = row + ((<usize>lo) << 2);
        let j = 0;
        for (; j + 4 <= see - lo; j += 4) {
          const p = from + ((<usize>j) << 2);
          v128.store(p, f32x4.mul(v128.load(p), scale));
        }
        for (; j < see - lo; j++) {
          const p = from + ((<usize>j) << 2);
          store<f32>(p, ldf(p) * scaleBy);
        }
        if (cap > 0) softcapRow(from, see - lo, cap);
        softmaxRow(from, see - lo);
        for (j = jLo; j < lo; j++) store<f32>(row + ((<usize>j) << 2), 0);
        for (j = see; j < len; j++) store<f32>(row + ((<usize>j) << 2), 0);
      }
      // out = P·V: V [len, hd] read transposed (panels of 8 dims over keys)
      for (let g = 0; g < qb; g += 4) interleave4(xp + <usize>(g >> 2) * (<usize>len << 4), sc, g, qb - g, len, (<usize>len) << 2, 16);
      const op = out + <usize>i0 * qStride + ((<usize>(h * hd)) << 2);
      for (let jb = 0; jb < hd; jb += BATCH_ROWS) {
        const je = imin(jb + BATCH_ROWS, hd);
        for (let kk = jLo; kk < len; kk += KC) {
          const kcn = imin(KC, len - kk);
          packPanels(pan, vh, jb, je, kk, kcn, kvStride, true);
          panelTiles(op, xp, pan, 0, qb, nHeads * hd, len, kk, kcn, jb, je, tmp, kk == jLo);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// training: the backward passes the autograd tape (src/train/autograd.ts) hands to the fast backend

/**
 * dst[0, hd) += Σ_{j<n} coef[j]·m_j, where coef[j] is the f32 at coef + j·cs and m_j the row at
 * m + j·ms: sixteen dims in registers at a time, each coefficient loaded once per pass.
 */
function accumulateRows(dst: usize, coef: usize, cs: usize, m: usize, ms: usize, n: i32, hd: i32): void {
  let d = 0;
  for (; d + 16 <= hd; d += 16) {
    const o = (<usize>d) << 2;
    let a0 = v128.load(dst + o);
    let a1 = v128.load(dst + o, 16);
    let a2 = v128.load(dst + o, 32);
    let a3 = v128.load(dst + o, 48);
    let cp = coef;
    let mp = m + o;
    for (let j = 0; j < n; j++) {
      const p = v128.load32_splat(cp);
      a0 = fma(p, v128.load(mp), a0);
      a1 = fma(p, v128.load(mp, 16), a1);
      a2 = fma(p, v128.load(mp, 32), a2);
      a3 = fma(p, v128.load(mp, 48), a3);
      cp += cs;
      mp += ms;
    }
    v128.store(dst + o, a0);
    v128.store(dst + o, a1, 16);
    v128.store(dst + o, a2, 32);
    v128.store(dst + o, a3, 48);
  }
  for (; d + 4 <= hd; d += 4) {
    const o = (<usize>d) << 2;
    let a0 = v128.load(dst + o);
    let cp = coef;
    let mp = m + o;
    for (let j = 0; j < n; j++) {
      a0 = fma(v128.load32_splat(cp), v128.load(mp), a0);
      cp += cs;
      mp += ms;
    }
    v128.store(dst + o, a0);
  }
  for (; d < hd; d++) {
    const o = (<usize>d) << 2;
    let a: f32 = ldf(dst + o);
    for (let j = 0; j < n; j++) a += ldf(coef + <usize>j * cs) * ldf(m + <usize>j * ms + o);
    store<f32>(dst + o, a);
  }
}

/**
 * The gradient of causal attention (the training forward: P = softmax(q·Kᵀ/√hd, causal), out = P·V) for
 * units [u0, u1) — unit u is kv head u % nKv of sequence ⌊u / nKv⌋, with all the query heads that read
 * it, so threads never write the same rows. qkv [batch·t, width] holds each row's q heads at qOff, k and
 * v heads at kOff, vOff; dqkv (same layout) is added into. dout [batch·t, nHeads·hd], probs [batch,
 * nHeads, t, t]. scratch: t·t floats (this thread's), for dS.
 *   dP = dO·Vᵀ;  dS = P ⊙ (dP − rowsum(P ⊙ dP)) / √hd;  dq += dS·K;  dK += dSᵀ·q;  dV += Pᵀ·dO.
 */
export function attentionBackward(
  dqkv: usize,
  qkv: usize,
  width: i32,
  qOff: i32,
  kOff: i32,
  vOff: i32,
  dout: usize,
  probs: usize,
  t: i32,
  nHeads: i32,
  nKv: i32,
  hd: i32,
  scratch: usize,
  u0: i32,
  u1: i32,
): void {
  const rs = (<usize>width) << 2; // bytes between rows of qkv
  const os = (<usize>(nHeads * hd)) << 2; // bytes between rows of dout
  const ts = (<usize>t) << 2; // bytes between rows of P and dS
  const group = nHeads / nKv;
  const scale: f32 = <f32>(1.0 / Math.sqrt(<f64>hd));
  for (let u = u0; u < u1; u++) {
    const b = u / nKv;
    const g = u % nKv;
    const row0 = <usize>(b * t);
    const kb = (row0 * <usize>width + <usize>(kOff + g * hd)) << 2;
    const vb = (row0 * <usize>width + <usize>(vOff + g * hd)) << 2;
    for (let h = g * group; h < (g + 1) * group; h++) {
      const qb = (row0 * <usize>width + <usize>(qOff + h * hd)) << 2;
      const ob = dout + row0 * os + ((<usize>(h * hd)) << 2);
      const P = probs + ((<usize>((b * nHeads + h) * t)) * ts);
      // dS row by row, and dq_i = Σ_j dS_ij·k_j
      for (let i = 0; i < t; i++) {
        const pi = P + <usize>i * ts;
        const si = scratch + <usize>i * ts;
        const oi = ob + <usize>i * os;
        let rowDot: f32 = 0;
        for (let j = 0; j <= i; j++) {
          const o = (<usize>j) << 2;
          const dp = dot(oi, qkv + vb + <usize>j * rs, hd);
          store<f32>(si + o, dp);
          rowDot += ldf(pi + o) * dp;
        }
        for (let j = 0; j <= i; j++) {
          const o = (<usize>j) << 2;
          store<f32>(si + o, ldf(pi + o) * (ldf(si + o) - rowDot) * scale);
        }
        accumulateRows(dqkv + qb + <usize>i * rs, si, 4, qkv + kb, rs, i + 1, hd);
      }
      // dK_j = Σ_{i≥j} dS_ij·q_i and dV_j = Σ_{i≥j} P_ij·dO_i: down the columns of dS and P
      for (let j = 0; j < t; j++) {
        const c = <usize>j * ts + ((<usize>j) << 2);
        const jr = <usize>j * rs;
        accumulateRows(dqkv + kb + jr, scratch + c, ts, qkv + qb + jr, rs, t - j, hd);
        accumulateRows(dqkv + vb + jr, P + c, ts, ob + <usize>j * os, os, t - j, hd);
      }
    }
  }
}

/**
 * gelu_tanh′(x) on four lanes. With s = σ(2u), u = √(2/π)(x + 0.044715x³):
 * gelu′ = s + 2x·s(1 − s)·√(2/π)(1 + 3·0.044715x²)  (as ½(1 + tanh u) = s, 1 − tanh²u = 4s(1 − s)).
 */
@inline function geluTanhGrad(v: v128): v128 {
  const k: f32 = 0.7978845608028654;
  const one = f32x4.splat(1.0);
  const v2 = f32x4.mul(v, v);
  const z = f32x4.mul(v, fma(f32x4.splat(2 * k * 0.044715), v2, f32x4.splat(2 * k)));
  const s = f32x4.div(one, f32x4.add(one, expv(f32x4.neg(z))));
  const du = fma(f32x4.splat(2 * k * 3 * 0.044715), v2, f32x4.splat(2 * k)); // 2·du/dx
  return fma(f32x4.mul(v, f32x4.mul(s, f32x4.sub(one, s))), du, s);
}

/** dx[i] += dy[i]·gelu_tanh′(x[i]) for i in [i0, i1) (threads split the range). */
export function geluTanhBackward(dx: usize, dy: usize, x: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = (<usize>i) << 2;
    v128.store(dx + o, fma(v128.load(dy + o), geluTanhGrad(v128.load(x + o)), v128.load(dx + o)));
  }
  for (; i < i1; i++) {
    const o = (<usize>i) << 2;
    store<f32>(dx + o, ldf(dx + o) + ldf(dy + o) * f32x4.extract_lane(geluTanhGrad(f32x4.splat(ldf(x + o))), 0));
  }
}

// ---------------------------------------------------------------------------------------------------
// for the benchmark: how fast this memory streams into the SIMD registers

/**
 * Σ of the float32 at p + 4·[i0, i1) (i0, i1 multiples of 16), reading the memory once, front to back;
 * threads split the range.
 */
export function streamSum(p: usize, i0: i32, i1: i32): f32 {
  let a = f32x4.splat(0);
  let b = f32x4.splat(0);
  let c = f32x4.splat(0);
  let d = f32x4.splat(0);
  const end = p + ((<usize>i1) << 2);
  for (let q = p + ((<usize>i0) << 2); q < end; q += 64) {
    a = f32x4.add(a, v128.load(q));
    b = f32x4.add(b, v128.load(q, 16));
    c = f32x4.add(c, v128.load(q, 32));
    d = f32x4.add(d, v128.load(q, 48));
  }
  return hsum(f32x4.add(f32x4.add(a, b), f32x4.add(c, d)));
}
export { attentionBiased } from './t5';
export * from './serve';
export * from './threads';
export * from './q8dot';
export * from './word2vec';
