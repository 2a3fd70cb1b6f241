// Static vs contextual (src/trace/contextual.ts) on a tiny Llama built in memory: the cosines equal a
// direct computation from each sentence's trace, and the cases a hand can check hold — the same token
// embeds alike everywhere (RoPE adds nothing to the vectors), a causal model gives a word the same vector
// after the same left context, a split word is the mean of its pieces, the static row is 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTEXTUAL_TRACE_OPTIONS, compareTraces, contextualSimilarity } from '../../src/trace/contextual.js';
import type { Trace } from '../../src/trace/schema.js';
import type { WordVectors } from '../../src/word2vec/vectors.js';
import { tinyModel } from '../fixtures/tiny-llama.js';

const model = await tinyModel(64);
const L = model.decoder.nLayers;

/** The vector of token rows `idx` (their mean) at stage l: 0 = the embedding output, l = after block l. */
function direct(tr: Trace, idx: number[], l: number): number[] {
  const rows = l === 0 ? tr.layers[0].residualIn! : tr.layers[l - 1].residualOut!;
  return rows[idx[0]].map((_, k) => idx.reduce((s, i) => s + rows[i][k], 0) / idx.length);
}

function cos(a: number[], b: number[]): number {
  const dot = a.reduce((s, x, i) => s + x * b[i], 0);
  return dot / Math.sqrt(a.reduce((s, x) => s + x * x, 0) * b.reduce((s, x) => s + x * x, 0));
}

const close = (got: number, want: number, what: string, tol = 1e-9) =>
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);

const WV: WordVectors = {
  words: ['river', 'bank', 'rates'],
  dim: 3,
  vectors: Float32Array.from([1, 0, 0, 0.3, -2, 0.5, 0, 1, 1]),
};

test('contextual: the cosines are those of the traces’ vectors, pair by pair, layer by layer', () => {
  const sentences = ['the bank of the river', 'by the river bank', 'the bank raised its rates'];
  const c = contextualSimilarity(model, 'bank', sentences, WV);
  assert.deepEqual(c.pairs, [
    [0, 1],
    [0, 2],
    [1, 2],
  ]);
  assert.deepEqual(c.layers, ['embedding', ...Array.from({ length: L }, (_, l) => `block ${l + 1}`)]);
  assert.equal(c.cosines.length, L + 1);
  // the word is the token " bank": index 1, 4 and 1 (no BOS)
  assert.deepEqual(
    c.occurrences.map((o) => o.indices),
    [[1], [4], [1]],
  );
  assert.deepEqual(
    c.occurrences.map((o) => o.tokens.map((t) => t.text)),
    [[' bank'], [' bank'], [' bank']],
  );
  assert.equal(c.averaged, false);
  const traces = sentences.map((s) => model.trace(s, CONTEXTUAL_TRACE_OPTIONS));
  for (let l = 0; l <= L; l++) {
    c.pairs.forEach(([a, b], p) => {
      const want = cos(
        direct(traces[a], [c.occurrences[a].indices[0]], l),
        direct(traces[b], c.occurrences[b].indices, l),
      );
      close(c.cosines[l][p], want, `layer ${l}, pair S${a + 1}·S${b + 1}`);
    });
  }
  // RoPE: the embedding output is the token's row alone, the same in every sentence
  for (const x of c.cosines[0]) close(x, 1, 'the embedding of " bank"', 1e-6);
  // S1 and S3 read "the bank" before it: a causal model's vector of " bank" is the same in both
  for (let l = 0; l <= L; l++) close(c.cosines[l][1], 1, `S1·S3 at layer ${l} (same left context)`, 1e-6);
  // a different left context moves it
  assert.ok(c.cosines[L][0] < 0.999, `S1·S2 after the last block: ${c.cosines[L][0]}`);
  // static: one row for every sentence
  assert.equal(c.static?.dim, 3);
  for (const x of c.static!.cosines) close(x, 1, 'static', 1e-12);
  // the same answer from traces made elsewhere (the page's), and none without vectors
  const again = compareTraces('bank', traces);
  assert.deepEqual(again.cosines, c.cosines);
  assert.equal(again.static, null);
});

test('contextual: a word split into sub-word tokens is the mean of their vectors, and is said to be', () => {
  const sentences = ['the bank raised its rates', 'the rates of the river'];
  const c = contextualSimilarity(model, 'Rates', sentences, WV); // case-insensitive in text and vectors
  const [o1, o2] = c.occurrences;
  assert.equal(c.averaged, true);
  assert.deepEqual(
    o1.tokens.map((t) => t.text),
    [' r', 'a', 't', 'e', 's'],
  );
  assert.equal(o2.indices.length, 5);
  const traces = sentences.map((s) => model.trace(s, CONTEXTUAL_TRACE_OPTIONS));
  for (let l = 0; l <= L; l++)
    close(
      c.cosines[l][0],
      cos(direct(traces[0], o1.indices, l), direct(traces[1], o2.indices, l)),
      `layer ${l}`,
    );
  assert.equal(c.static?.cosines.length, 1);
});

test('contextual: the first whole-word occurrence, counted; "banks" is not "bank"', () => {
  const c = contextualSimilarity(model, 'bank', ['the bank by the bank', 'the banks by the bank'], null);
  assert.deepEqual(
    c.occurrences.map((o) => [o.indices, o.occurrences]),
    [
      [[1], 2],
      [[5], 1],
    ],
  );
  assert.equal(c.static, null);
});

test('contextual: one-line errors for a missing word, an unknown word, too few sentences', () => {
  assert.throws(
    () => contextualSimilarity(model, 'bank', ['the bank of the river', 'the lazy dog'], null),
    /"bank" does not occur in sentence 2 \("the lazy dog"\)/,
  );
  assert.throws(
    () => contextualSimilarity(model, 'fox', ['the fox', 'a fox'], WV),
    /word2vec: "fox" is not in the vocabulary/,
  );
  assert.throws(() => contextualSimilarity(model, 'bank', ['the bank'], null), /at least 2 sentences/);
  assert.throws(() => contextualSimilarity(model, 'the bank', ['the bank', 'a bank'], null), /one word/);
});
