// One store, several processes: two index runs at once both land (the second waits for the first), a lock
// left by a killed run is taken over, `glasslm index --check` tells a consistent store from a broken one,
// and the store folder is its owner's alone (0700, files 0600).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { STORE_LOCK } from '../../src/search/db.js';
import { findDocuments, indexFolder } from '../../src/search/indexer.js';
import { VectorStore } from '../../src/search/store.js';
import { CHUNKING, fakeEmbedder, glasslm, ROOT, tempDir, writeDocs } from './helpers.js';

const CHILD = join(ROOT, 'test/search/index-child.ts');

interface Child {
  out: string;
  err: string;
  done: Promise<number | null>;
}

const running = new Set<ReturnType<typeof spawn>>();
after(() => {
  for (const p of running) p.kill('SIGKILL'); // a failed test leaves no child holding a store
});

function child(...args: string[]): Child {
  const p = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT });
  running.add(p);
  p.on('close', () => running.delete(p));
  const c: Child = { out: '', err: '', done: new Promise((res) => p.on('close', res)) };
  p.stdout.on('data', (d: Buffer) => (c.out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (c.err += d.toString()));
  return c;
}

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

/** Every path under dir with its permission bits. */
function modes(dir: string): Array<{ path: string; mode: number; dir: boolean }> {
  const out = [{ path: dir, mode: statSync(dir).mode & 0o777, dir: true }];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...modes(p));
    else out.push({ path: p, mode: statSync(p).mode & 0o777, dir: false });
  }
  return out;
}

/** Every folder 0700 (no one else can reach what is inside); with `files`, every file 0600 as well. */
function assertPrivate(dir: string, files = true): void {
  const all = modes(dir);
  assert.ok(all.length > 100, `a PostgreSQL folder (${all.length} entries)`);
  for (const e of all) {
    if (e.dir || files) assert.equal(e.mode, e.dir ? 0o700 : 0o600, `${e.path}: ${e.mode.toString(8)}`);
  }
}

test('two index runs on one store at once: the second waits, both land, --check passes', async () => {
  const db = join(tempDir('lockdb'), 'store');
  const docsA = writeDocs(21);
  const docsB = writeDocs(22);
  const go = join(tempDir('lockgo'), 'go');
  // Both start at once on a folder that does not exist yet; each holds the store, once open, until `go`.
  const runs = [child(db, docsA, go), child(db, docsB, go)];
  await until(
    'one run to hold the store and the other to wait',
    () => runs.some((r) => r.out.includes('opened')) && runs.some((r) => r.err.includes('waiting')),
  );
  const [first, second] = runs[0].out.includes('opened') ? runs : [runs[1], runs[0]];
  assert.match(second.err, /test index \(pid \d+ on .+\) holds .*\.glasslm-lock; waiting for it to finish/);
  assert.doesNotMatch(second.out, /opened/, 'the second run has not opened the store');
  writeFileSync(go, '');
  assert.equal(await first.done, 0, first.err);
  assert.equal(await second.done, 0, second.err);

  const store = await VectorStore.open(db);
  try {
    const files = [...(await store.files()).keys()].sort();
    const want = [...(await findDocuments(docsA)), ...(await findDocuments(docsB))].sort();
    assert.deepEqual(files, want, "both runs' files are in the store");
    assert.deepEqual(await store.check(), []);
    const last = JSON.parse(second.out.trim().split('\n').at(-1)!) as { files: number; chunks: number };
    assert.deepEqual(await store.counts(), last, 'the second run saw the first run’s files');
  } finally {
    await store.close();
  }
  assertPrivate(db);
  const r = glasslm('index', '--check', '--db', db);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /: consistent \(10 files, \d+ chunks\)/);
});

test('an old store: a stale lock is taken over, modes tightened; a broken store fails --check', async () => {
  const db = join(tempDir('stale'), 'store');
  const docs = writeDocs(23);
  let store = await VectorStore.open(db, { create: true });
  await indexFolder(store, docs, fakeEmbedder(), CHUNKING);
  await store.close();
  // Left by an older glasslm: world-readable and -writable, and the lock of a run killed with -9.
  for (const e of modes(db)) chmodSync(e.path, e.dir ? 0o755 : 0o666);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const lock = join(db, STORE_LOCK);
  const since = new Date().toISOString();
  writeFileSync(lock, JSON.stringify({ pid: dead, host: hostname(), since, purpose: 'glasslm index' }));
  const waits: string[] = [];
  store = await VectorStore.open(db, { onWait: (m) => waits.push(m) });
  try {
    assert.deepEqual(waits, [], 'a dead holder is not waited for');
    assert.match(readFileSync(lock, 'utf8'), new RegExp(`"pid":${process.pid}`), 'the lock is ours');
    assertPrivate(db, false);
    assert.equal((await store.counts()).files, 5);
    // What two unlocked writers left behind: chunks of a deleted file, a chunk id twice.
    await store.db.query('ALTER TABLE glasslm_chunks DROP CONSTRAINT glasslm_chunks_path_fkey');
    await store.db.query('ALTER TABLE glasslm_chunks DROP CONSTRAINT glasslm_chunks_pkey');
    await store.db.query(`DELETE FROM glasslm_files WHERE path = $1`, [join(docs, 'a.md')]);
    await store.db.query(
      `INSERT INTO glasslm_chunks SELECT id, path, ord + 100, sha256, start_char, end_char, start_byte,
         end_byte, start_line, end_line, tokens, body, embedding FROM glasslm_chunks WHERE path = $1 AND ord = 0`,
      [join(docs, 'b.txt')],
    );
    assert.equal((await store.check()).length, 3);
  } finally {
    await store.close();
  }
  assert.throws(() => statSync(lock), /ENOENT/, 'the lock is gone after close');
  assertPrivate(db);
  const r = glasslm('index', '--check', '--db', db);
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0],
    /^glasslm: .*: the store is inconsistent: \d+ chunks that belong to no file; 1 chunk ids stored twice; 1 files whose chunks do not match/,
  );
});
