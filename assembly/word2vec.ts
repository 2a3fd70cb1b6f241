// word2vec's training loop (src/word2vec/train.ts) with 128-bit SIMD: one sentence at a time — the window
// shrink, the noise draws, every gradient step — in one call, so that nothing crosses between JavaScript
// and wasm per word pair. Arguments are byte offsets into the shared linear memory where train-node.ts
// keeps the matrices (W, C, H), the tables and each worker's scratch rows; rows need not be 16-byte
// aligned. Each worker has its own instance (w2vConfigure sets its globals) on the one shared memory.
//
// This is the fast copy of trainShard's plain TypeScript loops (the reference, as tensor/reference is for
// the tensor kernels): the same steps, the same σ table, the same random draws in the same order.

import { fma } from './simd';

// ---- σ by table, as word2vec.c and gensim: 1000 values over [−6, 6) ---------------------------------
//   SIG[i] = σ(x_i),  LOSS[i] = −log σ(x_i) = log(1 + e^−x_i),   x_i = (2i/1000 − 1)·6
//   f in [−6, 6): i = ⌊(f + 6)·1000/12⌋;  f ≥ 6: σ = 1;  f < −6: σ = 0 (negative sampling clamps the
//   gradient there; hierarchical softmax skips the node, as both do)
const MAX_EXP: f32 = 6;
const EXP_SIZE: i32 = 1000;
const SIG = memory.data(4 * 1000);
const LOSS = memory.data(4 * 1000);

@inline function expIndex(f: f32): i32 {
  return <i32>((f + MAX_EXP) * (<f32>EXP_SIZE / MAX_EXP / 2));
}

// ---- this instance's configuration (w2vConfigure) ----------------------------------------------------
let W: usize = 0;
let C: usize = 0;
let H: usize = 0;
let E: usize = 0; // accumulated error row
let X: usize = 0; // CBOW's context mean
let T: usize = 0; // the noise words of one step (negative int32)
let dim: i32 = 0;
let rowBytes: usize = 0;
let window: i32 = 1;
let cbow: bool = false;
let negative: i32 = 0;
let hs: bool = false;
let table: usize = 0;
let tableSize: u32 = 1;
let point: usize = 0; // int32 [V × maxDepth]
let code: usize = 0; // uint8 [V × maxDepth]
let pathLen: usize = 0; // uint8 [V]
let maxDepth: i32 = 0;
let loss: f64 = 0;
let terms: f64 = 0;

/** Sets this instance's matrices, tables and options (once per worker), and fills the σ tables. */
export function w2vConfigure(
  w: usize,
  c: usize,
  h: usize,
  e: usize,
  x: usize,
  noise: usize,
  d: i32,
  win: i32,
  isCbow: i32,
  neg: i32,
  isHs: i32,
  tbl: usize,
  tblSize: i32,
  pt: usize,
  cd: usize,
  len: usize,
  depth: i32,
): void {
  W = w;
  C = c;
  H = h;
  E = e;
  X = x;
  T = noise;
  dim = d;
  rowBytes = (<usize>d) << 2;
  window = win;
  cbow = isCbow != 0;
  negative = neg;
  hs = isHs != 0;
  table = tbl;
  tableSize = <u32>tblSize;
  point = pt;
  code = cd;
  pathLen = len;
  maxDepth = depth;
  for (let i = 0; i < EXP_SIZE; i++) {
    const xi = (<f64>(2 * i) / <f64>EXP_SIZE - 1) * <f64>MAX_EXP;
    store<f32>(SIG + ((<usize>i) << 2), <f32>(1 / (1 + Math.exp(-xi))));
    store<f32>(LOSS + ((<usize>i) << 2), <f32>Math.log1p(Math.exp(-xi)));
  }
}

/** The loss Σ −log σ(±f) and its number of terms since the last call (then both restart at 0). */
export function w2vTakeLoss(): f64 {
  const l = loss;
  loss = 0;
  return l;
}
export function w2vTakeTerms(): f64 {
  const t = terms;
  terms = 0;
  return t;
}

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

/** x = 0 over n floats. */
@inline function zero(x: usize, n: i32): void {
  let k = 0;
  for (; k + 4 <= n; k += 4) v128.store(x + (<usize>k << 2), f32x4.splat(0));
  for (; k < n; k++) store<f32>(x + (<usize>k << 2), 0);
}

/** y += x over n floats. */
@inline function addTo(y: usize, x: usize, n: i32): void {
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const p = <usize>k << 2;
    v128.store(y + p, f32x4.add(v128.load(y + p), v128.load(x + p)));
  }
  for (; k < n; k++) {
    const p = <usize>k << 2;
    store<f32>(y + p, load<f32>(y + p) + load<f32>(x + p));
  }
}

/**
 * The targets of one input x (a context vector in skip-gram, the context mean in CBOW) predicting word w,
 * each step  f = x·out;  g = α·(label − σ(f));  e += g·out;  out += g·x  (e starts at 0 here): w's
 * Huffman path (hierarchical softmax), then w (label 1) and `negative` noise words drawn from the table
 * (label 0; a draw equal to w is skipped). Returns the random state after the draws.
 */
