// The embedded deployment: a PGlite store persisted to a folder (`--db <folder>`), through the whole index
// life cycle — exact search = brute force, incremental re-index, deletions, an interrupted run resumed,
// another model refused, and the same answers after reopening.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VectorStore } from '../../src/search/store.js';
import { indexScenario, tempDir } from './helpers.js';

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
