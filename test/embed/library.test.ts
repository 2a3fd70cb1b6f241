// The library entry point (src/index.ts, the package's main) exposes the embedding and search APIs, and
// they work from there: embed two texts, compare them, search a small folder in a PGlite store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as glasslm from '../../src/index.js';
import { ensureBertFixture, SHARED_MINILM } from '../fixtures/make-bert.js';

const dir = await ensureBertFixture();
const SKIP = `${SHARED_MINILM} is absent: cannot build the MiniLM-shaped fixture`;

test(
  'library: loadEmbedder, embed, cosine and explainSimilarity from the package entry',
  { skip: dir ? false : SKIP },
  async () => {
    const e = await glasslm.loadEmbedder(dir!);
    assert.ok(e instanceof glasslm.SentenceEmbedder);
    const [a, b, c] = e.embed(['the river bank', 'the river bank', 'a spreadsheet of taxes']);
    assert.equal(a.length, e.dim);
    assert.ok(Math.abs(glasslm.cosine(a, b) - 1) < 1e-6, 'same text, same vector');
    assert.ok(glasslm.cosine(a, c) < 0.9999, 'different texts, different vectors');
  },
);

test('library: indexFolder and searchStore over a PGlite folder', { skip: dir ? false : SKIP }, async () => {
  const e = await glasslm.loadEmbedder(dir!);
  const docs = mkdtempSync(join(tmpdir(), 'glasslm-lib-'));
  writeFileSync(
    join(docs, 'rivers.txt'),
    'The river flows past the old mill.\n\nFish swim upstream in spring.',
  );
  writeFileSync(join(docs, 'taxes.md'), 'Quarterly tax returns are due in April.');
  const store = await glasslm.VectorStore.open(join(docs, '..', `${docs.split('/').pop()}-db`), {
    create: true,
  });
  const embedder = glasslm.textEmbedder(e, dir!);
  try {
    const report = await glasslm.indexFolder(store, docs, embedder);
    assert.equal(report.files, 2);
    assert.ok(report.chunks >= 2, `chunks: ${JSON.stringify(report)}`);
    // random weights carry no meaning, but a query equal to a stored chunk is its own nearest neighbour
    const hits = await glasslm.searchStore(store, embedder, 'Quarterly tax returns are due in April.', {
      exact: true,
    });
    assert.ok(hits.length >= 2);
    assert.match(hits[0].text, /Quarterly tax returns/);
    assert.ok(hits[0].score > 0.9999, `score ${hits[0].score}`);
  } finally {
    await store.close();
  }
});
