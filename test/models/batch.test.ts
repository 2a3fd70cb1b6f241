// Batched inference (Decoder.forwardBatch): several sequences in one pass, each with its own KV cache and
// positions, give the logits each would get alone — mixed lengths, mixed positions, prefill and decode
// rows together; on the reference kernels and the wasm ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Decoder } from '../../src/models/decoder.js';
import { createWasmBackend, referenceBackend, setBackend, type Backend } from '../../src/tensor/index.js';
import { createGpt2, createLlama } from '../../src/train/init.js';

function maxRel(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

/** Three sequences with different histories, then one batched step of mixed lengths; each vs alone. */
function check(d: Decoder): number {
  const prompts = [[1, 2, 3, 4, 5], [6], [7, 8, 9]];
  const next = [[10], [11, 12, 13, 1], [2]];
  const batched = prompts.map(() => d.newCache());
  const alone = prompts.map(() => d.newCache());
  // histories: the first two prefilled in one batch, the third alone
  d.forwardBatch([
    { ids: prompts[0], cache: batched[0] },
    { ids: prompts[1], cache: batched[1] },
  ]);
  d.forward(prompts[2], batched[2]);
  prompts.forEach((p, i) => d.forward(p, alone[i]));
  const got = d.forwardBatch(next.map((ids, i) => ({ ids, cache: batched[i] })));
  const V = d.vocabSize;
  let worst = 0;
  next.forEach((ids, i) => {
    const ref = d.forward(ids, alone[i], true);
    worst = Math.max(worst, maxRel(got.subarray(i * V, (i + 1) * V), ref));
    assert.equal(batched[i].length, alone[i].length, 'cache lengths');
  });
  // then decode steps, one token each at different positions (the batch's attention in one call)
  for (const step of [3, 4]) {
    const ids = prompts.map((_, i) => (step * 5 + i) % V);
    const dec = d.forwardBatch(ids.map((id, i) => ({ ids: [id], cache: batched[i] })));
    ids.forEach((id, i) => {
      worst = Math.max(worst, maxRel(dec.subarray(i * V, (i + 1) * V), d.forward([id], alone[i], true)));
    });
  }
  return worst;
}

async function models(): Promise<Decoder[]> {
  const { decoder: gpt2 } = await createGpt2(
    { nLayers: 2, nHeads: 2, dim: 16, contextLength: 16, vocabSize: 17 },
    1,
  );
  const llama = await createLlama(
    {
      dim: 16,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 2,
      headDim: 4,
      ffnDim: 24,
      vocabSize: 17,
      contextLength: 16,
      normEps: 1e-5,
      ropeTheta: 10000,
      ropeStyle: 'half',
      tieWordEmbeddings: false,
    },
    2,
    0.3,
  );
  return [gpt2, llama];
}

for (const kind of ['reference', 'wasm'] as const) {
  test(`forwardBatch equals one forward per sequence (GPT-2 and Llama shapes, ${kind} kernels)`, async (t) => {
    const be: Backend = kind === 'wasm' ? await createWasmBackend({ threads: 1 }) : referenceBackend;
    setBackend(be);
    try {
      for (const d of await models()) {
        const worst = check(d);
        t.diagnostic(`max relative |Δlogit| ${worst.toExponential(2)}`);
        assert.ok(worst < 1e-5, `batched logits differ by ${worst}`);
      }
    } finally {
      setBackend(referenceBackend);
    }
  });
}

test('forward and forwardBatch write into the array given, the same logits as a new one (wasm kernels)', async () => {
  const be = await createWasmBackend({ threads: 1 });
  setBackend(be);
  try {
    for (const d of await models()) {
      const V = d.vocabSize;
      const [a, b] = [d.newCache(), d.newCache()];
      const want = d.forward([1, 2, 3], a, true);
      const into = new Float32Array(V).fill(NaN);
      assert.equal(d.forward([1, 2, 3], b, true, null, null, into), into, 'forward returns the array given');
      assert.deepEqual(into, want);
      const both = new Float32Array(2 * V).fill(NaN);
      const items = (c1: typeof a, c2: typeof b) => [
        { ids: [4], cache: c1 },
        { ids: [5, 6], cache: c2 },
      ];
      const fresh = d.forwardBatch(items(d.newCache(), d.newCache()));
      assert.equal(d.forwardBatch(items(d.newCache(), d.newCache()), null, both), both);
      assert.deepEqual(both, fresh);
      // a wrong size is refused before anything runs
      const length = a.length;
      assert.throws(() => d.forward([7], a, true, null, null, new Float32Array(V + 1)), /1 × 17 values/);
      assert.equal(a.length, length, 'the cache is untouched');
    }
  } finally {
    setBackend(referenceBackend);
  }
});
