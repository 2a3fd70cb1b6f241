// Training with the WASM backend active: weight matrices then live in WebAssembly memory (placeMatrix copies
// them there, even the LM head that GPT-2 ties to its embedding). The optimizer must update the very memory
// the WASM kernels read, and keep the tied head and embedding one table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tensor from '../../src/tensor/index.js';
import { Tape } from '../../src/train/autograd.js';
import { createGpt2 } from '../../src/train/init.js';
import { NextToken } from '../../src/train/objective.js';
import { Trainer } from '../../src/train/trainer.js';

test('with the WASM backend: training updates the weights inference reads; the tied head stays tied', async (t) => {
  const create = (tensor as Record<string, unknown>).createWasmBackend as
    ((o?: { threads?: number }) => Promise<tensor.Backend>) | undefined;
  if (!create) return t.skip('no WASM backend in src/tensor yet');
  tensor.setBackend(await create({ threads: 1 }));
  try {
    const { decoder } = await createGpt2(
      { nLayers: 1, nHeads: 2, dim: 32, contextLength: 32, vocabSize: 300 },
      1,
    );
    const ids = new Uint16Array(500).map((_, i) => (i * 7) % 300);
    const opts = {
      batch: 2,
      seqLen: 16,
      steps: 5,
      lr: 3e-3,
      warmupSteps: 1,
      weightDecay: 0.1,
      gradClip: 1,
      seed: 1,
      evalBatches: 1,
    };
    const model = new NextToken(decoder, { train: ids, val: ids }, opts);
    assert.ok(model.params.tied);
    assert.ok(!model.params.params.some((p) => p.name === 'lm_head.weight'));
    const trainer = new Trainer(model, opts);
    const before = decoder.forward([1, 2, 3]).slice();
    for (let s = 0; s < 5; s++) trainer.trainStep();
    const after = decoder.forward([1, 2, 3]);
    const ours = model.logits(new Tape({ grad: false }), [1, 2, 3], 1, 3).data;
    let moved = 0;
    let diff = 0;
    for (let i = 0; i < after.length; i++) {
      moved = Math.max(moved, Math.abs(after[i] - before[i]));
      diff = Math.max(diff, Math.abs(after[i] - ours[i]));
    }
    assert.ok(moved > 1e-3, 'inference sees the trained weights');
    assert.ok(diff < 1e-4, `WASM inference and the autograd forward agree (${diff})`);
    const head = decoder.lmHead.weight;
    assert.ok(
      head.kind === 'f32' && head.data.every((v, i) => v === decoder.embedding.weight[i]),
      'head = embedding',
    );
  } finally {
    tensor.setBackend(tensor.referenceBackend);
  }
});
