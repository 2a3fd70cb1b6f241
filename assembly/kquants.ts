// Matmul kernels for weights kept in ggml's blocks: Q4_0, Q4_K, Q5_K, Q6_K (re-exported by kernels.ts, so
// they are part of kernels*.wasm). The weights are GGUF's bytes as they are, row-major: row j of a matrix
// of k columns starts at w + j·rowBytes(type, k). Each block's levels are unpacked in SIMD registers
// (nibbles and high bits → int8 lanes) and multiplied there, never written out: by the input rounded to
// int16 per 32-block for decode (integer dot products, as matmulQ8 does), by float32 inputs for prefill
// (the batched kernel expands a tile of rows to float32 once and reuses it for every input row, as
// matmulQ8Batched does).
//
// Block layouts (ggml-common.h; every f16 little-endian; src/tensor/ggml-quant.ts decodes the same):
//   Q4_0  32 values, 18 B: f16 d | u8 qs[16]. Value i < 16: low nibble of qs[i]; i ≥ 16: high nibble of
//         qs[i − 16]. x = d·(q − 8).
//   Q4_K  256 values, 144 B: f16 d | f16 dmin | u8 scales[12] | u8 qs[128]. 8 sub-blocks of 32 with a 6-bit
//         scale sc and a 6-bit min m each (packed: kScaleMin). 64-value chunk c (0..3) uses qs[32c .. 32c+31]:
//         low nibbles are sub-block 2c, high nibbles sub-block 2c+1. x = d·sc·q − dmin·m.
//   Q5_K  256 values, 176 B: f16 d | f16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128]. As Q4_K, plus a fifth
//         bit: for value l of sub-block 2c it is bit 2c of qh[l], for sub-block 2c+1 bit 2c+1. q in 0..31.
//   Q6_K  256 values, 210 B: u8 ql[128] | u8 qh[64] | i8 scales[16] | f16 d. Two halves of 128; half h
//         uses ql[64h ..], qh[32h ..], scales[8h ..]. In a half, value l + 32t (t = 0..3, l < 32) has its low
//         4 bits in ql[l] (t = 0: low nibble, t = 2: high nibble) or ql[l + 32] (t = 1 low, t = 3 high), its
//         high 2 bits in qh[l] >> 2t, and scale scales[l/16 + 2t]. x = d·scale·(q − 32).
//
// Types are named by ggml's type ids (what GGUF stores): Q4_0 = 2, Q4_K = 12, Q5_K = 13, Q6_K = 14.

import { BATCH_ROWS, KC, packPanels, panelTiles } from './kernels';
import { fma, hsum, imin } from './simd';

const Q4_0: i32 = 2;
const Q4_K: i32 = 12;
const Q5_K: i32 = 13;
const Q6_K: i32 = 14;

/** IEEE half → float (normal, subnormal, zero, inf/NaN). */
@inline function half(p: usize): f32 {
  const h = <u32>load<u16>(p);
  const s = (h & 0x8000) << 16;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e == 0) {
    const v = <f32>m * 5.9604644775390625e-8; // m · 2⁻²⁴
    return s ? -v : v;
  }
  if (e == 31) return reinterpret<f32>(s | 0x7f800000 | (m << 13));
  return reinterpret<f32>(s | ((e + 112) << 23) | (m << 13));
}

/** Bytes of one row of k values in `type` (k a whole number of blocks). */
@inline function rowBytes(type: i32, k: i32): usize {
  if (type == Q4_0) return <usize>(k >> 5) * 18;
  if (type == Q4_K) return <usize>(k >> 8) * 144;
  if (type == Q5_K) return <usize>(k >> 8) * 176;
  return <usize>(k >> 8) * 210;
}

/** The 6-bit scale (low byte) and min (high byte) of sub-block j of a K-quant whose 12 scale bytes are at s. */
@inline function scaleMin(s: usize, j: i32): u32 {
  if (j < 4) return (<u32>load<u8>(s + j) & 63) | ((<u32>load<u8>(s + j + 4) & 63) << 8);
  const b = <u32>load<u8>(s + j + 4);
  const sc = (b & 0x0f) | ((<u32>load<u8>(s + j - 4) >> 6) << 4);
  const m = (b >> 4) | ((<u32>load<u8>(s + j) >> 6) << 4);
  return sc | (m << 8);
}

