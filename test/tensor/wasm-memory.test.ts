// How the wasm backend keeps weights: placement into linear memory, views that survive memory growth,
// allocWeights adoption, the Q8_0 kernel layout round trip, and the allocator underneath.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  allocWeights,
  backend,
  createWasmBackend,
  matrixF32,
  quantizeMatrixQ8_0,
  referenceBackend,
  setBackend,
  type Backend,
  type MatrixF32,
} from '../../src/tensor/index.js';
import { WasmHeap } from '../../src/tensor/wasm/heap.js';
import { Rng } from '../../src/generate/rng.js';
import { f16ToF32 } from '../../src/util/half.js';

function rand(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.next() * 2 - 1);
}

function under<T>(be: Backend, f: () => T): T {
  const prev = backend();
  setBackend(be);
  try {
    return f();
  } finally {
    setBackend(prev);
  }
}

test('heap: first fit, coalescing, and the top coming back down', () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 64 });
  const h = new WasmHeap(memory, 100, 64);
  const a = h.alloc(10);
  const b = h.alloc(100);
  const c = h.alloc(64);
  assert.equal(a % 64, 0);
  assert.ok(a >= 100 && b >= a + 64 && c >= b + 128);
  h.release(b);
  assert.equal(h.alloc(64), b, 'a hole is reused');
  h.release(a);
  h.release(b);
  assert.equal(h.alloc(192), a, 'neighbouring holes merge');
  const big = h.alloc(200_000); // grows the memory
  assert.ok(memory.buffer.byteLength >= big + 200_000);
  h.release(big);
  h.release(c);
  h.release(a);
  assert.equal(h.inUse, 0);
  assert.equal(h.alloc(1), a, 'everything freed: back to the start');
  assert.throws(() => h.alloc(64 * 65536), /out of memory/);
});

for (const shared of [true, false]) {
  test(`wasm (${shared ? 'shared' : 'plain'} memory): placed weights stay right when the memory grows`, async () => {
    const be = await createWasmBackend({ shared, initialMiB: 1 });
    const w = rand(33 * 70, 1);
    const m = under(be, () => matrixF32(33, 70, w));
    assert.notEqual(m.data, w, 'copied into linear memory');
    assert.deepEqual(m.data, w);
    const x = rand(3 * 70, 2);
    const want = new Float32Array(3 * 33);
    referenceBackend.matmul(want, x, m, null, 3); // the reference reads the placed matrix too
    const before = be.memory.buffer.byteLength;
    const filler = under(be, () => allocWeights(4 << 20)); // 16 MiB: grows the memory
    assert.ok(be.memory.buffer.byteLength > before);
    filler[0] = 1;
    assert.deepEqual(m.data, w, 'the matrix view is valid after growth');
    const got = new Float32Array(3 * 33);
    be.matmul(got, x, m, null, 3);
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5);
    be.close();
  });
}

test('wasm: allocWeights storage is adopted by matrixF32 without a copy', async () => {
  const be = await createWasmBackend();
  const m = under(be, () => {
    const d = allocWeights(8 * 16);
    d.set(rand(8 * 16, 3));
    const mat = matrixF32(8, 16, d);
    assert.equal(mat.data.buffer, d.buffer);
    assert.equal(mat.data.byteOffset, d.byteOffset);
    return mat;
  });
  assert.equal(be.placeMatrix(m), m, 'placing a placed matrix is a no-op');
  assert.equal(under(referenceBackend, () => allocWeights(4)).length, 4);
});

test('wasm: q8_0 matrices round-trip through the kernel layout (rows not a multiple of 4 included)', async () => {
  const be = await createWasmBackend();
  for (const rows of [1, 4, 7, 13]) {
    const plain = quantizeMatrixQ8_0(rows, 96, rand(rows * 96, rows));
    const placed = be.placeMatrix(plain);
    assert.equal(placed.kind, 'q8_0');
    if (placed.kind !== 'q8_0') return;
    assert.deepEqual(placed.quants, plain.quants);
    assert.deepEqual(placed.scales, Float32Array.from(plain.scales, f16ToF32));
    // and the reference computes the same product from the placed matrix
    const x = rand(2 * 96, 9);
    const a = new Float32Array(2 * rows);
    const b = new Float32Array(2 * rows);
    referenceBackend.matmul(a, x, plain, null, 2);
    referenceBackend.matmul(b, x, placed, null, 2);
    assert.deepEqual(b, a);
  }
});

test('wasm: a matrix built under the reference is placed on first use, once', async () => {
  const be = await createWasmBackend();
  const m: MatrixF32 = matrixF32(5, 40, rand(200, 4));
  const x = rand(40, 5);
  const want = new Float32Array(5);
  referenceBackend.matmul(want, x, m, null, 1);
  const got = new Float32Array(5);
  be.matmul(got, x, m, null, 1);
  const used = be.bytesInUse;
  be.matmul(got, x, m, null, 1);
  assert.equal(be.bytesInUse, used, 'no second copy');
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5);
});

test('wasm: activations go into linear memory up to half its maximum, then into plain arrays', async () => {
  const be = await createWasmBackend({ maximumMiB: 64 });
  const inMemory = (a: Float32Array) => a.buffer instanceof SharedArrayBuffer; // the shared wasm memory
  const chunk = (4 << 20) / 4; // 4 MiB of floats
  const got: Float32Array[] = [];
  for (let i = 0; i < 12; i++) got.push(be.allocActivations(chunk));
  const placed = got.filter(inMemory).length;
  assert.ok(placed >= 6 && placed <= 8, `${placed} of 12 chunks of 4 MiB placed in a 64 MiB memory`);
  assert.ok(!inMemory(got[11]), 'past the share: a plain array');
  assert.ok(
    got.every((a) => a.length === chunk && a.every((v) => v === 0)),
    'every one zeroed, of the right size',
  );
  // the rest stays usable: a kernel's scratch still fits
  const x = new Float32Array(1 << 20).fill(1);
  be.geluTanh(x, x.length);
  assert.ok(Math.abs(x[0] - 0.8411920070648193) < 1e-6);
});
