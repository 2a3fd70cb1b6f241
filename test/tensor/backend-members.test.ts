// A backend is a complete value: every member of Backend is required, and the reference and the wasm
// backend each implement all of them (the key list below is checked against the interface when the tests
// type-check, the backends when they run). Also: the reference's training gemm (the tape's plain product,
// moved there) against a float64 formula in its four layouts and with each causal triangle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWasmBackend, referenceBackend, type Backend } from '../../src/tensor/index.js';
import { Rng } from '../../src/generate/rng.js';

/** Every member of Backend: `satisfies` fails to compile if one is missing here or is not a member. */
const MEMBERS = {
  name: true,
  matmul: true,
  layerNorm: true,
  rmsNorm: true,
  geluTanh: true,
  geluErf: true,
  attentionBidirectional: true,
  crossAttention: true,
  silu: true,
  softmax: true,
  argmax: true,
  add: true,
  mul: true,
  attention: true,
  attentionDecode: true,
  forget: true,
  gemm: true,
  geluTanhBackward: true,
  attentionBackward: true,
  placeMatrix: true,
  allocWeights: true,
  allocActivations: true,
  freeActivations: true,
} satisfies Record<keyof Backend, true>;

function assertComplete(be: Backend): void {
  for (const key of Object.keys(MEMBERS) as Array<keyof Backend>) {
    const member = be[key] as unknown;
    if (key === 'name') assert.equal(typeof member, 'string', `${be.name}: name`);
    else assert.equal(typeof member, 'function', `${be.name}: ${key} is not implemented`);
  }
}

test('the reference backend implements every member of Backend', () => {
  assertComplete(referenceBackend);
});

test('the wasm backend implements every member of Backend', async () => {
  assertComplete(await createWasmBackend());
});

test('reference gemm = Σ_k X·Wᵀ (+ bias) in every layout, accumulate, and the causal triangles', () => {
  const rng = new Rng(3);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
  const [M, K, N] = [7, 9, 6];
  const x = rand(M * K); // [M, K]
  const w = rand(N * K); // [N, K]
  const bias = rand(N);
  const want = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = bias[n];
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      want[m * N + n] = s;
    }
  const xT = new Float32Array(K * M);
  const wT = new Float32Array(K * N);
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) xT[k * M + m] = x[m * K + k];
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wT[k * N + n] = w[n * K + k];
  for (const [xs, ws, layout] of [
    [x, w, {}],
    [xT, w, { xT: true }],
    [x, wT, { wT: true }],
    [xT, wT, { xT: true, wT: true }],
  ] as const) {
    const y = new Float32Array(M * N);
    referenceBackend.gemm(y, xs, ws, bias, M, K, N, layout);
    for (let i = 0; i < M * N; i++)
      assert.ok(Math.abs(y[i] - want[i]) < 1e-5, `${JSON.stringify(layout)} @${i}`);
  }
  // accumulate adds the product (no bias) into y
  const y = Float32Array.from(want);
  referenceBackend.gemm(y, x, w, null, M, K, N, { accumulate: true });
  for (let i = 0; i < M * N; i++) assert.ok(Math.abs(y[i] - (2 * want[i] - bias[i % N])) < 1e-5);

  // the triangles, on a square causal product: lower-triangular x (kUpper), upper-triangular x (kLower)
  const T = 9;
  const a = rand(T * T);
  const b = rand(T * T);
  const full = (xa: Float32Array) => {
    const out = new Float64Array(T * T);
    for (let i = 0; i < T; i++)
      for (let j = 0; j < T; j++) {
        let s = 0;
        for (let k = 0; k < T; k++) s += xa[i * T + k] * b[j * T + k];
        out[i * T + j] = s;
      }
    return out;
  };
  const yc = new Float32Array(T * T);
  referenceBackend.gemm(yc, a, b, null, T, T, T, { triangle: 'cols' });
  const fc = full(a);
  for (let i = 0; i < T; i++)
    for (let j = 0; j <= i; j++) assert.ok(Math.abs(yc[i * T + j] - fc[i * T + j]) < 1e-5);
  const lower = a.map((v, i) => (i % T <= Math.floor(i / T) ? v : 0));
  const upper = a.map((v, i) => (i % T >= Math.floor(i / T) ? v : 0));
  for (const [xa, triangle] of [
    [lower, 'kUpper'],
    [upper, 'kLower'],
  ] as const) {
    const yt = new Float32Array(T * T);
    referenceBackend.gemm(yt, xa, b, null, T, T, T, { triangle });
    const f = full(xa);
    for (let i = 0; i < T * T; i++) assert.ok(Math.abs(yt[i] - f[i]) < 1e-5, `${triangle} @${i}`);
  }
});
