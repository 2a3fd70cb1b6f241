// `glasslm explain --contextual <word> <sentences...>`: the table (a row per layer, a column per pair of
// sentences, the static word2vec row) with the bundled model and vectors, --json giving the same numbers
// as the library, --vectors, and one-line errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/models/load-node.js';
import { contextualSimilarity, type ContextualComparison } from '../../src/trace/contextual.js';
import { loadWordVectors } from '../../src/word2vec/load-node.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function glasslm(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function oneLineError(r: ReturnType<typeof glasslm>, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'non-zero exit');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], pattern);
}

const S = ['he sat by the river bank', 'she put her money in the bank', 'the bank of the river'];

test('explain --contextual: a row per layer, a column per pair, the static row; --json is the library’s', async () => {
  const r = glasslm('explain', '--threads', '0', '--contextual', 'bank', ...S);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(
    lines[0],
    /^"bank" in 3 sentences · gpt2 · 4 layers · 128 dims · .*models\/default · word2vec .*vectors\.bin \(5332 words × 100\)$/,
  );
  for (let s = 0; s < 3; s++) assert.match(lines[1 + s], new RegExp(`^   S${s + 1}  "${S[s]}" +→ \\d+:`));
  const head = lines.findIndex((l) => /^ {3}layer +S1·S2 +S1·S3 +S2·S3$/.test(l));
  assert.ok(head > 0, r.stdout);
  const num = ' +(-?\\d\\.\\d{4})';
  const rows = ['0 embedding', '1 after block 1', '2 after block 2', '3 after block 3', '4 after block 4'];
  rows.forEach((name, l) => assert.match(lines[head + 1 + l], new RegExp(`^   ${name}${num.repeat(3)}$`)));
  assert.match(lines[head + 6], /^ {3}word2vec \(static\) +1\.0000 +1\.0000 +1\.0000$/);
  // the bundled tokenizer splits "bank" into pieces: said so
  assert.match(r.stdout, /mean of \d tokens/);
  assert.match(r.stdout, /sub-word tokens is followed as the mean/);

  const j = glasslm('explain', '--threads', '0', '--contextual', 'bank', '--json', '-', ...S);
  assert.equal(j.code, 0, j.stderr);
  const got = JSON.parse(j.stdout) as ContextualComparison;
  const model = await loadModel(join(ROOT, 'models/default'));
  const wv = await loadWordVectors(join(ROOT, 'models/kjv-word2vec/vectors.bin'));
  const want = contextualSimilarity(model, 'bank', S, wv);
  assert.deepEqual(got, JSON.parse(JSON.stringify(want)));
  // the printed table is that comparison, to 4 decimals
  want.cosines.forEach((row, l) =>
    assert.ok(lines[head + 1 + l].endsWith(row.map((x) => x.toFixed(4).padStart(9)).join(''))),
  );
});

test('explain --contextual --vectors: another vectors file; one-line errors', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-contextual-'));
  const vec = join(dir, 'tiny.txt');
  await writeFile(vec, '2 3\nriver 1 0 0\nbank 0 1 1\n');
  const r = glasslm('explain', '--threads', '0', '--contextual', 'bank', '--vectors', vec, S[0], S[1]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /word2vec .*tiny\.txt \(2 words × 3\)/);
  assert.match(r.stdout, /word2vec \(static\) +1\.0000\n/);

  oneLineError(
    glasslm('explain', '--threads', '0', '--contextual', 'bank', S[0], 'the lamb of god'),
    /"bank" does not occur in sentence 2 \("the lamb of god"\)/,
  );
  oneLineError(
    glasslm('explain', '--threads', '0', '--contextual', 'tractor', 'a red tractor', 'the tractor'),
    /word2vec: "tractor" is not in the vocabulary/,
  );
  oneLineError(
    glasslm('explain', '--threads', '0', '--contextual', 'bank', 'the bank of the river'),
    /2 to 8 sentences, one argument each \(quote them\): got 1/,
  );
  oneLineError(
    glasslm('explain', '--contextual', 'bank', '--vectors', join(dir, 'none.bin'), S[0], S[1]),
    /cannot load .*none\.bin/,
  );
});
