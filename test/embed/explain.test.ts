// Explaining a similarity (src/embed/explain.ts) on the MiniLM-shaped random-weight folder: per-token and
// pair terms sum to the cosine for mean, CLS and max pooling; they match a plain float64 recomputation
// from the encoder's token vectors; padding (and anything past a text's tokens) changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SentenceEmbedder } from '../../src/embed/embedder.js';
import { attributePooling, type SimilarityExplanation } from '../../src/embed/explain.js';
import { loadEmbedder } from '../../src/embed/load.js';
import type { PoolingMode } from '../../src/embed/pooling.js';
import { ensureBertFixture, SHARED_MINILM } from '../fixtures/make-bert.js';

const REF = JSON.parse(readFileSync(new URL('../fixtures/bert-reference.json', import.meta.url), 'utf8')) as {
  texts: string[];
  vectors: number[][];
};
const dir = await ensureBertFixture();
const SKIP = `${SHARED_MINILM} is absent: cannot build the MiniLM-shaped fixture`;
const base = dir ? await loadEmbedder(dir) : null;
const withPooling = (pooling: PoolingMode) => (base ? new SentenceEmbedder({ ...base, pooling }) : null);

const A = 'The quick brown fox jumps over the lazy dog.';
const B = 'A fast auburn fox leapt above a sleepy hound!';

const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

function near(got: number, want: number, tol: number, what: string): void {
  assert.ok(Math.abs(got - want) <= tol, `${what}: ${got} vs ${want} (|Δ| ${Math.abs(got - want)})`);
}

/** Every way the terms must add up: each text's tokens, the pair rows and columns, the whole matrix. */
function assertSums(x: SimilarityExplanation, tol = 1e-6): void {
  near(sum(x.tokens.a.map((t) => t.contribution)), x.cosine, tol, 'A tokens sum to the cosine');
  near(sum(x.tokens.b.map((t) => t.contribution)), x.cosine, tol, 'B tokens sum to the cosine');
  near(sum(x.pairs.map(sum)), x.cosine, tol, 'pairs sum to the cosine');
  x.pairs.forEach((r, i) => near(sum(r), x.tokens.a[i].contribution, tol, `pair row ${i}`));
  x.tokens.b.forEach((t, j) => near(sum(x.pairs.map((r) => r[j])), t.contribution, tol, `pair column ${j}`));
  if (x.cosine !== 0) near(sum(x.tokens.a.map((t) => t.share)), 1, 1e-9, 'shares sum to 1');
  assert.equal(x.pairs.length, x.tokens.a.length);
  for (const r of x.pairs) assert.equal(r.length, x.tokens.b.length);
}

/** Plain float64 recomputation from the encoder's token vectors, one formula per pooling. */
function bruteForce(e: SentenceEmbedder, a: string, b: string) {
  const H = (text: string) => {
    const ids = e.inputIds(text);
    const h = e.encoder.forward(ids);
    return Array.from({ length: ids.length }, (_, i) => Array.from(h.subarray(i * e.dim, (i + 1) * e.dim)));
  };
  const ha = H(a);
  const hb = H(b);
  const D = e.dim;
  const dotp = (x: number[], y: number[]) => x.reduce((s, xi, k) => s + xi * y[k], 0);
  const norm = (x: number[]) => Math.sqrt(dotp(x, x));
  if (e.pooling === 'cls') {
    const c = dotp(ha[0], hb[0]) / (norm(ha[0]) * norm(hb[0]));
    return { cosine: c, a: ha.map((_, i) => (i === 0 ? c : 0)), b: hb.map((_, j) => (j === 0 ? c : 0)) };
  }
  if (e.pooling === 'max') {
    const pooled = (h: number[][]) =>
      Array.from({ length: D }, (_, k) => {
        let best = 0;
        for (let i = 1; i < h.length; i++) if (h[i][k] > h[best][k]) best = i;
        return { value: h[best][k], token: best };
      });
    const u = pooled(ha);
    const v = pooled(hb);
    const den = norm(u.map((x) => x.value)) * norm(v.map((x) => x.value));
    const ca = new Array<number>(ha.length).fill(0);
    const cb = new Array<number>(hb.length).fill(0);
    let c = 0;
    for (let k = 0; k < D; k++) {
      const term = (u[k].value * v[k].value) / den;
      c += term;
      ca[u[k].token] += term;
      cb[v[k].token] += term;
    }
    return { cosine: c, a: ca, b: cb };
  }
  const mean = (h: number[][]) => Array.from({ length: D }, (_, k) => sum(h.map((r) => r[k])) / h.length);
  const u = mean(ha);
  const v = mean(hb);
  const den = norm(u) * norm(v);
  return {
    cosine: dotp(u, v) / den,
    a: ha.map((hi) => dotp(hi, v) / (ha.length * den)),
    b: hb.map((hj) => dotp(hj, u) / (hb.length * den)),
  };
}

