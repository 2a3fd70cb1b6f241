// Q8_0 × Q8_0: the decode matmul for Q8_0 weights with int8 activations, as llama.cpp does it.
// Re-exported by assembly/kernels.ts (the build's entry file); same conventions: every argument is a byte
// offset into linear memory, threads split the output rows.
//
// The activations are quantized the way Q8_0 weights are (quantizeRowQ8: per block of 32 values one
// float32 scale d = max|x| / 127 and 32 int8 in [-127, 127]), so that a block's contribution to a dot
// product is d_w · d_x · Σ w·x with Σ w·x an exact integer sum of 32 int8 products.
//
// The integer sum. Relaxed SIMD's i16x8.relaxed_dot_i8x16_i7x16_s(a, b) multiplies bytes and adds
// adjacent products into i16 lanes, with a signed and b defined only while its top bit is clear (b in
// [0, 127]: x64 engines read b as unsigned, V8 emits pmaddubsw; others signed). Neither w nor x is in
// [0, 127], so the sign moves across as in llama.cpp's AVX2 path:
//   b = |x|                  in [0, 127] (x is never -128: quantizeRowQ8 rounds into [-127, 127])
//   a = w · sign(x)          computed as (w XOR m) -sat m, with m = 0 or -1 (x's sign) per byte
// so a·b = w·x exactly — except w = -128 against a negative x, where -(-128) saturates to 127 (the product
// counts w as -127; llama.cpp's _mm256_sign_epi8 wraps it to -128 instead). Q8_0 weights quantized with
// d = max|w| / 127, as llama.cpp and quantizeMatrixQ8_0 do, never hold -128. The pair sums inside
// pmaddubsw cannot saturate: |a·b + a'·b'| ≤ 2·127·127 < 2^15.
//
// Without relaxed SIMD (the plain builds) the same integer sum is made with i8 → i16 widening and
// i32x4.dot_i16x8_s. The backend does not use it there: it keeps matmulQ8 (int16 activations), as fast
// without relaxed SIMD and more precise. Prefill (matmulQ8Batched, float32 activations) is unchanged.

import { absMax32 } from './simd';

/**
 * x[rows, k] float32 → xq (2·rows·k bytes) + xs[rows, k/32] float32 scales, per block of 32: d = max|x| /
 * 127, q = round(x / d) in [-127, 127] (0 for a block of zeros), stored as matmulQ8Dot reads it — per
 * block 32 bytes |q| then 32 bytes of sign masks (-1 where q < 0, else 0). The magnitudes and signs are
 * made once per input row here rather than for every group of four weight rows in the product (one
 * thread, old and new kernels alternating in one process: 2304×768 from memory 79–84 → 74–82 µs, 768×768
 * in cache 21.3 → 19.3 µs, four rows of 3072×768 396 → 371 µs). k a multiple of 32.
 */
export function quantizeRowQ8(x: usize, rows: i32, k: i32, xq: usize, xs: usize): void {
  const nb = (rows * k) >> 5;
  for (let b = 0; b < nb; b++) {
    const p = x + ((<usize>b) << 7);
    const amax = absMax32(p); // the block's largest magnitude
    // the scale and its inverse
    const d: f32 = amax / 127.0;
    const id = f32x4.splat(d != 0 ? <f32>1.0 / d : <f32>0.0);
    store<f32>(xs + ((<usize>b) << 2), d);
    // round to nearest, narrow i32 → i16 → i8 (saturating: |x/d| ≤ 127 up to an ulp, so never -128)
    const q = xq + ((<usize>b) << 6);
    for (let h = 0; h < 2; h++) {
      const o = p + ((<usize>h) << 6);
      const a0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(o), id)));
      const a1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(o, 16), id)));
      const a2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(o, 32), id)));
      const a3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(o, 48), id)));
      const lo = i16x8.narrow_i32x4_s(a0, a1);
      const hi = i16x8.narrow_i32x4_s(a2, a3);
      const v = i8x16.narrow_i16x8_s(lo, hi);
      // |q| in the block's first 32 bytes, its sign mask in the next 32
      v128.store(q + ((<usize>h) << 4), i8x16.abs(v));
      v128.store(q + ((<usize>h) << 4), i8x16.lt_s(v, i8x16.splat(0)), 32);
    }
  }
}

