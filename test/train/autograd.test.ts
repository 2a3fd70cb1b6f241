// Every autograd op's backward against central finite differences in float64, one op at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/generate/rng.js';
import { Tape } from '../../src/train/autograd.js';
import { ROPE_BLOCK, RotaryEmbedding } from '../../src/nn/positional.js';
import { referenceBackend } from '../../src/tensor/index.js';
import { gradCheck, randn, type Input } from './gradcheck.js';

const rng = new Rng(7);
const input = (name: string, shape: number[], std = 1, mean = 0): Input => ({
  name,
  shape,
  data: randn(
    rng,
    shape.reduce((a, b) => a * b, 1),
    std,
    mean,
  ),
});
/** Σ y ⊙ r for a fixed random r: a scalar whose gradient reaches every output entry differently. */
const project = (n: number) => randn(rng, n);

test('matmul x·Wᵀ + b: gradients of x, W and b', () => {
  const x = input('x', [5, 7]);
  const w = input('W', [6, 7]);
  const b = input('b', [6]);
  const r = project(30);
  gradCheck([x, w, b], (t, [xv, wv, bv]) => t.dot(t.matmul(xv, wv, bv), r));
  // Odd sizes exercise every remainder path of the 2×4 / 4-row unrolled loops.
  const x2 = input('x', [3, 5]);
  const w2 = input('W', [9, 5]);
  const r2 = project(27);
  gradCheck([x2, w2], (t, [xv, wv]) => t.dot(t.matmul(xv, wv), r2));
});

test('matmul forward equals the reference backend', () => {
  const tape = new Tape();
  const x = Float32Array.from(randn(rng, 7 * 13));
  const w = Float32Array.from(randn(rng, 11 * 13));
  const b = Float32Array.from(randn(rng, 11));
  const y = tape.matmul(tape.constant(x, [7, 13]), tape.constant(w, [11, 13]), tape.constant(b, [11]));
  const ref = new Float32Array(77);
  referenceBackend.matmul(ref, x, { kind: 'f32', rows: 11, cols: 13, data: w }, b, 7);
  for (let i = 0; i < 77; i++)
    assert.ok(Math.abs(ref[i] - y.data[i]) < 1e-5, `${i}: ${ref[i]} vs ${y.data[i]}`);
});

test('add and mul, including a Var used twice', () => {
  const a = input('a', [4, 3]);
  const b = input('b', [4, 3]);
  const r = project(12);
  gradCheck([a, b], (t, [av, bv]) => t.dot(t.add(t.mul(av, bv), t.mul(av, av)), r));
});

test('layerNorm: gradients of x, γ and β', () => {
  const x = input('x', [4, 6], 2, 0.5);
  const g = input('gamma', [6], 0.3, 1);
  const b = input('beta', [6], 0.3);
  const r = project(24);
  gradCheck([x, g, b], (t, [xv, gv, bv]) => t.dot(t.layerNorm(xv, gv, bv, 1e-5), r));
});

test('rmsNorm: gradients of x and γ', () => {
  const x = input('x', [4, 6], 2, 0.5);
  const g = input('gamma', [6], 0.3, 1);
  const r = project(24);
  gradCheck([x, g], (t, [xv, gv]) => t.dot(t.rmsNorm(xv, gv, 1e-5), r));
});

test('gelu (tanh) and silu', () => {
  const x = input('x', [3, 8], 2);
  const r = project(24);
  gradCheck([x], (t, [xv]) => t.dot(t.gelu(xv), r));
  gradCheck([x], (t, [xv]) => t.dot(t.silu(xv), r));
});

test('softmax, plain and with a causal mask', () => {
  const x = input('x', [2, 5, 5], 2);
  const r = project(50);
  gradCheck([x], (t, [xv]) => t.dot(t.softmax(xv), r));
  gradCheck([x], (t, [xv]) => t.dot(t.softmax(xv, true), r));
  const tape = new Tape({ dtype: 'f64' });
  const y = tape.softmax(tape.constant(x.data, x.shape), true);
  assert.equal(y.data[1], 0, 'row 0 sees only column 0');
  assert.ok(Math.abs(y.data[0] - 1) < 1e-15);
});

test('fused causal attention equals softmax(q·Kᵀ/√d, causal)·V built from separate ops', () => {
  // One sequence, one head: compare against the op-by-op version on the tape.
  const T = 5;
  const hd = 4;
  const qkv = input('qkv', [T, 3 * hd]);
  const tape = new Tape({ dtype: 'f64' });
  const v = tape.constant(qkv.data, qkv.shape);
  const fused = tape.attention(v, { batch: 1, seqLen: T, nHeads: 1, nKvHeads: 1, headDim: hd });
  const scores = new Float64Array(T * T);
  for (let i = 0; i < T; i++)
    for (let j = 0; j < T; j++) {
      let s = 0;
      for (let e = 0; e < hd; e++) s += qkv.data[i * 3 * hd + e] * qkv.data[j * 3 * hd + hd + e];
      scores[i * T + j] = s / Math.sqrt(hd);
    }
  const p = tape.softmax(tape.constant(scores, [T, T]), true);
  for (let i = 0; i < T; i++)
    for (let e = 0; e < hd; e++) {
      let s = 0;
      for (let j = 0; j < T; j++) s += p.data[i * T + j] * qkv.data[j * 3 * hd + 2 * hd + e];
      assert.ok(Math.abs(s - fused.data[i * hd + e]) < 1e-12);
    }
});

