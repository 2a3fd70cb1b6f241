// Sentence embeddings (BERT encoder + WordPiece + mean pooling + Normalize) on a random-weight folder with
// all-MiniLM-L6-v2's real config and tokenizer, vs the float64 numpy reference (padded batch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadEmbedder } from '../../src/embed/load.js';
import { cosine } from '../../src/embed/pooling.js';
import { loadModel } from '../../src/models/load-node.js';
import { ensureBertFixture, SHARED_MINILM } from '../fixtures/make-bert.js';
import { assertSameFiles } from '../models/reference.js';

const REF = JSON.parse(readFileSync(new URL('../fixtures/bert-reference.json', import.meta.url), 'utf8')) as {
  sha256: Record<string, string>;
  texts: string[];
  ids: number[][];
  vectors: number[][];
};
const dir = await ensureBertFixture();
const SKIP = `${SHARED_MINILM} is absent: cannot build the MiniLM-shaped fixture`;

test('embed: pooled, normalised vectors match the float64 reference within 1e-5 (texts of different lengths)', async (t) => {
  if (!dir) return t.skip(SKIP);
  assertSameFiles(dir, REF.sha256);
  const e = await loadEmbedder(dir);
  assert.equal(e.pooling, 'mean');
  assert.equal(e.normalize, true);
  assert.equal(e.maxTokens, 256);
  REF.texts.forEach((text, i) => assert.deepEqual(e.inputIds(text), REF.ids[i], `ids of text ${i}`));
  const vecs = e.embed(REF.texts);
  vecs.forEach((v, i) => {
    const ref = REF.vectors[i];
    let err = 0;
    let scale = 0;
    ref.forEach((r, k) => {
      err = Math.max(err, Math.abs(v[k] - r));
      scale = Math.max(scale, Math.abs(r));
    });
    assert.ok(err / scale < 1e-5, `text ${i}: relative error ${(err / scale).toExponential(2)}`);
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5, 'unit length');
  });
  const sim = e.similarity(REF.texts[0], REF.texts[1]);
  const want = REF.vectors[0].reduce((a, x, k) => a + x * REF.vectors[1][k], 0);
  assert.ok(Math.abs(sim - want) < 1e-5);
  assert.ok(Math.abs(cosine(vecs[0], vecs[0]) - 1) < 1e-6);
});

test('embed: long texts are cut to max_seq_length with a warning', async (t) => {
  if (!dir) return t.skip(SKIP);
  const e = await loadEmbedder(dir);
  const warned: number[] = [];
  const [v] = e.embed(['word '.repeat(400)], { onTruncate: (_i, n, kept) => warned.push(n, kept) });
  assert.deepEqual(warned, [402, 256]);
  assert.equal(v.length, 384);
});

test('embed: a BERT folder is not a generator, and a generator is not an embedder', async (t) => {
  if (!dir) return t.skip(SKIP);
  await assert.rejects(loadModel(dir), /BERT encoder .* use `glasslm embed`/);
});

test('glasslm similarity and embed --jsonl from the command line', async (t) => {
  if (!dir) return t.skip(SKIP);
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8' });
  const s = run('similarity', '--model', dir, REF.texts[0], REF.texts[1]);
  assert.equal(s.status, 0, s.stderr);
  const want = REF.vectors[0].reduce((a, x, k) => a + x * REF.vectors[1][k], 0);
  assert.ok(Math.abs(Number(s.stdout.trim()) - want) < 1e-5);
  const out = join(mkdtempSync(join(tmpdir(), 'glasslm-embed-')), 'v.jsonl');
  const e = run('embed', '--model', dir, '--jsonl', out, REF.texts[2], REF.texts[3]);
  assert.equal(e.status, 0, e.stderr);
  const lines = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { text: string; vector: number[] });
  assert.deepEqual(
    lines.map((l) => l.text),
    [REF.texts[2], REF.texts[3]],
  );
  assert.ok(Math.abs(lines[1].vector[0] - REF.vectors[3][0]) < 1e-5);
});
