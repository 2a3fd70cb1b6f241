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

@inline function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))
  );
}

@inline function ldf(p: usize): f32 {
  return load<f32>(p);
}

@inline function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

/** e^x on four lanes (Cephes expf: range reduction by ln 2, degree-6 polynomial; ~1 ulp). */
@inline function expv(x0: v128): v128 {
  let x = f32x4.min(x0, f32x4.splat(88.0));
  x = f32x4.max(x, f32x4.splat(-87.33));
  const fx = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(y, r), r), r), f32x4.splat(1.0));
  const n = i32x4.trunc_sat_f32x4_s(fx);
  const p2 = i32x4.shl(i32x4.add(n, i32x4.splat(127)), 23);
  return f32x4.mul(y, p2);
}

/** e^x for one value, through the same polynomial (so scalar tails match the vector lanes). */
@inline function exps(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}

export function heapBase(): usize {
  return __heap_base;
}

// ---------------------------------------------------------------------------------------------------
// matmul, float32 weights: out[m, j] = Σ_i x[m, i] · W[j, i] (+ bias[j]) for j in [j0, j1)

/** One input row against weight rows [j0, j1): four weight rows at a time, eight lanes of k per step. */
function gemvF32(out: usize, x: usize, w: usize, bias: usize, k: i32, j0: i32, j1: i32): void {
  const kb = (<usize>k) << 2;
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
    if (bias) {
      const bp = bias + ((<usize>j) << 2);
      s0 += ldf(bp);
      s1 += ldf(bp + 4);
      s2 += ldf(bp + 8);
      s3 += ldf(bp + 12);
    }
    const op = out + ((<usize>j) << 2);
    store<f32>(op, s0);
    store<f32>(op, s1, 4);
    store<f32>(op, s2, 8);
    store<f32>(op, s3, 12);
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
    if (bias) s0 += ldf(bias + ((<usize>j) << 2));
    store<f32>(out + ((<usize>j) << 2), s0);
  }
}

/** Weight rows per cache block in the batched (prefill) matmul: each block is reused by every input row. */
const NBLOCK: i32 = 16;

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
): void {
  if (rows == 1) {
    gemvF32(out, x, w, bias, k, j0, j1);
    return;
  }
  for (let jb = j0; jb < j1; jb += NBLOCK) gemmBlock(out, x, w, bias, rows, n, k, jb, imin(jb + NBLOCK, j1));
}

/**
 * out[m, j] for every input row m and weight rows j in [jb, je), row j of W at w + j·k·4: the batched
 * (prefill) kernel — 4 input rows × 2 weight rows at a time, so each weight row loaded serves 4 inputs.
 */
