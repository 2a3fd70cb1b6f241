// Weights kept in ggml blocks (Q4_0, Q4_K, Q5_K, Q6_K): our quantizers round-trip through the reference
// dequantization; the wasm decode (matmulQuant, int16 inputs) and prefill (matmulQuantBatched, float32)
// kernels equal the reference dequantize + float64 matmul at awkward sizes, on 1, 2 and 3 threads (identical results: threads only split
// the rows); a matrix of mixed parts (a fused q/k/v from a Q4_K_M file) too; and a Q4_K matrix holds 4.5
// bits a weight in wasm memory.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createWasmBackend,
  dequantizeMatrix,
  matrixBytes,
  matrixQuant,
  quantizeMatrix,
  referenceBackend,
  setBackend,
  weightMatrix,
  WasmBackend,
  type Backend,
  type Matrix,
  type QuantPart,
  type QuantType,
} from '../../src/tensor/index.js';
import { dequantize, quantize } from '../../src/tensor/ggml-quant.js';
import { WasmMatrixQuant } from '../../src/tensor/wasm/matrices.js';
import { Rng } from '../../src/generate/rng.js';

const wasm1 = await createWasmBackend();
const wasm2 = await createWasmBackend({ threads: 2 });
const wasm3 = await createWasmBackend({ threads: 3 });
const wasmPlain = await createWasmBackend({ threads: 2, relaxedSimd: false });
after(() => {
  wasm2.close();
  wasm3.close();
  wasmPlain.close();
});
const TYPES: QuantType[] = ['Q4_0', 'Q4_K', 'Q5_K', 'Q6_K'];

function rand(n: number, seed: number, scale = 1): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
}

function rms(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v * v;
  return Math.sqrt(s / a.length);
}

/** float32 [rows, cols] quantized by our quantizer to one `type` part. */
function part(type: QuantType, rows: number, cols: number, seed: number): QuantPart {
  return { type, rows, bytes: quantize(type, rand(rows * cols, seed, 0.5)) };
}

/** The reference product in float64 over the reference dequantization. */
function want(m: Matrix, x: Float32Array, bias: Float32Array | null, rows: number): Float32Array {
  const w = dequantizeMatrix(m);
  const { rows: n, cols: k } = m;
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      for (let i = 0; i < k; i++) s += x[r * k + i] * w[j * k + i];
      out[r * n + j] = s;
    }
  return out;
}

/**
 * Within tol of the output's rms: 2e-5 for float32 sums (prefill, the reference); decode (fewer than 4
 * input rows on wasm) rounds each 32-block of x to int16 first (|error| ≤ 2⁻¹⁶ of its largest value), 2e-4.
 */
function assertClose(got: Float32Array, exp: Float32Array, what: string, tol = 2e-5): void {
  let worst = 0;
  const scale = Math.max(1e-3, rms(exp));
  for (let i = 0; i < exp.length; i++) worst = Math.max(worst, Math.abs(got[i] - exp[i]) / scale);
  assert.ok(worst < tol, `${what}: worst error ${worst.toExponential(2)} of the output's rms`);
}

function run(be: Backend, m: Matrix, x: Float32Array, bias: Float32Array | null, rows: number): Float32Array {
  const out = new Float32Array(rows * m.rows);
  be.matmul(out, x, be.placeMatrix(m), bias, rows);
  return out;
}

test("quantizers round-trip through the reference dequantization within each type's error", () => {
  // relative rms error of uniform values: about 1/(levels·√12) of the range, and a little more
  const bound: Record<QuantType, number> = { Q4_0: 0.1, Q4_K: 0.08, Q5_K: 0.04, Q6_K: 0.02 };
  for (const type of TYPES) {
    const x = rand(256 * 12, 7, 2);
    const bytes = quantize(type, x);
    const y = new Float32Array(x.length);
    dequantize(type, bytes, y);
    const err = rms(y.map((v, i) => v - x[i])) / rms(x);
    assert.ok(err < bound[type], `${type}: rms error ${err.toFixed(4)} of the values' rms`);
    // quantizing the dequantized values again lands on (nearly) the same values: the grid is stable
    const z = new Float32Array(x.length);
    dequantize(type, quantize(type, y), z);
    const drift = rms(z.map((v, i) => v - y[i])) / rms(x);
    assert.ok(drift < bound[type] / 2, `${type}: requantizing moved the values by ${drift.toFixed(4)}`);
  }
});

