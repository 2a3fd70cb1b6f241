// Training an encoder-decoder runs the model's own forward: the tape's logits for a padded batch of pairs
// equal inference's (encode + decoder on the KV cache), every parameter's gradient matches finite
// differences (float64), and steps lower the loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tape } from '../../src/train/autograd.js';
import { createMarian, type MarianShape } from '../../src/train/init.js';
import { Translation } from '../../src/train/objective.js';
import { Trainer } from '../../src/train/trainer.js';
import { modelGradCheck } from './gradcheck.js';

const SHAPE: MarianShape = {
  dim: 8,
  encoderLayers: 1,
  decoderLayers: 2,
  nHeads: 2,
  ffnDim: 12,
  vocabSize: 15,
  contextLength: 12,
  padTokenId: 14,
  eosTokenId: 0,
};
const PAIRS: Array<[number[], number[]]> = [
  [
    [3, 4, 5, 6],
    [7, 8],
  ],
  [
    [9, 2],
    [10, 11, 12, 1],
  ],
  [[1, 2, 3], [13]],
];

test('seq2seq: the tape logits of a padded batch equal encode + decoder forward', async () => {
  const { model } = await createMarian(SHAPE, 1, 0.4);
  const obj = new Translation(model, PAIRS, { batch: 3, seed: 1, eos: 0 });
  const b = obj.pack(PAIRS);
  const logits = obj.logits(new Tape({ grad: false }), b);
  const V = SHAPE.vocabSize;
  let worst = 0;
  PAIRS.forEach(([src, tgt], i) => {
    const ref = model.decoder.forward(
      [model.decoderStartTokenId, ...tgt],
      model.newCache(),
      false,
      null,
      model.encode(src),
    );
    const got = logits.data.subarray(i * b.tgtLen * V, (i * b.tgtLen + tgt.length + 1) * V);
    for (let j = 0; j < ref.length; j++) worst = Math.max(worst, Math.abs(ref[j] - got[j]));
  });
  assert.ok(worst < 1e-5, `max |Δlogit| ${worst}`);
});

test('seq2seq: every parameter tensor gets its finite-difference gradient (float64)', async (t) => {
  const { model } = await createMarian(SHAPE, 2, 0.4);
  const obj = new Translation(model, PAIRS, { batch: 3, seed: 1, eos: 0 }, { dtype: 'f64' });
  const b = obj.pack(PAIRS);
  const worst = modelGradCheck(obj.params, (tape) => obj.loss(tape, b));
  const names = obj.params.params.map((p) => p.name);
  assert.ok(names.includes('decoder.blocks.1.cross.kv.weight'), 'cross-attention is trained');
  assert.ok(!names.some((n) => n.includes('pos.')), 'sinusoidal tables are not trained');
  t.diagnostic(`${names.length} parameter tensors, worst relative error ${worst.toExponential(2)}`);
});

test('seq2seq: training steps lower the loss, and the model then translates its pairs greedily', async () => {
  const { model } = await createMarian({ ...SHAPE, dim: 16, ffnDim: 32 }, 3, 0.1);
  const obj = new Translation(model, PAIRS, { batch: 3, seed: 1, eos: 0 });
  const trainer = new Trainer(obj, { steps: 150, lr: 1e-2, warmupSteps: 5, weightDecay: 0, gradClip: 1 });
  const b = obj.pack(PAIRS);
  const before = obj.loss(new Tape({ grad: false }), b).data[0];
  for (let s = 0; s < 150; s++) trainer.trainStep();
  const after = obj.loss(new Tape({ grad: false }), b).data[0];
  assert.ok(after < before / 4, `loss ${before} → ${after}`);
  for (const [src, tgt] of PAIRS) {
    const state = model.encode(src);
    const cache = model.newCache();
    const out: number[] = [];
    let next = model.decoderStartTokenId;
    for (let s = 0; s < 6; s++) {
      const logits = model.forward(state, [next], cache, true);
      next = logits.indexOf(Math.max(...logits));
      if (next === 0) break;
      out.push(next);
    }
    assert.deepEqual(out, tgt);
  }
});