function gemmBlock(out: usize, x: usize, w: usize, bias: usize, rows: i32, n: i32, k: i32, jb: i32, je: i32): void {
  const kb = (<usize>k) << 2;
  const nb = (<usize>n) << 2;
  const k4 = k & ~3;
  let m = 0;
  // 4 input rows × 2 weight rows: 8 accumulators, 6 loads per 8 multiply-adds
  for (; m + 4 <= rows; m += 4) {
    const x0 = x + <usize>m * kb;
    const x1 = x0 + kb;
    const x2 = x1 + kb;
    const x3 = x2 + kb;
    const o0 = out + <usize>m * nb;
    let j = jb;
    for (; j + 2 <= je; j += 2) {
      const w0 = w + <usize>j * kb;
      const w1 = w0 + kb;
      let c00 = f32x4.splat(0);
      let c01 = f32x4.splat(0);
      let c10 = f32x4.splat(0);
      let c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0);
      let c21 = f32x4.splat(0);
      let c30 = f32x4.splat(0);
      let c31 = f32x4.splat(0);
      let i = 0;
      for (; i < k4; i += 4) {
        const o = (<usize>i) << 2;
        const wa = v128.load(w0 + o);
        const wb = v128.load(w1 + o);
        let xv = v128.load(x0 + o);
        c00 = f32x4.add(c00, f32x4.mul(xv, wa));
        c01 = f32x4.add(c01, f32x4.mul(xv, wb));
        xv = v128.load(x1 + o);
        c10 = f32x4.add(c10, f32x4.mul(xv, wa));
        c11 = f32x4.add(c11, f32x4.mul(xv, wb));
        xv = v128.load(x2 + o);
        c20 = f32x4.add(c20, f32x4.mul(xv, wa));
        c21 = f32x4.add(c21, f32x4.mul(xv, wb));
        xv = v128.load(x3 + o);
        c30 = f32x4.add(c30, f32x4.mul(xv, wa));
        c31 = f32x4.add(c31, f32x4.mul(xv, wb));
      }
      let s00 = hsum(c00);
      let s01 = hsum(c01);
      let s10 = hsum(c10);
      let s11 = hsum(c11);
      let s20 = hsum(c20);
      let s21 = hsum(c21);
      let s30 = hsum(c30);
      let s31 = hsum(c31);
      for (; i < k; i++) {
        const o = (<usize>i) << 2;
        const wa = ldf(w0 + o);
        const wb = ldf(w1 + o);
        s00 += ldf(x0 + o) * wa;
        s01 += ldf(x0 + o) * wb;
        s10 += ldf(x1 + o) * wa;
        s11 += ldf(x1 + o) * wb;
        s20 += ldf(x2 + o) * wa;
        s21 += ldf(x2 + o) * wb;
        s30 += ldf(x3 + o) * wa;
        s31 += ldf(x3 + o) * wb;
      }
      if (bias) {
        const ba = ldf(bias + ((<usize>j) << 2));
        const bb = load<f32>(bias + ((<usize>j) << 2), 4);
        s00 += ba;
        s10 += ba;
        s20 += ba;
        s30 += ba;
        s01 += bb;
        s11 += bb;
        s21 += bb;
        s31 += bb;
      }
      const op = o0 + ((<usize>j) << 2);
      store<f32>(op, s00);
      store<f32>(op, s01, 4);
      store<f32>(op + nb, s10);
      store<f32>(op + nb, s11, 4);
      store<f32>(op + 2 * nb, s20);
      store<f32>(op + 2 * nb, s21, 4);
      store<f32>(op + 3 * nb, s30);
      store<f32>(op + 3 * nb, s31, 4);
    }
    for (; j < je; j++) {
      const w0 = w + <usize>j * kb;
      let c0 = f32x4.splat(0);
      let c1 = f32x4.splat(0);
      let c2 = f32x4.splat(0);
      let c3 = f32x4.splat(0);
      let i = 0;
      for (; i < k4; i += 4) {
        const o = (<usize>i) << 2;
        const wa = v128.load(w0 + o);
        c0 = f32x4.add(c0, f32x4.mul(v128.load(x0 + o), wa));
        c1 = f32x4.add(c1, f32x4.mul(v128.load(x1 + o), wa));
        c2 = f32x4.add(c2, f32x4.mul(v128.load(x2 + o), wa));
        c3 = f32x4.add(c3, f32x4.mul(v128.load(x3 + o), wa));
      }
      let s0 = hsum(c0);
      let s1 = hsum(c1);
      let s2 = hsum(c2);
      let s3 = hsum(c3);
      for (; i < k; i++) {
        const o = (<usize>i) << 2;
        const wa = ldf(w0 + o);
        s0 += ldf(x0 + o) * wa;
        s1 += ldf(x1 + o) * wa;
        s2 += ldf(x2 + o) * wa;
        s3 += ldf(x3 + o) * wa;
      }
      if (bias) {
        const ba = ldf(bias + ((<usize>j) << 2));
        s0 += ba;
        s1 += ba;
        s2 += ba;
        s3 += ba;
      }
      const op = o0 + ((<usize>j) << 2);
      store<f32>(op, s0);
      store<f32>(op + nb, s1);
      store<f32>(op + 2 * nb, s2);
      store<f32>(op + 3 * nb, s3);
    }
  }
  for (; m < rows; m++) {
    gemvF32(out + <usize>m * nb, x + <usize>m * kb, w, bias, k, jb, je);
  }
}

