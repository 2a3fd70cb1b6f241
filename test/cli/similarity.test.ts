// `glasslm similarity` as installed (bin/glasslm.js → the compiled dist/; `npm test` builds it first,
// by hand: npx tsc -p tsconfig.json) on the MiniLM-shaped random folder: the plain cosine unchanged,
// --explain's token bars and top pairs, --json's explanation, one-line errors. Plus the bar drawing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { divergingBar, renderSimilarityExplanation } from '../../src/cli/embed.js';
import type { SimilarityExplanation } from '../../src/embed/explain.js';
import { ensureBertFixture, SHARED_MINILM } from '../fixtures/make-bert.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/glasslm.js');
const BUILT = join(ROOT, 'dist/src/cli/embed.js');
const dir = await ensureBertFixture();

/** Why the spawned tests cannot run, or null. */
function skipReason(): string | null {
  if (!dir) return `${SHARED_MINILM} is absent: cannot build the MiniLM-shaped fixture`;
  if (!existsSync(BUILT)) return `${BUILT} is missing: run npx tsc -p tsconfig.json (npm test builds it)`;
  return null;
}

function glasslm(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const A = 'The cat sat on the mat.';
const B = 'A dog lay on the rug.';
const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

test('the compiled CLI is not older than the source it runs', (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  const src = statSync(join(ROOT, 'src/cli/embed.ts')).mtimeMs;
  assert.ok(
    statSync(BUILT).mtimeMs >= src,
    'dist/ is older than src/cli/embed.ts: run npx tsc -p tsconfig.json',
  );
});

test('similarity: the plain cosine, --explain (bars, [CLS]/[SEP] marked, top pairs) and --json agree', (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  const plain = glasslm('similarity', '--model', dir as string, A, B);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^-?\d\.\d{6}\n$/, 'without --explain: one number, as before');
  const cos = Number(plain.stdout);

  const ex = glasslm('similarity', '--model', dir as string, '--explain', '--top', '3', A, B);
  assert.equal(ex.code, 0, ex.stderr);
  const lines = ex.stdout.split('\n');
  assert.match(lines[0], /^cosine -?\d\.\d{6} · mean pooling · normalised/);
  assert.equal(lines[0].split(' ')[1], plain.stdout.trim(), 'the same cosine');
  assert.ok(
    lines.some((l) => l.startsWith(`A ${JSON.stringify(A)} · 9 tokens`)),
    ex.stdout,
  );
  assert.ok(
    lines.some((l) => l.startsWith(`B ${JSON.stringify(B)} · 9 tokens`)),
    ex.stdout,
  );
  const tokenRows = lines.filter((l) => /^\s+\d+ \S+\s+[+-]\d\.\d{5}\s+-?\d+\.\d%\s+ *[░ ]*│/.test(l));
  assert.equal(tokenRows.length, 18, 'one row per token of each text');
  assert.equal(tokenRows.filter((l) => /\[CLS\]\*|\[SEP\]\*/.test(l)).length, 4, '[CLS]/[SEP] marked');
  assert.ok(
    tokenRows.every((l) => /│█/.test(l) || /░│/.test(l)),
    'every token has a bar',
  );
  const k = lines.findIndex((l) => l.startsWith('top token pairs'));
  assert.ok(k > 0, 'the top pairs');
  assert.match(lines[k], /all 9×9 pairs sum to the cosine/);
  for (const l of lines.slice(k + 1, k + 4)) assert.match(l, /^\s+\d+:\S+ ↔ \d+:\S+\s+[+-]\d\.\d{5}/);
  assert.equal(lines[k + 4], '');
  assert.match(ex.stdout, /\* added by the tokenizer\. mean pooling: /);

  const js = glasslm('similarity', '--model', dir as string, '--json', A, B);
  assert.equal(js.code, 0, js.stderr);
  const x = JSON.parse(js.stdout) as SimilarityExplanation;
  assert.equal(x.version, 1);
  assert.equal(x.pooling, 'mean');
  assert.ok(Math.abs(x.cosine - cos) < 1e-6);
  assert.ok(Math.abs(sum(x.tokens.a.map((tk) => tk.contribution)) - x.cosine) < 1e-6);
  assert.ok(Math.abs(sum(x.tokens.b.map((tk) => tk.contribution)) - x.cosine) < 1e-6);
  assert.ok(Math.abs(sum(x.pairs.flat()) - x.cosine) < 1e-6);
  assert.equal(x.topPairs.length, 10, 'ten pairs by default');
  assert.deepEqual(
    x.tokens.a.map((tk) => tk.text),
    ['[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]'],
  );
});

