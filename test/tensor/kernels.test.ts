// Backend kernels vs straightforward float64 formulas, on awkward sizes. Every backend registered in
// BACKENDS runs the same checks: the reference, the WebAssembly SIMD backend, and the same on two
// threads (big enough cases are split across them).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createWasmBackend,
  WasmBackend,
  dequantizeMatrix,
  matrixF32,
  matrixQ8_0,
  quantizeMatrixQ8_0,
  referenceBackend,
  type Backend,
  type Matrix,
} from '../../src/tensor/index.js';
import { Rng } from '../../src/generate/rng.js';

const wasm = await createWasmBackend();
const wasm2 = await createWasmBackend({ threads: 2 });
// plain SIMD128 (no fused multiply-add): what engines without relaxed SIMD run
const wasmPlain = await createWasmBackend({ threads: 2, relaxedSimd: false });
after(() => {
  wasm2.close();
  wasmPlain.close();
});

const BACKENDS: Backend[] = [referenceBackend, wasm, wasm2, wasmPlain];

/** A backend's name in test titles: "wasm-2t relaxed-simd", "wasm-2t simd128", "reference". */
function label(be: Backend): string {
  if (!(be instanceof WasmBackend)) return be.name;
  return `${be.name} ${be.relaxedSimd ? 'relaxed-simd' : 'simd128'}`;
}
const SIZES = [1, 7, 33, 64, 129, 769];

/** A matrix placed by `be`, as loading a model under it would (the wasm backends copy it into their memory). */
function place<M extends Matrix>(be: Backend, m: M): M {
  return (be.placeMatrix ? be.placeMatrix(m) : m) as M;
}

function rand(n: number, seed: number, scale = 1): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
}