// ---------------------------------------------------------------------------------------------------
// matmul, Q8_0 weights (blocks of 32 int8 with one float32 scale; the quants of row j are contiguous at
// wq + j·k, its k/32 scales at ws + j·(k/32)·4).
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
    let m0 = f32x4.abs(v128.load(p));
    let m1 = f32x4.abs(v128.load(p, 16));
    m0 = f32x4.max(m0, f32x4.abs(v128.load(p, 32)));
    m1 = f32x4.max(m1, f32x4.abs(v128.load(p, 48)));
    m0 = f32x4.max(m0, f32x4.abs(v128.load(p, 64)));
    m1 = f32x4.max(m1, f32x4.abs(v128.load(p, 80)));
    m0 = f32x4.max(m0, f32x4.abs(v128.load(p, 96)));
    m1 = f32x4.max(m1, f32x4.abs(v128.load(p, 112)));
    m0 = f32x4.max(m0, m1);
    const amax = max(
      max(f32x4.extract_lane(m0, 0), f32x4.extract_lane(m0, 1)),
      max(f32x4.extract_lane(m0, 2), f32x4.extract_lane(m0, 3)),
    );
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

/** [Σ lanes of a, Σ lanes of b, Σ lanes of c, Σ lanes of d] (i32). */
@inline function reduce4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i64>(ab, cd, 0, 2), v128.shuffle<i64>(ab, cd, 1, 3));
}

/**
 * out[m, j] for j in [j0, j1) from the quantized input (xq, xs from quantizeX16).
 *
 * Weight layout (made by the JS side when the matrix is placed): rows in groups of four, each group's
 * region (4·k quants, 4·k/32 scales, where row-major storage would put those four rows) interleaved by
 * block — quants [r0 b0][r1 b0][r2 b0][r3 b0][r0 b1]…, 32 bytes each; scales [r0 b0, r1 b0, r2 b0, r3 b0]
 * [r0 b1…] — so that a group is one sequential stream (the prefetcher's favourite) and the four rows'
 * scales of a block are one v128. Rows past the last whole group stay row-major. j0 must be a multiple
 * of 4 (threads split on groups).
 */
export function matmulQ8(
  out: usize,
  xq: usize,
  xs: usize,
  wq: usize,
  ws: usize,
  bias: usize,
  rows: i32,
  n: i32,
  k: i32,
  j0: i32,
  j1: i32,
): void {
  const nblk = k >> 5;
  const wsb = (<usize>nblk) << 2; // scale bytes per weight row
  const nb = (<usize>n) << 2;
  const groupEnd = n & ~3;
  const BLK: i32 = rows == 1 ? j1 - j0 : 32;
  for (let jb = j0; jb < j1; jb += BLK) {
    const je = imin(jb + BLK, j1);
    for (let m = 0; m < rows; m++) {
      const xqm = xq + <usize>m * ((<usize>k) << 1);
      const xsm = xs + <usize>m * wsb;
      const om = out + <usize>m * nb;
      let j = jb;
      for (; j + 4 <= je && j < groupEnd; j += 4) {
        const q = wq + <usize>j * <usize>k;
        const sc = ws + <usize>j * wsb;
        let acc = f32x4.splat(0);
        for (let b = 0; b < nblk; b++) {
          const xp = xqm + ((<usize>b) << 6);
          const x0 = v128.load(xp);
          const x1 = v128.load(xp, 16);
          const x2 = v128.load(xp, 32);
          const x3 = v128.load(xp, 48);
          const gp = q + ((<usize>b) << 7);
          const r = reduce4(
            dotBlock(gp, x0, x1, x2, x3),
            dotBlock(gp + 32, x0, x1, x2, x3),
            dotBlock(gp + 64, x0, x1, x2, x3),
            dotBlock(gp + 96, x0, x1, x2, x3),
          );
          const d = f32x4.mul(v128.load(sc + ((<usize>b) << 4)), f32x4.splat(ldf(xsm + ((<usize>b) << 2))));
          acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(r), d));
        }
        if (bias) acc = f32x4.add(acc, v128.load(bias + ((<usize>j) << 2)));
        v128.store(om + ((<usize>j) << 2), acc);
      }
      for (; j < je; j++) {
        const q0 = wq + <usize>j * <usize>k;
        const s0 = ws + <usize>j * wsb;
        let a0 = f32x4.splat(0);
        for (let b = 0; b < nblk; b++) {
          const xp = xqm + ((<usize>b) << 6);
          const dx = ldf(xsm + ((<usize>b) << 2));
          const d = dotBlock(q0 + ((<usize>b) << 5), v128.load(xp), v128.load(xp, 16), v128.load(xp, 32), v128.load(xp, 48));
          a0 = f32x4.add(a0, f32x4.mul(f32x4.convert_i32x4_s(d), f32x4.splat(dx * ldf(s0 + ((<usize>b) << 2)))));
        }
        let r0 = hsum(a0);
        if (bias) r0 += ldf(bias + ((<usize>j) << 2));
        store<f32>(om + ((<usize>j) << 2), r0);
      }
    }
  }
}

