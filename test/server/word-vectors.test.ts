// The word map's API (src/server/word-vectors.ts) over the bundled KJV vectors, and POST /api/contextual,
// on loopback with a tiny Llama built in memory: answers equal the library's, unknown words are a 404
// naming them, bad bodies a 400, and a server without vectors says how to get them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { contextualSimilarity, type ContextualComparison } from '../../src/trace/contextual.js';
import { loadWordVectors } from '../../src/word2vec/load-node.js';
import { analogy, nearest, vectorOf } from '../../src/word2vec/query.js';
import { tinyModel } from '../fixtures/tiny-llama.js';

const VECTORS = fileURLToPath(new URL('../../models/kjv-word2vec/vectors.bin', import.meta.url));
const wv = await loadWordVectors(VECTORS);
const model = await tinyModel(256);

async function call(server: RunningServer, path: string, body?: unknown) {
  const r = await fetch(new URL(path, server.url), {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, text, json: JSON.parse(text) as Record<string, unknown> };
}

async function withServer(withVectors: boolean, use: (s: RunningServer) => Promise<void>) {
  const server = await startServer(model, {
    host: '127.0.0.1',
    port: 0,
    webRoot: null,
    wordVectors: withVectors ? { vectors: wv, source: VECTORS } : null,
  });
  try {
    await use(server);
  } finally {
    await server.close();
  }
}

test('API: /api/word-vectors — the vectors, nearest words and analogies, as the library gives them', async () => {
  await withServer(true, async (server) => {
    const info = await call(server, 'api/word-vectors');
    assert.deepEqual(info.json, { vectors: { source: 'vectors.bin', words: 5332, dim: 100 } });

    const r = await call(server, 'api/word-vectors', { words: ['king', 'queen', 'man'] });
    assert.equal(r.status, 200, r.text);
    const words = r.json.words as Array<{ word: string; vector: number[] }>;
    assert.equal(r.json.dim, 100);
    assert.deepEqual(
      words.map((w) => w.word),
      ['king', 'queen', 'man'],
    );
    for (const w of words) {
      const want = vectorOf(wv, w.word);
      w.vector.forEach((v, k) => assert.ok(Math.abs(v - want[k]) <= 5e-6 * Math.abs(want[k])));
    }

    const n = await call(server, 'api/word-vectors/nearest', { word: 'jerusalem', k: 5 });
    assert.equal(n.status, 200, n.text);
    const want = nearest(wv, 'jerusalem', { k: 5 });
    assert.deepEqual(
      (n.json.nearest as Array<{ word: string }>).map((x) => x.word),
      want.map((x) => x.word),
    );

    const a = await call(server, 'api/word-vectors/analogy', { a: 'man', b: 'king', c: 'woman' });
    assert.equal(a.status, 200, a.text);
    const answers = a.json.answers as Array<{ word: string; score: number }>;
    assert.equal(answers.length, 5);
    assert.equal(answers[0].word, 'queen', 'man : king :: woman : queen');
    assert.ok(Math.abs(answers[0].score - analogy(wv, 'man', 'king', 'woman')[0].score) < 1e-5);
    const mul = await call(server, 'api/word-vectors/analogy', {
      a: 'man',
      b: 'king',
      c: 'woman',
      method: 'mul',
      k: 2,
    });
    assert.equal((mul.json.answers as unknown[]).length, 2);
    assert.equal(mul.json.method, 'mul');

    for (const [path, body, status, pattern] of [
      ['api/word-vectors', { words: ['king', 'zebra', 'tractor'] }, 404, /vocabulary.*"zebra", "tractor"/],
      ['api/word-vectors/nearest', { word: 'zebra' }, 404, /"zebra"/],
      ['api/word-vectors/analogy', { a: 'man', b: 'king', c: 'robot' }, 404, /"robot"/],
      ['api/word-vectors', { words: [] }, 400, /words must NOT have fewer than 1 items/],
      ['api/word-vectors', { words: ['two words'] }, 400, /must match pattern/],
      ['api/word-vectors', { words: ['king'], pca: true }, 400, /"pca" is not one it takes/],
      ['api/word-vectors/analogy', { a: 'man', b: 'king' }, 400, /must have required property 'c'/],
      ['api/word-vectors/analogy', { a: 'a', b: 'b', c: 'c', method: 'x' }, 400, /"add", "mul"/],
      ['api/word-vectors/nearest', { word: 'king', k: 0 }, 400, /k must be >= 1/],
    ] as const) {
      const e = await call(server, path, body);
      assert.equal(e.status, status, `${path} ${JSON.stringify(body)}: ${e.text}`);
      assert.match(String(e.json.error), pattern);
    }
  });
});

test('API: POST /api/contextual — the library’s comparison, with the static row; errors as 400', async () => {
  await withServer(true, async (server) => {
    const body = { word: 'bank', sentences: ['the bank of the river', 'by the river bank'] };
    const r = await call(server, 'api/contextual', body);
    assert.equal(r.status, 200, r.text);
    const c = r.json as unknown as ContextualComparison;
    assert.deepEqual(c, contextualSimilarity(model, 'bank', body.sentences, wv));
    assert.deepEqual(c.static?.cosines, [1]);
    assert.equal(c.cosines.length, model.decoder.nLayers + 1);

    for (const [b, pattern] of [
      [{ word: 'bank', sentences: ['the bank'] }, /sentences must NOT have fewer than 2 items/],
      [{ word: 'bank', sentences: Array(9).fill('the bank') }, /sentences must NOT have more than 8 items/],
      [{ word: 'the bank', sentences: ['the bank', 'a bank'] }, /word must match pattern/],
      [{ word: 'bank', sentences: ['the bank', 'the dog'] }, /"bank" does not occur in sentence 2/],
      [{ word: 'fox', sentences: ['the fox', 'a fox'] }, /"fox" is not in the vocabulary/],
    ] as const) {
      const e = await call(server, 'api/contextual', b);
      assert.equal(e.status, 400, `${JSON.stringify(b)}: ${e.text}`);
      assert.match(String(e.json.error), pattern);
    }
  });
});

test('API: a server without word vectors — no word map (404 saying how), contextual without its static row', async () => {
  await withServer(false, async (server) => {
    assert.deepEqual((await call(server, 'api/word-vectors')).json, { vectors: null });
    const e = await call(server, 'api/word-vectors', { words: ['king'] });
    assert.equal(e.status, 404);
    assert.match(String(e.json.error), /no word vectors: start it with glasslm serve --vectors/);
    const c = await call(server, 'api/contextual', { word: 'fox', sentences: ['the fox', 'a lazy fox'] });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.static, null);
  });
});
