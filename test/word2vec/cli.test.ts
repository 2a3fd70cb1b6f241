// `glasslm word2vec` as a person uses it: train on a small text, then nearest, analogy, similarity and
// eval on the file it wrote; an unknown word is a one-line error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const glasslm = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'word2vec', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });

test('word2vec train, then nearest / analogy / similarity / eval on its vectors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glasslm-w2v-'));
  const groups = [
    ['lion', 'tiger', 'wolf'],
    ['rose', 'lily', 'tulip'],
  ];
  const lines = Array.from({ length: 300 }, (_, i) => {
    const g = groups[i % 2]!;
    return Array.from({ length: 6 }, (_, k) => g[(i * 7 + k * 5) % 3]).join(' ');
  });
  writeFileSync(join(dir, 'corpus.txt'), lines.join('\n') + '\n');
  const out = join(dir, 'v.bin');
  const t = glasslm(
    'train',
    '--data',
    join(dir, 'corpus.txt'),
    '--out',
    out,
    '--dim',
    '8',
    '--min-count',
    '1',
  );
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stderr, /done: 6 words × 8 .* saved .*v\.bin \(binary\)/);
  const n = glasslm('nearest', '--vectors', out, '-k', '2', 'lion');
  assert.equal(n.status, 0, n.stderr);
  assert.equal(n.stdout.trim().split('\n').length, 2);
  const s = glasslm('similarity', '--vectors', out, 'lion', 'tiger');
  assert.ok(Math.abs(Number(s.stdout)) <= 1, s.stdout);
  const a = glasslm('analogy', '--vectors', out, '--method', 'mul', 'lion', 'tiger', 'rose');
  assert.equal(a.status, 0, a.stderr);
  writeFileSync(join(dir, 'q.txt'), ': animals\nlion tiger rose lily\nlion tiger wolf dog\n');
  const e = glasslm('eval', '--vectors', out, '--analogies', join(dir, 'q.txt'), '--json');
  assert.equal(e.status, 0, e.stderr);
  const scores = JSON.parse(e.stdout) as { overall: { asked: number; skipped: number } };
  assert.deepEqual([scores.overall.asked, scores.overall.skipped], [1, 1]);
  const bad = glasslm('nearest', '--vectors', out, 'unicorn');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /"unicorn" is not in the vocabulary/);
});