/** Σ over 16 values: the int8 lanes of q (as float32) times the float32 x[0..15] at xp, as four lanes. */
@inline function dot16(q: v128, xp: usize): v128 {
  const lo = i16x8.extend_low_i8x16_s(q);
  const hi = i16x8.extend_high_i8x16_s(q);
  const a = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), v128.load(xp));
  const b = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), v128.load(xp, 16));
  const c = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), v128.load(xp, 32));
  const d = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), v128.load(xp, 48));
  return f32x4.add(f32x4.add(a, b), f32x4.add(c, d));
}

/** Σ of the 32 float32 values at xp, as four lanes (the min term of Q4_K / Q5_K: −dmin·m·Σx). */
@inline function sum32(xp: usize): v128 {
  const a = f32x4.add(v128.load(xp), v128.load(xp, 16));
  const b = f32x4.add(v128.load(xp, 32), v128.load(xp, 48));
  const c = f32x4.add(v128.load(xp, 64), v128.load(xp, 80));
  const d = f32x4.add(v128.load(xp, 96), v128.load(xp, 112));
  return f32x4.add(f32x4.add(a, b), f32x4.add(c, d));
}

/** 16 int8 lanes of q (as float32) · scale − min, stored as 16 floats at dst. */
@inline function store16(q: v128, dst: usize, scale: v128, min: v128): void {
  const lo = i16x8.extend_low_i8x16_s(q);
  const hi = i16x8.extend_high_i8x16_s(q);
  v128.store(dst, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), scale), min));
  v128.store(dst, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), scale), min), 16);
  v128.store(dst, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), scale), min), 32);
  v128.store(dst, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), scale), min), 48);
}

// ---------------------------------------------------------------------------------------------------
// Unpacking: each type's levels as int8 lanes, 16 values per v128 (the shared step of dot and expand).

/**
 * Q5_K's 16 levels: nibbles `nib` (0..15) plus 16 where bit `bit` of the qh byte in h is set (a compare, not
 * a shift: byte shifts by a variable amount are emulated on x86).
 */
@inline function fifth(nib: v128, h: v128, bit: i32): v128 {
  const set = i8x16.ne(v128.and(h, i8x16.splat(<i8>(<i8>1 << <i8>bit))), i8x16.splat(0));
  return v128.or(nib, v128.and(set, i8x16.splat(16)));
}

/**
 * Sixteen levels of a Q4_K / Q5_K block's sub-block pair c (of 4), quants at qs, Q5_K's fifth bits at qh:
 * part 0, 1 = sub-block 2c (low nibbles of qs[32c .. 32c + 15], [32c + 16 .. 32c + 31]); part 2, 3 =
 * sub-block 2c + 1 (the high nibbles of the same bytes). Both the dot product and the expansion read
 * them through this.
 */
@inline function levelsK(qs: usize, qh: usize, c: i32, part: i32, five: bool): v128 {
  const half = (<usize>(part & 1)) << 4;
  const v = v128.load(qs + ((<usize>c) << 5) + half);
  const q = part < 2 ? v128.and(v, i8x16.splat(0x0f)) : i8x16.shr_u(v, 4);
  return five ? fifth(q, v128.load(qh + half), 2 * c + (part >> 1)) : q;
}

/** Q6_K's 16 levels − 32: low 4 bits `nib`, high 2 bits at bit `bit` of each qh byte in h. */
@inline function six(nib: v128, h: v128, bit: i32): v128 {
  const q = v128.or(nib, i8x16.shl(v128.and(i8x16.shr_u(h, bit), i8x16.splat(3)), 4));
  return i8x16.sub(q, i8x16.splat(32));
}

// ---------------------------------------------------------------------------------------------------
// Decode: one weight row · one input row.
//
// The input row arrives as quantizeX16 leaves it (kernels.ts: each block of 32 values rounded to int16
// with a float32 scale xs, |error| ≤ 2⁻¹⁶ of the block's largest value — far under what 4–6-bit weights
// lose), so the inner loop is integer: the weight levels, unpacked to int8 lanes, widened to int16 and
// multiplied by i32x4.dot_i16x8_s; one float multiply-add per sub-block applies d·scale·xs. Q4_K / Q5_K's
// min term, dmin·m·Σx, comes from the row's block sums (sumX32: float32 Σ of each 32 values), made once per
// call and shared by every weight row.

/** Σ over 16 values: int8 lanes q widened to int16 · the int16 x at xp, as four i32 lanes. */
@inline function idot16(q: v128, xp: usize): v128 {
  const a = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(q), v128.load(xp));
  return i32x4.add(a, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(q), v128.load(xp, 16)));
}

