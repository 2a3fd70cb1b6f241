// The reference backend: plain TypeScript, written to be read. Sums accumulate in JS numbers (float64),
// so this is also the most accurate backend; fast backends are tested against it.
import type { Backend } from '../backend.js';
import type { Matrix, MatrixQ8_0 } from '../tensor.js';
import { f16ToF32 } from '../../util/half.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

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
 * Scaled-dot-product attention of t queries over `len(i)` keys each, shared by the causal and the
 * bidirectional kernels: len(i) = pos0 + i + 1 (causal) or validKeys (bidirectional). Scores and sums in float64.
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
): void {
  const qStride = nHeads * headDim;
  const kvStride = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const scores = new Float64Array(total);
  const acc = new Float64Array(headDim);
  for (let h = 0; h < nHeads; h++) {
    const kvOff = Math.floor(h / group) * headDim;
    for (let i = 0; i < t; i++) {
      const qOff = i * qStride + h * headDim;
      const n = len(i);
      let max = -Infinity;
      for (let j = 0; j < n; j++) {
        const kOff = j * kvStride + kvOff;
        let s = 0;
        for (let d = 0; d < headDim; d++) s += q[qOff + d] * k[kOff + d];
        s *= scale;
        scores[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      const oOff = i * qStride + h * headDim;
      acc.fill(0);
      const pOff = probs ? (h * t + i) * total : 0;
      for (let j = 0; j < n; j++) {
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

export const referenceBackend: Backend = {
  name: 'reference',

  matmul(out, x, w: Matrix, bias, rows) {
    if (w.kind === 'q8_0') return matmulQ8_0(out, x, w, bias, rows);
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

  geluTanh(x, n) {
    for (let i = 0; i < n; i++) {
      const v = x[i];
      x[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
    }
  },

  silu(x, n) {
    for (let i = 0; i < n; i++) x[i] = x[i] / (1 + Math.exp(-x[i]));
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

  attention(out, q, kCache, vCache, t, pos0, nHeads, nKvHeads, headDim, probs) {
    // causal: the query at position pos0+i sees keys 0..pos0+i
    attend(out, q, kCache, vCache, t, pos0 + t, (i) => pos0 + i + 1, nHeads, nKvHeads, headDim, probs);
  },

  attentionBidirectional(out, q, k, v, t, validKeys, nHeads, nKvHeads, headDim, probs) {
    attend(out, q, k, v, t, t, () => validKeys, nHeads, nKvHeads, headDim, probs);
  },

  geluErf(x, n) {
    for (let i = 0; i < n; i++) x[i] = 0.5 * x[i] * (1 + erf(x[i] / Math.SQRT2));
  },
};