for (const pooling of ['mean', 'cls', 'max'] as const) {
  test(`explain (${pooling} pooling): the terms sum to the cosine and match a float64 recomputation`, (t) => {
    const e = withPooling(pooling);
    if (!e) return t.skip(SKIP);
    const x = e.explain(A, B, { topPairs: 5 });
    assert.equal(x.pooling, pooling);
    assertSums(x);
    // The same score the embedder gives (float32 pooled vectors), and the plain recomputation.
    near(x.cosine, e.similarity(A, B), 1e-6, 'cosine vs embedder.similarity');
    const bf = bruteForce(e, A, B);
    near(x.cosine, bf.cosine, 1e-12, 'cosine vs brute force');
    x.tokens.a.forEach((tk, i) => near(tk.contribution, bf.a[i], 1e-12, `A token ${i} vs brute force`));
    x.tokens.b.forEach((tk, j) => near(tk.contribution, bf.b[j], 1e-12, `B token ${j} vs brute force`));
    // Top pairs: strongest first, each one the matrix's cell.
    assert.ok(x.topPairs.length >= 1 && x.topPairs.length <= 5);
    for (let k = 1; k < x.topPairs.length; k++)
      assert.ok(Math.abs(x.topPairs[k - 1].contribution) >= Math.abs(x.topPairs[k].contribution));
    for (const p of x.topPairs) assert.equal(p.contribution, x.pairs[p.a][p.b]);
    if (pooling === 'cls') {
      // All of the score on [CLS]; every other token and pair is exactly 0.
      assert.equal(x.tokens.a[0].contribution, x.cosine);
      assert.equal(x.tokens.b[0].contribution, x.cosine);
      assert.ok(x.tokens.a.slice(1).every((tk) => tk.contribution === 0));
      assert.deepEqual(x.topPairs, [{ a: 0, b: 0, contribution: x.cosine, share: 1 }]);
      assert.match(x.note, /all of the score sits on \[CLS\]/);
    }
  });
}

