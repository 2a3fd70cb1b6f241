// Every autograd op's backward against central finite differences in float64, one op at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/generate/rng.js';
import { Tape, type Var } from '../../src/train/autograd.js';
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

// -------------------------------------------------------------------------------------------------
// Sentence-encoder ops: exact GELU, bidirectional / padded attention, pooling, normalization, scaling.

test('scale: y = c·x and its gradient', () => {
  const x = input('x', [3, 4]);
  const r = project(12);
  gradCheck([x], (t, [v]) => t.dot(t.scale(v, -2.5), r));
  const tape = new Tape({ dtype: 'f64' });
  assert.deepEqual(
    Array.from(tape.scale(tape.constant(x.data, x.shape), 20).data),
    Array.from(x.data, (v) => 20 * v),
  );
});

test('geluErf: gradients, and the forward equals the reference inference kernel (same erf)', () => {
  const x = input('x', [3, 8], 2);
  const r = project(24);
  // The backward differentiates the exact Φ while the forward uses the reference's erf fit (fractional error
  // < 1.2e-7): the finite differences of the fit still agree within the default 1e-6 (about 1e-7 here).
  gradCheck([x], (t, [v]) => t.dot(t.geluErf(v), r));
  const x32 = Float32Array.from(x.data);
  const tape = new Tape();
  const y = tape.geluErf(tape.constant(x32, x.shape));
  const ref = Float32Array.from(x32);
  referenceBackend.geluErf!(ref, ref.length);
  assert.deepEqual(Array.from(y.data), Array.from(ref));
});

test('meanPool: mean over each sequence’s valid rows, gradients, padding rows get no gradient', () => {
  const [batch, T, dim] = [3, 4, 5];
  const lengths = [4, 2, 1];
  const x = input('x', [batch * T, dim]);
  const r = project(batch * dim);
  gradCheck([x], (t, [v]) => t.dot(t.meanPool(v, batch, T, lengths), r));
  const tape = new Tape({ dtype: 'f64' });
  const xv = tape.param(x.data, x.shape);
  const y = tape.meanPool(xv, batch, T, lengths);
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < dim; i++) {
      let s = 0;
      for (let t = 0; t < lengths[b]; t++) s += x.data[(b * T + t) * dim + i];
      assert.ok(Math.abs(y.data[b * dim + i] - s / lengths[b]) < 1e-14);
    }
  tape.backward(tape.dot(y, r));
  for (let b = 0; b < batch; b++)
    for (let t = lengths[b]; t < T; t++)
      for (let i = 0; i < dim; i++) assert.equal(xv.grad![(b * T + t) * dim + i], 0);
  assert.throws(() => tape.meanPool(xv, batch, T, [4, 0, 1]), /valid length 0 of sequence 1/);
  assert.throws(() => tape.meanPool(xv, batch, T, [4, 5, 1]), /valid length 5/);
  assert.throws(() => tape.meanPool(xv, batch, T, [4, 2]), /2 valid lengths for 3 sequences/);
});

test('l2Normalize: unit rows, gradients, and the eps floor (torch F.normalize)', () => {
  const x = input('x', [4, 6], 2, 0.3);
  const r = project(24);
  gradCheck([x], (t, [v]) => t.dot(t.l2Normalize(v), r));
  const tape = new Tape({ dtype: 'f64' });
  const y = tape.l2Normalize(tape.constant(x.data, x.shape));
  for (let row = 0; row < 4; row++) {
    let ss = 0;
    for (let i = 0; i < 6; i++) ss += y.data[row * 6 + i] ** 2;
    assert.ok(Math.abs(ss - 1) < 1e-14);
  }
  // Below the floor y = x/eps, a linear map: its gradient is dy/eps.
  const small = input('small', [2, 3], 0.01);
  gradCheck([small], (t, [v]) => t.dot(t.l2Normalize(v, 1), r.subarray(0, 6)));
  const zero = tape.param(new Float64Array(3), [1, 3]);
  const z = tape.l2Normalize(zero);
  assert.deepEqual(Array.from(z.data), [0, 0, 0]);
  tape.backward(tape.dot(z, Float64Array.from([1, 2, 3])));
  assert.deepEqual(Array.from(zero.grad!), [1e12, 2e12, 3e12]);
});

test('matmul of two activations (a·bᵀ, a·aᵀ): gradients reach both operands', () => {
  const a = input('a', [4, 5]);
  const b = input('b', [3, 5]);
  const wa = input('Wa', [5, 5], 0.5);
  const r = project(12);
  const r2 = project(16);
  gradCheck([a, b, wa], (t, [av, bv, wv]) => t.dot(t.matmul(t.matmul(av, wv), t.gelu(bv)), r));
  gradCheck([a, wa], (t, [av, wv]) => {
    const h = t.matmul(av, wv);
    return t.dot(t.matmul(h, h), r2);
  });
});

/** Attention shapes for the masked-attention tests: 2 sequences, grouped-query heads. */
const [aBatch, aT, aHeads, aKv, aHd] = [2, 5, 4, 2, 3];
const aWidth = (aHeads + 2 * aKv) * aHd;
const aOpts = { batch: aBatch, seqLen: aT, nHeads: aHeads, nKvHeads: aKv, headDim: aHd };

