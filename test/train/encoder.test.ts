// Fine-tuning runs the loaders' own models for every family: a BERT encoder trained as a sentence embedder
// (PairContrast) runs Encoder.run on the tape — the same forward as inference — its whole-model gradients
// match finite differences, and a step lowers the loss; a Llama step does too (NextToken).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tape } from '../../src/train/autograd.js';
import { createBert, createLlama } from '../../src/train/init.js';
import { NextToken, PairContrast } from '../../src/train/objective.js';
import { TapeOps } from '../../src/train/tape-ops.js';
import { Trainer } from '../../src/train/trainer.js';
import { modelGradCheck } from './gradcheck.js';

const SHAPE = { nLayers: 2, nHeads: 2, dim: 8, ffnDim: 12, vocabSize: 13, contextLength: 8 };
const PAIRS: Array<[number[], number[]]> = [
  [
    [1, 2, 3, 4],
    [1, 2, 5],
  ],
  [
    [6, 7],
    [6, 8, 9, 7],
  ],
  [
    [10, 11, 12],
    [10, 12],
  ],
];
const STEP = { steps: 10, lr: 1e-2, warmupSteps: 0, weightDecay: 0, gradClip: 1 };

test('BERT: Encoder.run on the tape (a padded batch) gives Encoder.forward on each text', async () => {
  const encoder = await createBert(SHAPE, 1, 0.3);
  const obj = new PairContrast(encoder, PAIRS, { batch: 3, seed: 1 });
  const b = obj.pack(PAIRS);
  const tape = new Tape({ grad: false });
  const f = new TapeOps(tape, obj.params, { batch: 6, seqLen: b.seqLen, validLengths: b.lengths });
  const hidden = encoder.run(f, b.ids);
  const seqs = [...PAIRS.map((p) => p[0]), ...PAIRS.map((p) => p[1])];
  let worst = 0;
  seqs.forEach((ids, s) => {
    const ref = encoder.forward(ids);
    const got = hidden.data.subarray(s * b.seqLen * SHAPE.dim, (s * b.seqLen + ids.length) * SHAPE.dim);
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i] - got[i]));
  });
  assert.ok(worst < 1e-5, `max |Δ| ${worst}`);
});

test('BERT: every parameter tensor of a contrastive fine-tune gets its finite-difference gradient (float64)', async (t) => {
  const encoder = await createBert(SHAPE, 2, 0.3);
  const obj = new PairContrast(encoder, PAIRS, { batch: 3, seed: 1, scale: 5 }, { dtype: 'f64' });
  const b = obj.pack(PAIRS);
  const worst = modelGradCheck(obj.params, (tape) => obj.loss(tape, b));
  const names = obj.params.params.map((p) => p.name);
  for (const n of [
    'embed.weight',
    'pos.weight',
    'types.weight',
    'embed_norm.bias',
    'blocks.1.ffn.down.weight',
  ])
    assert.ok(names.includes(n), `${n} is trained`);
  t.diagnostic(`${names.length} parameter tensors, worst relative error ${worst.toExponential(2)}`);
});

test('BERT: contrastive fine-tune steps lower the loss on their batch', async () => {
  const encoder = await createBert(SHAPE, 3, 0.3);
  const obj = new PairContrast(encoder, PAIRS, { batch: 3, seed: 1 });
  const trainer = new Trainer(obj, STEP);
  const b = obj.batchAt(0);
  const lossNow = () => obj.loss(new Tape({ grad: false }), b).data[0];
  const before = lossNow();
  for (let s = 0; s < 5; s++) trainer.trainStep();
  const after = lossNow();
  assert.ok(after < before, `loss ${before} → ${after}`);
  // the trained weights are the encoder's own: inference sees the update
  const v = encoder.forward([1, 2, 3, 4]);
  assert.ok(v.every(Number.isFinite));
});

test('Llama: a fine-tune step lowers the loss of its batch', async () => {
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
      ropeStyle: 'half',
      tieWordEmbeddings: false,
    },
    5,
    0.5,
  );
  const ids = new Uint16Array(64).map((_, i) => (i * 5) % 9);
  const obj = new NextToken(
    decoder,
    { train: ids, val: ids },
    { batch: 2, seqLen: 6, seed: 1, evalBatches: 1 },
  );
  const trainer = new Trainer(obj, STEP);
  const b = obj.batchAt(0);
  const before = obj.loss(new Tape({ grad: false }), b).data[0];
  trainer.trainStep();
  const after = obj.loss(new Tape({ grad: false }), b).data[0];
  assert.ok(after < before, `loss ${before} → ${after}`);
});
