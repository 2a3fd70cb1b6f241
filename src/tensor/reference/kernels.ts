// The reference backend: plain TypeScript, written to be read. Sums accumulate in JS numbers (float64),
// so this is also the most accurate backend; fast backends are tested against it.
import type { AttentionGrad, Backend, GemmLayout, ScoreTerms, Triangle } from '../backend.js';
import type { Matrix, MatrixQ8_0, MatrixQuant } from '../tensor.js';
import { dequantize } from '../ggml-quant.js';
import { f16ToF32 } from '../../util/half.js';

/** The index of the largest value (the first of equal ones; a NaN at 0 wins, later NaNs never do). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  let top = x[0];
  for (let i = 1; i < x.length; i++) {
    const v = x[i];
    if (v > top) {
      top = v;
      best = i;
    }
  }
  return best;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/**
 * The training kernels below take float64 arrays as well as float32 ones: the autograd tape's gradient
 * checks run float64 (finite differences need the digits), and only the reference computes them.
 */
export type Floats = Float32Array | Float64Array;

/** AttentionGrad with float32 or float64 arrays. */
export type AttentionGradOf = Omit<AttentionGrad, 'dqkv' | 'qkv' | 'dOut' | 'probs'> & {
  dqkv: Floats;
  qkv: Floats;
  dOut: Floats;
  probs: Floats;
};

/** erf(x) via the Chebyshev fit of erfc in Numerical Recipes (fractional error < 1.2e-7). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

/**
 * Scaled-dot-product attention of t queries over keys [from(i), len(i)) each, shared by the causal and the
 * bidirectional kernels: len(i) = pos0 + i + 1 (causal) or validKeys (bidirectional); from(i) is 0 but
 * under a causal sliding window (pos0 + i − window + 1). Scores and sums in float64.
 * S = scale·q·k (+ bias), then softcap·tanh(S/softcap) (see ScoreTerms), scale 1/√headDim unless terms
 * say otherwise.
 */
