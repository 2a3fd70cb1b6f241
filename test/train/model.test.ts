// Training runs the Decoder's own forward (Decoder.run on the tape): it gives the Decoder's logits (GPT-2 fixture, stories260K), whole-model
// gradients match finite differences in float64 (GPT-2 and Llama shapes), and training updates the very
// arrays the Decoder runs on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/models/load.js';
import type { Decoder } from '../../src/models/decoder.js';
import { Tape } from '../../src/train/autograd.js';
import { createGpt2, createLlama } from '../../src/train/init.js';
import { NextToken } from '../../src/train/objective.js';
import { modelGradCheck } from './gradcheck.js';
import { ensureGpt2Fixtures, SHARED_GPT2 } from '../fixtures/make-gpt2.js';

const STORIES = fileURLToPath(
  new URL('../../../shared/models/stories260K-llama2c/stories260K.bin', import.meta.url),
);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Decoder.forward on each window vs the same forward on the tape, on the batch of windows. */
function compareLogits(decoder: Decoder, windows: number[][]): number {
  const model = new NextToken(decoder);
  const T = windows[0].length;
  const tape = new Tape({ grad: false });
  const logits = model.logits(tape, windows.flat(), windows.length, T);
  const V = decoder.vocabSize;
  let worst = 0;
  windows.forEach((w, b) => {
    const ref = decoder.forward(w);
    worst = Math.max(worst, maxDiff(ref, logits.data.subarray(b * T * V, (b + 1) * T * V)));
  });
  return worst;
}

test('GPT-2 fixture: autograd logits equal Decoder.forward within 1e-5', async (t) => {
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip(`${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`);
  const m = await loadModel(dirs['gpt2-tiny']);
  const ids = Array.from(m.tokenizer.encode('The bank of the river was quiet at night, and the fish slept.'));
  const w1 = ids.slice(0, 12);
  const w2 = ids.slice(2, 14);
  const d = compareLogits(m.decoder, [w1, w2]);
  t.diagnostic(`max |Δlogit| = ${d.toExponential(2)}`);
  assert.ok(d < 1e-5, `max difference ${d}`);
});

test('stories260K: autograd logits equal Decoder.forward within 1e-5 (RoPE, GQA, RMSNorm, SwiGLU)', async (t) => {
  if (!existsSync(STORIES)) return t.skip(`${STORIES} is absent: skipping the stories260K check`);
  const m = await loadModel(STORIES);
  const ids = Array.from(
    m.tokenizer.encode('Once upon a time, there was a little girl named Lily. She loved to play.'),
  );
  ids.unshift(1);
  const d = compareLogits(m.decoder, [ids.slice(0, 16), ids.slice(3, 19)]);
  t.diagnostic(`max |Δlogit| = ${d.toExponential(2)}`);
  assert.ok(d < 1e-5, `max difference ${d}`);
});

/** Whole-model gradient check in float64 on a few entries of every parameter. */
function wholeModelGradCheck(
  decoder: Decoder,
  inputs: number[],
  targets: number[],
  batch: number,
  T: number,
) {
  const model = new NextToken(decoder, undefined, undefined, { dtype: 'f64' });
  const batchOf = { inputs: Int32Array.from(inputs), targets: Int32Array.from(targets), batch, seqLen: T };
  const worst = modelGradCheck(model.params, (tape) => model.loss(tape, batchOf));
  return { worst, count: model.params.params.length };
}

test('whole tiny GPT-2: the gradient of every parameter tensor matches finite differences (float64)', async (t) => {
  const { decoder } = await createGpt2({ nLayers: 2, nHeads: 2, dim: 8, contextLength: 8, vocabSize: 11 }, 3);
  // Larger-than-init weights so every path carries signal.
  for (const p of new NextToken(decoder).params.params)
    if (p.decay) for (let i = 0; i < p.data.length; i++) p.data[i] *= 20;
  const inputs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const targets = [2, 3, 4, 5, -1, 7, 8, 9, 10, 0];
  const r = wholeModelGradCheck(decoder, inputs, targets, 2, 5);
  t.diagnostic(`${r.count} parameters, worst relative error ${r.worst.toExponential(2)}`);
});

test('whole tiny Llama (GQA, RoPE, SwiGLU, untied head, q/k/v bias): gradients match finite differences', async (t) => {
  const decoder = await createLlama(
    {
      dim: 8,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 2,
      headDim: 2,
      ffnDim: 12,
      vocabSize: 9,
      contextLength: 8,
      normEps: 1e-5,
      ropeTheta: 10000,
      ropeStyle: 'interleaved',
      tieWordEmbeddings: false,
      attentionBias: true,
    },
    5,
    0.5,
  );
  const r = wholeModelGradCheck(decoder, [1, 2, 3, 4, 5, 6, 7, 8], [2, 3, 4, 5, 6, 7, 8, 0], 2, 4);
  t.diagnostic(`${r.count} parameters, worst relative error ${r.worst.toExponential(2)}`);
});

test('the trainable model shares memory with the Decoder: a parameter update changes Decoder.forward', async () => {
  const { decoder } = await createGpt2({ nLayers: 1, nHeads: 2, dim: 8, contextLength: 8, vocabSize: 11 }, 1);
  const model = new NextToken(decoder).params;
  assert.ok(model.tied, 'GPT-2 head tied to the embedding');
  assert.equal(model.params.filter((p) => p.name === 'lm_head.weight').length, 0);
  assert.equal(model.params[0].data, decoder.embedding.weight);
  const before = decoder.forward([1, 2, 3]).slice();
  const qkv = model.params.find((p) => p.name === 'blocks.0.attn.qkv.weight')!;
  qkv.data[0] += 1;
  const after = decoder.forward([1, 2, 3]);
  assert.ok(maxDiff(before, after) > 0);
});