test('attention causal: false / validLengths: gradients (bidirectional, padded, causal + padded)', () => {
  const qkv = input('qkv', [aBatch * aT, aWidth]);
  const r = project(aBatch * aT * aHeads * aHd);
  for (const extra of [
    { causal: false },
    { causal: false, validLengths: [5, 2] },
    { causal: false, validLengths: [1, 3] },
    { causal: true, validLengths: [3, 5] },
  ]) {
    gradCheck([qkv], (t, [v]) => t.dot(t.attention(v, { ...aOpts, ...extra }), r));
  }
  // Custom q/k/v offsets (k first, then v, then q) with padding.
  const offs = { kOffset: 0, vOffset: aKv * aHd, qOffset: 2 * aKv * aHd };
  gradCheck([qkv], (t, [v]) =>
    t.dot(t.attention(v, { ...aOpts, ...offs, causal: false, validLengths: [4, 2] }), r),
  );
});

test('bidirectional attention equals the reference attentionBidirectional kernel; padded keys are ignored', () => {
  const lengths = [5, 3];
  const qkv = Float32Array.from(randn(rng, aBatch * aT * aWidth));
  const tape = new Tape();
  const y = tape.attention(tape.constant(qkv, [aBatch * aT, aWidth]), {
    ...aOpts,
    causal: false,
    validLengths: lengths,
  });
  const qDim = aHeads * aHd;
  const kvDim = aKv * aHd;
  for (let b = 0; b < aBatch; b++) {
    const q = new Float32Array(aT * qDim);
    const k = new Float32Array(aT * kvDim);
    const v = new Float32Array(aT * kvDim);
    for (let t = 0; t < aT; t++) {
      const r = (b * aT + t) * aWidth;
      q.set(qkv.subarray(r, r + qDim), t * qDim);
      k.set(qkv.subarray(r + qDim, r + qDim + kvDim), t * kvDim);
      v.set(qkv.subarray(r + qDim + kvDim, r + aWidth), t * kvDim);
    }
    const ref = new Float32Array(aT * qDim);
    referenceBackend.attentionBidirectional!(ref, q, k, v, aT, lengths[b], aHeads, aKv, aHd);
    const got = y.data.subarray(b * aT * qDim, (b + 1) * aT * qDim);
    for (let i = 0; i < ref.length; i++)
      assert.ok(Math.abs(ref[i] - got[i]) < 1e-6, `${b}/${i}: ${ref[i]} vs ${got[i]}`);
  }
  // Changing the padded keys and values of sequence 1 (positions 3, 4) changes nothing; their gradient is 0.
  const changed = Float32Array.from(qkv);
  for (let t = lengths[1]; t < aT; t++)
    for (let e = qDim; e < aWidth; e++) changed[(aT + t) * aWidth + e] += 10;
  const tape2 = new Tape();
  const x2 = tape2.param(changed, [aBatch * aT, aWidth]);
  const y2 = tape2.attention(x2, { ...aOpts, causal: false, validLengths: lengths });
  assert.deepEqual(Array.from(y2.data), Array.from(y.data));
  tape2.backward(tape2.dot(y2, Float32Array.from(randn(rng, y2.size))));
  for (let t = lengths[1]; t < aT; t++)
    for (let e = qDim; e < aWidth; e++) assert.equal(x2.grad![(aT + t) * aWidth + e], 0);
  assert.throws(
    () => tape.attention(x2, { ...aOpts, causal: false, validLengths: [5, 6] }),
    /valid length 6/,
  );
});

test('attention: the causal default is unchanged by the new options', () => {
  const qkv = input('qkv', [aBatch * aT, aWidth]);
  for (const dtype of ['f64', 'f32'] as const) {
    const tape = new Tape({ dtype });
    const data = dtype === 'f64' ? qkv.data : Float32Array.from(qkv.data);
    const v = tape.constant(data, qkv.shape);
    const plain = tape.attention(v, aOpts);
    const explicit = tape.attention(v, { ...aOpts, causal: true });
    assert.deepEqual(Array.from(explicit.data), Array.from(plain.data), 'causal: true takes the same path');
    // The masked path with every key valid computes the same causal attention.
    const masked = tape.attention(v, { ...aOpts, causal: true, validLengths: [aT, aT] });
    const tol = dtype === 'f64' ? 1e-12 : 1e-6;
    for (let i = 0; i < plain.size; i++) assert.ok(Math.abs(masked.data[i] - plain.data[i]) < tol);
    // And bidirectional attention differs from it (the first query sees more than itself).
    const bi = tape.attention(v, { ...aOpts, causal: false });
    assert.notDeepEqual(Array.from(bi.data), Array.from(plain.data));
  }
});

test('contrastive sentence-embedding loss (in-batch negatives) end to end: encoder → pool → normalize → similarity → CE', () => {
  // A: anchors, B: positives, each a padded batch of n sequences; one attention layer + exact-GELU FFN.
  const [n, T, dim, hd] = [3, 4, 6, 3];
  const lensA = [4, 2, 3];
  const lensB = [1, 4, 2];
  const xa = input('A', [n * T, dim]);
  const xb = input('B', [n * T, dim]);
  const wqkv = input('Wqkv', [3 * dim, dim], 0.5);
  const w1 = input('W1', [dim, dim], 0.5);
  const targets = Array.from({ length: n }, (_, i) => i);
  const opts = { batch: n, seqLen: T, nHeads: dim / hd, nKvHeads: dim / hd, headDim: hd, causal: false };
  gradCheck([xa, xb, wqkv, w1], (t, [a, b, wq, w]) => {
    const encode = (x: Var, lens: number[]) => {
      const h = t.add(x, t.attention(t.matmul(x, wq), { ...opts, validLengths: lens }));
      return t.l2Normalize(t.meanPool(t.geluErf(t.matmul(h, w)), n, T, lens));
    };
    const sim = t.matmul(encode(a, lensA), encode(b, lensB)); // [n, n] cosine similarities
    return t.crossEntropy(t.scale(sim, 20), targets);
  });
});
