// Vectors files: word2vec text and binary round trips, a file gensim wrote, GloVe text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { detectFormat, parseVectors, writeBinary, writeText } from '../../src/word2vec/formats.js';
import type { WordVectors } from '../../src/word2vec/vectors.js';

const fixture = (name: string) => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url));

const wv: WordVectors = {
  words: ['the', 'Ärger', 'naïve', 'x'],
  dim: 3,
  vectors: Float32Array.from([0.1, -2.5e-7, 3.4028234e38, 1 / 3, -0, 1e-45, 12345.678, -0.5, 0, 7, 8, 9]),
};

test('word2vec text: "V dim" header, one line per word, values that read back bit-identical', () => {
  const text = writeText(wv);
  assert.equal(text.split('\n')[0], '4 3');
  assert.equal(text.split('\n')[1], 'the 0.1 -2.5e-7 3.4028235e+38');
  assert.equal(detectFormat(new TextEncoder().encode(text)), 'text');
  const back = parseVectors(new TextEncoder().encode(text));
  assert.deepEqual(back.words, wv.words);
  assert.deepEqual(back.vectors, wv.vectors);
});

test('word2vec binary: header, word, space, float32 LE, newline — reads back identical', () => {
  const bytes = writeBinary(wv);
  assert.equal(bytes.length, 4 + 4 * 4 * 3 + 'the Ärger naïve x '.length + 2 + 4); // "4 3\n", floats, words, ä ï are 2 bytes, 4 "\n"
  assert.equal(detectFormat(bytes), 'binary');
  const back = parseVectors(bytes);
  assert.equal(back.dim, 3);
  assert.deepEqual(back.words, wv.words);
  assert.deepEqual(back.vectors, wv.vectors);
});

test('GloVe text: no header, the dimension from the first line', () => {
  const bytes = new TextEncoder().encode('the 0.5 -1 2\nof 1 2 3\n');
  assert.equal(detectFormat(bytes), 'glove');
  const g = parseVectors(bytes);
  assert.deepEqual(g.words, ['the', 'of']);
  assert.equal(g.dim, 3);
  assert.deepEqual([...g.vectors], [0.5, -1, 2, 1, 2, 3]);
  assert.throws(() => parseVectors(new TextEncoder().encode('a 1 2\nb 1\n')), /line 2 has 1 numbers/);
});

test('truncated files are errors that say so', () => {
  assert.throws(() => parseVectors(writeBinary(wv).subarray(0, 30)), /ends inside word 2 of 4/);
  assert.throws(() => parseVectors(new TextEncoder().encode('3 2\na 1 2\n'), 'text'), /header says 3 words/);
});

const GENSIM = 'gensim.json';
const hasFixture = existsSync(fixture(GENSIM));
test(
  'files gensim wrote (binary without newlines, text) load with its vectors',
  {
    skip: hasFixture
      ? false
      : 'no fixture: run /usr/bin/python3 test/word2vec/fixtures/make-gensim.py (needs python3-gensim)',
  },
  () => {
    const want = JSON.parse(readFileSync(fixture(GENSIM), 'utf8')) as {
      words: string[];
      vectors: number[][];
    };
    for (const name of ['gensim.bin', 'gensim.txt']) {
      const got = parseVectors(readFileSync(fixture(name)));
      assert.deepEqual(got.words, want.words, name);
      assert.deepEqual([...got.vectors], want.vectors.flat(), name);
    }
  },
);
