// The SIF word-vector embedder (src/embed/word-vectors.ts) against a float64 reference computed here from
// small hand-made vectors: the weights a/(a + p(w)), the sentence vector (with and without the common
// component removed), the explain terms that sum to the cosine, the words a text is cut into, and the
// loaders: word2vec:<file>, a folder's config.json, and the bundled models/kjv-word2vec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadEmbeddingModel } from '../../src/embed/load.js';
import {
  firstPrincipalComponent,
  sifWeights,
  textWords,
  WordVectorEmbedder,
} from '../../src/embed/word-vectors.js';
import { parseVocab, writeText, writeVocab } from '../../src/word2vec/formats.js';
import type { WordVectors } from '../../src/word2vec/vectors.js';
import { GlassError } from '../../src/util/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

// Four words in 3 dims, counts summing to 1000: p = 0.5, 0.3, 0.15, 0.05.
const WORDS = ['the', 'lord', 'shepherd', "david's"];
const VECS = [
  [1, 0, 0],
  [0.5, 2, -1],
  [0, 1, 3],
  [-2, 0.5, 1],
];
const COUNTS = [500, 300, 150, 50];
const wv: WordVectors = { words: WORDS, dim: 3, vectors: Float32Array.from(VECS.flat()) };
const counts = new Map(WORDS.map((w, i) => [w, COUNTS[i]]));

const relErr = (x: number, ref: number) => Math.abs(x - ref) / Math.max(Math.abs(ref), 1e-12);
const dot = (x: ArrayLike<number>, y: ArrayLike<number>) => {
  let s = 0;
  for (let k = 0; k < x.length; k++) s += x[k] * y[k];
  return s;
};
const norm = (x: ArrayLike<number>) => Math.sqrt(dot(x, x));

/** The float64 reference: Σ α_w e_w / n over the known words, minus its component along c. */
function reference(words: string[], a: number, c?: number[]): number[] {
  const known = words.filter((w) => WORDS.includes(w));
  const v = [0, 0, 0];
  for (const w of known) {
    const i = WORDS.indexOf(w);
    const alpha = a / (a + COUNTS[i] / 1000);
    for (let k = 0; k < 3; k++) v[k] += (alpha * VECS[i][k]) / known.length;
  }
  if (c) {
    const p = dot(v, c);
    for (let k = 0; k < 3; k++) v[k] -= p * c[k];
  }
  return v;
}

function assertClose(got: ArrayLike<number>, ref: number[], tol: number, what: string) {
  const n = norm(ref);
  for (let k = 0; k < ref.length; k++) {
    assert.ok(Math.abs(got[k] - ref[k] / n) <= tol, `${what}[${k}]: ${got[k]} vs ${ref[k] / n}`);
  }
}

/** The SIF embedder of the four words with a = 0.01. */
const sif = (removeComponent?: number[]) =>
  new WordVectorEmbedder({ vectors: wv, source: 'test', weighting: 'sif', counts, a: 0.01, removeComponent });

test('SIF weights are a / (a + count/total)', () => {
  const w = sifWeights(WORDS, counts, 0.01);
  // by hand: 0.01/0.51, 0.01/0.31, 0.01/0.16, 0.01/0.06
  const byHand = [0.01 / 0.51, 0.01 / 0.31, 0.01 / 0.16, 0.01 / 0.06];
  byHand.forEach((x, i) => assert.ok(relErr(w[i], x) < 1e-15, `${WORDS[i]}: ${w[i]} vs ${x}`));
  assert.throws(() => sifWeights([...WORDS, 'missing'], counts), /no entry for "missing"/);
});

test('SIF sentence vectors equal the float64 reference; the plain average is α = 1', () => {
  const e = sif();
  const text = 'The LORD is my shepherd; David’s shepherd.';
  const words = ['the', 'lord', 'shepherd', "david's", 'shepherd']; // "is", "my" are not in the vocabulary
  const [v] = e.embed([text]);
  assertClose(v, reference(words, 0.01), 1e-7, 'sif');
  assert.ok(Math.abs(norm(v) - 1) < 1e-6, 'normalised');
  // The plain average: every α = 1.
  const m = new WordVectorEmbedder({ vectors: wv, source: 'test', weighting: 'mean' });
  const mean = [0, 0, 0];
  for (const w of words) for (let k = 0; k < 3; k++) mean[k] += VECS[WORDS.indexOf(w)][k] / words.length;
  assertClose(m.embed([text])[0], mean, 1e-7, 'mean');
  assert.equal(e.countTokens(text), 7, 'every word counts for chunking, known or not');
});

