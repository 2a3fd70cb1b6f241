// Training T5 runs its own forward on the tape (relative position bias, unscaled attention, gated GELU,
// the d_model^−½ tied head): the tape's logits for a padded batch of pairs equal inference's, every
// parameter's gradient — the relative position tables' included — matches finite differences (float64),
// and a few fine-tuning steps lower the loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/models/load-node.js';
import type { Seq2Seq } from '../../src/models/seq2seq.js';
import { Tape } from '../../src/train/autograd.js';
import { Translation } from '../../src/train/objective.js';
import { Trainer } from '../../src/train/trainer.js';
import { ensureT5Fixtures, T5_VARIANTS } from '../fixtures/make-t5.js';
import { modelGradCheck } from './gradcheck.js';

const EOS = 1;
const PAIRS: Array<[number[], number[]]> = [
  [
    [3, 4, 5, 6, 7, 1],
    [13, 14],
  ],
  [
    [9, 2, 1],
    [10, 11, 12, 40],
  ],
  [[30, 31, 32, 33, 1], [60]],
];

async function t5(v: (typeof T5_VARIANTS)[number]): Promise<Seq2Seq> {
  const dirs = await ensureT5Fixtures();
  return (await loadModel(dirs[v])).seq2seq!;
}

test('T5 training: the tape logits of a padded batch equal encode + decoder forward', async () => {
  for (const v of T5_VARIANTS) {
    const model = await t5(v);
    const obj = new Translation(model, PAIRS, { batch: 3, seed: 1, eos: EOS });
    const b = obj.pack(PAIRS);
    const logits = obj.logits(new Tape({ grad: false }), b);
    const V = model.vocabSize;
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
    assert.ok(worst < 1e-4, `${v}: max |Δlogit| ${worst}`);
  }
});

test('T5 training: every parameter tensor gets its finite-difference gradient (float64)', async (t) => {
  for (const v of T5_VARIANTS) {
    const model = await t5(v);
    const obj = new Translation(model, PAIRS, { batch: 3, seed: 1, eos: EOS }, { dtype: 'f64' });
    const b = obj.pack(PAIRS);
    const worst = modelGradCheck(obj.params, (tape) => obj.loss(tape, b));
    const names = obj.params.params.map((p) => p.name);
    for (const n of [
      'encoder.rel_bias.weight',
      'decoder.rel_bias.weight',
      'decoder.blocks.1.cross.kv.weight',
    ])
      assert.ok(names.includes(n), `${v}: ${n} is trained`);
    t.diagnostic(`${v}: ${names.length} parameter tensors, worst relative error ${worst.toExponential(2)}`);
  }
});

test('T5 fine-tuning: steps on the pairs lower the loss', async () => {
  const model = await t5('flan-t5-tiny');
  const obj = new Translation(model, PAIRS, { batch: 3, seed: 1, eos: EOS });
  const trainer = new Trainer(obj, { steps: 30, lr: 1e-2, warmupSteps: 3, weightDecay: 0, gradClip: 1 });
  const b = obj.pack(PAIRS);
  const before = obj.loss(new Tape({ grad: false }), b).data[0];
  for (let s = 0; s < 30; s++) trainer.trainStep();
  const after = obj.loss(new Tape({ grad: false }), b).data[0];
  assert.ok(after < before / 2, `loss ${before} → ${after}`);
});