/**
 * The batched (prefill) Q8_0 matmul, float32 activations as they are: each cache block of NBLOCK weight
 * rows is expanded to float32 in `deq` (NBLOCK·k floats, one per thread) and multiplied by the f32
 * kernel, so the expansion is paid once per block and reused by every input row. j0 a multiple of 4.
 */
export function matmulQ8Batched(
  out: usize,
  x: usize,
  wq: usize,
  ws: usize,
  bias: usize,
  rows: i32,
  n: i32,
  k: i32,
  j0: i32,
  j1: i32,
  deq: usize,
): void {
  const nblk = k >> 5;
  const kb = (<usize>k) << 2;
  const groupEnd = n & ~3;
  for (let jb = j0; jb < j1; jb += NBLOCK) {
    const je = imin(jb + NBLOCK, j1);
    for (let j = jb; j < je; j++) {
      const dst = deq + <usize>(j - jb) * kb;
      let q: usize;
      let sc: usize;
      let qStep: usize;
      let sStep: usize;
      if (j < groupEnd) {
        const g = <usize>(j & ~3);
        const r = <usize>(j & 3);
        q = wq + g * <usize>k + (r << 5);
        sc = ws + ((g * <usize>nblk + r) << 2);
        qStep = 128;
        sStep = 16;
      } else {
        q = wq + <usize>j * <usize>k;
        sc = ws + ((<usize>j * <usize>nblk) << 2);
        qStep = 32;
        sStep = 4;
      }
      for (let b = 0; b < nblk; b++) {
        const d = f32x4.splat(ldf(sc + <usize>b * sStep));
        const qp = q + <usize>b * qStep;
        const o = dst + ((<usize>b) << 7);
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
    // row j of the expanded block sits at deq + (j - jb)·k·4
    gemmBlock(out, x, deq - <usize>jb * kb, bias, rows, n, k, jb, je);
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

/** gelu_tanh(x) = ½x(1 + tanh(u)) = x·σ(2u), u = √(2/π)(x + 0.044715x³). */
export function geluTanh(x: usize, n: i32): void {
  const c1 = f32x4.splat(2 * 0.7978845608028654);
  const c3 = f32x4.splat(2 * 0.7978845608028654 * 0.044715);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = x + ((<usize>i) << 2);
    const v = v128.load(p);
    const z = f32x4.mul(v, f32x4.add(c1, f32x4.mul(c3, f32x4.mul(v, v))));
    v128.store(p, xsigmoid(v, z));
  }
  for (; i < n; i++) {
    const p = x + ((<usize>i) << 2);
    const v = f32x4.splat(ldf(p));
    const z = f32x4.mul(v, f32x4.add(c1, f32x4.mul(c3, f32x4.mul(v, v))));
    store<f32>(p, f32x4.extract_lane(xsigmoid(v, z), 0));
  }
}

export function silu(x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = x + ((<usize>i) << 2);
    const v = v128.load(p);
    v128.store(p, xsigmoid(v, v));
  }
  for (; i < n; i++) {
    const p = x + ((<usize>i) << 2);
    const v = f32x4.splat(ldf(p));
    store<f32>(p, f32x4.extract_lane(xsigmoid(v, v), 0));
  }
}

/** In place over one row: x[0..len) ← softmax, returning nothing; the caller zeroes any masked tail. */
function softmaxRow(p: usize, len: i32): void {
  let mv = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= len; i += 4) mv = f32x4.max(mv, v128.load(p + ((<usize>i) << 2)));
  let m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  for (; i < len; i++) m = max(m, ldf(p + ((<usize>i) << 2)));
  const ms = f32x4.splat(m);
  let sv = f32x4.splat(0);
  i = 0;
  for (; i + 4 <= len; i += 4) {
    const q = p + ((<usize>i) << 2);
    const e = expv(f32x4.sub(v128.load(q), ms));
    v128.store(q, e);
    sv = f32x4.add(sv, e);
  }
  let s = hsum(sv);
  for (; i < len; i++) {
    const q = p + ((<usize>i) << 2);
    const e = exps(ldf(q) - m);
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
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  for (; d + 4 <= hd; d += 4) {
    const o = (<usize>d) << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  let s = hsum(f32x4.add(s0, s1));
  for (; d < hd; d++) s += ldf(a + ((<usize>d) << 2)) * ldf(b + ((<usize>d) << 2));
  return s;
}

/**
 * Causal attention for query heads [h0, h1) (see Backend.attention). scores: scratch of pos0+t floats.
 * probs: 0, or [nHeads, t, pos0+t].
 */
export function attention(
  out: usize,
  q: usize,
  kc: usize,
  vc: usize,
  t: i32,
  pos0: i32,
  nHeads: i32,
  nKv: i32,
  hd: i32,
  probs: usize,
  scores: usize,
  h0: i32,
  h1: i32,
): void {
  const qStride = (<usize>(nHeads * hd)) << 2;
  const kvStride = (<usize>(nKv * hd)) << 2;
  const group = nHeads / nKv;
  const scale: f32 = <f32>(1.0 / Math.sqrt(<f64>hd));
  const total = pos0 + t;
  const hd16 = hd & ~15;
  const hd4 = hd & ~3;
  for (let h = h0; h < h1; h++) {
    const kvOff = (<usize>((h / group) * hd)) << 2;
    for (let i = 0; i < t; i++) {
      const qp = q + <usize>i * qStride + ((<usize>(h * hd)) << 2);
      const len = pos0 + i + 1;
      for (let j = 0; j < len; j++) {
        store<f32>(scores + ((<usize>j) << 2), dot(qp, kc + <usize>j * kvStride + kvOff, hd) * scale);
      }
      softmaxRow(scores, len);
      if (probs) {
        const pp = probs + ((<usize>((h * t + i) * total)) << 2);
        memory.copy(pp, scores, (<usize>len) << 2);
        for (let j = len; j < total; j++) store<f32>(pp + ((<usize>j) << 2), 0);
      }
      const op = out + <usize>i * qStride + ((<usize>(h * hd)) << 2);
      // out = Σ_j p_j · v_j, sixteen dims at a time held in registers across all j
      let d = 0;
      for (; d < hd16; d += 16) {
        const vo = vc + kvOff + ((<usize>d) << 2);
        let a0 = f32x4.splat(0);
        let a1 = f32x4.splat(0);
        let a2 = f32x4.splat(0);
        let a3 = f32x4.splat(0);
        for (let j = 0; j < len; j++) {
          const pj = f32x4.splat(ldf(scores + ((<usize>j) << 2)));
          const vp = vo + <usize>j * kvStride;
          a0 = f32x4.add(a0, f32x4.mul(pj, v128.load(vp)));
          a1 = f32x4.add(a1, f32x4.mul(pj, v128.load(vp, 16)));
          a2 = f32x4.add(a2, f32x4.mul(pj, v128.load(vp, 32)));
          a3 = f32x4.add(a3, f32x4.mul(pj, v128.load(vp, 48)));
        }
        const o = op + ((<usize>d) << 2);
        v128.store(o, a0);
        v128.store(o, a1, 16);
        v128.store(o, a2, 32);
        v128.store(o, a3, 48);
      }
      for (; d < hd4; d += 4) {
        const vo = vc + kvOff + ((<usize>d) << 2);
        let a0 = f32x4.splat(0);
        for (let j = 0; j < len; j++) {
          a0 = f32x4.add(a0, f32x4.mul(f32x4.splat(ldf(scores + ((<usize>j) << 2))), v128.load(vo + <usize>j * kvStride)));
        }
        v128.store(op + ((<usize>d) << 2), a0);
      }
      for (; d < hd; d++) {
        const vo = vc + kvOff + ((<usize>d) << 2);
        let a: f32 = 0;
        for (let j = 0; j < len; j++) a += ldf(scores + ((<usize>j) << 2)) * ldf(vo + <usize>j * kvStride);
        store<f32>(op + ((<usize>d) << 2), a);
      }
    }
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