test('removing the common component: v − (v·c)c, c the first principal component', () => {
  // Rows along (1, 1, 0) mostly: the component is ±(1, 1, 0)/√2, signed to a positive sum.
  const rows = [
    [3, 3, 0.1],
    [2, 2.2, -0.1],
    [-1, -1, 0],
    [0.1, 0, 0.2],
  ];
  const c = firstPrincipalComponent(rows, 3);
  // The reference: the top eigenvector of XᵀX by many power steps in plain arithmetic.
  let r = [1, 0, 0];
  for (let it = 0; it < 500; it++) {
    const next = [0, 0, 0];
    for (const x of rows) {
      const p = dot(x, r);
      for (let k = 0; k < 3; k++) next[k] += p * x[k];
    }
    const n = norm(next);
    r = next.map((v) => v / n);
  }
  if (r[0] + r[1] + r[2] < 0) r = r.map((v) => -v);
  for (let k = 0; k < 3; k++) assert.ok(Math.abs(c[k] - r[k]) < 1e-9, `c[${k}] ${c[k]} vs ${r[k]}`);

  const cc = Array.from(c);
  const e = sif(cc);
  const [v] = e.embed(['the lord and the shepherd']);
  assertClose(v, reference(['the', 'lord', 'the', 'shepherd'], 0.01, cc), 1e-7, 'sif − c');
  assert.ok(Math.abs(dot(v, cc)) < 1e-6, 'nothing left along c');
});

test('explain: each word’s term, its share, and the pairs sum to the cosine; unknown words are skipped', () => {
  for (const removeComponent of [undefined, [0.6, 0.8, 0]]) {
    const e = sif(removeComponent);
    const a = 'the Lord is my shepherd';
    const b = "David's lord, the shepherd of sheep";
    const x = e.explain(a, b);
    const [va, vb] = e.embed([a, b]);
    assert.ok(relErr(x.cosine, dot(va, vb)) < 1e-6, `cosine ${x.cosine} vs ${dot(va, vb)}`);
    assert.equal(x.pooling, 'sif');
    assert.deepEqual(
      x.tokens.a.map((t) => [t.text, t.skipped ?? false]),
      [
        ['the', false],
        ['Lord', false],
        ['is', true],
        ['my', true],
        ['shepherd', false],
      ],
    );
    for (const side of ['a', 'b'] as const) {
      const toks = x.tokens[side];
      const sum = toks.reduce((s, t) => s + t.contribution, 0);
      const shares = toks.reduce((s, t) => s + t.share, 0);
      assert.ok(relErr(sum, x.cosine) < 1e-12, `${side}: Σ terms ${sum} vs ${x.cosine}`);
      assert.ok(Math.abs(shares - 1) < 1e-12, `${side}: Σ shares ${shares}`);
      for (const t of toks.filter((t) => t.skipped)) assert.equal(t.contribution, 0);
    }
    const pairs = x.pairs.flat().reduce((s, p) => s + p, 0);
    assert.ok(relErr(pairs, x.cosine) < 1e-12, `Σ pairs ${pairs}`);
    // Word w of A by the formula: (α_w e'_w)·v_B / (|A| |v_A| |v_B|), from the reference vectors.
    const c = removeComponent;
    const ra = reference(['the', 'lord', 'shepherd'], 0.01, c);
    const rb = reference(["david's", 'lord', 'the', 'shepherd'], 0.01, c);
    const i = WORDS.indexOf('shepherd');
    const term = VECS[i].map((v) => (0.01 / (0.01 + COUNTS[i] / 1000)) * v);
    if (c) {
      const p = dot(term, c);
      for (let k = 0; k < 3; k++) term[k] -= p * c[k];
    }
    const want = dot(term, rb) / (3 * norm(ra) * norm(rb));
    assert.ok(
      relErr(x.tokens.a[4].contribution, want) < 1e-6,
      `shepherd: ${x.tokens.a[4].contribution} vs ${want}`,
    );
  }
});

test('a text with no word in the vocabulary is a clear error, not a zero vector', () => {
  const e = new WordVectorEmbedder({ vectors: wv, source: 'tiny', weighting: 'sif', counts });
  for (const f of [() => e.embed(['wifi 5G!']), () => e.explain('the lord', '1234'), () => e.embed([''])]) {
    assert.throws(f, (err: unknown) => {
      assert.ok(err instanceof GlassError);
      assert.equal(err.code, 'BAD_INPUT');
      assert.match(err.message, /has no word in the vocabulary of tiny \(4 words\)/);
      return true;
    });
  }
});