/** erf in float64: its Taylor series (|x| ≤ 4, ~1e-9 after cancellation), else ±1 (off by < 2e-8). */
function erf64(x: number): number {
  if (Math.abs(x) > 4) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 100; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/**
 * Attention in float64: query i (of t) sees keys [0, len(i)); q [t, nHeads·hd], k/v [total, nKv·hd].
 * Returns the output [t, nHeads·hd] and the probabilities [nHeads, t, total].
 */
function attention64(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  t: number,
  total: number,
  len: (i: number) => number,
  nHeads: number,
  nKv: number,
  hd: number,
  /**
   * ScoreTerms: S = scale·q·k + bias[(i·total + j)·nHeads + h] (T5), then softcap·tanh(S/softcap) (Gemma 2);
   * `from(i)`: query i's first visible key (a sliding window), default 0.
   */
  terms: { scale?: number; bias?: Float32Array; softcap?: number } = {},
  from: (i: number) => number = () => 0,
): { out: Float64Array; probs: Float64Array } {
  const scale = terms.scale ?? 1 / Math.sqrt(hd);
  const cap = terms.softcap;
  const out = new Float64Array(t * nHeads * hd);
  const probs = new Float64Array(nHeads * t * total);
  for (let h = 0; h < nHeads; h++) {
    const kh = Math.floor(h / (nHeads / nKv));
    for (let i = 0; i < t; i++) {
      const sc: number[] = [];
      const lo = from(i);
      for (let j = 0; j < len(i); j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) s += q[(i * nHeads + h) * hd + d] * k[(j * nKv + kh) * hd + d];
        s = s * scale + (terms.bias ? terms.bias[(i * total + j) * nHeads + h] : 0);
        if (cap) s = cap * Math.tanh(s / cap);
        sc.push(j < lo ? -Infinity : s); // outside the window: no weight
      }
      const m = Math.max(...sc);
      const e = sc.map((a) => Math.exp(a - m));
      const z = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < sc.length; j++) {
        probs[(h * t + i) * total + j] = e[j] / z;
        for (let d = 0; d < hd; d++)
          out[(i * nHeads + h) * hd + d] += (e[j] / z) * v[(j * nKv + kh) * hd + d];
      }
    }
  }
  return { out, probs };
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
  test(`${label(be)}: matmul with and without bias`, () => {
    for (const m of [1, 3, 4, 17]) {
      for (const k of SIZES) {
        for (const n of [1, 5, 16, 33, 67]) {
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
          be.matmul(out, x, place(be, matrixF32(n, k, w)), b, m);
          assertClose(out, want, 1e-5, `matmul ${m}x${k}x${n}`);
          if (m === 3 && n === 5) {
            // a matrix the backend did not place (built before it was active) works too
            be.matmul(out, x, matrixF32(n, k, w), b, m);
            assertClose(out, want, 1e-5, `matmul ${m}x${k}x${n}, unplaced`);
          }
        }
      }
    }
  });

  test(`${label(be)}: one-row matmul of long rows, in slabs of 512 columns (the last 511 and 3 values wide)`, () => {
    // wasm: placed in slabs (rows over 1024 values), each slab's rows read in pairs j, j + h; the last slab
    // leaves tails of 15 and 3 values; odd and even n
    for (const k of [2047, 2051]) {
      for (const n of [2, 3, 8, 9]) {
        const x = rand(k, k);
        const w = rand(n * k, n + 3 * k);
        const b = rand(n, 5);
        const want = new Float64Array(n);
        for (let j = 0; j < n; j++) {
          let s = b[j];
          for (let p = 0; p < k; p++) s += x[p] * w[j * k + p];
          want[j] = s;
        }
        const out = new Float32Array(n);
        be.matmul(out, x, place(be, matrixF32(n, k, w)), b, 1);
        assertClose(out, want, 1e-5, `matmul 1x${k}x${n}`);
      }
    }
  });

  test(`${label(be)}: matmul at batched decoding's row counts (2-15 rows, f32: matmulF32Rows)`, () => {
    // rows mod 4 leave 1-3 input rows for the row-at-a-time loops, n mod 2 a last weight row, k mod 8 a
    // block of four (37) and k mod 4 a scalar tail; 131 × 769 splits across two threads
    for (const m of [2, 3, 4, 5, 6, 7, 8, 11, 15]) {
      for (const k of [1, 3, 33, 37, 769]) {
        for (const n of [1, 3, 4, 7, 131]) {
          const x = rand(m * k, 3 * m + k);
          const w = rand(n * k, n * 5 + k);
          const b = rand(n, 7);
          for (const bias of [b, null]) {
            const want = new Float32Array(m * n);
            referenceBackend.matmul(want, x, matrixF32(n, k, w), bias, m);
            const out = new Float32Array(m * n).fill(NaN);
            be.matmul(out, x, place(be, matrixF32(n, k, w)), bias, m);
            assertClose(out, want, 1e-5, `matmul ${m}x${k}x${n}${bias ? '' : ' no bias'}`);
          }
        }
      }
    }
  });

  test(`${label(be)}: f32 rows over 1024 values (wasm: placed in slabs): 1-21 input rows, the row-major view, rows read in place`, () => {
    // slabs of 512 columns, the last one 1, 512 or 15 wide; 1 row (decode), 2-15 (matmulF32Rows), 16 and
    // more (prefill's panels, one slab per block of columns); 131 rows split across threads
    for (const k of [1025, 1536, 2063]) {
      for (const n of [3, 131]) {
        const w = rand(n * k, n + k);
        const b = rand(n, 11);
        const placed = place(be, matrixF32(n, k, w));
        for (const m of [1, 3, 4, 6, 16, 21]) {
          const x = rand(m * k, m * 3 + k);
          for (const bias of [b, null]) {
            const want = new Float64Array(m * n);
            for (let i = 0; i < m; i++)
              for (let j = 0; j < n; j++) {
                let acc = bias ? bias[j] : 0;
                for (let p = 0; p < k; p++) acc += x[i * k + p] * w[j * k + p];
                want[i * n + j] = acc;
              }
            const out = new Float32Array(m * n).fill(NaN);
            be.matmul(out, x, placed, bias, m);
            assertClose(out, want, 1e-5, `matmul ${m}x${k}x${n}${bias ? '' : ' no bias'}`);
          }
        }
        // a row read in place, whatever the layout; then the row-major view (a matrix in slabs rewrites
        // itself row-major, for good) and a product after it
        if (placed.readRow) {
          const row = new Float32Array(k + 2);
          placed.readRow(n - 1, row, 2);
          assert.deepEqual(row.subarray(2), w.subarray((n - 1) * k, n * k), `row ${n - 1} of ${n}x${k}`);
        }
        const slab = () => (placed as { slab?: number }).slab;
        if (be instanceof WasmBackend) assert.equal(slab(), 512, 'placed in slabs');
        assert.deepEqual(placed.data, w, `the row-major view of ${n}x${k}`);
        if (be instanceof WasmBackend) assert.equal(slab(), k, 'row-major since the view');
        const x = rand(5 * k, 1);
        const want = new Float32Array(5 * n);
        referenceBackend.matmul(want, x, matrixF32(n, k, w), b, 5);
        const out = new Float32Array(5 * n);
        be.matmul(out, x, placed, b, 5);
        assertClose(out, want, 1e-5, `matmul 5x${k}x${n} after the row-major view`);
      }
    }
  });

  test(`${label(be)}: layerNorm and rmsNorm`, () => {
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

  test(`${label(be)}: gelu(tanh), silu, softmax with a valid prefix`, () => {
    // long enough (> 65536) that threaded backends split it; extremes at the end
    const x = Float32Array.from([...rand(70_001, 5, 6), ...rand(64, 6, 40), 0, -0, 88, -88, 100, -100]);
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
    // NaN stays NaN (the exponential's clamps must not turn it into a number), in softmax's row too
    const nan = Float32Array.from([1, NaN, -2, 0.5, 3]);
    for (const f of [be.geluTanh, be.silu]) {
      const y = Float32Array.from(nan);
      f.call(be, y, y.length);
      assert.ok(Number.isNaN(y[1]) && y.every((v, i) => i === 1 || Number.isFinite(v)), `${f.name} of NaN`);
    }
    const nanRow = Float32Array.from(nan);
    be.softmax(nanRow, 1, nanRow.length, nanRow.length);
    assert.ok(nanRow.every(Number.isNaN), 'softmax of a row with a NaN');
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

  test(`${label(be)}: causal attention with grouped-query heads and a cached prefix`, () => {
    for (const [nHeads, nKv, hd] of [
      [4, 4, 16],
      [8, 2, 7],
      [6, 1, 33],
      [8, 2, 64],
      [4, 2, 36], // one query row's loops: a last 4 values (scores), 32 + 4 dims (values)
      [3, 3, 48], // 32 + 16 dims
    ]) {
      for (const [pos0, t] of [
        [0, 5],
        [9, 1],
        [30, 1],
        [3, 4],
        [20, 24],
        [0, 37],
        [5, 70],
      ]) {
        const total = pos0 + t;
        const q = rand(t * nHeads * hd, nHeads + t, 2);
        const k = rand(total * nKv * hd, 11 + hd, 2);
        const v = rand(total * nKv * hd, 12 + hd, 2);
        const out = new Float32Array(t * nHeads * hd);
        const probs = new Float32Array(nHeads * t * total);
        be.attention(out, q, k, v, t, pos0, nHeads, nKv, hd, probs);
        const { out: want, probs: wantP } = attention64(
          q,
          k,
          v,
          t,
          total,
          (i) => pos0 + i + 1,
          nHeads,
          nKv,
          hd,
        );
        assertClose(out, want, 1e-5, `attention H${nHeads} KV${nKv} d${hd} pos0 ${pos0} t ${t}`);
        assertClose(probs, wantP, 1e-6, 'attention probs');
        // without weights to report (a prefill: the wasm backend's tiled kernel from 16 queries on)
        const out2 = new Float32Array(t * nHeads * hd);
        be.attention(out2, q, k, v, t, pos0, nHeads, nKv, hd);
        assertClose(
          out2,
          want,
          1e-5,
          `attention without probs H${nHeads} KV${nKv} d${hd} pos0 ${pos0} t ${t}`,
        );
      }
    }
  });

  test(`${label(be)}: bidirectional attention with padding keys`, () => {
    assert.ok(be.attentionBidirectional, 'the backend has attentionBidirectional');
    for (const [nHeads, nKv, hd] of [
      [4, 4, 16],
      [6, 2, 33],
      [12, 12, 32],
    ]) {
      for (const [t, valid] of [
        [1, 1],
        [5, 3],
        [9, 9],
        [23, 17],
        [70, 65],
      ]) {
        const q = rand(t * nHeads * hd, nHeads + t + 1, 2);
        const k = rand(t * nKv * hd, 21 + hd, 2);
        const v = rand(t * nKv * hd, 22 + hd, 2);
        const out = new Float32Array(t * nHeads * hd);
        const probs = new Float32Array(nHeads * t * t);
        be.attentionBidirectional(out, q, k, v, t, valid, nHeads, nKv, hd, probs);
        const { out: want, probs: wantP } = attention64(q, k, v, t, t, () => valid, nHeads, nKv, hd);
        assertClose(out, want, 1e-5, `bidirectional H${nHeads} KV${nKv} d${hd} t ${t} valid ${valid}`);
        assertClose(probs, wantP, 1e-6, 'bidirectional probs');
        const out2 = new Float32Array(t * nHeads * hd);
        be.attentionBidirectional(out2, q, k, v, t, valid, nHeads, nKv, hd);
        assertClose(out2, want, 1e-5, `bidirectional without probs H${nHeads} d${hd} t ${t} valid ${valid}`);
      }
    }
  });

  test(`${label(be)}: cross-attention, fewer and more queries than keys`, () => {
    for (const [nHeads, nKv, hd] of [
      [4, 4, 16],
      [6, 2, 33],
    ]) {
      for (const [tq, tk] of [
        [1, 7],
        [5, 3],
        [4, 4],
        [20, 9],
        [70, 33],
      ]) {
        const q = rand(tq * nHeads * hd, nHeads + tq + 3, 2);
        const k = rand(tk * nKv * hd, 31 + hd, 2);
        const v = rand(tk * nKv * hd, 32 + hd, 2);
        const out = new Float32Array(tq * nHeads * hd);
        const probs = new Float32Array(nHeads * tq * tk);
        be.crossAttention(out, q, k, v, tq, tk, nHeads, nKv, hd, probs);
        const { out: want, probs: wantP } = attention64(q, k, v, tq, tk, () => tk, nHeads, nKv, hd);
        assertClose(out, want, 1e-5, `cross H${nHeads} KV${nKv} d${hd} tq ${tq} tk ${tk}`);
        assertClose(probs, wantP, 1e-6, 'cross probs');
        const out2 = new Float32Array(tq * nHeads * hd);
        be.crossAttention(out2, q, k, v, tq, tk, nHeads, nKv, hd);
        assertClose(out2, want, 1e-5, `cross without probs H${nHeads} d${hd} tq ${tq} tk ${tk}`);
      }
    }
  });

  test(`${label(be)}: score terms (T5: scale 1, a bias per pair and head) in causal, bidirectional, cross attention`, () => {
    for (const [nHeads, nKv, hd] of [
      [4, 4, 8],
      [3, 3, 6],
      [6, 2, 5],
    ]) {
      // causal on a cache: t new queries at pos0.., keys 0..pos0+t-1
      for (const [pos0, t] of [
        [0, 1],
        [0, 9],
        [5, 1],
        [3, 20],
      ]) {
        const total = pos0 + t;
        const q = rand(t * nHeads * hd, 41 + t, 0.7);
        const k = rand(total * nKv * hd, 42 + hd, 0.7);
        const v = rand(total * nKv * hd, 43 + hd, 2);
        const bias = rand(t * total * nHeads, 44 + pos0, 3);
        const terms = { scale: 1, bias };
        const out = new Float32Array(t * nHeads * hd);
        const probs = new Float32Array(nHeads * t * total);
        be.attention(out, q, k, v, t, pos0, nHeads, nKv, hd, probs, terms);
        const want = attention64(q, k, v, t, total, (i) => pos0 + i + 1, nHeads, nKv, hd, terms);
        assertClose(out, want.out, 1e-5, `causal terms H${nHeads} d${hd} pos0 ${pos0} t ${t}`);
        assertClose(probs, want.probs, 1e-6, 'causal terms probs');
        const out2 = new Float32Array(t * nHeads * hd);
        be.attention(out2, q, k, v, t, pos0, nHeads, nKv, hd, undefined, terms);
        assertClose(out2, want.out, 1e-5, `causal terms without probs pos0 ${pos0} t ${t}`);
      }
      // bidirectional with padding keys
      for (const [t, valid] of [
        [1, 1],
        [7, 5],
        [18, 18],
      ]) {
        const q = rand(t * nHeads * hd, 51 + t, 0.7);
        const k = rand(t * nKv * hd, 52 + hd, 0.7);
        const v = rand(t * nKv * hd, 53 + hd, 2);
        const terms = { scale: 1, bias: rand(t * t * nHeads, 54 + t, 3) };
        const out = new Float32Array(t * nHeads * hd);
        const probs = new Float32Array(nHeads * t * t);
        be.attentionBidirectional(out, q, k, v, t, valid, nHeads, nKv, hd, probs, terms);
        const want = attention64(q, k, v, t, t, () => valid, nHeads, nKv, hd, terms);
        assertClose(out, want.out, 1e-5, `bidirectional terms H${nHeads} t ${t} valid ${valid}`);
        assertClose(probs, want.probs, 1e-6, 'bidirectional terms probs');
      }
      // cross-attention: the scale alone (T5 has no bias there), fewer and more queries than keys
      for (const [tq, tk] of [
        [1, 7],
        [9, 4],
      ]) {
        const q = rand(tq * nHeads * hd, 61 + tq, 0.7);
        const k = rand(tk * nKv * hd, 62 + hd, 0.7);
        const v = rand(tk * nKv * hd, 63 + hd, 2);
        const out = new Float32Array(tq * nHeads * hd);
        const probs = new Float32Array(nHeads * tq * tk);
        be.crossAttention(out, q, k, v, tq, tk, nHeads, nKv, hd, probs, { scale: 1 });
        const want = attention64(q, k, v, tq, tk, () => tk, nHeads, nKv, hd, { scale: 1 });
        assertClose(out, want.out, 1e-5, `cross scale 1 H${nHeads} tq ${tq} tk ${tk}`);
        assertClose(probs, want.probs, 1e-6, 'cross scale 1 probs');
      }
    }
  });

  test(`${label(be)}: sliding window and soft-capped scores, causal over a cache (direct and tiled kernels)`, () => {
    checkWindowedAttention(be);
  });

  test(`${label(be)}: exact (erf) GELU`, () => {
    assert.ok(be.geluErf, 'the backend has geluErf');
    for (const n of [...SIZES, 70_001]) {
      const x = rand(n, n + 5, 6);
      const want = Array.from(x, (v) => 0.5 * v * (1 + erf64(v / Math.SQRT2)));
      be.geluErf(x, n);
      assertClose(x, want, 1e-6, `geluErf ${n}`);
    }
  });

  test(`${label(be)}: softmax over long rows`, () => {
    const rows = 2;
    const cols = 1031;
    const valid = 1000;
    const sm = rand(rows * cols, 21, 30);
    const orig = Float32Array.from(sm);
    be.softmax(sm, rows, cols, valid);
    for (let r = 0; r < rows; r++) {
      const v = Array.from(orig.subarray(r * cols, r * cols + valid));
      const m = Math.max(...v);
      const e = v.map((a) => Math.exp(a - m));
      const z = e.reduce((a, b) => a + b, 0);
      assertClose(
        sm.subarray(r * cols, r * cols + valid),
        e.map((a) => a / z),
        1e-6,
        'softmax long',
      );
      assert.ok(sm.subarray(r * cols + valid, (r + 1) * cols).every((a) => a === 0));
    }
  });

  test(`${label(be)}: argmax: first of equal maxima, any length, NaN as the plain loop, a prefix`, () => {
    const plain = (x: Float32Array) => {
      let best = 0;
      for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
      return best;
    };
    for (const n of [1, 3, 7, 8, 9, 31, 32000, 50257]) {
      const x = rand(n, n);
      assert.equal(be.argmax(x, n), plain(x), `random ${n}`);
      x[n - 1] = 2; // the maximum last (a tail after the vector loop)
      assert.equal(be.argmax(x, n), n - 1, `last of ${n}`);
      x[n >> 1] = 2; // equal maxima: the first
      assert.equal(be.argmax(x, n), n >> 1, `first of two maxima, ${n}`);
    }
    const x = Float32Array.from([-Infinity, -Infinity, -3, -Infinity]);
    assert.equal(be.argmax(x, 4), 2);
    assert.equal(be.argmax(Float32Array.from([-Infinity, -Infinity]), 2), 0);
    const nan = Float32Array.from([1, NaN, 5, 2]);
    assert.equal(be.argmax(nan, 4), plain(nan));
    nan[0] = NaN;
    assert.equal(be.argmax(nan, 4), plain(nan), 'a NaN first wins, as in the plain loop');
    assert.equal(be.argmax(Float32Array.from([0, 1, 9, 3]), 2), 1, 'only the first n values');
  });

  test(`${label(be)}: elementwise add and mul, in place and not`, () => {
    for (const n of SIZES) {
      const a = rand(n, n + 1);
      const b = rand(n, n + 2);
      const out = new Float32Array(n);
      be.add(out, a, b, n);
      assertClose(
        out,
        Array.from(a, (v, i) => v + b[i]),
        1e-7,
        `add ${n}`,
      );
      be.mul(out, a, b, n);
      assertClose(
        out,
        Array.from(a, (v, i) => v * b[i]),
        1e-7,
        `mul ${n}`,
      );
      const c = Float32Array.from(a);
      be.add(c, c, b, n);
      assertClose(
        c,
        Array.from(a, (v, i) => v + b[i]),
        1e-7,
        `add in place ${n}`,
      );
    }
  });

  test(`${label(be)}: q8_0 matmul equals the dequantized float32 matmul`, () => {
    // The wasm kernels round each 32-block of x to integers with its own scale to multiply in integers:
    // to int16 on plain SIMD (|error| <= 2^-16 of the block's largest value: 1e-4 relative), to int8 with
    // relaxed SIMD (llama.cpp's q8_0 × q8_0: checked against the bound below); the reference is exact.
    const tol = be === referenceBackend ? 1e-5 : 1e-4;
    const int8x = be instanceof WasmBackend && be.relaxedSimd;
    for (const m of [1, 3, 8, 17]) {
      for (const k of [32, 96, 800]) {
        for (const n of [1, 5, 33, 67]) {
          const x = rand(m * k, m * 31 + k, 3);
          const wf = rand(n * k, n * 7 + k + 1);
          const b = rand(n, 5);
          const plain = quantizeMatrixQ8_0(n, k, wf);
          const f32Scales = matrixQ8_0(n, k, dequantizeScales(plain.scales), plain.quants);
          const deq = dequantizeMatrix(plain);
          const want = new Float64Array(m * n);
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++) {
              let s = b[j];
              for (let p = 0; p < k; p++) s += x[i * k + p] * deq[j * k + p];
              want[i * n + j] = s;
            }
          // int8 x: each value off by at most half its block's step max|x|/127, so output j is off by at most
          // Σ_blocks max|x|/254 · Σ_block |w_j| (a little more for the float32 scale and sums: × 1.01 + 1e-5)
          const bound = new Float64Array(m * n);
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++)
              for (let p0 = 0; p0 < k; p0 += 32) {
                let amax = 0;
                let wsum = 0;
                for (let p = p0; p < p0 + 32; p++) {
                  amax = Math.max(amax, Math.abs(x[i * k + p]));
                  wsum += Math.abs(deq[j * k + p]);
                }
                bound[i * n + j] += (amax / 254) * wsum * 1.01 + 1e-5 / (k / 32);
              }
          const check = (got: Float32Array, ref: Float64Array, what: string) => {
            if (!int8x || m >= 16) return assertClose(got, ref, tol, what); // 16+ rows: batched, float32
            for (let i = 0; i < ref.length; i++)
              assert.ok(
                Math.abs(got[i] - ref[i]) <= bound[i],
                `${what} [${i}]: ${got[i]} vs ${ref[i]} ± ${bound[i]}`,
              );
          };
          for (const [what, w] of [
            ['f16 scales', plain],
            ['f32 scales', f32Scales],
          ] as const) {
            const out = new Float32Array(m * n);
            be.matmul(out, x, place(be, w), b, m);
            check(out, want, `q8_0 matmul ${m}x${k}x${n} (${what})`);
            be.matmul(out, x, place(be, w), null, m);
            check(
              out,
              want.map((v, i) => v - b[i % n]),
              `q8_0 matmul ${m}x${k}x${n} no bias (${what})`,
            );
          }
        }
      }
    }
  });

  test(`${label(be)}: attention over a growing KV cache, rewound and rewritten`, () => {
    // the decode pattern: the caller writes rows pos0.. then asks; the wasm backend mirrors the cache
    const [nHeads, nKv, hd] = [4, 2, 16];
    const kvDim = nKv * hd;
    const ctx = 40;
    const k = new Float32Array(ctx * kvDim);
    const v = new Float32Array(ctx * kvDim);
    const kAll = rand(ctx * kvDim, 71, 2);
    const vAll = rand(ctx * kvDim, 72, 2);
    const run = (pos0: number, t: number, seedQ: number) => {
      k.set(kAll.subarray(pos0 * kvDim, (pos0 + t) * kvDim), pos0 * kvDim);
      v.set(vAll.subarray(pos0 * kvDim, (pos0 + t) * kvDim), pos0 * kvDim);
      const q = rand(t * nHeads * hd, seedQ, 2);
      const got = new Float32Array(q.length);
      const want = new Float32Array(q.length);
      be.attention(got, q, k, v, t, pos0, nHeads, nKv, hd);
      referenceBackend.attention(want, q, k, v, t, pos0, nHeads, nKv, hd);
      assertClose(got, want, 1e-5, `attention pos0 ${pos0} t ${t}`);
    };
    run(0, 6, 1);
    for (let p = 6; p < 12; p++) run(p, 1, p);
    // rewind to 3 and write different rows 3..: later calls must see them
    for (let i = 0; i < kAll.length; i++) kAll[i] = -kAll[i];
    run(3, 2, 100);
    for (let p = 5; p < 9; p++) run(p, 1, 100 + p);
    // rows below pos0 changed behind the backend's back (a cache refilled elsewhere): seen as well
    for (let i = 0; i < 9 * kvDim; i++) k[i] = kAll[i] = -k[i];
    run(9, 1, 200);
  });
}

function dequantizeScales(s: Float32Array | Uint16Array): Float32Array {
  const m = dequantizeMatrix(matrixQ8_0(1, 32 * s.length, s, new Int8Array(32 * s.length).fill(1)));
  return Float32Array.from({ length: s.length }, (_, i) => m[i * 32]);
}

/**
 * Causal attention under a sliding window (windows shorter than the keys, of one key, longer than all)
 * with and without a soft-cap and a scale, against attention64: awkward head dims, grouped-query heads,
 * prefixes in the cache, enough queries for the tiled kernel and enough work for the threads.
 */
function checkWindowedAttention(be: Backend): void {
  for (const [nHeads, nKv, hd] of [
    [6, 2, 12],
    [3, 1, 20],
    [4, 4, 7],
  ]) {
    for (const [pos0, t] of [
      [0, 1],
      [9, 1],
      [0, 23],
      [5, 70],
      [37, 4],
    ]) {
      for (const window of [1, 5, 17, 200]) {
        for (const terms of [{ window }, { window, softcap: 2.5, scale: 0.31 }, { softcap: 1.5 }]) {
          const total = pos0 + t;
          const q = rand(t * nHeads * hd, 71 + t + hd, 1.3);
          const k = rand(total * nKv * hd, 72 + hd, 1.3);
          const v = rand(total * nKv * hd, 73 + hd, 2);
          const w = terms.window ?? 0;
          const from = (i: number) => (w > 0 ? Math.max(0, pos0 + i - w + 1) : 0);
          const want = attention64(q, k, v, t, total, (i) => pos0 + i + 1, nHeads, nKv, hd, terms, from);
          const what = `H${nHeads}/${nKv} d${hd} pos0 ${pos0} t ${t} ${JSON.stringify(terms)}`;
          const out = new Float32Array(t * nHeads * hd);
          const probs = new Float32Array(nHeads * t * total).fill(NaN);
          be.attention(out, q, k, v, t, pos0, nHeads, nKv, hd, probs, terms);
          assertClose(out, want.out, 1e-5, `windowed ${what}`);
          assertClose(probs, want.probs, 1e-6, `windowed probs ${what}`);
          const out2 = new Float32Array(t * nHeads * hd);
          be.attention(out2, q, k, v, t, pos0, nHeads, nKv, hd, undefined, terms);
          assertClose(out2, want.out, 1e-5, `windowed without probs ${what}`);
          // with a bias too: the scalar kernel (T5's) honours the window and the cap as well
          const bias = rand(t * total * nHeads, 74 + t, 1);
          const biased = { ...terms, bias };
          const wantB = attention64(q, k, v, t, total, (i) => pos0 + i + 1, nHeads, nKv, hd, biased, from);
          const out3 = new Float32Array(t * nHeads * hd);
          be.attention(out3, q, k, v, t, pos0, nHeads, nKv, hd, undefined, biased);
          assertClose(out3, wantB.out, 1e-5, `windowed with a bias ${what}`);
        }
      }
    }
  }
}

test('sliding window and soft-cap on 3 wasm threads equal the float64 formula', async () => {
  const wasm3 = await createWasmBackend({ threads: 3 });
  try {
    checkWindowedAttention(wasm3);
  } finally {
    wasm3.close();
  }
});

test('attentionDecode (a batch of sequences, one new query each) equals attention() per sequence, on 1 and 2 threads', async () => {
  for (const threads of [1, 2]) {
    const be = await createWasmBackend({ threads, adaptiveThreads: false });
    try {
      for (const [nHeads, nKv, hd] of [
        [8, 2, 64],
        [3, 3, 36],
      ]) {
        const qDim = nHeads * hd;
        const kvDim = nKv * hd;
        // positions from 0 to 301: enough keys in all for the pool to share the job on 2 threads
        const items = [0, 7, 130, 301].map((pos0, i) => ({
          out: new Float32Array(qDim),
          q: rand(qDim, 40 + i, 2),
          kCache: rand((pos0 + 1) * kvDim, 50 + i, 2),
          vCache: rand((pos0 + 1) * kvDim, 60 + i, 2),
          pos0,
        }));
        be.attentionDecode(items, nHeads, nKv, hd);
        for (const it of items) {
          const want = new Float32Array(qDim);
          referenceBackend.attention(want, it.q, it.kCache, it.vCache, 1, it.pos0, nHeads, nKv, hd);
          assertClose(it.out, want, 1e-5, `${threads} threads, H${nHeads} KV${nKv} d${hd}, pos0 ${it.pos0}`);
        }
      }
    } finally {
      be.close();
    }
  }
});