test('similarity: bad options and models are one clear line', (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  for (const [args, pattern] of [
    [['--top', '-1', '--explain', '--model', dir as string, 'a', 'b'], /--top.*whole number/],
    [['--explain', '--model', join(ROOT, 'no-such-model-folder'), 'a', 'b'], /no-such-model-folder/],
  ] as const) {
    const r = glasslm('similarity', ...args);
    assert.notEqual(r.code, 0);
    const errLines = r.stderr.trim().split('\n');
    assert.equal(errLines.length, 1, r.stderr);
    assert.match(errLines[0], /^glasslm: /);
    assert.match(errLines[0], pattern);
  }
});

test('divergingBar: positive grows right of the axis in █ eighths, negative left in ░', () => {
  assert.equal(divergingBar(1, 1, 4, 0), '│████');
  assert.equal(divergingBar(0.5, 1, 4, 2), '  │██');
  assert.equal(divergingBar(0.3, 1, 4, 0), '│█▏');
  assert.equal(divergingBar(-0.5, 1, 4, 3), ' ░░│');
  assert.equal(divergingBar(0, 1, 4, 1), ' │');
  assert.equal(divergingBar(0.2, 0, 4, 0), '│');
});

test('renderSimilarityExplanation: negative terms are drawn left of the axis, shared scale', () => {
  const tok = (index: number, text: string, contribution: number, special = false) => ({
    index,
    id: index,
    text,
    start: 0,
    end: 0,
    special,
    contribution,
    share: contribution / 0.5,
  });
  const x: SimilarityExplanation = {
    version: 1,
    texts: { a: 'x y', b: 'z' },
    pooling: 'mean',
    normalize: true,
    cosine: 0.5,
    tokens: {
      a: [tok(0, '[CLS]', 0.4, true), tok(1, 'x', -0.2), tok(2, 'y', 0.3)],
      b: [tok(0, '[CLS]', 0.6, true), tok(1, 'z', -0.1)],
    },
    pairs: [
      [0.3, 0.1],
      [-0.1, -0.1],
      [0.3, 0],
    ],
    topPairs: [
      { a: 0, b: 0, contribution: 0.3, share: 0.6 },
      { a: 1, b: 0, contribution: -0.1, share: -0.2 },
    ],
    truncated: { a: null, b: 3 },
    note: 'a note',
  };
  const out = renderSimilarityExplanation(x, 12);
  assert.match(out, /^cosine 0\.500000 · mean pooling · normalised/);
  assert.match(out, /B "z" · 2 tokens \(cut from 3\)/);
  // max |contribution| 0.6 = 12 cells; -0.2 → 4 cells left of the axis, which has room for them.
  assert.match(out, /\n\s+1 x\s+-0\.20000 -40\.0% {2}░░░░│\n/);
  assert.match(out, /\n\s+0 \[CLS\]\*\s+\+0\.60000 120\.0% {6}│████████████\n/);
  assert.match(out, /0:\[CLS\]\* ↔ 0:\[CLS\]\*\s+\+0\.30000\s+60\.0%\s+│████████████\n/);
  assert.match(out, /1:x ↔ 0:\[CLS\]\*\s+-0\.10000\s+-20\.0%\s+░░░░│\n/);
  assert.match(out, /\* added by the tokenizer\. a note\.\n$/);
});