test('words: letters and apostrophes, with UTF-8 byte spans', () => {
  assert.deepEqual(textWords('Ésaü’s lamb, 12 goats—and "rams"'), [
    { text: "Ésaü's", start: 0, end: 10 },
    { text: 'lamb', start: 11, end: 15 },
    { text: 'goats', start: 20, end: 25 },
    { text: 'and', start: 28, end: 31 },
    { text: 'rams', start: 33, end: 37 },
  ]);
});

test('vocab files: word2vec.c -save-vocab lines, </s> skipped', () => {
  const text = writeVocab(['the', 'lord'], [5, 3]);
  assert.equal(text, 'the 5\nlord 3\n');
  assert.deepEqual(
    [...parseVocab('</s> 9\n' + text)],
    [
      ['the', 5],
      ['lord', 3],
    ],
  );
  assert.throws(() => parseVocab('the five\n', 'v.txt'), /v.txt: line 1 is not "word count"/);
});

function modelFolder(config: Record<string, unknown> | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'glasslm-sif-'));
  writeFileSync(join(dir, 'vectors.txt'), writeText(wv));
  writeFileSync(join(dir, 'vocab.txt'), writeVocab(WORDS, COUNTS));
  if (config) writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

test('loaders: word2vec:<file> and a folder with config.json give the same vectors; bad configs refused', async () => {
  const dir = modelFolder({ kind: 'word2vec-sif', vectors: 'vectors.txt', vocab: 'vocab.txt', a: 0.001 });
  const byFile = await loadEmbeddingModel(`word2vec:${join(dir, 'vectors.txt')}`);
  const byFolder = await loadEmbeddingModel(dir);
  assert.equal(byFolder.pooling, 'sif');
  assert.equal(byFolder.nLayers, 0);
  const text = 'the lord is my shepherd';
  assert.deepEqual(byFile.embed([text]), byFolder.embed([text]));
  assertClose(byFolder.embed([text])[0], reference(['the', 'lord', 'shepherd'], 0.001), 1e-7, 'folder');

  // remove_component is made unit length: [2, 0, 0] removes the first axis.
  const rc = await loadEmbeddingModel(
    modelFolder({ kind: 'word2vec-sif', vectors: 'vectors.txt', remove_component: [2, 0, 0] }),
  );
  assertClose(rc.embed([text])[0], reference(['the', 'lord', 'shepherd'], 0.001, [1, 0, 0]), 1e-7, 'rc');
  await assert.rejects(
    loadEmbeddingModel(
      modelFolder({ kind: 'word2vec-sif', vectors: 'vectors.txt', remove_component: [1, 0] }),
    ),
    /remove_component has 2 values, the vectors 3/,
  );
  const bad = modelFolder({ kind: 'word2vec-sif', vectors: 'vectors.txt', power: 0.5 });
  await assert.rejects(loadEmbeddingModel(bad), /field "power" is not supported/);
  const kind = modelFolder({ kind: 'word2vec-tfidf', vectors: 'vectors.txt' });
  await assert.rejects(loadEmbeddingModel(kind), /kind "word2vec-tfidf" is not supported/);
  const noVocab = mkdtempSync(join(tmpdir(), 'glasslm-sif-'));
  writeFileSync(join(noVocab, 'v.txt'), writeText(wv));
  await assert.rejects(
    loadEmbeddingModel(`word2vec:${join(noVocab, 'v.txt')}`),
    /vocab\.txt: not found; SIF weights need/,
  );
  await assert.rejects(
    loadEmbeddingModel(`word2vec:${join(noVocab, 'missing.bin')}`),
    /no such vectors file/,
  );
});

test('the bundled models/kjv-word2vec loads as a SIF model and ranks a paraphrase above an unrelated verse', async (t) => {
  const dir = join(ROOT, 'models', 'kjv-word2vec');
  if (!existsSync(join(dir, 'vocab.txt'))) return t.skip('models/kjv-word2vec/vocab.txt is absent');
  const e = await loadEmbeddingModel(dir);
  assert.equal(e.pooling, 'sif');
  assert.equal(e.dim, 100);
  const [q, near, far] = e.embed([
    'the shepherd looks after his sheep',
    'The LORD is my shepherd; I shall not want.',
    'And the sons of Gershon; Libni, and Shimei, by their families.',
  ]);
  assert.ok(dot(q, near) > dot(q, far), `${dot(q, near)} > ${dot(q, far)}`);
});