@inline function targets(x: usize, w: i32, alpha: f32, rnd: i32): i32 {
  zero(E, dim);
  if (hs) {
    const base = <usize>w * <usize>maxDepth;
    const len = <i32>load<u8>(pathLen + <usize>w);
    for (let d = 0; d < len; d++) {
      const out = H + <usize>load<i32>(point + ((base + <usize>d) << 2)) * rowBytes;
      const label: f32 = <f32>(<i32>1 - <i32>load<u8>(code + base + <usize>d));
      const f = dot(x, out, dim);
      if (f <= -MAX_EXP || f >= MAX_EXP) continue; // σ saturated: no step (word2vec.c, gensim)
      const i = expIndex(f);
      update(x, out, E, alpha * (label - load<f32>(SIG + ((<usize>i) << 2))), dim);
      // −log σ(±f): σ(−f) is the mirrored entry
      loss += load<f32>(LOSS + ((<usize>(label > 0 ? i : EXP_SIZE - 1 - i)) << 2));
      terms += 1;
    }
  }
  if (negative <= 0) return rnd;
  // the noise words first, all of them: their table entries are random reads of a table bigger than the
  // caches, which overlap when issued together (drawn one before each step, every one waited for its miss)
  let count = 0;
  for (let d = 0; d < negative; d++) {
    rnd ^= rnd << 13;
    rnd ^= <i32>(<u32>rnd >> 17);
    rnd ^= rnd << 5;
    const t = load<i32>(table + ((<usize>(<u32>rnd % tableSize)) << 2));
    if (t != w) {
      store<i32>(T + ((<usize>count) << 2), t);
      count++;
    }
  }
  for (let d = 0; d <= count; d++) {
    const t = d == 0 ? w : load<i32>(T + ((<usize>(d - 1)) << 2));
    const out = C + <usize>t * rowBytes;
    const label: f32 = d == 0 ? 1 : 0;
    const f = dot(x, out, dim);
    // σ clamped outside [−6, 6); the loss there: ≈ 0 when f agrees with the label, else ≈ |f|
    let sig: f32;
    let l: f32;
    if (f >= MAX_EXP) {
      sig = 1;
      l = d == 0 ? 0 : f;
    } else if (f < -MAX_EXP) {
      sig = 0;
      l = d == 0 ? -f : 0;
    } else {
      const i = expIndex(f);
      sig = load<f32>(SIG + ((<usize>i) << 2));
      l = load<f32>(LOSS + ((<usize>(d == 0 ? i : EXP_SIZE - 1 - i)) << 2));
    }
    update(x, out, E, alpha * (label - sig), dim);
    loss += l;
    terms += 1;
  }
  return rnd;
}

/**
 * One sentence of n word rows at sent (int32, subsampling already applied): for each centre word w the
 * window shrink b = rand % window (context = window − b words either side), then skip-gram (each
 * context vector predicts w, and gets its own e) or CBOW (their mean predicts w; e goes back to every
 * one of them, unscaled). rnd: the worker's xorshift32 state; returns it after this sentence's draws.
 */
export function w2vSentence(sent: usize, n: i32, alpha: f32, rnd: i32): i32 {
  for (let i = 0; i < n; i++) {
    const w = load<i32>(sent + ((<usize>i) << 2));
    rnd ^= rnd << 13;
    rnd ^= <i32>(<u32>rnd >> 17);
    rnd ^= rnd << 5;
    const reach = window - <i32>(<u32>rnd % <u32>window);
    const lo = i - reach < 0 ? 0 : i - reach;
    const hi = i + reach >= n ? n - 1 : i + reach;
    if (cbow) {
      // X = mean of the context vectors
      zero(X, dim);
      let cw = 0;
      for (let c = lo; c <= hi; c++) {
        if (c == i) continue;
        addTo(X, W + <usize>load<i32>(sent + ((<usize>c) << 2)) * rowBytes, dim);
        cw++;
      }
      if (cw == 0) continue;
      const cwv = f32x4.splat(<f32>cw);
      let k = 0;
      for (; k + 4 <= dim; k += 4) v128.store(X + (<usize>k << 2), f32x4.div(v128.load(X + (<usize>k << 2)), cwv));
      for (; k < dim; k++) store<f32>(X + (<usize>k << 2), load<f32>(X + (<usize>k << 2)) / <f32>cw);
      rnd = targets(X, w, alpha, rnd);
      for (let c = lo; c <= hi; c++) {
        if (c == i) continue;
        addTo(W + <usize>load<i32>(sent + ((<usize>c) << 2)) * rowBytes, E, dim);
      }
    } else {
      for (let c = lo; c <= hi; c++) {
        if (c == i) continue;
        const x = W + <usize>load<i32>(sent + ((<usize>c) << 2)) * rowBytes;
        rnd = targets(x, w, alpha, rnd);
        addTo(x, E, dim); // W_c += e
      }
    }
  }
  return rnd;
}

/**
 * Folds a worker's replica into the shared matrix, n floats (train-node.ts, more than one thread):
 * s += l − p (what the worker learned since its last merge), then l = p = s (it goes on from everyone's).
 */
export function w2vMerge(s: usize, l: usize, p: usize, n: i32): void {
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const o = <usize>k << 2;
    const v = f32x4.add(v128.load(s + o), f32x4.sub(v128.load(l + o), v128.load(p + o)));
    v128.store(s + o, v);
    v128.store(l + o, v);
    v128.store(p + o, v);
  }
  for (; k < n; k++) {
    const o = <usize>k << 2;
    const v = load<f32>(s + o) + (load<f32>(l + o) - load<f32>(p + o));
    store<f32>(s + o, v);
    store<f32>(l + o, v);
    store<f32>(p + o, v);
  }
}