/** x[rows, k] float32 → dst[rows, k/32]: the sum of each block of 32 values (Q4_K / Q5_K's min term). */
export function sumX32(x: usize, rows: i32, k: i32, dst: usize): void {
  const nb = (rows * k) >> 5;
  for (let b = 0; b < nb; b++) store<f32>(dst + ((<usize>b) << 2), hsum(sum32(x + ((<usize>b) << 7))));
}

/** A Q4_0 row (nb blocks) · the int16 row xq with block scales xs. */
function dotQ4_0(w: usize, xq: usize, xs: usize, nb: i32): f32 {
  const mask = i8x16.splat(0x0f);
  const eight = i8x16.splat(8);
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const p = w + <usize>b * 18;
    const xp = xq + ((<usize>b) << 6);
    const v = v128.load(p, 2);
    // values 0..15 in the low nibbles, 16..31 in the high ones; levels − 8 as int8
    const lo = i8x16.sub(v128.and(v, mask), eight);
    const hi = i8x16.sub(i8x16.shr_u(v, 4), eight);
    const s = i32x4.add(idot16(lo, xp), idot16(hi, xp + 32));
    acc = fma(f32x4.convert_i32x4_s(s), f32x4.splat(half(p) * load<f32>(xs + ((<usize>b) << 2))), acc);
  }
  return hsum(acc);
}

/** A Q4_K or Q5_K row (fifth bits from qh when `five`) · xq / xs, minus the min term from the sums xsum. */
function dotK(w: usize, xq: usize, xs: usize, xsum: usize, nb: i32, five: bool): f32 {
  let acc = f32x4.splat(0);
  let mins: f32 = 0;
  const size: usize = five ? 176 : 144;
  for (let b = 0; b < nb; b++) {
    const p = w + <usize>b * size;
    const d = half(p);
    const dmin = half(p + 2);
    const qs = p + (five ? 48 : 16);
    const qh = p + 16;
    for (let c = 0; c < 4; c++) {
      // sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles) of qs[32c .. 32c + 31]: input blocks 8b + 2c, + 1
      const sm1 = scaleMin(p + 4, 2 * c);
      const sm2 = scaleMin(p + 4, 2 * c + 1);
      const a0 = levelsK(qs, qh, c, 0, five);
      const a1 = levelsK(qs, qh, c, 1, five);
      const b0 = levelsK(qs, qh, c, 2, five);
      const b1 = levelsK(qs, qh, c, 3, five);
      const blk = (<usize>b << 3) + ((<usize>c) << 1);
      const x1 = xq + (blk << 6);
      const s1 = i32x4.add(idot16(a0, x1), idot16(a1, x1 + 32));
      const s2 = i32x4.add(idot16(b0, x1 + 64), idot16(b1, x1 + 96));
      const xs1 = load<f32>(xs + (blk << 2));
      const xs2 = load<f32>(xs + (blk << 2), 4);
      // Σ x·(d·sc·q − dmin·m) = d·sc·Σ x·q − dmin·m·Σ x
      acc = fma(f32x4.convert_i32x4_s(s1), f32x4.splat(d * <f32>(sm1 & 0xff) * xs1), acc);
      acc = fma(f32x4.convert_i32x4_s(s2), f32x4.splat(d * <f32>(sm2 & 0xff) * xs2), acc);
      const m1 = <f32>(sm1 >> 8) * load<f32>(xsum + (blk << 2));
      mins += dmin * (m1 + <f32>(sm2 >> 8) * load<f32>(xsum + (blk << 2), 4));
    }
  }
  return hsum(acc) - mins;
}

