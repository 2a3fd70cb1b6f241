// Batched encoding (Encoder.forwardBatch, SentenceEmbedder.embed's batches): several texts in one forward
// pass, their rows end to end, attention per text, give the vectors each text gets alone — mixed lengths,
// padded inputs, batch sizes 1, 3, 32; on the reference kernels and the wasm ones at 1, 2 and 3 threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadEmbedder } from '../../src/embed/load.js';
import { cosine, l2normalize, pool } from '../../src/embed/pooling.js';
import type { Encoder } from '../../src/models/encoder.js';
import {
  backend,
  createWasmBackend,
  referenceBackend,
  setBackend,
  type Backend,
} from '../../src/tensor/index.js';
import { createBert } from '../../src/train/init.js';
import { ensureBertFixture, SHARED_MINILM } from '../fixtures/make-bert.js';

const SHAPE = { nLayers: 2, nHeads: 4, dim: 32, ffnDim: 48, vocabSize: 50, contextLength: 40 };

/** Texts of mixed lengths (ids), and which of them carry a padded tail (validKeys < length). */
const TEXTS = [
  [1, 5, 9, 2],
  [1, 2],
  [1, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 2],
  [1, 30, 2],
  [1, 4, 4, 2],
];
const PADDED = [
  { ids: [1, 8, 6, 2, 0, 0, 0], validKeys: 4 },
  { ids: [1, 9, 2, 0], validKeys: 3 },
];

/** Smallest row-wise cosine between two [rows, dim] arrays. */
function minCosine(a: Float32Array, b: Float32Array, dim: number): number {
  assert.equal(a.length, b.length, 'rows');
  let m = 1;
  for (let r = 0; r < a.length / dim; r++) {
    m = Math.min(m, cosine(a.subarray(r * dim, (r + 1) * dim), b.subarray(r * dim, (r + 1) * dim)));
  }
  return m;
}

/** The same random BERT with its weights placed for `be`. */
async function bertOn(be: Backend): Promise<Encoder> {
  const prev = backend();
  setBackend(be);
  try {
    return await createBert(SHAPE, 7);
  } finally {
    setBackend(prev);
  }
}

/** One batch of every text and padded input vs each alone (forward); returns the batch's hidden states. */
function checkBatch(enc: Encoder, label: string): Float32Array {
  const items: { ids: number[]; validKeys?: number }[] = [...TEXTS.map((ids) => ({ ids })), ...PADDED];
  const got = enc.forwardBatch(items);
  const dim = enc.dim;
  let row = 0;
  for (const [i, it] of items.entries()) {
    const n = it.ids.length;
    const alone = enc.forward(it.ids, undefined, it.validKeys ?? n);
    const mine = got.subarray(row * dim, (row + n) * dim);
    const c = minCosine(mine, alone, dim);
    assert.ok(c > 0.9999, `${label}, text ${i}: cosine ${c} with the unbatched rows`);
    row += n;
  }
  assert.equal(row * dim, got.length, 'rows of the batch');
  return got;
}

test('Encoder.forwardBatch: each text (mixed lengths, padded tails) as alone, reference and wasm at 1-3 threads', async () => {
  const ref = checkBatch(await bertOn(referenceBackend), 'reference');
  // padding is padding: the valid rows of a padded text equal the text without it
  const enc = await bertOn(referenceBackend);
  const [p] = PADDED;
  const unpadded = enc.forward(p.ids.slice(0, p.validKeys));
  const padded = enc.forwardBatch([{ ids: p.ids, validKeys: p.validKeys }]);
  assert.ok(minCosine(padded.subarray(0, unpadded.length), unpadded, enc.dim) > 0.9999, 'padded = unpadded');
  const wasm = await createWasmBackend({ threads: 3 });
  try {
    const w = await bertOn(wasm);
    for (const threads of [1, 2, 3]) {
      wasm.threads = threads;
      const got = checkBatch(w, `wasm ${threads}t`);
      const c = minCosine(got, ref, enc.dim);
      assert.ok(c > 0.9999, `wasm ${threads}t vs reference: cosine ${c}`);
    }
  } finally {
    wasm.close();
  }
});

test('Encoder.forwardBatch: no texts, an empty text and one past the context are refused', async () => {
  const enc = await bertOn(referenceBackend);
  assert.throws(() => enc.forwardBatch([]), /no texts/);
  assert.throws(() => enc.forwardBatch([{ ids: [1, 2] }, { ids: [] }]), /no tokens/);
  assert.throws(() => enc.forwardBatch([{ ids: new Array<number>(41).fill(1) }]), /limit is 40/);
});

test('SentenceEmbedder.embed: batch sizes 1, 3, 32 and the default give the one-at-a-time vectors, in order', async (t) => {
  const dir = await ensureBertFixture();
  if (!dir) return t.skip(`${SHARED_MINILM} is absent: cannot build the MiniLM-shaped fixture`);
  const wasm = await createWasmBackend({ threads: 3 });
  const prev = backend();
  setBackend(wasm);
  try {
    const e = await loadEmbedder(dir);
    // 40 texts: short sentences, longer passages, one cut to max_seq_length, in no order of length
    const texts = Array.from({ length: 40 }, (_, i) =>
      i === 17
        ? 'word '.repeat(300)
        : `Sentence ${i}: the cat sat on the mat` + ' and looked around'.repeat((i * 7) % 11),
    );
    // one at a time through forward (the trace's path), pooled and normalised as embed does
    const alone = texts.map((text) => {
      const { ids, hidden } = e.tokenVectors(text);
      return l2normalize(pool(hidden, ids.length, e.dim, e.pooling));
    });
    let truncated = 0;
    // every batch size on one thread; the default (32) on 2 and 3
    const runs: [number, number | undefined][] = [
      [1, 1],
      [1, 3],
      [1, 32],
      [1, undefined],
      [2, undefined],
      [3, undefined],
    ];
    for (const [threads, batchSize] of runs) {
      wasm.threads = threads;
      const got = e.embed(texts, { batchSize, onTruncate: (i) => (truncated += i === 17 ? 1 : 100) });
      assert.equal(got.length, texts.length);
      got.forEach((v, i) => {
        const c = cosine(v, alone[i]);
        assert.ok(c > 0.9999, `${threads}t, batch ${batchSize}: text ${i} cosine ${c}`);
      });
    }
    assert.equal(truncated, 6, 'onTruncate once per call, with the text index');
  } finally {
    setBackend(prev);
    wasm.close();
  }
});
