// The score terms every attention kernel shares (see ScoreTerms in src/tensor/backend.ts): the sliding
// window's first visible key and the soft-cap of a row of scores. Written once for kernels.ts and t5.ts.

/**
 * The first key a query at absolute position p sees: p − window + 1 under a sliding window (window > 0,
 * causal only: valid < 0), else 0. Hugging Face's rule: key j is visible iff p − window < j ≤ p.
 */
@inline export function windowStart(p: i32, valid: i32, window: i32): i32 {
  if (window <= 0 || valid >= 0) return 0;
  const lo = p - window + 1;
  return lo > 0 ? lo : 0;
}

/** Soft-capping, in place over n f32 scores at s: x ← cap·tanh(x / cap) (tanh in f64, Gemma 2). */
export function softcapRow(s: usize, n: i32, cap: f32): void {
  const c = <f64>cap;
  for (let j = 0; j < n; j++) {
    const p = s + ((<usize>j) << 2);
    store<f32>(p, <f32>(c * Math.tanh(<f64>load<f32>(p) / c)));
  }
}
