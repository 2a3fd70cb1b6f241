// Backend kernels vs straightforward float64 formulas, on awkward sizes. Every backend registered in
// BACKENDS runs the same checks (the fast backend joins this list).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend, matrixF32, type Backend } from '../../src/tensor/index.js';
import { Rng } from '../../src/generate/rng.js';

const BACKENDS: Backend[] = [referenceBackend];
const SIZES = [1, 7, 33, 64, 129];

function rand(n: number, seed: number, scale = 1): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    err = Math.max(err, Math.abs(got[i] - want[i]));
  }
  assert.ok(err <= rel * Math.max(scale, 1e-30), `${what}: max error ${err} vs scale ${scale}`);
}

for (const be of BACKENDS) {
  test(`${be.name}: matmul with and without bias`, () => {
    for (const m of [1, 3, 17]) {
      for (const k of SIZES) {
        for (const n of [1, 5, 33]) {
          const x = rand(m * k, m + k);
          const w = rand(n * k, n * 7 + k);
          const b = rand(n, 99);
          const want = new Float64Array(m * n);
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++) {
              let s = b[j];
              for (let p = 0; p < k; p++) s += x[i * k + p] * w[j * k + p];
              want[i * n + j] = s;
            }
          const out = new Float32Array(m * n);
          be.matmul(out, x, matrixF32(n, k, w), b, m);
          assertClose(out, want, 1e-5, `matmul ${m}x${k}x${n}`);
        }
      }
    }
  });

  test(`${be.name}: layerNorm and rmsNorm`, () => {
    for (const dim of SIZES) {
      const rows = 3;
      const x = rand(rows * dim, dim, 4);
      const g = rand(dim, 1);
      const bta = rand(dim, 2);
      const ln = new Float32Array(rows * dim);
      const rms = new Float32Array(rows * dim);
      be.layerNorm(ln, x, g, bta, rows, dim, 1e-5);
      be.rmsNorm(rms, x, g, rows, dim, 1e-5);
      const wantLn = new Float64Array(rows * dim);
      const wantRms = new Float64Array(rows * dim);
      for (let r = 0; r < rows; r++) {
        const v = Array.from(x.subarray(r * dim, (r + 1) * dim));
        const mean = v.reduce((a, b) => a + b, 0) / dim;
        const vr = v.reduce((a, b) => a + (b - mean) ** 2, 0) / dim;
        const ms = v.reduce((a, b) => a + b * b, 0) / dim;
        v.forEach((xi, i) => {
          wantLn[r * dim + i] = ((xi - mean) / Math.sqrt(vr + 1e-5)) * g[i] + bta[i];
          wantRms[r * dim + i] = (xi / Math.sqrt(ms + 1e-5)) * g[i];
        });
      }
      assertClose(ln, wantLn, 1e-5, `layerNorm ${dim}`);
      assertClose(rms, wantRms, 1e-5, `rmsNorm ${dim}`);
    }
  });

  test(`${be.name}: gelu(tanh), silu, softmax with a valid prefix`, () => {
    const x = rand(129, 5, 6);
    const g = Float32Array.from(x);
    be.geluTanh(g, g.length);
    assertClose(
      g,
      Array.from(x, (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))),
      1e-6,
      'gelu',
    );
    const s = Float32Array.from(x);
    be.silu(s, s.length);
    assertClose(
      s,
      Array.from(x, (v) => v / (1 + Math.exp(-v))),
      1e-6,
      'silu',
    );
    const rows = 3;
    const cols = 43;
    const sm = rand(rows * cols, 8, 10);
    const orig = Float32Array.from(sm);
    be.softmax(sm, rows, cols, 30);
    for (let r = 0; r < rows; r++) {
      const v = Array.from(orig.subarray(r * cols, r * cols + 30));
      const m = Math.max(...v);
      const e = v.map((a) => Math.exp(a - m));
      const z = e.reduce((a, b) => a + b, 0);
      assertClose(
        sm.subarray(r * cols, r * cols + 30),
        e.map((a) => a / z),
        1e-6,
        'softmax',
      );
      assert.ok(
        sm.subarray(r * cols + 30, (r + 1) * cols).every((a) => a === 0),
        'masked tail is zero',
      );
    }
  });

  test(`${be.name}: causal attention with grouped-query heads and a cached prefix`, () => {
    for (const [nHeads, nKv, hd] of [
      [4, 4, 16],
      [8, 2, 7],
      [6, 1, 33],
    ]) {
      for (const [pos0, t] of [
        [0, 5],
        [9, 1],
        [3, 4],
      ]) {
        const total = pos0 + t;
        const q = rand(t * nHeads * hd, nHeads + t, 2);
        const k = rand(total * nKv * hd, 11 + hd, 2);
        const v = rand(total * nKv * hd, 12 + hd, 2);
        const out = new Float32Array(t * nHeads * hd);
        const probs = new Float32Array(nHeads * t * total);
        be.attention(out, q, k, v, t, pos0, nHeads, nKv, hd, probs);
        const want = new Float64Array(out.length);
        const wantP = new Float64Array(probs.length);
        for (let h = 0; h < nHeads; h++) {
          const kh = Math.floor(h / (nHeads / nKv));
          for (let i = 0; i < t; i++) {
            const len = pos0 + i + 1;
            const sc: number[] = [];
            for (let j = 0; j < len; j++) {
              let s = 0;
              for (let d = 0; d < hd; d++) s += q[(i * nHeads + h) * hd + d] * k[(j * nKv + kh) * hd + d];
              sc.push(s / Math.sqrt(hd));
            }
            const m = Math.max(...sc);
            const e = sc.map((a) => Math.exp(a - m));
            const z = e.reduce((a, b) => a + b, 0);
            for (let j = 0; j < len; j++) {
              wantP[(h * t + i) * total + j] = e[j] / z;
              for (let d = 0; d < hd; d++)
                want[(i * nHeads + h) * hd + d] += (e[j] / z) * v[(j * nKv + kh) * hd + d];
            }
          }
        }
        assertClose(out, want, 1e-5, `attention H${nHeads} KV${nKv} d${hd} pos0 ${pos0} t ${t}`);
        assertClose(probs, wantP, 1e-6, 'attention probs');
      }
    }
  });
}
