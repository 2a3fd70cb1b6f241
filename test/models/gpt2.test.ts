// GPT-2 forward pass vs the independent float64 numpy reference (test/fixtures/gpt2_reference.py), on the
// random-weight fixture folders: F32 tied, F16 sharded + prefixed + untied head, BF16 with lm_head saved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/models/load.js';
import type { LanguageModel } from '../../src/models/model.js';
import { ensureGpt2Fixtures, GPT2_VARIANTS, SHARED_GPT2 } from '../fixtures/make-gpt2.js';

interface PositionRef {
  sampled: number[];
  top: [number, number][];
  max: number;
  logsumexp: number;
}
interface PromptRef {
  ids: number[];
  positions: PositionRef[];
  greedy: number[];
}
interface Reference {
  stride: number;
  variants: Record<string, { sha256: Record<string, string>; prompts: Record<string, PromptRef> }>;
}

const REF = JSON.parse(
  readFileSync(new URL('../fixtures/gpt2-reference.json', import.meta.url), 'utf8'),
) as Reference;
const TOL = 1e-5;

/** max |ours − ref| / max |ref| over the compared entries of one row of logits. */
function rowError(row: Float32Array, ref: PositionRef, stride: number): number {
  let scale = 0;
  let err = 0;
  const cmp = (ours: number, theirs: number) => {
    scale = Math.max(scale, Math.abs(theirs));
    err = Math.max(err, Math.abs(ours - theirs));
  };
  ref.sampled.forEach((v, i) => cmp(row[i * stride], v));
  for (const [id, v] of ref.top) cmp(row[id], v);
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - max);
  cmp(max, ref.max);
  cmp(max + Math.log(s), ref.logsumexp); // covers every entry of the row, not only the sampled ones
  return err / scale;
}

const dirs = await ensureGpt2Fixtures();

for (const variant of GPT2_VARIANTS) {
  test(`gpt2 ${variant}: logits match the float64 reference`, async (t) => {
    if (!dirs) return t.skip(`${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`);
    const ref = REF.variants[variant];
    for (const [file, sha] of Object.entries(ref.sha256)) {
      const got: string = createHash('sha256')
        .update(readFileSync(join(dirs[variant], file)))
        .digest('hex');
      assert.equal(
        got,
        sha,
        `${file} differs from the one the reference was computed on (rerun the fixture scripts)`,
      );
    }
    const model = await loadModel(dirs[variant]);
    for (const [name, p] of Object.entries(ref.prompts)) {
      // Whole prompt at once.
      const full = model.forward(p.ids);
      const vocab = full.shape[1];
      for (let i = 0; i < p.ids.length; i++) {
        const e = rowError(full.data.subarray(i * vocab, (i + 1) * vocab), p.positions[i], REF.stride);
        assert.ok(e < TOL, `${name} position ${i}: relative error ${e.toExponential(2)} (no cache)`);
      }
      // One token at a time through the KV cache.
      const cache = model.newCache();
      for (let i = 0; i < p.ids.length; i++) {
        const row = model.forward([p.ids[i]], cache).data;
        const e = rowError(row, p.positions[i], REF.stride);
        assert.ok(e < TOL, `${name} position ${i}: relative error ${e.toExponential(2)} (KV cache)`);
      }
      // Top-1 of every position equals the reference's.
      for (let i = 0; i < p.ids.length; i++) {
        const row = full.data.subarray(i * vocab, (i + 1) * vocab);
        let best = 0;
        for (let j = 1; j < vocab; j++) if (row[j] > row[best]) best = j;
        assert.equal(best, p.positions[i].top[0][0], `${name} position ${i}: argmax`);
      }
    }
  });

  test(`gpt2 ${variant}: greedy continuations are identical token for token`, async (t) => {
    if (!dirs) return t.skip(`${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`);
    const model: LanguageModel = await loadModel(dirs[variant]);
    for (const [name, p] of Object.entries(REF.variants[variant].prompts)) {
      const gen = model.generate(p.ids, { greedy: true, maxTokens: p.greedy.length, stopAtEos: false });
      for await (const _ of gen) {
        // drain
      }
      const r = await gen.result;
      assert.deepEqual(r.ids, p.greedy, `${name}: greedy ids`);
    }
  });
}

test('gpt2: the reference prompt ids are what the tokenizer makes of the text', async (t) => {
  if (!dirs) return t.skip(`${SHARED_GPT2} is absent`);
  const model = await loadModel(dirs['gpt2-tiny']);
  assert.deepEqual(
    Array.from(model.tokenizer.encode('The bank of the river')),
    REF.variants['gpt2-tiny'].prompts.text.ids,
  );
});

test('gpt2: a prompt longer than the context is refused with a clear error', async (t) => {
  if (!dirs) return t.skip(`${SHARED_GPT2} is absent`);
  const model = await loadModel(dirs['gpt2-tiny']);
  const long = ' river'.repeat(model.contextLength);
  assert.throws(() => model.generate(long), /prompt is \d+ tokens, but the model's context length is 64/);
  assert.throws(() => model.forward(new Array(65).fill(1)), /context length is 64/);
});

test('gpt2: generation stops at the context length with stopReason "context"', async (t) => {
  if (!dirs) return t.skip(`${SHARED_GPT2} is absent`);
  const model = await loadModel(dirs['gpt2-tiny-sharded']);
  const gen = model.generate([464, 3331], { greedy: true, maxTokens: 1000, stopAtEos: false });
  let pieces = 0;
  for await (const _ of gen) pieces++;
  const r = await gen.result;
  assert.equal(r.stopReason, 'context');
  assert.equal(r.promptIds.length + r.ids.length, model.contextLength);
  assert.ok(pieces > 0);
});
