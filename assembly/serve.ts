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
// This one reads the weights in place, four rows at a time, each four-row block against every input row
// in pairs while the block is in cache: per step of four values, four weight loads and two input loads
// feed eight multiply-adds into eight accumulators (no repacking; a horizontal sum per output at the end).

/** a·b + c on four lanes: fused with relaxed SIMD (kernels-relaxed*.wasm), else a multiply and an add. */
@inline function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))
  );
}

/** One output: the lanes' sum, the scalar tail (values k4..k-1), the bias; stored at out + 4·(m·n + j). */
@inline function finish(
  acc: v128,
  x: usize,
  w: usize,
  k4: i32,
  k: i32,
  bias: usize,
  j: i32,
  op: usize,
): void {
  let s = hsum(acc);
  for (let i = k4; i < k; i++) s += load<f32>(x + ((<usize>i) << 2)) * load<f32>(w + ((<usize>i) << 2));
  if (bias) s += load<f32>(bias + ((<usize>j) << 2));
  store<f32>(op + ((<usize>j) << 2), s);
}

/**
 * The tile: W weight rows (j…j+W-1, W = 4 or 1) × R input rows (m, m+1; R = 2 or 1), all k values.
 * W and R are constants at every call: the inlined copies keep only the accumulators they use.
 * x, out: the input and output rows m; kb, nb: their strides in bytes.
 */
@inline function tile(
  W: i32,
  R: i32,
  out: usize,
  x: usize,
  w: usize,
  bias: usize,
  k: i32,
  j: i32,
  kb: usize,
  nb: usize,
): void {
  const k4 = k & ~3;
  const x0 = x;
  const x1 = x + kb;
  const w0 = w + <usize>j * kb;
  const w1 = w0 + kb;
  const w2 = w1 + kb;
  const w3 = w2 + kb;
  // accumulators: weight row r × input row s → a{r}{s}
  let a00 = f32x4.splat(0);
  let a01 = f32x4.splat(0);
  let a10 = f32x4.splat(0);
  let a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0);
  let a21 = f32x4.splat(0);
  let a30 = f32x4.splat(0);
  let a31 = f32x4.splat(0);
  for (let i = 0; i < k4; i += 4) {
    const o = (<usize>i) << 2;
    const xa = v128.load(x0 + o);
    const xb = R > 1 ? v128.load(x1 + o) : xa;
    let wv = v128.load(w0 + o);
    a00 = fma(xa, wv, a00);
    if (R > 1) a01 = fma(xb, wv, a01);
    if (W > 1) {
      wv = v128.load(w1 + o);
      a10 = fma(xa, wv, a10);
      if (R > 1) a11 = fma(xb, wv, a11);
      wv = v128.load(w2 + o);
      a20 = fma(xa, wv, a20);
      if (R > 1) a21 = fma(xb, wv, a21);
      wv = v128.load(w3 + o);
      a30 = fma(xa, wv, a30);
      if (R > 1) a31 = fma(xb, wv, a31);
    }
  }
  // sums, tails, bias → out[m, j…], out[m+1, j…]
  finish(a00, x0, w0, k4, k, bias, j, out);
  if (R > 1) finish(a01, x1, w0, k4, k, bias, j, out + nb);
  if (W > 1) {
    finish(a10, x0, w1, k4, k, bias, j + 1, out);
    finish(a20, x0, w2, k4, k, bias, j + 2, out);
    finish(a30, x0, w3, k4, k, bias, j + 3, out);
    if (R > 1) {
      finish(a11, x1, w1, k4, k, bias, j + 1, out + nb);
      finish(a21, x1, w2, k4, k, bias, j + 2, out + nb);
      finish(a31, x1, w3, k4, k, bias, j + 3, out + nb);
    }
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
): void {
  const kb = (<usize>k) << 2;
  const nb = (<usize>n) << 2;
  const r2 = rows & ~1;
  let j = j0;
  // blocks of four weight rows, each against every pair of input rows (then the odd last row)
  for (; j + 4 <= j1; j += 4) {
    let m = 0;
    for (; m < r2; m += 2) tile(4, 2, out + <usize>m * nb, x + <usize>m * kb, w, bias, k, j, kb, nb);
    if (m < rows) tile(4, 1, out + <usize>m * nb, x + <usize>m * kb, w, bias, k, j, kb, nb);
  }
  // the last n mod 4 weight rows, one at a time
  for (; j < j1; j++) {
    let m = 0;
    for (; m < r2; m += 2) tile(1, 2, out + <usize>m * nb, x + <usize>m * kb, w, bias, k, j, kb, nb);
    if (m < rows) tile(1, 1, out + <usize>m * nb, x + <usize>m * kb, w, bias, k, j, kb, nb);
  }
}
