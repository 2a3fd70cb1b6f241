// The training tape's kernels on the WASM backend (gemm in its four layouts, attentionBackward,
// geluTanhBackward), one and two threads, relaxed SIMD and plain, against float64: the product computed
// directly, and the same tape in float64 on the reference path (itself gradient-checked against finite
// differences in autograd.test.ts). Awkward sizes: odd sequence lengths
// and head widths that are not multiples of 4 or 16, grouped-query heads, several sequences.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/generate/rng.js';
import { createWasmBackend, referenceBackend, setBackend, type Backend } from '../../src/tensor/index.js';
import { Tape, type Var } from '../../src/train/autograd.js';
import { relativeL2 } from '../models/reference.js';
import { randn } from './gradcheck.js';

const BACKENDS: Array<[string, Backend]> = [
  ['wasm', await createWasmBackend()],
  ['wasm-2t', await createWasmBackend({ threads: 2 })],
  ['wasm-2t simd128', await createWasmBackend({ threads: 2, relaxedSimd: false })],
];
after(() => {
  setBackend(referenceBackend);
  for (const [, be] of BACKENDS) (be as { close?: () => void }).close?.();
});

/** ‖got − want‖ / ‖want‖. */
const relL2 = (got: ArrayLike<number>, want: ArrayLike<number>) => relativeL2(want, got);

/**
 * Output and input gradient of `op` on x (shape [rows, cols]) with upstream gradient r: in float64 on the
 * reference backend, then in float32 on `be`.
 */
function both(
  be: Backend,
  x: Float64Array,
  shape: number[],
  r: Float64Array,
  op: (t: Tape, v: Var) => Var,
): { want: [Float64Array, Float64Array]; got: [Float32Array, Float32Array] } {
  const run = (dtype: 'f32' | 'f64') => {
    const tape = new Tape({ dtype });
    const v = tape.param(dtype === 'f64' ? x.slice() : Float32Array.from(x), shape);
    const y = op(tape, v);
    tape.backward(tape.dot(y, dtype === 'f64' ? r.slice() : Float32Array.from(r)));
    return [y.data.slice(), v.grad!.slice()];
  };
  setBackend(referenceBackend);
  const want = run('f64') as [Float64Array, Float64Array];
  setBackend(be);
  try {
    return { want, got: run('f32') as [Float32Array, Float32Array] };
  } finally {
    setBackend(referenceBackend);
  }
}

test('gemm on wasm: y (+)= X·Wᵀ with x and w read as stored or transposed, = float64 (awkward sizes)', () => {
  const rng = new Rng(11);
  const sizes: Array<[number, number, number]> = [
    [1, 1, 1],
    [7, 33, 5],
    [33, 7, 129],
    [4, 769, 17],
    [130, 520, 70],
    [64, 1030, 3],
  ];
  for (const [name, be] of BACKENDS) {
    for (const [M, K, N] of sizes) {
      for (const xT of [false, true])
        for (const wT of [false, true])
          for (const accumulate of [false, true]) {
            const x = randn(rng, M * K);
            const w = randn(rng, N * K);
            const y0 = randn(rng, M * N);
            const bias = accumulate ? null : randn(rng, N);
            const want = new Float64Array(M * N);
            for (let m = 0; m < M; m++)
              for (let n = 0; n < N; n++) {
                let s = accumulate ? y0[m * N + n] : bias![n];
                for (let k = 0; k < K; k++)
                  s += (xT ? x[k * M + m] : x[m * K + k]) * (wT ? w[k * N + n] : w[n * K + k]);
                want[m * N + n] = s;
              }
            const y = Float32Array.from(y0);
            be.gemm!(
              y,
              Float32Array.from(x),
              Float32Array.from(w),
              bias && Float32Array.from(bias),
              M,
              K,
              N,
              {
                xT,
                wT,
                accumulate,
              },
            );
            const e = relL2(y, want);
            const what = `${name} M ${M} K ${K} N ${N} xT ${xT} wT ${wT} accumulate ${accumulate}`;
            assert.ok(e < 1e-6 * Math.sqrt(K) + 1e-6, `${what}: off by ${e.toExponential(2)} (relative L2)`);
          }
    }
  }
});

test('causal attention backward on wasm = the float64 tape (awkward sizes, grouped-query, batches)', () => {
  const rng = new Rng(7);
  const shapes = [
    { batch: 1, T: 1, nHeads: 1, nKv: 1, hd: 4 },
    { batch: 2, T: 7, nHeads: 3, nKv: 3, hd: 5 },
    { batch: 3, T: 33, nHeads: 4, nKv: 2, hd: 17 },
    { batch: 1, T: 65, nHeads: 6, nKv: 6, hd: 64 },
    { batch: 2, T: 40, nHeads: 2, nKv: 1, hd: 36 },
  ];
  for (const [name, be] of BACKENDS) {
    for (const { batch, T, nHeads, nKv, hd } of shapes) {
      // a little extra width: the layout leaves columns the attention neither reads nor writes
      const width = (nHeads + 2 * nKv) * hd + 3;
      const x = randn(rng, batch * T * width);
      const r = randn(rng, batch * T * nHeads * hd);
      // q, k, v side by side from column 1 (the threads take disjoint columns); then q at column 1 and k
      // at its default place (nHeads·hd), so the last q column is the first k column — an aliased layout,
      // whose gradient sums must not race across threads
      const kOffset = 1 + nHeads * hd;
      for (const layout of [{ qOffset: 1, kOffset, vOffset: kOffset + nKv * hd }, { qOffset: 1 }]) {
        const { want, got } = both(be, x, [batch * T, width], r, (t, v) =>
          t.attention(v, { batch, seqLen: T, nHeads, nKvHeads: nKv, headDim: hd, ...layout }),
        );
        const what = `${name} batch ${batch} T ${T} heads ${nHeads}/${nKv} hd ${hd} ${JSON.stringify(layout)}`;
        assert.ok(relL2(got[0], want[0]) < 2e-6, `${what}: output ${relL2(got[0], want[0])}`);
        const e = relL2(got[1], want[1]);
        assert.ok(e < 1e-5, `${what}: gradient off by ${e.toExponential(2)} (relative L2)`);
        for (let row = 0; row < batch * T; row++) {
          assert.equal(got[1][row * width], 0, `${what}: column 0 (before qOffset) gets no gradient`);
        }
      }
    }
  }
});

test('GELU (tanh) forward and backward on wasm = the float64 tape', () => {
  const rng = new Rng(3);
  for (const [name, be] of BACKENDS) {
    for (const n of [1, 7, 33, 769, 70001]) {
      // a wide range, tails included: far negative (gradient → 0) and far positive (→ 1)
      const x = randn(rng, n, 3);
      if (n > 2) [x[0], x[1]] = [-12, 11];
      const r = randn(rng, n);
      const { want, got } = both(be, x, [n], r, (t, v) => t.gelu(v));
      for (let i = 0; i < n; i++) {
        assert.ok(
          Math.abs(got[0][i] - want[0][i]) <= 3e-6 * Math.max(1, Math.abs(want[0][i])),
          `${name} n ${n}: y[${i}]`,
        );
        assert.ok(
          Math.abs(got[1][i] - want[1][i]) <= 3e-6 * Math.max(1, Math.abs(want[1][i])),
          `${name} n ${n}: dx[${i}] = ${got[1][i]}, want ${want[1][i]}`,
        );
      }
    }
  }
});