function attend(
  out: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  t: number,
  total: number,
  len: (i: number) => number,
  nHeads: number,
  nKvHeads: number,
  headDim: number,
  probs?: Float32Array,
  terms?: ScoreTerms,
  from: (i: number) => number = () => 0,
): void {
  const qStride = nHeads * headDim;
  const kvStride = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scale = terms?.scale ?? 1 / Math.sqrt(headDim);
  const bias = terms?.bias;
  const cap = terms?.softcap ?? 0;
  const scores = new Float64Array(total);
  const acc = new Float64Array(headDim);
  for (let h = 0; h < nHeads; h++) {
    const kvOff = Math.floor(h / group) * headDim;
    for (let i = 0; i < t; i++) {
      const qOff = i * qStride + h * headDim;
      const n = len(i);
      const lo = from(i); // the first key in the window
      let max = -Infinity;
      for (let j = lo; j < n; j++) {
        const kOff = j * kvStride + kvOff;
        let s = 0;
        for (let d = 0; d < headDim; d++) s += q[qOff + d] * k[kOff + d];
        s *= scale;
        if (bias) s += bias[(i * total + j) * nHeads + h]; // the pair's bias, this head's
        if (cap > 0) s = cap * Math.tanh(s / cap); // soft-capped before the mask
        scores[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = lo; j < n; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      const oOff = i * qStride + h * headDim;
      acc.fill(0);
      const pOff = probs ? (h * t + i) * total : 0;
      if (probs) for (let j = 0; j < lo; j++) probs[pOff + j] = 0;
      for (let j = lo; j < n; j++) {
        const p = scores[j] / sum;
        if (probs) probs[pOff + j] = p;
        const vOff = j * kvStride + kvOff;
        for (let d = 0; d < headDim; d++) acc[d] += p * v[vOff + d];
      }
      for (let d = 0; d < headDim; d++) out[oOff + d] = acc[d];
      if (probs) for (let j = n; j < total; j++) probs[pOff + j] = 0;
    }
  }
}

/** Q8_0 weights: each block of 32 is q·d; the block's dot product is summed first, then scaled by d. */
function matmulQ8_0(
  out: Float32Array,
  x: Float32Array,
  w: MatrixQ8_0,
  bias: Float32Array | null,
  rows: number,
): void {
  const { rows: n, cols: k, quants, scales } = w;
  const nb = k / 32;
  const d = scales instanceof Float32Array ? scales : Float32Array.from(scales, f16ToF32);
  for (let m = 0; m < rows; m++) {
    const xo = m * k;
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      for (let b = 0; b < nb; b++) {
        const wo = j * k + b * 32;
        const xb = xo + b * 32;
        let blk = 0;
        for (let i = 0; i < 32; i++) blk += x[xb + i] * quants[wo + i];
        s += blk * d[j * nb + b];
      }
      out[m * n + j] = s;
    }
  }
}

/**
 * A matrix kept in ggml blocks (Q4_0, Q4_K, Q5_K, Q6_K): each weight row expanded to float32 by ggml's
 * reference dequantization (ggml-quant.ts), then dotted with every input row — the ground truth the wasm
 * kernels are tested against.
 */
function matmulQuant(
  out: Float32Array,
  x: Float32Array,
  w: MatrixQuant,
  bias: Float32Array | null,
  rows: number,
): void {
  const { rows: n, cols: k } = w;
  const row = new Float32Array(k);
  let j = 0;
  for (const p of w.parts) {
    const rb = p.bytes.length / p.rows;
    for (let r = 0; r < p.rows; r++, j++) {
      dequantize(p.type, p.bytes.subarray(r * rb, (r + 1) * rb), row);
      for (let m = 0; m < rows; m++) {
        const xo = m * k;
        let s = bias ? bias[j] : 0;
        for (let i = 0; i < k; i++) s += x[xo + i] * row[i];
        out[m * n + j] = s;
      }
    }
  }
}

/**
 * Training's product (Backend.gemm): y = x·wᵀ (+ bias), computed with both operands row-major and the
 * shared dimension contiguous, so the innermost loop is a dot product that streams two rows in memory
 * order. A transposed operand (xT, wT) is transposed first: a transpose costs one pass over a matrix, the
 * product many, and the dot form runs about twice as fast in JavaScript as the accumulate-into-a-row
 * (i-k-j) form, which must load and store its output row on every step.
 *
 * The kernel computes a 2×4 tile of y at once: each value loaded from x feeds four multiply-adds, each value
 * of w two — 6 loads per 8 multiply-adds instead of 2 per 1. Sums run in JS numbers (float64).
 */
function gemm(
  y: Floats,
  x: Floats,
  w: Floats,
  bias: Floats | null,
  M: number,
  K: number,
  N: number,
  o: GemmLayout = {},
): void {
  if (o.xT) x = transposed(x, K, M, 0);
  if (o.wT) w = transposed(w, K, N, 1);
  dotKernel(y, x, w, bias, M, K, N, o.accumulate ?? false, o.triangle ?? 'full');
}

/** Transposes of operands, in two buffers per (dtype, size) reused from call to call (slot 0: x, 1: w). */
const scratch = new Map<string, Floats>();

function transposed(src: Floats, rows: number, cols: number, slot: number): Floats {
  const key = `${src instanceof Float64Array ? 64 : 32}:${rows * cols}:${slot}`;
  let dst = scratch.get(key);
  if (!dst) {
    dst = src instanceof Float64Array ? new Float64Array(rows * cols) : new Float32Array(rows * cols);
    scratch.set(key, dst);
  }
  transposeInto(dst, src, rows, cols);
  return dst;
}

/** The plain kernel: both operands row-major, 2×4 tiles of dot products (see gemm). */
function dotKernel(
  y: Floats,
  x: Floats,
  w: Floats,
  bias: Floats | null,
  M: number,
  K: number,
  N: number,
  accumulate: boolean,
  triangle: Triangle,
): void {
  for (let m = 0; m < M; m += 2) {
    const two = m + 1 < M;
    const x0 = m * K;
    const x1 = two ? x0 + K : x0;
    const y0 = m * N;
    const y1 = y0 + N;
    const jEnd = triangle === 'cols' ? Math.min(N, m + 2) : N;
    const kStart = triangle === 'kLower' ? m : 0;
    const kEnd = triangle === 'kUpper' ? Math.min(K, m + 2) : K;
    let j = 0;
    for (; j + 3 < jEnd; j += 4) {
      const w0 = j * K;
      const w1 = w0 + K;
      const w2 = w1 + K;
      const w3 = w2 + K;
      // Starting from the bias (as the inference kernel does) keeps the two bit-for-bit alike.
      const b0 = bias ? bias[j] : 0;
      const b1 = bias ? bias[j + 1] : 0;
      const b2 = bias ? bias[j + 2] : 0;
      const b3 = bias ? bias[j + 3] : 0;
      // prettier-ignore
      let s00 = b0, s01 = b1, s02 = b2, s03 = b3, s10 = b0, s11 = b1, s12 = b2, s13 = b3;
      for (let k = kStart; k < kEnd; k++) {
        const a0 = x[x0 + k];
        const a1 = x[x1 + k];
        const c0 = w[w0 + k];
        const c1 = w[w1 + k];
        const c2 = w[w2 + k];
        const c3 = w[w3 + k];
        s00 += a0 * c0;
        s01 += a0 * c1;
        s02 += a0 * c2;
        s03 += a0 * c3;
        s10 += a1 * c0;
        s11 += a1 * c1;
        s12 += a1 * c2;
        s13 += a1 * c3;
      }
      if (accumulate) {
        y[y0 + j] += s00;
        y[y0 + j + 1] += s01;
        y[y0 + j + 2] += s02;
        y[y0 + j + 3] += s03;
        if (two) {
          y[y1 + j] += s10;
          y[y1 + j + 1] += s11;
          y[y1 + j + 2] += s12;
          y[y1 + j + 3] += s13;
        }
      } else {
        y[y0 + j] = s00;
        y[y0 + j + 1] = s01;
        y[y0 + j + 2] = s02;
        y[y0 + j + 3] = s03;
        if (two) {
          y[y1 + j] = s10;
          y[y1 + j + 1] = s11;
          y[y1 + j + 2] = s12;
          y[y1 + j + 3] = s13;
        }
      }
    }
    for (; j < jEnd; j++) {
      const wo = j * K;
      let s0 = bias ? bias[j] : 0;
      let s1 = s0;
      for (let k = kStart; k < kEnd; k++) {
        s0 += x[x0 + k] * w[wo + k];
        s1 += x[x1 + k] * w[wo + k];
      }
      if (accumulate) {
        y[y0 + j] += s0;
        if (two) y[y1 + j] += s1;
      } else {
        y[y0 + j] = s0;
        if (two) y[y1 + j] = s1;
      }
    }
  }
}

/** dst [cols, rows] = srcᵀ for src [rows, cols]. */
export function transposeInto(dst: Floats, src: Floats, rows: number, cols: number): void {
  // Blocks of 32×32 keep both the reads and the writes within a few cache lines.
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const o = r * cols;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[o + c];
      }
    }
  }
}