test('quantizers: all-zero blocks and a lone large value', () => {
  for (const type of TYPES) {
    const x = new Float32Array(512);
    const y = new Float32Array(512);
    dequantize(type, quantize(type, x), y);
    assert.ok(
      y.every((v) => v === 0),
      `${type}: zeros stay zeros`,
    );
    x[300] = 3;
    dequantize(type, quantize(type, x), y);
    assert.ok(Math.abs(y[300] - 3) < 0.05, `${type}: a lone 3 comes back as ${y[300]}`);
  }
});

for (const type of TYPES) {
  test(`${type}: wasm decode and prefill kernels equal the reference, threads 1, 2, 3 identical`, () => {
    const k = type === 'Q4_0' ? 96 : 768; // several blocks (3 super-blocks; a KC block of 512 and a rest)
    const n = 101;
    const m = matrixQuant(n, k, [part(type, n, k, 11)]);
    for (const rows of [1, 2, 3, 4, 5, 7, 9, 15]) {
      const x = rand(rows * k, 100 + rows);
      const bias = rows % 2 ? rand(n, 5) : null;
      const exp = want(m, x, bias, rows);
      assertClose(run(referenceBackend, m, x, bias, rows), exp, `${type} reference ${rows} rows`);
      const one = run(wasm1, m, x, bias, rows);
      const tol = rows < 4 ? 2e-4 : 2e-5;
      assertClose(one, exp, `${type} wasm ${rows}x${k}x${n}`, tol);
      for (const be of [wasm2, wasm3])
        assert.deepEqual(run(be, m, x, bias, rows), one, `${type} ${be.name} ${rows} rows`);
      assertClose(run(wasmPlain, m, x, bias, rows), exp, `${type} simd128 ${rows} rows`, tol);
    }
  });
}

test('a matrix of mixed parts (Q4_K, Q6_K, Q4_0, Q5_K rows) equals the reference, decode and prefill', () => {
  const k = 512;
  const m = matrixQuant(40, k, [
    part('Q4_K', 13, k, 1),
    part('Q6_K', 9, k, 2),
    part('Q4_0', 3, k, 3),
    part('Q5_K', 15, k, 4),
  ]);
  for (const rows of [1, 3, 6, 13]) {
    const x = rand(rows * k, rows);
    const bias = rand(40, 9);
    const exp = want(m, x, bias, rows);
    for (const be of [wasm1, wasm2, wasm3])
      assertClose(run(be, m, x, bias, rows), exp, `mixed ${be.name} ${rows} rows`, rows < 4 ? 2e-4 : 2e-5);
  }
});

test('a Q4_K matrix keeps 4.5 bits a weight, in wasm memory too; parts read back as placed', () => {
  const rows = 64;
  const cols = 1024;
  const data = rand(rows * cols, 3);
  const m = quantizeMatrix('Q4_K', rows, cols, data);
  assert.equal(matrixBytes(m), (rows * cols * 4.5) / 8);
  const placed = wasm1.placeMatrix(m);
  assert.ok(placed instanceof WasmMatrixQuant);
  assert.equal(placed.byteLength, (rows * cols * 4.5) / 8);
  assert.deepEqual(dequantizeMatrix(placed), dequantizeMatrix(m));
  assert.ok(wasm1 instanceof WasmBackend);
});

test('weightMatrix: q4_0 and q4_k quantize at load; q4_k falls back to q4_0 for rows of 32-blocks only', () => {
  setBackend(referenceBackend);
  const a = weightMatrix(4, 256, rand(1024, 1), 'q4_k');
  assert.equal(a.kind === 'quant' && a.parts[0].type, 'Q4_K');
  const b = weightMatrix(4, 96, rand(384, 1), 'q4_k');
  assert.equal(b.kind === 'quant' && b.parts[0].type, 'Q4_0');
  const c = weightMatrix(4, 172, rand(688, 1), 'q4_0');
  assert.equal(c.kind, 'f32');
  const d = weightMatrix(4, 64, rand(256, 1), 'q4_0');
  assert.equal(d.kind === 'quant' && d.parts[0].type, 'Q4_0');
});
