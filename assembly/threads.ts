// Kernels for measuring the threads and the wasm ceiling (re-exported by kernels.ts; see bench/bench.ts).
//
// fmaPeak: the most f32 arithmetic a 128-bit wasm loop can do, with nothing read from memory — twelve
// independent four-lane multiply-add chains (enough to hide the latency of two FMA ports: 2 × ~4-5
// cycles), the same fused/unfused form as the matmul kernels (relaxed_madd in the relaxed build). Its
// GFLOP/s at 1 and 2 threads is the ceiling against which the prefill matmuls are judged.

import { fma } from './simd';

/** FLOPs of one iteration of fmaPeak: 12 chains × 4 lanes × (multiply + add). */
export function fmaPeakFlops(): i32 {
  return 96;
}

/**
 * Runs iterations [i0, i1) of twelve multiply-add chains in registers and stores their sum at `out`
 * (so the loop is not optimised away; per-thread scratch under the pool). a·0.999 + 0.001 stays finite.
 */
export function fmaPeak(out: usize, i0: i32, i1: i32): void {
  const m = f32x4.splat(0.999);
  const c = f32x4.splat(0.001);
  let a0 = f32x4.splat(1.0);
  let a1 = f32x4.splat(1.1);
  let a2 = f32x4.splat(1.2);
  let a3 = f32x4.splat(1.3);
  let a4 = f32x4.splat(1.4);
  let a5 = f32x4.splat(1.5);
  let a6 = f32x4.splat(1.6);
  let a7 = f32x4.splat(1.7);
  let a8 = f32x4.splat(1.8);
  let a9 = f32x4.splat(1.9);
  let a10 = f32x4.splat(2.0);
  let a11 = f32x4.splat(2.1);
  for (let i = i0; i < i1; i++) {
    a0 = fma(a0, m, c);
    a1 = fma(a1, m, c);
    a2 = fma(a2, m, c);
    a3 = fma(a3, m, c);
    a4 = fma(a4, m, c);
    a5 = fma(a5, m, c);
    a6 = fma(a6, m, c);
    a7 = fma(a7, m, c);
    a8 = fma(a8, m, c);
    a9 = fma(a9, m, c);
    a10 = fma(a10, m, c);
    a11 = fma(a11, m, c);
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7))),
    f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)),
  );
  v128.store(out, s);
}

// ---------------------------------------------------------------------------------------------------
// The row-wise and elementwise kernels with a range, so that the pool can split them at prefill sizes
// (512 rows of layer norm, residual adds of 512 × 768): the same kernels in kernels.ts, on rows
// [r0, r1) or values [i0, i1) — chunk bounds are the pool's last two arguments.

import { add, layerNorm, mul, rmsNorm } from './kernels';

/** layerNorm of rows [r0, r1). */
export function layerNormRows(out: usize, x: usize, g: usize, bt: usize, dim: i32, eps: f32, r0: i32, r1: i32): void {
  const o = (<usize>r0 * <usize>dim) << 2;
  layerNorm(out + o, x + o, g, bt, r1 - r0, dim, eps);
}

/** rmsNorm of rows [r0, r1). */
export function rmsNormRows(out: usize, x: usize, g: usize, dim: i32, eps: f32, r0: i32, r1: i32): void {
  const o = (<usize>r0 * <usize>dim) << 2;
  rmsNorm(out + o, x + o, g, r1 - r0, dim, eps);
}

/** add of values [i0, i1). */
export function addRange(out: usize, a: usize, b: usize, i0: i32, i1: i32): void {
  const o = (<usize>i0) << 2;
  add(out + o, a + o, b + o, i1 - i0);
}

/** mul of values [i0, i1). */
export function mulRange(out: usize, a: usize, b: usize, i0: i32, i1: i32): void {
  const o = (<usize>i0) << 2;
  mul(out + o, a + o, b + o, i1 - i0);
}