/** dx[i] += dy[i]·gelu_tanh′(x[i]): dy/dx = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²). */
function geluTanhBackward(dx: Floats, dy: Floats, x: Floats, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    const t = Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
    const d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_C * v * v);
    dx[i] += dy[i] * d;
  }
}

/**
 * Causal attention's backward pass (see AttentionGrad), per (sequence, head) on contiguous [T, hd] copies
 * of the operands, every product through gemm in its row-major form (the triangle skips what the causal
 * mask zeroes). Scratch has the type of dqkv.
 */
function attentionBackward(g: AttentionGradOf): void {
  const { dqkv: dd, qkv: d, width, qOffset: qOff, kOffset: kOff, vOffset: vOff, dOut: dO, probs } = g;
  const { batch, t: T, nHeads, nKvHeads, headDim: hd } = g;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(hd);
  const qDim = nHeads * hd;
  const alloc = (n: number): Floats =>
    dd instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
  const qh = alloc(T * hd);
  const kh = alloc(T * hd);
  const vh = alloc(T * hd);
  const go = alloc(T * hd);
  const got = alloc(T * hd);
  const pt = alloc(T * T);
  const dS = alloc(T * T);
  const dSt = alloc(T * T);
  const qt = alloc(T * hd);
  const kt = alloc(T * hd);
  const grad = alloc(T * hd);
  const gather = (dst: Floats, b: number, off: number) => {
    for (let t = 0; t < T; t++) {
      const src = (b * T + t) * width + off;
      for (let e = 0; e < hd; e++) dst[t * hd + e] = d[src + e];
    }
  };
  const scatterAdd = (src: Floats, b: number, off: number) => {
    for (let t = 0; t < T; t++) {
      const dst = (b * T + t) * width + off;
      for (let e = 0; e < hd; e++) dd[dst + e] += src[t * hd + e];
    }
  };
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < nHeads; h++) {
      const kvo = Math.floor(h / group) * hd;
      const ko = kOff + kvo;
      const vo = vOff + kvo;
      gather(qh, b, qOff + h * hd);
      gather(kh, b, ko);
      gather(vh, b, vo);
      transposeInto(qt, qh, T, hd);
      transposeInto(kt, kh, T, hd);
      for (let t = 0; t < T; t++) {
        const src = (b * T + t) * qDim + h * hd;
        for (let e = 0; e < hd; e++) go[t * hd + e] = dO[src + e];
      }
      transposeInto(got, go, T, hd);
      const p = probs.subarray((b * nHeads + h) * T * T, (b * nHeads + h + 1) * T * T);
      // dV = Pᵀ·dO.
      transposeInto(pt, p, T, T);
      gemm(grad, pt, got, null, T, T, hd, { triangle: 'kLower' });
      scatterAdd(grad, b, vo);
      // dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(P ⊙ dP)) / √hd, zero above the diagonal.
      gemm(dS, go, vh, null, T, hd, T, { triangle: 'cols' });
      for (let i = 0; i < T; i++) {
        const o = i * T;
        let dot = 0;
        for (let j = 0; j <= i; j++) dot += p[o + j] * dS[o + j];
        for (let j = 0; j <= i; j++) dS[o + j] = p[o + j] * (dS[o + j] - dot) * scale;
        for (let j = i + 1; j < T; j++) dS[o + j] = 0;
      }
      // dq = dS·K, dK = dSᵀ·q.
      gemm(grad, dS, kt, null, T, T, hd, { triangle: 'kUpper' });
      scatterAdd(grad, b, qOff + h * hd);
      transposeInto(dSt, dS, T, T);
      gemm(grad, dSt, qt, null, T, T, hd, { triangle: 'kLower' });
      scatterAdd(grad, b, ko);
    }
  }
}

