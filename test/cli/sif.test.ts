// Word vectors as an embedding model on the command line: `word2vec train --save-vocab`, then
// `similarity --model word2vec:<file>` and the folder form; and the bundled default (models/kjv-word2vec)
// when no --model is given — from another working folder: embed, similarity --explain, and index of five
// files then search finding the right one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = import.meta.resolve('tsx');
const HAVE_DEFAULT = existsSync(join(ROOT, 'models', 'kjv-word2vec', 'vocab.txt'));

/** The CLI from source, run in `cwd` (not the project). */
function glasslm(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const temp = () => mkdtempSync(join(tmpdir(), 'glasslm-sifcli-'));

test('word2vec train --save-vocab writes the counts; --model word2vec:<file> and the folder form embed with them', () => {
  const dir = temp();
  const groups = [
    ['lion', 'tiger', 'wolf', 'bear'],
    ['rose', 'lily', 'tulip', 'daisy'],
  ];
  const lines = Array.from({ length: 200 }, (_, i) => {
    const g = groups[i % 2]!;
    return ['the', ...Array.from({ length: 5 }, (_, k) => g[(i * 7 + k * 5) % 4]), 'the'].join(' ');
  });
  writeFileSync(join(dir, 'corpus.txt'), lines.join('\n') + '\n');
  const model = join(dir, 'model');
  mkdirSync(model);
  const t = glasslm(
    dir,
    'word2vec',
    'train',
    '--data',
    'corpus.txt',
    '--out',
    join(model, 'vectors.bin'),
    '--save-vocab',
    join(model, 'vocab.txt'),
    '--dim',
    '8',
    '--min-count',
    '1',
    '--threads',
    '1',
  );
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stderr, /and the counts to .*vocab\.txt/);
  // Count the corpus here: "word count" lines, most frequent first.
  const counts = new Map<string, number>();
  for (const w of lines.join(' ').split(' ')) counts.set(w, (counts.get(w) ?? 0) + 1);
  const vocab = readFileSync(join(model, 'vocab.txt'), 'utf8').trim().split('\n');
  assert.equal(vocab[0], `the ${counts.get('the')}`);
  assert.deepEqual(new Map(vocab.map((l) => [l.split(' ')[0], Number(l.split(' ')[1])])), counts);

  const byFile = glasslm(dir, 'similarity', '--model', 'word2vec:model/vectors.bin', 'the lion', 'a tiger');
  assert.equal(byFile.code, 0, byFile.stderr);
  assert.match(byFile.stdout, /^-?[01]\.\d{6}\n$/);
  writeFileSync(join(model, 'config.json'), JSON.stringify({ kind: 'word2vec-sif', vectors: 'vectors.bin' }));
  const byFolder = glasslm(dir, 'similarity', '--model', 'model', 'the lion', 'a tiger');
  assert.equal(byFolder.stdout, byFile.stdout, 'the same model either way');
  const x = glasslm(dir, 'similarity', '--model', 'model', '--json', 'the lion', 'a tiger');
  const e = JSON.parse(x.stdout) as {
    pooling: string;
    tokens: { b: Array<{ text: string; skipped?: boolean }> };
  };
  assert.equal(e.pooling, 'sif');
  assert.deepEqual(
    e.tokens.b.map((t) => [t.text, t.skipped ?? false]),
    [
      ['a', true],
      ['tiger', false],
    ],
  );
  const none = glasslm(dir, 'embed', '--model', 'model', 'zebra 42');
  assert.notEqual(none.code, 0);
  assert.match(none.stderr.trim(), /^glasslm: "zebra 42" has no word in the vocabulary of model \(9 words\)/);
  assert.equal(none.stderr.trim().split('\n').length, 1, 'one line');
});

test('no --model: embed, similarity and their --help use the bundled models/kjv-word2vec, from any folder', (t) => {
  if (!HAVE_DEFAULT) return t.skip('models/kjv-word2vec/vocab.txt is absent');
  const cwd = temp();
  const help = glasslm(cwd, 'embed', '--help');
  assert.match(help.stdout.replace(/\s+/g, ' '), /default: the bundled models\/kjv-word2vec/);
  const e = glasslm(cwd, 'embed', 'In the beginning God created the heaven and the earth.');
  assert.equal(e.code, 0, e.stderr);
  assert.equal(e.stdout.split('\n')[1].split(',').length, 100, '100 dims');
  assert.match(e.stderr, /100 dims · sif pooling · normalised · .*models[\\/]kjv-word2vec/);
  const x = glasslm(
    cwd,
    'similarity',
    '--explain',
    'the Lord is my shepherd',
    'a shepherd guards his sheep online',
  );
  assert.equal(x.code, 0, x.stderr);
  assert.match(
    x.stdout,
    /^cosine 0\.\d{6} · sif pooling · normalised · each text's word contributions below sum to it/,
  );
  assert.match(x.stdout, /online– +\+0\.00000 +0\.0%/, 'an unknown word is marked and adds nothing');
});

test('no --model: index five files then search finds the right one (the default model, another folder)', (t) => {
  if (!HAVE_DEFAULT) return t.skip('models/kjv-word2vec/vocab.txt is absent');
  const cwd = temp();
  const docs = join(cwd, 'docs');
  mkdirSync(docs);
  const files: Record<string, string> = {
    'shepherd.txt': 'The shepherd leads his flock of sheep to green pastures and still waters.',
    'ships.txt': 'The sailors rowed the ship across the sea until the wind and the waves were calm.',
    'harvest.md': '# Harvest\n\nThey reaped the wheat and the barley and gathered the corn into the barns.',
    'king.txt': 'The king sat upon his throne in the palace and his servants brought him gold.',
    'feast.md': 'They ate bread and drank wine at the feast, and the guests rejoiced with music.',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(docs, name), text + '\n');
  const r = glasslm(cwd, 'index', 'docs', '--db', './docs.db', '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /indexed 5 files .*: 5 new/);
  assert.match(r.stderr, /kjv-word2vec · 100 dims/);
  const queries: Array<[string, string]> = [
    ['a boat on the ocean in a storm', 'ships.txt'],
    ['sheep grazing in a field', 'shepherd.txt'],
    ['the royal court and its riches', 'king.txt'],
    ['a meal with drink and songs', 'feast.md'],
  ];
  for (const [q, want] of queries) {
    const s = glasslm(
      cwd,
      'search',
      '--db',
      './docs.db',
      '--exact',
      '-k',
      '1',
      '--json',
      '--threads',
      '1',
      q,
    );
    assert.equal(s.code, 0, s.stderr);
    const hit = JSON.parse(s.stdout.trim()) as { path: string };
    assert.equal(hit.path, join(docs, want), `"${q}" → ${hit.path}`);
    assert.match(s.stderr, /kjv-word2vec/);
  }
});