test('fused causal attention: gradients, multi-head, batched, grouped-query', () => {
  const [batch, T, nHeads, nKv, hd] = [2, 4, 4, 2, 3];
  const width = (nHeads + 2 * nKv) * hd;
  const qkv = input('qkv', [batch * T, width]);
  const r = project(batch * T * nHeads * hd);
  gradCheck([qkv], (t, [v]) =>
    t.dot(t.attention(v, { batch, seqLen: T, nHeads, nKvHeads: nKv, headDim: hd }), r),
  );
});

test('rope: both pairings, gradients, and the same rotation as the inference RotaryEmbedding', () => {
  const T = 5;
  for (const style of ['interleaved', 'half'] as const) {
    const table = new RotaryEmbedding(4, 16, 10000, style);
    const x = input('x', [2 * T, 3 * 4 + 2]);
    const segs = [
      { offset: 0, nHeads: 2 },
      { offset: 8, nHeads: 1 },
    ];
    const r = project(x.data.length);
    gradCheck([x], (t, [v]) => t.dot(t.rope(v, table, T, segs), r));
    // Forward against the inference rotation (float32).
    const x32 = Float32Array.from(x.data.subarray(0, T * 14));
    const tape = new Tape();
    const y = tape.rope(tape.constant(x32, [T, 14]), table, T, segs);
    const ref = Float32Array.from(x32);
    const rot = new RotaryEmbedding(4, 16, 10000, style);
    rot.apply(ref, T, 2, 4, 0, 14, 0);
    rot.apply(ref, T, 1, 4, 0, 14, 8);
    assert.deepEqual(Array.from(y.data), Array.from(ref));
  }
});

test('embedding gather, with a repeated id (scatter-add gradient)', () => {
  const table = input('table', [5, 3]);
  const ids = [1, 4, 1, 0, 1];
  const r = project(15);
  gradCheck([table], (t, [v]) => t.dot(t.embedding(v, ids), r));
  const tape = new Tape();
  assert.throws(
    () => tape.embedding(tape.constant(new Float32Array(15), [5, 3]), [5]),
    /outside the vocabulary/,
  );
});

test('cross-entropy: gradients, ignored rows, and stability with huge logits', () => {
  const z = input('logits', [4, 6], 3);
  gradCheck([z], (t, [v]) => t.crossEntropy(v, [2, -1, 5, 0]));
  const tape = new Tape();
  const big = tape.constant(Float32Array.from([1000, 0, -1000, 3e4, 3e4, 0]), [2, 3]);
  const loss = tape.crossEntropy(big, [0, 1]);
  assert.ok(Number.isFinite(loss.data[0]));
  assert.ok(Math.abs(loss.data[0] - Math.log(2) / 2) < 1e-6, `${loss.data[0]}`);
});

test('a chain of ops (norm → matmul → gelu → matmul → residual → loss)', () => {
  const x = input('x', [3, 4]);
  const g = input('gamma', [4], 0.2, 1);
  const b = input('beta', [4], 0.2);
  const w1 = input('W1', [8, 4], 0.5);
  const b1 = input('b1', [8], 0.1);
  const w2 = input('W2', [4, 8], 0.5);
  gradCheck([x, g, b, w1, b1, w2], (t, [xv, gv, bv, w1v, b1v, w2v]) => {
    const h = t.gelu(t.matmul(t.layerNorm(xv, gv, bv, 1e-5), w1v, b1v));
    return t.crossEntropy(t.add(xv, t.matmul(h, w2v)), [1, 3, 0]);
  });
});

test('the tape pool reuses buffers after reset and grads accumulate across backward calls', () => {
  const tape = new Tape();
  const a = tape.alloc(10);
  tape.reset();
  const b = tape.alloc(10);
  assert.equal(a, b);
  const w = new Float32Array([1, 2]);
  const gw = new Float32Array(2);
  for (let k = 0; k < 2; k++) {
    tape.reset();
    const loss = tape.dot(tape.param(w, [2], gw), new Float32Array([3, 4]));
    tape.backward(loss);
  }
  assert.deepEqual(Array.from(gw), [6, 8]);
});

test('the training rope rotates with the inference tables: only the positions a window reaches, not the whole context', () => {
  const rot = new RotaryEmbedding(8, 2 ** 24, 10000, 'half');
  const tape = new Tape();
  tape.rope(tape.constant(new Float32Array(16 * 8).fill(1), [16, 8]), rot, 16, [{ offset: 0, nHeads: 1 }]);
  assert.equal(rot.tables(16).cos.length, ROPE_BLOCK * 4, 'one block for a header number of 2^24 positions');
  assert.throws(
    () =>
      tape.rope(
        tape.constant(new Float32Array(33 * 8), [33, 8]),
        new RotaryEmbedding(8, 32, 10000, 'half'),
        33,
        [{ offset: 0, nHeads: 1 }],
      ),
    /33 positions, but the context holds 32/,
  );
});