export const referenceBackend = {
  name: 'reference',

  matmul(out, x, w: Matrix, bias, rows) {
    if (w.kind === 'q8_0') return matmulQ8_0(out, x, w, bias, rows);
    if (w.kind === 'quant') return matmulQuant(out, x, w, bias, rows);
    const { rows: n, cols: k, data } = w;
    for (let m = 0; m < rows; m++) {
      const xo = m * k;
      for (let j = 0; j < n; j++) {
        const wo = j * k;
        let s = bias ? bias[j] : 0;
        for (let i = 0; i < k; i++) s += x[xo + i] * data[wo + i];
        out[m * n + j] = s;
      }
    }
  },

  placeMatrix(m) {
    return m;
  },

  allocWeights(n) {
    return new Float32Array(n);
  },

  allocActivations(n) {
    return new Float32Array(n);
  },

  freeActivations() {
    // the garbage collector's
  },

  forget() {
    // no copies kept
  },

  layerNorm(out, x, gamma, beta, rows, dim, eps) {
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      let mean = 0;
      for (let i = 0; i < dim; i++) mean += x[o + i];
      mean /= dim;
      let v = 0;
      for (let i = 0; i < dim; i++) {
        const d = x[o + i] - mean;
        v += d * d;
      }
      const inv = 1 / Math.sqrt(v / dim + eps);
      for (let i = 0; i < dim; i++) out[o + i] = (x[o + i] - mean) * inv * gamma[i] + beta[i];
    }
  },

  rmsNorm(out, x, gamma, rows, dim, eps) {
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      let ss = 0;
      for (let i = 0; i < dim; i++) ss += x[o + i] * x[o + i];
      const inv = 1 / Math.sqrt(ss / dim + eps);
      for (let i = 0; i < dim; i++) out[o + i] = x[o + i] * inv * gamma[i];
    }
  },

  geluTanh(x: Floats, n: number) {
    for (let i = 0; i < n; i++) {
      const v = x[i];
      x[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)));
    }
  },

  silu(x, n) {
    for (let i = 0; i < n; i++) x[i] = x[i] / (1 + Math.exp(-x[i]));
  },

  argmax(x, n) {
    return argmax(n === x.length ? x : x.subarray(0, n));
  },

  softmax(x, rows, cols, valid = cols) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let max = -Infinity;
      for (let i = 0; i < valid; i++) if (x[o + i] > max) max = x[o + i];
      let sum = 0;
      for (let i = 0; i < valid; i++) {
        const e = Math.exp(x[o + i] - max);
        x[o + i] = e;
        sum += e;
      }
      for (let i = 0; i < valid; i++) x[o + i] /= sum;
      for (let i = valid; i < cols; i++) x[o + i] = 0;
    }
  },

  add(out, a, b, n) {
    for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
  },

  mul(out, a, b, n) {
    for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
  },

  attentionDecode(items, nHeads, nKvHeads, headDim) {
    for (const it of items)
      this.attention(it.out, it.q, it.kCache, it.vCache, 1, it.pos0, nHeads, nKvHeads, headDim);
  },

  attention(
    out,
    q,
    kCache,
    vCache,
    t,
    pos0,
    nHeads,
    nKvHeads,
    headDim,
    probs?: Float32Array,
    terms?: ScoreTerms,
  ) {
    // causal: the query at position pos0+i sees keys 0..pos0+i (under a window, the last `window` of them)
    const len = (i: number) => pos0 + i + 1;
    const w = terms?.window ?? 0;
    const from = (i: number) => (w > 0 ? Math.max(0, pos0 + i - w + 1) : 0);
    attend(out, q, kCache, vCache, t, pos0 + t, len, nHeads, nKvHeads, headDim, probs, terms, from);
  },

  crossAttention(out, q, k, v, tq, tk, nHeads, nKvHeads, headDim, probs?: Float32Array, terms?: ScoreTerms) {
    attend(out, q, k, v, tq, tk, () => tk, nHeads, nKvHeads, headDim, probs, terms);
  },

  attentionBidirectional(
    out,
    q,
    k,
    v,
    t,
    validKeys,
    nHeads,
    nKvHeads,
    headDim,
    probs?: Float32Array,
    terms?: ScoreTerms,
  ) {
    attend(out, q, k, v, t, t, () => validKeys, nHeads, nKvHeads, headDim, probs, terms);
  },

  geluErf(x, n) {
    for (let i = 0; i < n; i++) x[i] = 0.5 * x[i] * (1 + erf(x[i] / Math.SQRT2));
  },

  gemm,
  geluTanhBackward,
  attentionBackward,
} satisfies Backend;
