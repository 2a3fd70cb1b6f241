// Fine-tuning the real stories260K (Llama-2 architecture): a few steps on new stories lower their loss while
// the model stays fluent; the result saves as an HF Llama folder (config.json, model.safetensors,
// tokenizer.model) that loads back to the same logits and the same tokenization.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/models/load-node.js';
import type { LanguageModel } from '../../src/models/model.js';
import { saveModelFolder, tokenizerFilesFor } from '../../src/train/checkpoint-node.js';
import { encodeCorpus } from '../../src/train/data.js';
import { decoderLoss } from '../../src/train/evaluate.js';
import { inHfLayout } from '../../src/train/export.js';
import { Trainer } from '../../src/train/trainer.js';

const SHARED = fileURLToPath(new URL('../../../shared/models/stories260K-llama2c/', import.meta.url));
const BIN = join(SHARED, 'stories260K.bin');
const EXPECTED = join(SHARED, 'expected-greedy.txt');
const present = existsSync(BIN) && existsSync(join(SHARED, 'tok512.bin')) && existsSync(EXPECTED);
const SKIP = `stories260K is absent from ${SHARED}: skipping the fine-tuning tests`;

/** New stories (written for this test), separated as TinyStories separates them. */
export const NEW_STORIES = [
  'Once upon a time, there was a little cat named Mittens. Mittens had a blue kite. Every day Mittens ran in the park with the blue kite. One day the wind was very strong and the kite flew up into a tree. Mittens was sad. A kind bird came and pulled the kite down. Mittens said, "Thank you, bird!" They played with the blue kite together all day.',
  'Once upon a time, there was a boy named Sam. Sam had a red wagon. He liked to pull his red wagon to the pond. At the pond he saw a big frog. The frog jumped into the red wagon! Sam laughed and said, "Do you want a ride, frog?" The frog said, "Ribbit!" Sam pulled the frog all around the pond. They were happy friends.',
  'Once upon a time, there was a little girl named Mia. Mia loved to bake cookies with her mom. One day they made cookies shaped like stars. Mia put the star cookies in a box. She gave the box to her friend Ben. Ben smiled and said, "These are the best cookies!" Mia felt proud and happy. She wanted to bake star cookies again tomorrow.',
  'Once upon a time, there was a dog named Max. Max had a yellow ball. He liked to roll the yellow ball down the hill. One day the ball rolled into the river. Max was scared of the water. His friend the duck swam to the ball and pushed it back. Max wagged his tail and said, "Thank you, duck!" Max and the duck played with the yellow ball.',
].join('\n<|endoftext|>\n');

const HELD_OUT =
  'Once upon a time, there was a little cat named Mittens. Mittens had a blue kite. One day the kite flew into a big tree. A kind bird helped Mittens get the kite. Mittens said, "Thank you, bird!"';

async function greedy(m: Pick<LanguageModel, 'generate'>, prompt: string, n: number): Promise<string> {
  const gen = m.generate(prompt, { greedy: true, maxTokens: n, stopAtEos: false });
  let text = '';
  for await (const piece of gen) text += piece;
  return text;
}

test('stories260K: HF layout (q/k permuted for half-split RoPE) gives the same logits', async (t) => {
  if (!present) return t.skip(SKIP);
  const m = await loadModel(BIN);
  const hf = await inHfLayout(m);
  assert.notEqual(hf.decoder, m.decoder);
  const ids = [1, ...m.tokenizer.encode('Once upon a time, there was a little girl named Lily.')];
  const a = m.decoder.forward(ids);
  const b = hf.decoder.forward(ids);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  t.diagnostic(`max |Δlogit| = ${d.toExponential(2)}`);
  assert.ok(d < 1e-5, `${d}`);
});

test('stories260K fine-tune: loss on new stories falls, greedy text stays fluent, the HF folder round-trips', async (t) => {
  if (!present) return t.skip(SKIP);
  const m = await loadModel(BIN);
  const hf = await inHfLayout(m);
  const ids = encodeCorpus(m.tokenizer, NEW_STORIES, { addBos: true });
  const heldOut = encodeCorpus(m.tokenizer, HELD_OUT, { addBos: true });
  const fluent = encodeCorpus(m.tokenizer, readFileSync(EXPECTED, 'utf8'), { addBos: true });
  const score = (ids: ArrayLike<number>) => decoderLoss(hf.decoder, ids, 256).loss;
  const before = { stories: score(ids), heldOut: score(heldOut), fluent: score(fluent) };

  const STEPS = 20;
  const t0 = performance.now();
  const trainer = Trainer.nextToken(
    hf.decoder,
    { train: ids, val: heldOut },
    {
      batch: 4,
      seqLen: 64,
      steps: STEPS,
      lr: 1e-3,
      warmupSteps: 2,
      weightDecay: 0,
      gradClip: 1,
      seed: 1,
      evalBatches: 1,
    },
  );
  while (trainer.step < STEPS) trainer.trainStep();
  const seconds = (performance.now() - t0) / 1000;
  const after = { stories: score(ids), heldOut: score(heldOut), fluent: score(fluent) };
  const f = (o: typeof before) =>
    `stories ${o.stories.toFixed(3)}, held-out ${o.heldOut.toFixed(3)}, expected-greedy ${o.fluent.toFixed(3)}`;
  t.diagnostic(
    `${ids.length} tokens, ${STEPS} steps in ${seconds.toFixed(1)} s; before: ${f(before)}; after: ${f(after)}`,
  );
  assert.ok(after.stories < before.stories - 0.3, 'the new stories got more likely');
  assert.ok(after.heldOut < before.heldOut, 'and a held-out variant of one of them too');
  assert.ok(after.fluent < before.fluent + 0.5, 'the original greedy story did not blow up');

  const dir = await mkdtemp(join(tmpdir(), 'glasslm-finetune-'));
  try {
    const files = await tokenizerFilesFor(m);
    assert.ok(
      files.has('tokenizer.model'),
      'the llama2.c tokenizer.bin becomes a SentencePiece tokenizer.model',
    );
    await saveModelFolder(dir, hf.config, hf.decoder, files);
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    assert.equal(config.model_type, 'llama');
    assert.equal(config.num_key_value_heads, 4);
    const back = await loadModel(dir);
    // Same tokenization as the llama2.c vocabulary.
    for (const s of [HELD_OUT, 'Lily said, "Hi!"  Two  spaces, ünïcödé and 😀.', ' leading space', '']) {
      assert.deepEqual(
        Array.from(back.tokenizer.encode(s)),
        Array.from(m.tokenizer.encode(s)),
        JSON.stringify(s),
      );
    }
    const probe = [1, ...m.tokenizer.encode('Once upon a time, there was a dog named Max.')];
    assert.deepEqual(Array.from(back.decoder.forward(probe)), Array.from(hf.decoder.forward(probe)));
    const text = await greedy(back, '', 30);
    t.diagnostic(`greedy from BOS after fine-tuning: ${JSON.stringify(text)}`);
    assert.ok(text.startsWith('Once upon a time'), text);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
