// The vocabulary and the tables built from its counts, against values worked out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildVocab,
  encodeCorpus,
  huffmanTree,
  keepProbabilities,
  negativeTable,
  negativeTableSize,
  sentences,
} from '../../src/word2vec/vocab.js';

test('words are what whitespace separates; one line = one sentence (blank lines: none); --lowercase folds', () => {
  assert.deepEqual(sentences('In the\tbeginning,  God\n\nthe end.\n'), [
    ['In', 'the', 'beginning,', 'God'],
    ['the', 'end.'],
  ]);
  assert.deepEqual(sentences('The THE', true), [['the', 'the']]);
});

test('vocabulary: min-count drops rare words; count descending, ties in first-seen order', () => {
  const v = buildVocab(sentences('a b b c\nc b d e\ne d x'), 2);
  // counts: b 3, c 2, d 2, e 2 (c seen before d before e), a 1, x 1 — dropped.
  assert.deepEqual(v.words, ['b', 'c', 'd', 'e']);
  assert.deepEqual(v.counts, [3, 2, 2, 2]);
  assert.equal(v.total, 9);
  assert.equal(v.index.get('d'), 2);
  // Out-of-vocabulary words vanish before windows are taken; every sentence ends in -1.
  assert.deepEqual([...encodeCorpus(sentences('a b b c\nx a\ne d'), v)], [0, 0, 1, -1, 3, 2, -1]);
});

test("subsampling keeps a word with word2vec.c's (sqrt(f/t)+1)·t/f, t = sample·total, at most 1", () => {
  const v = { words: ['the', 'ark', 'x'], counts: [100, 10, 1], index: new Map(), total: 111 };
  const p = keepProbabilities(v, 0.01); // t = 1.11
  // the: (sqrt(100/1.11) + 1)·1.11/100 = (9.491579 + 1)·0.0111 = 0.1164565
  assert.ok(Math.abs(p[0]! - 0.1164565) < 1e-6, `${p[0]}`);
  // ark: (sqrt(10/1.11) + 1)·0.111 = (3.001501 + 1)·0.111 = 0.4441666
  assert.ok(Math.abs(p[1]! - 0.4441666) < 1e-6, `${p[1]}`);
  assert.equal(p[2], 1); // (sqrt(1/1.11) + 1)·1.11 > 1: always kept
  assert.deepEqual([...keepProbabilities(v, 0)], [1, 1, 1]);
});

test('negative-sampling table: each word fills count^0.75 / Σ count^0.75 of the slots', () => {
  // 16^0.75 = 8 and 1^0.75 = 1: shares 8/9 and 1/9 of 9 slots.
  assert.deepEqual([...negativeTable([16, 1], 9)], [0, 0, 0, 0, 0, 0, 0, 0, 1]);
  // 81^0.75 = 27, 16^0.75 = 8, 1: 27/36, 8/36, 1/36 of 36 slots.
  const t = negativeTable([81, 16, 1], 36);
  assert.deepEqual(
    [0, 1, 2].map((w) => t.filter((x) => x === w).length),
    [27, 8, 1],
  );
});

test('negative-sampling table size: the rarest word fills ≥ 20 slots, within [1e6, 1e8]', () => {
  // the KJV's shape, 5,332 words down to a count of 5: below a million slots are enough → 1e6
  assert.equal(negativeTableSize([81, 16, 5]), 1e6);
  // shares 1/36 (counts 81, 16, 1 as above) need 20·36 = 720 slots → the floor
  assert.equal(negativeTableSize([81, 16, 1]), 1e6);
  // a rarest word of share 1e-7: 2e8 slots wanted → word2vec.c's 1e8
  assert.equal(negativeTableSize([1e7 ** (4 / 3), 1]), 1e8);
  // in between: 3·10⁵ words of count 1 (Σ = 3·10⁵) → 6e6 slots
  assert.equal(negativeTableSize(new Array(300000).fill(1)), 6e6);
  assert.equal(negativeTable(new Array(300000).fill(1)).length, 6e6);
});

test('Huffman tree of counts 5 3 2 1: paths root first, frequent words short', () => {
  // Merges: {1,2}→n0 (count 3; word 3 code 0, word 2 code 1); n0 (3, taken before the leaf of equal
  // count) and word 1 → n1 (6); word 0 and n1 → n2, the root (11).
  const t = huffmanTree([5, 3, 2, 1]);
  const path = (w: number) => ({
    code: [...t.code.subarray(w * t.maxDepth, w * t.maxDepth + t.length[w]!)],
    point: [...t.point.subarray(w * t.maxDepth, w * t.maxDepth + t.length[w]!)],
  });
  assert.deepEqual(path(0), { code: [0], point: [2] });
  assert.deepEqual(path(1), { code: [1, 1], point: [2, 1] });
  assert.deepEqual(path(2), { code: [1, 0, 1], point: [2, 1, 0] });
  assert.deepEqual(path(3), { code: [1, 0, 0], point: [2, 1, 0] });
});
