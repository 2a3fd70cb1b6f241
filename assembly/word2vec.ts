// word2vec's inner loops (src/word2vec/train.ts) with 128-bit SIMD: one gradient step against one target
// vector, and y += a·x. Arguments are byte offsets into the shared linear memory where train-node.ts
// keeps the matrices (W, C, H) and each worker's scratch rows; rows need not be 16-byte aligned.

import { fma } from './simd';

/** x·y over n floats. */
@inline function dot(x: usize, y: usize, n: i32): f32 {
  let a = f32x4.splat(0);
  let b = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= n; k += 8) {
    const p = <usize>k << 2;
    a = fma(v128.load(x + p), v128.load(y + p), a);
    b = fma(v128.load(x + p, 16), v128.load(y + p, 16), b);
  }
  a = f32x4.add(a, b);
  let f: f32 =
    f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
  for (; k < n; k++) f += load<f32>(x + (<usize>k << 2)) * load<f32>(y + (<usize>k << 2));
  return f;
}

/** e += g·out; out += g·x (e takes out's value before the update). */
@inline function update(x: usize, out: usize, e: usize, g: f32, n: i32): void {
  const gv = f32x4.splat(g);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const p = <usize>k << 2;
    const o = v128.load(out + p);
    v128.store(e + p, fma(gv, o, v128.load(e + p)));
    v128.store(out + p, fma(gv, v128.load(x + p), o));
  }
  for (; k < n; k++) {
    const p = <usize>k << 2;
    const o = load<f32>(out + p);
    store<f32>(e + p, load<f32>(e + p) + g * o);
    store<f32>(out + p, o + g * load<f32>(x + p));
  }
}

/**
 * One target of one input x (a context vector in skip-gram, the context mean in CBOW):
 *   f = x·out;  g = alpha·(label − σ(f));  e += g·out;  out += g·x.
 * Returns f (for the loss). σ in float64, exactly.
 */
export function w2vTarget(x: usize, out: usize, e: usize, label: f32, alpha: f32, n: i32): f32 {
  const f = dot(x, out, n);
  update(x, out, e, <f32>(<f64>alpha * (<f64>label - 1.0 / (1.0 + Math.exp(-<f64>f)))), n);
  return f;
}

/** y += a·x over n floats. */
export function w2vAxpy(y: usize, x: usize, a: f32, n: i32): void {
  const av = f32x4.splat(a);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const p = <usize>k << 2;
    v128.store(y + p, f32x4.add(v128.load(y + p), f32x4.mul(av, v128.load(x + p))));
  }
  for (; k < n; k++) {
    const p = <usize>k << 2;
    store<f32>(y + p, load<f32>(y + p) + a * load<f32>(x + p));
  }
}

/**
 * Negative sampling for one input x, in one call: targets[0] is the word itself (label 1), targets[1..count)
 * the noise words (label 0, already drawn and ≠ the word); each is a w2vTarget step against its row of C.
 * zeroE: start e at 0 (else add to it: hierarchical softmax ran first); addToX: then x += e (skip-gram;
 * CBOW spreads e over its context itself). Returns the loss Σ −log σ(±f).
 */
export function w2vNegative(
  x: usize,
  e: usize,
  C: usize,
  dim: i32,
  targets: usize,
  count: i32,
  alpha: f32,
  zeroE: i32,
  addToX: i32,
): f64 {
  const bytes = <usize>dim << 2;
  if (zeroE) memory.fill(e, 0, bytes);
  let loss: f64 = 0;
  for (let d = 0; d < count; d++) {
    const out = C + <usize>load<i32>(targets + (<usize>d << 2)) * bytes;
    const f = <f64>dot(x, out, dim);
    // σ(f) = 1/(1 + e^−f); g = α·(label − σ(f)); the loss −log σ(f) = log(1 + e^−f) for the word,
    // −log σ(−f) = log(1 + e^−f) + f for noise
    const ex = Math.exp(-f);
    update(x, out, e, <f32>(<f64>alpha * ((d == 0 ? 1.0 : 0.0) - 1.0 / (1.0 + ex))), dim);
    loss += Math.log1p(ex) + (d == 0 ? 0 : f);
  }
  if (addToX) w2vAxpy(x, e, 1, dim);
  return loss;
}
