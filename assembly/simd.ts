// The small SIMD helpers every kernel file uses (kernels.ts and the files it re-exports), written once.
// All @inline: they cost nothing over writing the instructions in place.

/** The sum of a vector's four lanes. */
@inline export function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))
  );
}

@inline export function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

/**
 * a·b + c on four lanes: one fused instruction where the build has relaxed SIMD (kernels-relaxed*.wasm,
 * chosen at run time where the engine supports it), else a multiply and an add.
 */
@inline export function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** The largest |x| of the 32 floats at p (a quantization block: the scale of Q8_0 and int16 inputs). */
@inline export function absMax32(p: usize): f32 {
  let m0 = f32x4.abs(v128.load(p));
  let m1 = f32x4.abs(v128.load(p, 16));
  m0 = f32x4.max(m0, f32x4.abs(v128.load(p, 32)));
  m1 = f32x4.max(m1, f32x4.abs(v128.load(p, 48)));
  m0 = f32x4.max(m0, f32x4.abs(v128.load(p, 64)));
  m1 = f32x4.max(m1, f32x4.abs(v128.load(p, 80)));
  m0 = f32x4.max(m0, f32x4.abs(v128.load(p, 96)));
  m1 = f32x4.max(m1, f32x4.abs(v128.load(p, 112)));
  m0 = f32x4.max(m0, m1);
  return max(
    max(f32x4.extract_lane(m0, 0), f32x4.extract_lane(m0, 1)),
    max(f32x4.extract_lane(m0, 2), f32x4.extract_lane(m0, 3)),
  );
}

/**
 * Loads one byte or word of every 64-byte line of the `bytes` at p (none past them); keep receives their
 * XOR (a store, so that no compiler drops the loads; the caller's output overwrites it). A loop of nothing but loads keeps many
 * cache misses in flight at once, as the tiles' multiply-adds, between their loads, cannot: with the
 * weights streaming from memory, GPT-2 124M's LM head at 4 rows took 16-20 ms (one thread) read by the
 * tiles alone and 11-12 ms touched first (its compute alone, in cache, ~7 ms; the read alone ~6 ms), and a
 * whole decode step of 4 sequences 58 → 44 CPU ms (2 sequences 52 → 37; 1 sequence, which runs
 * matmulF32, 20).
 */
@inline export function touch(p: usize, bytes: usize, keep: usize): void {
  let t: i32 = 0;
  const end = p + bytes;
  let q = p;
  for (; q + 256 <= end; q += 256) t ^= load<i32>(q) ^ load<i32>(q, 64) ^ load<i32>(q, 128) ^ load<i32>(q, 192);
  for (; q < end; q += 64) t ^= load<i8>(q);
  store<i32>(keep, t);
}

