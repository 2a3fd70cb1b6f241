// `glasslm index` and `glasslm search` as a user runs them: help, one clear line for a bad --db or a
// missing model, and a real index → search → re-index round trip with the MiniLM-shaped fixture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ensureBertFixture } from '../fixtures/make-bert.js';
import { glasslm, tempDir } from './helpers.js';

function assertOneLineError(r: ReturnType<typeof glasslm>, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'non-zero exit');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^glasslm: /);
  assert.match(lines[0], pattern);
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const port = (s.address() as { port: number }).port;
  await new Promise((res) => s.close(res));
  return port;
}

function docsFolder(): string {
  const docs = join(tempDir('clidocs'), 'docs');
  mkdirSync(docs);
  writeFileSync(
    join(docs, 'rivers.md'),
    '# Rivers\n\nThe river bank was quiet in the morning.\n\nHerons waited in the reeds by the water.\n',
  );
  writeFileSync(
    join(docs, 'help.txt'),
    'Passwords expire every ninety days.\n\nTo reset your password, open Settings.\n',
  );
  return docs;
}

test('index --help and search --help document the commands', () => {
  const i = glasslm('index', '--help');
  assert.equal(i.code, 0);
  for (const s of ['--db', '--model', '--chunk-tokens', '--overlap', 'postgres://', 'changed'])
    assert.ok(i.stdout.includes(s), s);
  const s = glasslm('search', '--help');
  assert.equal(s.code, 0);
  for (const o of ['--db', '-k', '--exact', '--ef-search', '--json']) assert.ok(s.stdout.includes(o), o);
});

test('a bad --db or a missing model is one clear line', async () => {
  const dir = tempDir('clierr');
  const docs = docsFolder();
  writeFileSync(join(dir, 'file.txt'), 'x');
  mkdirSync(join(dir, 'full'));
  writeFileSync(join(dir, 'full', 'other.txt'), 'x');
  assertOneLineError(glasslm('index', docs, '--db', join(dir, 'file.txt'), '--model', 'x'), /is a file/);
  assertOneLineError(glasslm('index', docs, '--db', join(dir, 'full')), /not a glasslm store/);
  assertOneLineError(
    glasslm('search', '--db', 'mysql://me@host/db', 'q'),
    /not a folder or a postgres:\/\/ URL/,
  );
  assertOneLineError(glasslm('search', '--db', join(dir, 'none'), 'river'), /no store there/);
  const port = await closedPort();
  const refused = glasslm('search', '--db', `postgres://me:hunter2@127.0.0.1:${port}/db`, 'river');
  assertOneLineError(refused, /cannot connect to postgres:\/\/me:\*\*\*@127\.0\.0\.1/);
  assert.doesNotMatch(refused.stderr, /hunter2/, 'the password is not printed');
  // A --model that cannot be loaded: say so, and create nothing. (No --model uses the bundled default,
  // models/kjv-word2vec: test/cli/sif.test.ts.)
  const r = glasslm('index', docs, '--db', join(dir, 'new'), '--model', `word2vec:${join(dir, 'none.bin')}`);
  assertOneLineError(r, /none\.bin: no such vectors file/);
  assert.equal(existsSync(join(dir, 'new')), false, 'no store created');
  assertOneLineError(
    glasslm('index', join(dir, 'missing'), '--db', join(dir, 'new2'), '--model', 'x'),
    /no such folder/,
  );
  assertOneLineError(
    glasslm('search', '--db', join(dir, 'none'), '-k', '0', 'q'),
    /k must be an integer >= 1/,
  );
});

test('glasslm index then search with a MiniLM-shaped model; re-index embeds only the change', async (t) => {
  const model = await ensureBertFixture();
  if (!model) return t.skip('the MiniLM-shaped fixture cannot be built (../shared is absent)');
  const docs = docsFolder();
  const db = join(tempDir('clidb'), 'store');
  let r = glasslm('index', docs, '--db', db, '--model', model, '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /indexed 2 files .*: 2 new, 0 changed, 0 unchanged, 0 deleted/);
  assert.match(r.stdout, /2 chunks written \(2 embedded, 0 reused\)/);
  assert.match(r.stderr, /384 dims · chunks ≤ 200 tokens, overlap 1 paragraph/);

  // The store remembers its model: search (and re-index) need no --model.
  r = glasslm('search', '--db', db, '-k', '2', '--exact', '--threads', '1', 'reset', 'my', 'password');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\[1\] [01]\.\d{4} {2}\S+:1 {2}\(lines 1–3\)\n {4}\S/);
  assert.match(r.stdout, /\[2\] /);
  assert.match(r.stderr, /2 of 2 chunks · exact scan/);
  const exact = glasslm('search', '--db', db, '--json', '--exact', '--threads', '1', 'herons');
  const ann = glasslm('search', '--db', db, '--json', '--threads', '1', 'herons');
  assert.equal(ann.stdout, exact.stdout, 'HNSW = exact on a tiny store');
  const top = JSON.parse(exact.stdout.split('\n')[0]) as { path: string; startLine: number; text: string };
  assert.ok([join(docs, 'rivers.md'), join(docs, 'help.txt')].includes(top.path));

  writeFileSync(join(docs, 'help.txt'), 'Passwords expire every ninety days.\n\nTo reset it, ask IT.\n');
  r = glasslm('index', docs, '--db', db, '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /: 0 new, 1 changed, 1 unchanged, 0 deleted/);
  assert.match(r.stdout, /1 chunks written \(1 embedded, 0 reused\)/);
});