/** A Q6_K row · xq / xs. */
function dotQ6_K(w: usize, xq: usize, xs: usize, nb: i32): f32 {
  const mask = i8x16.splat(0x0f);
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const p = w + <usize>b * 210;
    const d = half(p + 208);
    for (let h = 0; h < 2; h++) {
      const ql = p + ((<usize>h) << 6);
      const qh = p + 128 + ((<usize>h) << 5);
      const sc = p + 192 + ((<usize>h) << 3);
      // the four 32-runs t of this half are input blocks 8b + 4h + t
      const blk = (<usize>b << 3) + ((<usize>h) << 2);
      const xh = xq + (blk << 6);
      const xsh = xs + (blk << 2);
      const ds0 = d * load<f32>(xsh);
      const ds1 = d * load<f32>(xsh, 4);
      const ds2 = d * load<f32>(xsh, 8);
      const ds3 = d * load<f32>(xsh, 12);
      for (let g = 0; g < 2; g++) {
        // values 16g .. 16g + 15 of each run; scale l/16 + 2t = g + 2t
        const o = (<usize>g) << 4;
        const a = v128.load(ql + o);
        const c = v128.load(ql + 32 + o);
        const hq = v128.load(qh + o);
        const xg = xh + (o << 1);
        const s1 = idot16(six(v128.and(a, mask), hq, 0), xg);
        const s2 = idot16(six(v128.and(c, mask), hq, 2), xg + 64);
        const s3 = idot16(six(i8x16.shr_u(a, 4), hq, 4), xg + 128);
        const s4 = idot16(six(i8x16.shr_u(c, 4), hq, 6), xg + 192);
        acc = fma(f32x4.convert_i32x4_s(s1), f32x4.splat(ds0 * <f32>load<i8>(sc + g)), acc);
        acc = fma(f32x4.convert_i32x4_s(s2), f32x4.splat(ds1 * <f32>load<i8>(sc + g + 2)), acc);
        acc = fma(f32x4.convert_i32x4_s(s3), f32x4.splat(ds2 * <f32>load<i8>(sc + g + 4)), acc);
        acc = fma(f32x4.convert_i32x4_s(s4), f32x4.splat(ds3 * <f32>load<i8>(sc + g + 6)), acc);
      }
    }
  }
  return hsum(acc);
}

/**
 * The decode (few input rows) matmul for weights in ggml blocks: out[m, j] = Σ_i x[m, i] · W[j, i] (+ bias[j])
 * for m < rows, j in [j0, j1), from x as quantizeX16 leaves it (xq int16 [rows, k], xs [rows, k/32]) and
 * its block sums xsum = sumX32(x) (read by Q4_K / Q5_K only). out has row stride n (the caller may point
 * out and bias at a part of a matrix whose rows come in several types).
 */
