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

