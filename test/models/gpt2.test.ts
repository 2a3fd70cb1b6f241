// GPT-2 forward pass vs the independent float64 numpy reference (test/fixtures/gpt2_reference.py), on the
// random-weight fixture folders: F32 tied, F16 sharded + prefixed + untied head, BF16 with lm_head saved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/models/load-node.js';
import { ensureGpt2Fixtures, GPT2_VARIANTS, SHARED_GPT2 } from '../fixtures/make-gpt2.js';
import {
  assertGreedyMatches,
  assertLogitsMatch,
  assertSameFiles,
  readReference,
  relativeL2,
} from './reference.js';

const REF = readReference('gpt2-reference.json');
const SKIP = `${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`;
const dirs = await ensureGpt2Fixtures();

for (const variant of GPT2_VARIANTS) {
  test(`gpt2 ${variant}: logits match the float64 reference within 1e-5, with and without the KV cache`, async (t) => {
    if (!dirs) return t.skip(SKIP);
    assertSameFiles(dirs[variant], REF.variants[variant].sha256);
    assertLogitsMatch(await loadModel(dirs[variant]), REF, variant, 1e-5);
  });

  test(`gpt2 ${variant}: greedy continuations are identical token for token`, async (t) => {
    if (!dirs) return t.skip(SKIP);
    await assertGreedyMatches(await loadModel(dirs[variant]), REF, variant);
  });
}

test('gpt2: the reference prompt ids are what the tokenizer makes of the text', async (t) => {
  if (!dirs) return t.skip(SKIP);
  const model = await loadModel(dirs['gpt2-tiny']);
  assert.deepEqual(
    Array.from(model.tokenizer.encode('The bank of the river')),
    REF.variants['gpt2-tiny'].prompts.text.ids,
  );
});

test('gpt2: a prompt longer than the context is refused with a clear error', async (t) => {
  if (!dirs) return t.skip(SKIP);
  const model = await loadModel(dirs['gpt2-tiny']);
  const long = ' river'.repeat(model.contextLength);
  assert.throws(() => model.generate(long), /prompt is \d+ tokens, but the model's context length is 64/);
  assert.throws(() => model.forward(new Array(65).fill(1)), /context length is 64/);
});

test('gpt2: generation stops at the context length with stopReason "context"', async (t) => {
  if (!dirs) return t.skip(SKIP);
  const model = await loadModel(dirs['gpt2-tiny-sharded']);
  const gen = model.generate([464, 3331], { greedy: true, maxTokens: 1000, stopAtEos: false });
  let pieces = 0;
  for await (const _ of gen) pieces++;
  const r = await gen.result;
  assert.equal(r.stopReason, 'context');
  assert.equal(r.promptIds.length + r.ids.length, model.contextLength);
  assert.ok(pieces > 0);
});

test('gpt2 with dtype q8_0: linear layers become Q8_0 and the logits stay close to f32', async (t) => {
  if (!dirs) return t.skip(SKIP);
  const f32 = await loadModel(dirs['gpt2-tiny']);
  const q8 = await loadModel(dirs['gpt2-tiny'], { dtype: 'q8_0' });
  const cols = q8.decoder.blocks[0].attention.qkv.weight.cols;
  const expected = cols % 32 === 0 ? 'q8_0' : 'f32';
  assert.equal(q8.decoder.blocks[0].attention.qkv.weight.kind, expected);
  assert.equal(f32.decoder.blocks[0].attention.qkv.weight.kind, 'f32');
  const ids = Array.from(f32.tokenizer.encode('The bank of the river was crowded'));
  const a = f32.forward(ids).data;
  const b = q8.forward(ids).data;
  const rel = relativeL2(a, b);
  t.diagnostic(`q8_0 vs f32 logits: relative L2 difference ${rel.toExponential(2)}`);
  // Random weights have no outliers to protect; ~0.6% per weight compounds over the layers.
  assert.ok(rel > 0 && rel < 0.05, `relative difference ${rel}`);
});