export function matmulQuant(
  type: i32,
  out: usize,
  xq: usize,
  xs: usize,
  xsum: usize,
  w: usize,
  bias: usize,
  rows: i32,
  n: i32,
  k: i32,
  j0: i32,
  j1: i32,
): void {
  const rb = rowBytes(type, k);
  const nb = (<usize>n) << 2;
  const qb = (<usize>k) << 1; // int16 bytes per input row
  const sb = (<usize>(k >> 5)) << 2; // scale (and sum) bytes per input row
  for (let j = j0; j < j1; j++) {
    const wj = w + <usize>j * rb;
    const bj: f32 = bias ? load<f32>(bias + ((<usize>j) << 2)) : 0;
    for (let m = 0; m < rows; m++) {
      const xqm = xq + <usize>m * qb;
      const xsm = xs + <usize>m * sb;
      let s: f32;
      if (type == Q4_0) s = dotQ4_0(wj, xqm, xsm, k >> 5);
      else if (type == Q4_K) s = dotK(wj, xqm, xsm, xsum + <usize>m * sb, k >> 8, false);
      else if (type == Q5_K) s = dotK(wj, xqm, xsm, xsum + <usize>m * sb, k >> 8, true);
      else s = dotQ6_K(wj, xqm, xsm, k >> 8);
      store<f32>(out + <usize>m * nb + ((<usize>j) << 2), s + bj);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Prefill: blocks expanded to float32 (one row's values [kk, kk + kc) at a time).

/** Blocks [b0, b1) of the row at w, as float32 at dst (b0's first value at dst). */
function expandRow(type: i32, w: usize, b0: i32, b1: i32, dst: usize): void {
  const mask = i8x16.splat(0x0f);
  const zero = f32x4.splat(0);
  if (type == Q4_0) {
    const eight = i8x16.splat(8);
    for (let b = b0; b < b1; b++) {
      const p = w + <usize>b * 18;
      const o = dst + ((<usize>(b - b0)) << 7);
      const d = f32x4.splat(half(p));
      const v = v128.load(p, 2);
      store16(i8x16.sub(v128.and(v, mask), eight), o, d, zero);
      store16(i8x16.sub(i8x16.shr_u(v, 4), eight), o + 64, d, zero);
    }
    return;
  }
  if (type == Q6_K) {
    for (let b = b0; b < b1; b++) {
      const p = w + <usize>b * 210;
      const d = half(p + 208);
      for (let h = 0; h < 2; h++) {
        const ql = p + ((<usize>h) << 6);
        const qh = p + 128 + ((<usize>h) << 5);
        const sc = p + 192 + ((<usize>h) << 3);
        const oh = dst + ((<usize>(b - b0)) << 10) + ((<usize>h) << 9);
        for (let g = 0; g < 2; g++) {
          const o = (<usize>g) << 4;
          const a = v128.load(ql + o);
          const c = v128.load(ql + 32 + o);
          const hq = v128.load(qh + o);
          const og = oh + (o << 2);
          store16(six(v128.and(a, mask), hq, 0), og, f32x4.splat(d * <f32>load<i8>(sc + g)), zero);
          store16(six(v128.and(c, mask), hq, 2), og + 128, f32x4.splat(d * <f32>load<i8>(sc + g + 2)), zero);
          store16(six(i8x16.shr_u(a, 4), hq, 4), og + 256, f32x4.splat(d * <f32>load<i8>(sc + g + 4)), zero);
          store16(six(i8x16.shr_u(c, 4), hq, 6), og + 384, f32x4.splat(d * <f32>load<i8>(sc + g + 6)), zero);
        }
      }
    }
    return;
  }
  // Q4_K, Q5_K
  const five = type == Q5_K;
  const size: usize = five ? 176 : 144;
  for (let b = b0; b < b1; b++) {
    const p = w + <usize>b * size;
    const d = half(p);
    const dmin = half(p + 2);
    const qs = p + (five ? 48 : 16);
    const qh = p + 16;
    const ob = dst + ((<usize>(b - b0)) << 10);
    for (let c = 0; c < 4; c++) {
      const sm1 = scaleMin(p + 4, 2 * c);
      const sm2 = scaleMin(p + 4, 2 * c + 1);
      const a0 = levelsK(qs, qh, c, 0, five);
      const a1 = levelsK(qs, qh, c, 1, five);
      const b0q = levelsK(qs, qh, c, 2, five);
      const b1q = levelsK(qs, qh, c, 3, five);
      const o1 = ob + ((<usize>c) << 8);
      const d1 = f32x4.splat(d * <f32>(sm1 & 0xff));
      const m1 = f32x4.splat(dmin * <f32>(sm1 >> 8));
      const d2 = f32x4.splat(d * <f32>(sm2 & 0xff));
      const m2 = f32x4.splat(dmin * <f32>(sm2 >> 8));
      store16(a0, o1, d1, m1);
      store16(a1, o1 + 64, d1, m1);
      store16(b0q, o1 + 128, d2, m2);
      store16(b1q, o1 + 192, d2, m2);
    }
  }
}

/**
 * The batched (prefill) matmul for weights in ggml blocks, float32 activations packed by packRows4 (xp):
 * each block of BATCH_ROWS weight rows × KC values is expanded to float32 in this thread's scratch
 * (batchedScratch(k) bytes, the same as matmulQ8Batched's), made into panels and multiplied by the f32
 * register tile, so the expansion is paid once per block for every input row. out has row stride n.
 */
export function matmulQuantBatched(
  type: i32,
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
  const rb = rowBytes(type, k);
  const bs = type == Q4_0 ? 32 : 256; // values per block (KC is a whole number of either)
  const kcMax = imin(k, KC);
  const deq = scratch + <usize>(BATCH_ROWS * (kcMax << 2));
  const tmp = deq + <usize>(BATCH_ROWS * (kcMax << 2));
  for (let jb = j0; jb < j1; jb += BATCH_ROWS) {
    const je = imin(jb + BATCH_ROWS, j1);
    for (let kk = 0; kk < k; kk += KC) {
      const kc = imin(KC, k - kk);
      const cb = (<usize>kc) << 2; // bytes of one expanded row
      for (let j = jb; j < je; j++)
        expandRow(type, w + <usize>j * rb, kk / bs, (kk + kc) / bs, deq + <usize>(j - jb) * cb);
      // the expanded block: row j at deq + (j - jb)·kc·4, i.e. a matrix of row stride kc from column 0
      packPanels(scratch, deq - <usize>jb * cb, jb, je, 0, kc, kc, false);
      panelTiles(out, xp, scratch, bias, rows, n, k, kk, kc, jb, je, tmp, kk == 0);
    }
  }
}