/** Σ over one block of 32 int8 weights at wp times x, given as |x| (ax0, ax1) and sign masks (m0, m1): four i32 lanes. */
@inline function dotBlock8(wp: usize, ax0: v128, ax1: v128, m0: v128, m1: v128): v128 {
  // the sign of x onto w: (w XOR m) - m, saturating (see the header for w = -128)
  const s0 = i8x16.sub_sat_s(v128.xor(v128.load(wp), m0), m0);
  const s1 = i8x16.sub_sat_s(v128.xor(v128.load(wp, 16), m1), m1);
  if (ASC_FEATURE_RELAXED_SIMD) {
    // products summed in pairs to i16 (pmaddubsw; |pair| ≤ 2·127·127, no saturation), then in pairs to i32
    // (extadd_pairwise: V8 emits pmaddwd by a ones constant in memory). i32x4.relaxed_dot_i8x16_i7x16_add_s
    // does both and the add, but V8 without AVX-VNNI emits it as five instructions, making the ones in a
    // register each time, as it does for i32x4.dot_i16x8_s(p, splat(1)): both measured no faster than the
    // int16 kernel; this form is ~1.3x faster with the matrix in cache (one thread).
    const p0 = i16x8.relaxed_dot_i8x16_i7x16_s(s0, ax0);
    const p1 = i16x8.relaxed_dot_i8x16_i7x16_s(s1, ax1);
    return i32x4.add(i32x4.extadd_pairwise_i16x8_s(p0), i32x4.extadd_pairwise_i16x8_s(p1));
  }
  // plain SIMD: both widened to i16, products summed in pairs to i32
  let s = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(s0), i16x8.extend_low_i8x16_s(ax0));
  s = i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(s0), i16x8.extend_high_i8x16_s(ax0)));
  s = i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(s1), i16x8.extend_low_i8x16_s(ax1)));
  return i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(s1), i16x8.extend_high_i8x16_s(ax1)));
}

/** [Σ lanes of a, Σ lanes of b, Σ lanes of c, Σ lanes of d], i32 lanes. */
@inline function reduce4i(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i64>(ab, cd, 0, 2), v128.shuffle<i64>(ab, cd, 1, 3));
}

/**
 * out[m, j] = Σ_b dw[j, b] · dx[m, b] · Σ_{i in b} w[j, i] · q[m, i] (+ bias[j]) for j in [j0, j1), from
 * xq (q as magnitudes and sign masks, 2·k bytes per input row) and xs made by quantizeRowQ8. Weights at
 * w in matmulQ8's layout (assembly/kernels.ts: one stream, groups of four rows interleaved by 32-block
 * with the four scales after each block's quants, the rest row by row); j0 a multiple of 4.
 */
export function matmulQ8Dot(
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
  const rb = <usize>nblk * 36; // weight bytes per row
  const xsb = (<usize>nblk) << 2; // scale bytes per input row
  const nb = (<usize>n) << 2;
  const groupEnd = n & ~3;
  // several input rows: 32 weight rows at a time against each input row (they stay in cache)
  const BLK: i32 = rows == 1 ? j1 - j0 : 32;
  for (let jb = j0; jb < j1; jb += BLK) {
    const je = j1 < jb + BLK ? j1 : jb + BLK;
    for (let m = 0; m < rows; m++) {
      const xqm = xq + ((<usize>m * <usize>k) << 1);
      const xsm = xs + <usize>m * xsb;
      const om = out + <usize>m * nb;
      let j = jb;
      // groups of four rows: one sequential stream, the four rows' scales of a block in one v128
      for (; j + 4 <= je && j < groupEnd; j += 4) {
        let gp = w + <usize>j * rb;
        let acc = f32x4.splat(0);
        for (let b = 0; b < nblk; b++) {
          // x's block as magnitudes and sign masks
          const xp = xqm + ((<usize>b) << 6);
          const ax0 = v128.load(xp);
          const ax1 = v128.load(xp, 16);
          const m0 = v128.load(xp, 32);
          const m1 = v128.load(xp, 48);
          // the four rows' integer sums, then one float multiply-add for all four
          const r = reduce4i(
            dotBlock8(gp, ax0, ax1, m0, m1),
            dotBlock8(gp + 32, ax0, ax1, m0, m1),
            dotBlock8(gp + 64, ax0, ax1, m0, m1),
            dotBlock8(gp + 96, ax0, ax1, m0, m1),
          );
          const d = f32x4.mul(v128.load(gp, 128), f32x4.splat(load<f32>(xsm + ((<usize>b) << 2))));
          acc = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(r), d), acc);
          gp += 144;
        }
        if (bias) acc = f32x4.add(acc, v128.load(bias + ((<usize>j) << 2)));
        v128.store(om + ((<usize>j) << 2), acc);
      }
      // rows past the last whole group: per block, 32 quants then the scale
      for (; j < je; j++) {
        let bp = w + <usize>j * rb;
        let a0: f32 = 0;
        for (let b = 0; b < nblk; b++) {
          const xp = xqm + ((<usize>b) << 6);
          const s = dotBlock8(bp, v128.load(xp), v128.load(xp, 16), v128.load(xp, 32), v128.load(xp, 48));
          const t =
            i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + (i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3));
          a0 += <f32>t * (load<f32>(xsm + ((<usize>b) << 2)) * load<f32>(bp + 32));
          bp += 36;
        }
        if (bias) a0 += load<f32>(bias + ((<usize>j) << 2));
        store<f32>(om + ((<usize>j) << 2), a0);
      }
    }
  }
}
