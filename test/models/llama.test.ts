// Llama (HF folders: GQA, MQA + tied head, BF16 shards, RoPE half-split) vs the float64 numpy reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/models/load-node.js';
import { ensureLlamaFixtures, LLAMA_VARIANTS, SHARED_LLAMA2_TOKENIZER } from '../fixtures/make-llama.js';
import { assertGreedyMatches, assertLogitsMatch, assertSameFiles, readReference } from './reference.js';

const REF = readReference('llama-reference.json');
const SKIP = `${SHARED_LLAMA2_TOKENIZER} is absent: cannot build the Llama fixtures`;
const dirs = await ensureLlamaFixtures();

for (const variant of LLAMA_VARIANTS) {
  test(`llama ${variant}: logits match the float64 reference within 1e-5, with and without the KV cache`, async (t) => {
    if (!dirs) return t.skip(SKIP);
    assertSameFiles(dirs[variant], REF.variants[variant].sha256);
    assertLogitsMatch(await loadModel(dirs[variant]), REF, variant, 1e-5);
  });

  test(`llama ${variant}: greedy continuations are identical token for token`, async (t) => {
    if (!dirs) return t.skip(SKIP);
    await assertGreedyMatches(await loadModel(dirs[variant]), REF, variant);
  });
}

test('llama: the reference prompt is BOS + what the tokenizer makes of the text', async (t) => {
  if (!dirs) return t.skip(SKIP);
  const model = await loadModel(dirs['llama-tiny-gqa']);
  const gen = model.generate('The bank of the river', { maxTokens: 0 });
  for await (const _ of gen) {
    // nothing to drain
  }
  assert.deepEqual((await gen.result).promptIds, REF.variants['llama-tiny-gqa'].prompts.text.ids);
});
