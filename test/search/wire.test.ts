// The server deployment, over the real PostgreSQL wire protocol: a PGlite database served on loopback by
// @electric-sql/pglite-socket, reached with `--db postgres://...` through `pg` — the same code path as a
// PostgreSQL server with pgvector. Debian has no pgvector package, so this is how the tests get a server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { pgliteClient } from '../../src/search/db.js';
import { indexFolder, searchStore } from '../../src/search/indexer.js';
import { VectorStore } from '../../src/search/store.js';
import { ensureBertFixture } from '../fixtures/make-bert.js';
import { CHUNKING, fakeEmbedder, indexScenario, paragraph, Rng, tempDir, writeDocs } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function serve(): Promise<{ url: string; stop: () => Promise<void> }> {
  const db = new PGlite({ extensions: { vector } });
  await db.waitReady;
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  return {
    url: `postgres://postgres:secret@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}

test('server path (pg over the wire protocol): the same index/search life cycle', async (t) => {
  const server = await serve();
  try {
    const hits = await indexScenario(t, () => VectorStore.open(server.url), 'wire protocol');
    assert.equal(hits.length, 5);
    const store = await VectorStore.open(server.url);
    assert.equal(store.kind, 'postgres');
    assert.doesNotMatch(store.location, /secret/, 'the password is not shown');
    await store.close();
  } finally {
    await server.stop();
  }
});

test('the embedded and the wire-protocol stores return the same results', async () => {
  const server = await serve();
  const dir = writeDocs(21);
  const wire = await VectorStore.open(server.url);
  const embedded = await VectorStore.over(pgliteClient(new PGlite({ extensions: { vector } })));
  try {
    for (const s of [wire, embedded]) await indexFolder(s, dir, fakeEmbedder(), CHUNKING);
    assert.deepEqual(await wire.counts(), await embedded.counts());
    const r = new Rng(8);
    for (let i = 0; i < 6; i++) {
      const q = paragraph(r, 5);
      for (const exact of [true, false]) {
        const a = await searchStore(wire, fakeEmbedder(), q, { k: 6, exact });
        const b = await searchStore(embedded, fakeEmbedder(), q, { k: 6, exact });
        assert.deepEqual(a, b, `query ${i}, ${exact ? 'exact' : 'HNSW'}`);
      }
    }
  } finally {
    await wire.close();
    await embedded.close();
    await server.stop();
  }
});

test('glasslm index/search --db postgres://... from the command line', async (t) => {
  const model = await ensureBertFixture();
  if (!model) return t.skip('the MiniLM-shaped fixture cannot be built (../shared is absent)');
  const server = await serve();
  const run = promisify(execFile);
  const glasslm = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, HF_HUB_OFFLINE: '1' },
    });
  try {
    const docs = join(tempDir('wiredocs'), 'docs');
    mkdirSync(docs);
    writeFileSync(join(docs, 'rivers.md'), 'The river bank was quiet.\n\nHerons waited in the reeds.\n');
    writeFileSync(join(docs, 'help.txt'), 'To reset your password, open Settings.\n');
    const ix = await glasslm('index', docs, '--db', server.url, '--model', model, '--threads', '1');
    assert.match(ix.stdout, /indexed 2 files .*2 new/);
    assert.doesNotMatch(ix.stdout + ix.stderr, /secret/);
    const s = await glasslm(
      'search',
      '--db',
      server.url,
      '--json',
      '-k',
      '2',
      '--threads',
      '1',
      'reset my password',
    );
    const hits = s.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; startLine: number });
    assert.equal(hits.length, 2);
    assert.deepEqual(
      new Set(hits.map((h) => h.path)),
      new Set([join(docs, 'rivers.md'), join(docs, 'help.txt')]),
    );
  } finally {
    await server.stop();
  }
});
