// The reference backend: plain TypeScript, written to be read. Sums accumulate in JS numbers (float64),
// so this is also the most accurate backend; fast backends are tested against it.
import type { Backend } from '../backend.js';
import type { Matrix } from '../tensor.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export const referenceBackend: Backend = {
  name: 'reference',

  matmul(out, x, w: Matrix, bias, rows) {
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
    const qStride = nHeads * headDim;
    const kvStride = nKvHeads * headDim;
    const group = nHeads / nKvHeads;
    const scale = 1 / Math.sqrt(headDim);
    const total = pos0 + t;
    const scores = new Float64Array(total);
    const acc = new Float64Array(headDim);
    for (let h = 0; h < nHeads; h++) {
      const kvOff = Math.floor(h / group) * headDim;
      for (let i = 0; i < t; i++) {
        const qOff = i * qStride + h * headDim;
        const len = pos0 + i + 1; // causal: query at position pos0+i sees keys 0..pos0+i
        let max = -Infinity;
        for (let j = 0; j < len; j++) {
          const kOff = j * kvStride + kvOff;
          let s = 0;
          for (let d = 0; d < headDim; d++) s += q[qOff + d] * kCache[kOff + d];
          s *= scale;
          scores[j] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let j = 0; j < len; j++) {
          scores[j] = Math.exp(scores[j] - max);
          sum += scores[j];
        }
        const oOff = i * qStride + h * headDim;
        acc.fill(0);
        const pOff = probs ? (h * t + i) * total : 0;
        for (let j = 0; j < len; j++) {
          const p = scores[j] / sum;
          if (probs) probs[pOff + j] = p;
          const vOff = j * kvStride + kvOff;
          for (let d = 0; d < headDim; d++) acc[d] += p * vCache[vOff + d];
        }
        for (let d = 0; d < headDim; d++) out[oOff + d] = acc[d];
        if (probs) for (let j = len; j < total; j++) probs[pOff + j] = 0;
      }
    }
  },
};
