// The embedded deployment: a PGlite store persisted to a folder (`--db <folder>`), through the whole index
// life cycle — exact search = brute force, incremental re-index, deletions, an interrupted run resumed,
// another model refused, and the same answers after reopening.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { printable } from '../../src/cli/common.js';
import { pgliteClient } from '../../src/search/db.js';
import { indexFolder, searchStore } from '../../src/search/indexer.js';
import { VectorStore } from '../../src/search/store.js';
import { CHUNKING, fakeEmbedder, indexScenario, tempDir } from './helpers.js';

test('PGlite store in a folder: index, search, re-index, resume, refuse another model', async (t) => {
  const folder = join(tempDir('store'), 'db');
  const hits = await indexScenario(t, () => VectorStore.open(folder, { create: true }), 'PGlite');
  assert.ok(existsSync(join(folder, 'PG_VERSION')), 'a PostgreSQL data folder');
  assert.equal(hits.length, 5);
});

test('a --db that is not a store is refused with one clear message', async () => {
  const dir = tempDir('notstore');
  writeFileSync(join(dir, 'file.txt'), 'x');
  await assert.rejects(VectorStore.open(join(dir, 'file.txt'), { create: true }), /is a file/);
  await assert.rejects(VectorStore.open(dir, { create: true }), /not a glasslm store/);
  await assert.rejects(VectorStore.open(join(dir, 'missing')), /no store there/);
  await assert.rejects(VectorStore.open('mysql://localhost/x'), /not a folder or a postgres/);
});

test('a password in a postgres URL is never printed, in the userinfo or the query string', async () => {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const port = (s.address() as { port: number }).port;
  await new Promise((res) => s.close(res));
  for (const url of [
    `postgres://me@127.0.0.1:${port}/db?password=hunter2`,
    `postgres://me:hunter2@127.0.0.1:${port}/db?sslmode=disable`,
  ]) {
    await assert.rejects(VectorStore.open(url), (e: Error) => {
      assert.match(e.message, /^cannot connect to postgres:\/\/me(:\*\*\*)?@127\.0\.0\.1:\d+\/db\?/);
      assert.doesNotMatch(e.message, /hunter2/);
      return true;
    });
  }
});

test('k above 1000 works with an exact scan; through HNSW it says to use --exact', async () => {
  const docs = tempDir('bigk');
  const paras = Array.from({ length: 30 }, (_, i) => `Paragraph ${i} about rivers and herons number ${i}.`);
  writeFileSync(join(docs, 'a.txt'), paras.join('\n\n'));
  const store = await VectorStore.over(pgliteClient(new PGlite({ extensions: { vector } })));
  try {
    await indexFolder(store, docs, fakeEmbedder(), { ...CHUNKING, chunkTokens: 12, overlap: 0 });
    const { chunks } = await store.counts();
    assert.ok(chunks >= 20, `${chunks} chunks`);
    const all = await searchStore(store, fakeEmbedder(), 'river heron', { k: 1500, exact: true });
    assert.equal(all.length, chunks, 'every chunk, no ef_search limit');
    await assert.rejects(
      searchStore(store, fakeEmbedder(), 'river', { k: 1500 }),
      /k 1500: the HNSW index returns at most 1000 matches .*use --exact/,
    );
  } finally {
    await store.close();
  }
});

test('printed snippets show terminal control characters as escapes', () => {
  const evil = 'title\u001b]0;pwned\u0007 red \u001b[31mtext\u001b[0m\rover\u202eabc\n\tnext line';
  const shown = printable(evil);
  assert.equal(
    shown,
    'title\\u001b]0;pwned\\u0007 red \\u001b[31mtext\\u001b[0m\\u000dover\\u202eabc\n\tnext line',
  );
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(shown, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/, 'nothing a terminal obeys');
  assert.equal(printable('plain text, ünïcode — fine\n'), 'plain text, ünïcode — fine\n');
});
