// The training loop: a tiny GPT-2 memorises a short text; the same seed gives the same loss curve bit for bit
// (also across a checkpoint and --resume); a saved folder loads back to the same logits; AdamW, clipping and
// the schedule do what they say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/models/load-node.js';
import { loadTokenizerFromJson } from '../../src/tokenizers/load.js';
import { bpeTokenizerJson, countWords, trainBpe } from '../../src/train/bpe-trainer.js';
import { readTrainerState, saveModelFolder } from '../../src/train/checkpoint-node.js';
import { encodeCorpus, splitTrainVal } from '../../src/train/data.js';
import { createGpt2 } from '../../src/train/init.js';
import { NextToken } from '../../src/train/objective.js';
import type { Param } from '../../src/train/params.js';
import { AdamW, clipGradNorm, gradNorm, learningRate } from '../../src/train/optim.js';
import { decoderRun, runTraining } from '../../src/train/run-node.js';
import { Trainer, type TrainOptions } from '../../src/train/trainer.js';

const TEXT =
  'In the beginning the river ran quiet under the old stone bridge, and every morning a heron stood in the ' +
  'shallows waiting for silver fish. The children of the village named it Captain, because it never moved ' +
  'until the right moment came. One spring the water rose high and fast, and Captain flew away north.';

const OPTS: TrainOptions = {
  batch: 2,
  seqLen: 32,
  steps: 20,
  lr: 3e-3,
  warmupSteps: 2,
  weightDecay: 0.1,
  gradClip: 1,
  seed: 42,
  evalBatches: 1,
};

async function byteTokenizer() {
  const bpe = trainBpe(countWords(TEXT), { vocabSize: 256 });
  const json = bpeTokenizerJson(bpe);
  return { json, tokenizer: loadTokenizerFromJson(json, 'bytes'), eos: bpe.endOfText };
}

async function tinyModel(seed: number, contextLength = 64) {
  return createGpt2({ nLayers: 2, nHeads: 2, dim: 32, contextLength, vocabSize: 257, eosTokenId: 256 }, seed);
}