test('explain: the cosine matches the float64 numpy reference; tokens carry ids, spans and [CLS]/[SEP] marks', (t) => {
  if (!base) return t.skip(SKIP);
  const [ta, tb] = REF.texts;
  const x = base.explain(ta, tb);
  const want = REF.vectors[0].reduce((s, v, k) => s + v * REF.vectors[1][k], 0);
  near(x.cosine, want, 1e-5, 'cosine vs the numpy reference');
  assertSums(x);
  for (const [text, toks] of [
    [ta, x.tokens.a],
    [tb, x.tokens.b],
  ] as const) {
    assert.deepEqual(
      toks.map((tk) => tk.id),
      base.inputIds(text),
    );
    assert.deepEqual(
      toks.map((tk) => tk.index),
      toks.map((_, i) => i),
    );
    const bytes = Buffer.from(text, 'utf8');
    assert.deepEqual(
      toks.map((tk) => tk.special),
      toks.map((_, i) => i === 0 || i === toks.length - 1),
    );
    assert.equal(toks[0].text, '[CLS]');
    assert.equal(toks[toks.length - 1].text, '[SEP]');
    assert.equal(toks[toks.length - 1].start, bytes.length);
    for (const tk of toks.slice(1, -1)) {
      // Each word piece comes from its byte span of the text (lower-cased; "##" marks a continuation).
      const piece = bytes.subarray(tk.start, tk.end).toString('utf8').toLowerCase();
      assert.equal(tk.text.replace(/^##/, ''), piece.normalize('NFD').replace(/\p{M}/gu, ''));
    }
  }
  assert.deepEqual(x.truncated, { a: null, b: null });
  assert.equal(x.texts.a, ta);
});

test('explain: padding changes nothing (a padded batch, and garbage past the tokens)', (t) => {
  if (!base) return t.skip(SKIP);
  const ids = (text: string) => base.inputIds(text);
  const ia = ids(A);
  const ib = ids(B);
  const L = Math.max(ia.length, ib.length) + 5;
  const padId = base.tokenizer.specialTokens.pad ?? 0;
  const padded = (x: number[]) => [...x, ...new Array<number>(L - x.length).fill(padId)];
  const ha = base.encoder.forward(ia);
  const hb = base.encoder.forward(ib);
  // As a padded batch runs: every row L long, the padding masked out of attention.
  const pa = base.encoder.forward(padded(ia), undefined, ia.length);
  const pb = base.encoder.forward(padded(ib), undefined, ib.length);
  for (const mode of ['mean', 'cls', 'max', 'mean_sqrt_len'] as const) {
    const plain = attributePooling(
      { hidden: ha, rows: ia.length },
      { hidden: hb, rows: ib.length },
      base.dim,
      mode,
    );
    const batch = attributePooling(
      { hidden: pa, rows: ia.length },
      { hidden: pb, rows: ib.length },
      base.dim,
      mode,
    );
    near(batch.cosine, plain.cosine, 1e-6, `${mode}: padded cosine`);
    batch.a.forEach((c, i) => near(c, plain.a[i], 1e-6, `${mode}: padded A token ${i}`));
    batch.b.forEach((c, j) => near(c, plain.b[j], 1e-6, `${mode}: padded B token ${j}`));
    assert.equal(batch.a.length, ia.length);
    // Rows past `rows` are never read: huge values there change nothing at all.
    const junk = new Float32Array(pa.length + 3 * base.dim).fill(1e6);
    junk.set(pa.subarray(0, ia.length * base.dim));
    const again = attributePooling(
      { hidden: junk, rows: ia.length },
      { hidden: pb, rows: ib.length },
      base.dim,
      mode,
    );
    assert.deepEqual(again, batch, `${mode}: rows past the tokens are excluded`);
  }
});

test('explain: a long text is cut to max_seq_length, said in the result and through onTruncate', (t) => {
  if (!base) return t.skip(SKIP);
  const e = new SentenceEmbedder({ ...base, maxTokens: 16 });
  const warned: number[][] = [];
  const x = e.explain('word '.repeat(40), 'short', {
    onTruncate: (i, n, kept) => warned.push([i, n, kept]),
  });
  assert.deepEqual(warned, [[0, 42, 16]]);
  assert.deepEqual(x.truncated, { a: 42, b: null });
  assert.equal(x.tokens.a.length, 16);
  assert.equal(x.tokens.a[15].text, '[SEP]');
  assertSums(x);
});

test('attributePooling: small hand-made cases (mean pairs, max argmax, zero vectors, no tokens)', () => {
  // a: two tokens, b: one; dim 2.
  const a = { hidden: new Float64Array([1, 0, 0, 1]), rows: 2 };
  const b = { hidden: new Float64Array([1, 0]), rows: 1 };
  const m = attributePooling(a, b, 2, 'mean');
  // u = (0.5, 0.5), v = (1, 0): cos = 1/√2; token 0 carries it all, token 1 is orthogonal to v.
  near(m.cosine, Math.SQRT1_2, 1e-15, 'mean cosine');
  near(m.a[0], Math.SQRT1_2, 1e-15, 'token 0');
  assert.equal(m.a[1], 0);
  assert.deepEqual(m.b.length, 1);
  near(m.pairs[0][0], Math.SQRT1_2, 1e-15, 'pair (0, 0)');
  // max: u = (1, 1) from tokens 0 and 1; v = (1, 0): dimension 0 → token 0.
  const x = attributePooling(a, b, 2, 'max');
  near(x.cosine, Math.SQRT1_2, 1e-15, 'max cosine');
  near(x.a[0], Math.SQRT1_2, 1e-15, 'max token 0');
  assert.equal(x.a[1], 0);
  // Negative terms: b = (-1, 0) flips every sign.
  const neg = attributePooling(a, { hidden: new Float64Array([-1, 0]), rows: 1 }, 2, 'mean');
  near(neg.a[0], -Math.SQRT1_2, 1e-15, 'negative term');
  // A zero pooled vector: cosine 0, no terms (as cosine() in pooling.ts gives 0).
  const z = attributePooling({ hidden: new Float64Array(4), rows: 2 }, b, 2, 'mean');
  assert.deepEqual(z, { cosine: 0, a: [0, 0], b: [0], pairs: [[0], [0]] });
  assert.throws(() => attributePooling({ hidden: new Float64Array(0), rows: 0 }, b, 2, 'mean'), /no tokens/);
  assert.throws(() => attributePooling({ hidden: new Float64Array(3), rows: 2 }, b, 2, 'mean'), /fewer than/);
});
