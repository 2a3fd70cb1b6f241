// Nearest words, similarity, analogies (3CosAdd and 3CosMul) and the analogy benchmark on vectors
// small enough to work out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analogy, evaluateAnalogies, nearest, similarity, vectorOf } from '../../src/word2vec/query.js';
import type { WordVectors } from '../../src/word2vec/vectors.js';

// Two axes: royalty (x) and gender (y, + = female); "apple" points elsewhere.
const wv: WordVectors = {
  words: ['king', 'queen', 'man', 'woman', 'apple', 'King'],
  dim: 3,
  vectors: Float32Array.from([1, -1, 0, 1, 1, 0, 0.1, -1, 0, 0.1, 1, 0, 0, 0, 1, 2, -1, 1]),
};

test('similarity is the cosine; nearest excludes the word itself', () => {
  assert.ok(Math.abs(similarity(wv, 'king', 'queen') - 0) < 1e-7);
  assert.ok(Math.abs(similarity(wv, 'man', 'king') - 1.1 / Math.sqrt(2 * 1.01)) < 1e-6);
  assert.deepEqual(
    nearest(wv, 'king', { k: 2 }).map((s) => s.word),
    ['King', 'man'],
  );
  // restrict: only the first rows are candidates.
  assert.deepEqual(
    nearest(wv, 'king', { k: 2, restrict: 4 }).map((s) => s.word),
    ['man', 'queen'],
  );
  assert.deepEqual(vectorOf(wv, 'queen'), Float32Array.from([1, 1, 0]));
  assert.throws(() => nearest(wv, 'prince'), /"prince" is not in the vocabulary/);
});

test('analogy man : king :: woman : ? is queen by 3CosAdd and 3CosMul', () => {
  assert.equal(analogy(wv, 'man', 'king', 'woman', { restrict: 5 })[0]!.word, 'queen');
  assert.equal(analogy(wv, 'man', 'king', 'woman', { restrict: 5, method: 'mul' })[0]!.word, 'queen');
  // 3CosAdd's score: cos(q,king) − cos(q,man) + cos(q,woman) for q = queen.
  const s = analogy(wv, 'man', 'king', 'woman', { restrict: 5 })[0]!.score;
  const want = 0 - similarity(wv, 'queen', 'man') + similarity(wv, 'queen', 'woman');
  assert.ok(Math.abs(s - want) < 1e-6);
});

test('eval: accuracy per section and overall; questions with unknown words are skipped', () => {
  const questions = [
    ': royalty',
    'man king woman queen',
    'woman queen man king',
    'man king woman apple',
    ': unknown',
    'man prince woman princess',
  ].join('\n');
  const r = evaluateAnalogies(wv, questions, { restrict: 5 });
  assert.deepEqual(r.sections, [
    { section: 'royalty', correct: 2, asked: 3, skipped: 0 },
    { section: 'unknown', correct: 0, asked: 0, skipped: 1 },
  ]);
  assert.deepEqual(r.overall, { section: 'overall', correct: 2, asked: 3, skipped: 1 });
  // Case-insensitive by default (gensim's): "King" is folded onto "king"'s row, the first one.
  assert.equal(evaluateAnalogies(wv, 'MAN KING WOMAN QUEEN').overall.correct, 1);
  assert.equal(evaluateAnalogies(wv, 'MAN KING WOMAN QUEEN', { caseInsensitive: false }).overall.skipped, 1);
});