test('overfit: a tiny GPT-2 memorises a 200-token text to near-zero loss in at most 150 steps', async (t) => {
  const { tokenizer } = await byteTokenizer();
  const ids = encodeCorpus(tokenizer, TEXT.slice(0, 200));
  assert.equal(ids.length, 200);
  const T = ids.length - 1;
  const { decoder } = await tinyModel(1, 512);
  const trainer = Trainer.nextToken(
    decoder,
    { train: ids, val: ids },
    {
      ...OPTS,
      batch: 1,
      seqLen: T,
      steps: 150,
      lr: 1e-2,
      warmupSteps: 10,
      minLr: 1e-3,
      weightDecay: 0,
    },
  );
  let loss = Infinity;
  let steps = 0;
  const t0 = performance.now();
  while (trainer.step < 150 && loss > 0.05) {
    loss = trainer.trainStep().loss;
    steps++;
  }
  t.diagnostic(
    `${ids.length} tokens: loss ${loss.toFixed(4)} after ${steps} steps (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  assert.ok(loss < 0.05, `loss ${loss} after ${steps} steps`);
  // Greedy decoding through the inference path now recites the text.
  const logits = decoder.forward(Array.from(ids.subarray(0, T)));
  let right = 0;
  for (let i = 0; i < T; i++) {
    let best = 0;
    for (let j = 1; j < 257; j++) if (logits[i * 257 + j] > logits[i * 257 + best]) best = j;
    if (best === ids[i + 1]) right++;
  }
  assert.equal(right, T, 'every next token is the argmax');
});

async function lossCurve(seed: number, steps: number): Promise<number[]> {
  const { tokenizer } = await byteTokenizer();
  const { train, val } = splitTrainVal(encodeCorpus(tokenizer, TEXT));
  const { decoder } = await tinyModel(seed);
  const trainer = Trainer.nextToken(decoder, { train, val }, { ...OPTS, seed, steps });
  const out: number[] = [];
  for (let s = 0; s < steps; s++) out.push(trainer.trainStep().loss);
  out.push(trainer.evaluate());
  return out;
}

test('determinism: the same seed gives a bitwise identical loss curve; another seed does not', async () => {
  const a = await lossCurve(7, 8);
  const b = await lossCurve(7, 8);
  const c = await lossCurve(8, 8);
  assert.deepEqual(a, b);
  assert.ok(
    a.every((v, i) => Object.is(v, b[i])),
    'bit for bit',
  );
  assert.notDeepEqual(a, c);
  assert.ok(a[7] < a[0], `the loss falls (${a[0]} → ${a[7]})`);
});

test('resume: stopped after 3 of 6 steps (as Ctrl-C), then --resume: equals 6 steps straight, bit for bit', async () => {
  const { json, tokenizer } = await byteTokenizer();
  const { train, val } = splitTrainVal(encodeCorpus(tokenizer, TEXT));
  const files = new Map([['tokenizer.json', JSON.stringify(json)]]);
  const data = { train, val, path: 'text', sha256: 'x' };
  const dir1 = await mkdtemp(join(tmpdir(), 'glasslm-train-'));
  const dir2 = await mkdtemp(join(tmpdir(), 'glasslm-train-'));
  try {
    const options = { ...OPTS, steps: 6 };
    const run = async (dir: string, stopAt: number, resume: boolean) => {
      const m = resume ? await loadModel(dir) : await tinyModel(3);
      const ac = new AbortController();
      return runTraining({
        signal: ac.signal,
        onStep: (r) => {
          if (r.step === stopAt) ac.abort(); // as Ctrl-C does: stop after this step, with a checkpoint
        },
        dir,
        kind: 'train',
        title: 't',
        ...decoderRun({ config: m.config, decoder: m.decoder, tokenizerFiles: files, data, options }),
        options,
        evalEvery: 2,
        checkpointEvery: 100,
        resume: resume ? await readTrainerState(dir) : undefined,
      });
    };
    const straight = await run(dir1, 6, false);
    const first = await run(dir2, 3, false);
    assert.ok(first.stopped);
    assert.equal((await readTrainerState(dir2))!.step, 3);
    const resumed = await run(dir2, 6, true);
    assert.ok(!resumed.stopped);
    assert.deepEqual(
      resumed.metrics.map((m) => m.train_loss),
      straight.metrics.map((m) => m.train_loss),
    );
    assert.deepEqual(
      resumed.metrics.map((m) => m.val_loss),
      straight.metrics.map((m) => m.val_loss),
    );
    const w1 = straight.params.params.map((p) => Array.from(p.data));
    const w2 = resumed.params.params.map((p) => Array.from(p.data));
    assert.deepEqual(w2, w1);
  } finally {
    await rm(dir1, { recursive: true, force: true });
    await rm(dir2, { recursive: true, force: true });
  }
});

test('round trip: a trained model saved as an HF GPT-2 folder loads back with the same logits', async () => {
  const { json, tokenizer } = await byteTokenizer();
  const ids = encodeCorpus(tokenizer, TEXT);
  const { config, decoder } = await tinyModel(5);
  const trainer = Trainer.nextToken(decoder, { train: ids, val: ids }, OPTS);
  for (let s = 0; s < 3; s++) trainer.trainStep();
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-save-'));
  try {
    await saveModelFolder(dir, config, decoder, new Map([['tokenizer.json', JSON.stringify(json)]]));
    const m = await loadModel(dir);
    assert.equal(m.config.modelType, 'gpt2');
    const prompt = Array.from(ids.subarray(0, 40));
    assert.deepEqual(Array.from(m.decoder.forward(prompt)), Array.from(decoder.forward(prompt)));
    assert.deepEqual(Array.from(m.tokenizer.encode(TEXT)), Array.from(ids));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function fakeParam(name: string, data: number[], grad: number[], decay: boolean): Param {
  return { name, shape: [data.length], decay, data: Float32Array.from(data), grad: Float32Array.from(grad) };
}

test('AdamW: one step by hand; decay only where marked; clipping; the cosine schedule', () => {
  const w = fakeParam('w', [1, -2], [0.5, -0.25], true);
  const g = fakeParam('g', [1, 1], [0.5, 0.5], false);
  const opt = new AdamW([w, g], { lr: 0.1, weightDecay: 0.5, beta1: 0.9, beta2: 0.95, eps: 1e-8 });
  opt.update();
  // Step 1: m̂ = g, v̂ = g², so the Adam step is lr·sign(g) (up to eps); decay multiplies w by 1 − lr·λ.
  const expect = (w0: number, gi: number, decay: boolean) =>
    Math.fround(w0 * (decay ? 1 - 0.1 * 0.5 : 1) - (0.1 * gi) / (Math.abs(gi) + 1e-8));
  assert.deepEqual(Array.from(w.data), [expect(1, 0.5, true), expect(-2, -0.25, true)]);
  assert.deepEqual(Array.from(g.data), [expect(1, 0.5, false), expect(1, 0.5, false)]);

  const p = fakeParam('p', [0, 0], [3, 4], false);
  assert.equal(gradNorm([p]), 5);
  assert.equal(clipGradNorm([p], 1), 5);
  assert.ok(Math.abs(gradNorm([p]) - 1) < 1e-6);

  const sch = { lr: 1, minLr: 0.1, warmupSteps: 10, totalSteps: 110 };
  assert.equal(learningRate(0, sch), 0.1);
  assert.equal(learningRate(9, sch), 1);
  assert.ok(Math.abs(learningRate(60, sch) - 0.55) < 1e-12);
  assert.ok(Math.abs(learningRate(110, sch) - 0.1) < 1e-12);
});

test('nanoGPT grouping: decay on block matrices only, none on norms, biases, embeddings (tied head)', async () => {
  const { decoder } = await tinyModel(1);
  const model = new NextToken(decoder).params;
  const decayed = model.params.filter((p) => p.decay).map((p) => p.name);
  assert.deepEqual(decayed, [
    'blocks.0.attn.qkv.weight',
    'blocks.0.attn.out.weight',
    'blocks.0.ffn.up.weight',
    'blocks.0.ffn.down.weight',
    'blocks.1.attn.qkv.weight',
    'blocks.1.attn.out.weight',
    'blocks.1.ffn.up.weight',
    'blocks.1.ffn.down.weight',
  ]);
  assert.ok(model.params.some((p) => p.name === 'embed.weight' && !p.decay));
});
