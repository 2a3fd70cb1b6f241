// `glasslm generate` and `glasslm explain` on T5 folders, as a user runs them: greedy and beams (the
// folder's generation_config.json asks for 3) give the float64 reference's outputs (t5-reference.json),
// through the same step loop as every other model; explain shows the relative positions and the
// cross-attention alignment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/models/load-node.js';
import { ensureT5Fixtures } from '../fixtures/make-t5.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROMPT = 'translate English to German: the house is wonderful.';
const REF = JSON.parse(readFileSync(new URL('../fixtures/t5-reference.json', import.meta.url), 'utf8')) as {
  variants: Record<string, { cases: Record<string, { greedy: number[]; beams: { ids: number[] }[] }> }>;
};

function glasslm(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('generate on T5 folders: greedy, and the 3 beams generation_config.json asks for, equal the reference', async () => {
  const dirs = await ensureT5Fixtures();
  // the reference's "text" case is PROMPT in the fixture tokenizer's ids
  const tiny = await loadModel(dirs['t5-tiny']);
  assert.deepEqual(Array.from(tiny.tokenizer.encode(PROMPT)), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1]);
  const greedy = REF.variants['t5-tiny'].cases.text.greedy;
  const g = glasslm('generate', '--model', dirs['t5-tiny'], '--greedy', '--max-tokens', '12', PROMPT);
  assert.equal(g.code, 0, g.stderr);
  assert.equal(g.stdout.trim(), tiny.tokenizer.decode(greedy));
  // its generation_config.json does not say do_sample: HF's default (greedy) holds, as in transformers
  assert.deepEqual(tiny.generationDefaults, { greedy: true });
  const plain = glasslm('generate', '--model', dirs['t5-tiny'], '--max-tokens', '12', PROMPT);
  assert.equal(plain.stdout.trim(), tiny.tokenizer.decode(greedy));
  const flan = await loadModel(dirs['flan-t5-tiny']);
  assert.equal(flan.generationDefaults.numBeams, 3);
  const best = REF.variants['flan-t5-tiny'].cases.text.beams[0].ids;
  const b = glasslm('generate', '--model', dirs['flan-t5-tiny'], '--max-tokens', '8', PROMPT);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout.trim(), flan.tokenizer.decode(best));
});

test('explain on a T5 folder: relative positions, the source, the output and the alignment', async () => {
  const dirs = await ensureT5Fixtures();
  const r = glasslm('explain', '--model', dirs['flan-t5-tiny'], '--steps', '4', PROMPT);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /t5 \(encoder-decoder\) · encoder 2 layers × 3 heads · decoder 3 layers × 3 heads .* relative positions/,
  );
  assert.match(r.stdout, /1\. source tokens \(11, what the encoder reads\)/);
  assert.match(r.stdout, /10:"<\/s>"=1/);
  assert.match(r.stdout, /alignment · cross-attention · mean of 3 layers · mean of 3 heads/);
  const rows = r.stdout.split('\n').filter((l) => l.includes('│'));
  assert.equal(rows.length, 4);
  for (const row of rows) assert.equal(row.split('│')[1].length, 11, row);
});
