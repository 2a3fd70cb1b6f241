// `glasslm serve --embedder`: GET /api/embedder and POST /api/similarity on loopback, with the tiny GPT-2
// as the generator and the MiniLM-shaped random folder as the embedding model: the explanation equals
// the library's (pairs to 6 digits), its terms sum to the cosine, bad bodies are a 400, and a server
// with no embedding model says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import type { SimilarityExplanation } from '../../src/embed/explain.js';
import { loadEmbedder } from '../../src/embed/load.js';
import { loadModel } from '../../src/models/load-node.js';
import { startServer, type EmbedderInfo, type RunningServer } from '../../src/server/app.js';
import { ensureBertFixture, SHARED_MINILM } from '../fixtures/make-bert.js';
import { ensureGpt2Fixtures } from '../fixtures/make-gpt2.js';

const bert = await ensureBertFixture();
const gpt2 = await ensureGpt2Fixtures();
const SKIP = !bert
  ? `${SHARED_MINILM} is absent: cannot build the MiniLM-shaped fixture`
  : !gpt2
    ? 'the GPT-2 fixtures cannot be built: ../shared/tokenizers/gpt2 is absent'
    : null;

async function call(server: RunningServer, path: string, body?: unknown) {
  const r = await fetch(new URL(path, server.url), {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, text, json: JSON.parse(text) as unknown };
}

const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

test('API: /api/embedder and /api/similarity explain a cosine token by token', async (t) => {
  if (SKIP) return t.skip(SKIP);
  const embedder = await loadEmbedder(bert as string);
  const model = await loadModel((gpt2 as Record<string, string>)['gpt2-tiny']);
  const server = await startServer(model, { host: '127.0.0.1', port: 0, webRoot: null, embedder });
  try {
    const info = (await call(server, 'api/embedder')).json as { embedder: EmbedderInfo };
    assert.deepEqual(info.embedder, {
      source: basename(embedder.source), // its folder's name, not the absolute path
      dim: 384,
      nLayers: 6,
      pooling: 'mean',
      normalize: true,
      maxTokens: 256,
    });

    const a = 'A man is playing a guitar.';
    const b = 'Someone plays an instrument.';
    const r = await call(server, 'api/similarity', { a, b });
    assert.equal(r.status, 200, r.text);
    const x = r.json as SimilarityExplanation;
    const want = embedder.explain(a, b);
    assert.equal(x.version, 1);
    assert.deepEqual(x.texts, { a, b });
    assert.equal(x.cosine, want.cosine);
    assert.deepEqual(x.tokens, want.tokens, 'tokens and their contributions exactly as the library');
    assert.deepEqual(x.topPairs, want.topPairs);
    assert.equal(x.topPairs.length, 10);
    assert.equal(x.pairs.length, x.tokens.a.length);
    x.pairs.forEach((row, i) =>
      row.forEach((v, j) => {
        const w = want.pairs[i][j];
        assert.ok(Math.abs(v - w) <= 5e-6 * Math.abs(w), `pair (${i}, ${j}): ${v} vs ${w}`);
      }),
    );
    assert.ok(Math.abs(sum(x.tokens.a.map((tk) => tk.contribution)) - x.cosine) < 1e-6);
    assert.ok(Math.abs(sum(x.tokens.b.map((tk) => tk.contribution)) - x.cosine) < 1e-6);
    assert.ok(Math.abs(sum(x.pairs.flat()) - x.cosine) < 1e-5);
    assert.ok(Math.abs(x.cosine - embedder.similarity(a, b)) < 1e-6);
    assert.equal(x.tokens.a[0].special, true);
    assert.match(x.note, /mean pooling/);

    const few = (await call(server, 'api/similarity', { a, b, top: 3 })).json as SimilarityExplanation;
    assert.equal(few.topPairs.length, 3);

    for (const [body, pattern] of [
      [{ a }, /required property 'b'/],
      [{ a, b: 3 }, /must be string/],
      [{ a, b, top: 1000 }, /must be <= 100/],
      [{ a, b, extra: true }, /additional properties/],
    ] as const) {
      const bad = await call(server, 'api/similarity', body);
      assert.equal(bad.status, 400, bad.text);
      assert.match((bad.json as { error: string }).error, pattern);
    }
  } finally {
    await server.close();
  }
});

test('API: a server with no embedding model says so', async (t) => {
  if (SKIP) return t.skip(SKIP);
  const model = await loadModel((gpt2 as Record<string, string>)['gpt2-tiny']);
  const server = await startServer(model, { host: '127.0.0.1', port: 0, webRoot: null });
  try {
    assert.deepEqual((await call(server, 'api/embedder')).json, { embedder: null });
    const r = await call(server, 'api/similarity', { a: 'x', b: 'y' });
    assert.equal(r.status, 404);
    assert.match((r.json as { error: string }).error, /no embedding model.*--embedder/);
  } finally {
    await server.close();
  }
});
