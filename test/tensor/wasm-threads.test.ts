// The thread pool's take-over (src/tensor/wasm/pool.ts): the caller computes a late worker's chunks of a
// matmul itself, and the worker's own result is thrown away. With takeOverMs: 0 the caller takes
// over every chunk not finished when it runs out of its own, so caller and workers race on the chunk
// states all the time; the outputs must still equal one thread's, call after call, at awkward sizes and
// with calls of different shapes back to back (a worker still busy with the previous call).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createWasmBackend,
  matrixF32,
  quantizeMatrixQ8_0,
  setBackend,
  referenceBackend,
  type Matrix,
  type WasmBackend,
} from '../../src/tensor/index.js';
import { Rng } from '../../src/generate/rng.js';

const one = await createWasmBackend();
const racing: WasmBackend[] = [
  await createWasmBackend({ threads: 2, takeOver: true, takeOverMs: 0 }),
  await createWasmBackend({ threads: 3, takeOver: true, takeOverMs: 0 }),
  await createWasmBackend({ threads: 3, takeOver: true }),
];
// One clean-clone CI run once saw a wrong output here (wasm-3t, 769x64, 1 row: a call too small for the
// pool). The cause (pool.ts drain): a worker read the job header while its RUNNING chunk was taken over
// and the next job written over the header, and ran a mix — a batched matmul's scratch argument without
// its private scratch offset — writing its panels into the staging memory the caller's next calls use.
// A worker now checks, after reading the header, that its chunk is still RUNNING.
after(() => {
  for (const be of racing) be.close();
});

function rand(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.next() * 2 - 1);
}

/** The same weights placed in a backend's memory (f32, or Q8_0: k is whole blocks of 32). */
function weights(be: WasmBackend, n: number, k: number, q8: boolean, seed: number): Matrix {
  setBackend(be);
  const data = rand(n * k, seed);
  const m = q8 ? quantizeMatrixQ8_0(n, k, data) : matrixF32(n, k, data);
  setBackend(referenceBackend);
  return m;
}

// [output features n, input features k]: n not a multiple of the 4-row granule, chunks of uneven size
const SHAPES: Array<[number, number]> = [
  [769, 64],
  [3073, 96],
  [130, 640],
  [2304, 768],
];

for (const q8 of [false, true]) {
  test(`take-over: ${q8 ? 'q8_0' : 'f32'} matmuls (1-3 rows, and batched) on 2 and 3 threads equal one thread's`, (t) => {
    for (const be of racing) {
      const ws = SHAPES.map(([n, k], i) => weights(be, n, k, q8, 10 + i));
      const ws1 = SHAPES.map(([n, k], i) => weights(one, n, k, q8, 10 + i));
      let calls = 0;
      for (let rep = 0; rep < 20; rep++) {
        for (let s = 0; s < SHAPES.length; s++) {
          const [n, k] = SHAPES[s];
          for (const rows of [1, 2, 3, 5, 37]) {
            const x = rand(rows * k, 1000 * rep + 10 * s + rows);
            const bias = s % 2 ? rand(n, s) : null;
            const want = new Float32Array(rows * n);
            one.matmul(want, x, ws1[s], bias, rows);
            const got = new Float32Array(rows * n).fill(NaN);
            be.matmul(got, x, ws[s], bias, rows);
            calls++;
            for (let i = 0; i < want.length; i++) {
              if (Math.abs(got[i] - want[i]) > 1e-5 * (1 + Math.abs(want[i])))
                assert.fail(`${be.name} ${n}x${k} rows ${rows}, rep ${rep}: [${i}] ${got[i]} vs ${want[i]}`);
            }
          }
        }
      }
      t.diagnostic(`${be.name}: ${calls} calls, ${be.poolStats?.takenOver ?? 0} chunks taken over`);
    }
  });
}

test('norms and elementwise add/mul at prefill sizes (split across threads) equal one thread', () => {
  // rows × dim past the parallel threshold, with rows and values that do not divide evenly
  for (const [rows, dim] of [
    [131, 769],
    [517, 192],
  ]) {
    const n = rows * dim;
    const x = rand(n, 1);
    const y = rand(n, 2);
    const g = rand(dim, 3);
    const b = rand(dim, 4);
    const run = (be: WasmBackend) => {
      const ln = new Float32Array(n);
      be.layerNorm(ln, x, g, b, rows, dim, 1e-5);
      const rms = new Float32Array(n);
      be.rmsNorm(rms, x, g, rows, dim, 1e-6);
      const sum = new Float32Array(n);
      be.add(sum, x, y, n);
      const prod = new Float32Array(n);
      be.mul(prod, x, y, n);
      return [ln, rms, sum, prod];
    };
    const want = run(one);
    for (const be of racing) {
      const got = run(be);
      for (let k = 0; k < want.length; k++)
        assert.deepEqual(got[k], want[k], `${be.name} ${rows}x${dim} #${k}`);
    }
  }
});
