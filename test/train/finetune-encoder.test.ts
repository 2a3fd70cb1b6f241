// Fine-tuning sentence-embedding models: an encoder saves as a sentence-transformers folder (BERT names,
// the source's tokenizer and module files) that loads back to the same embeddings; `glasslm finetune --pairs`
// lowers the contrastive loss, saves a folder `embed` loads, and brings a trained pair's vectors closer;
// the run resumes bit for bit; mistakes get one clear line and leave nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SentenceEmbedder } from '../../src/embed/embedder.js';
import { loadEmbedder } from '../../src/embed/load.js';
import { cosine } from '../../src/embed/pooling.js';
import { openSafetensorsFolder } from '../../src/formats/safetensors-node.js';
import {
  checkpointDir,
  encoderFolderFiles,
  readTrainerState,
  sentenceTransformersFiles,
  writeModelFiles,
} from '../../src/train/checkpoint-node.js';
import { bertTensors } from '../../src/train/export.js';
import { bertConfigJson, createBert } from '../../src/train/init.js';
import { parsePairs, splitPairs } from '../../src/train/pairs.js';
import { encoderRun, runTraining } from '../../src/train/run-node.js';
import type { TrainOptions } from '../../src/train/trainer.js';
import { ensureBertFixture, SHARED_MINILM } from '../fixtures/make-bert.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');
const STORIES = fileURLToPath(
  new URL('../../../shared/models/stories260K-llama2c/stories260K.bin', import.meta.url),
);
const present = existsSync(join(SHARED_MINILM, 'tokenizer.json'));
const SKIP = `all-MiniLM-L6-v2's tokenizer is absent from ${SHARED_MINILM}: skipping`;

function glasslm(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Pairs that mean the same (written for this test). */
const PAIRS: Array<[string, string]> = [
  ['how do I reset my password', 'steps to change a forgotten login password'],
  ['what is the capital of France', 'Paris is the capital city of France'],
  ['best way to cook rice', 'how to make fluffy rice on the stove'],
  ['symptoms of the flu', 'fever, cough and aches are signs of influenza'],
  ['how far is the moon', 'the distance from the earth to the moon'],
  ['learn to play guitar', 'beginner lessons for playing the guitar'],
  ['cheap flights to Tokyo', "low cost airfare to Japan's capital"],
  ['why is the sky blue', 'scattering of sunlight makes the sky look blue'],
  ['how to train a puppy', 'tips for teaching a young dog to behave'],
  ['fix a flat bicycle tire', 'repairing a punctured bike tyre'],
  ['what do bees eat', 'bees feed on nectar and pollen from flowers'],
  ['start running for beginners', 'a couch to 5k jogging plan'],
];
const TSV = PAIRS.map(([a, p]) => `${a}\t${p}\n`).join('');

/** A tiny BERT with MiniLM's vocabulary (its tokenizer and sentence-transformers files beside it). */
const SHAPE = { nLayers: 2, nHeads: 2, dim: 32, ffnDim: 64, vocabSize: 30522, contextLength: 64 };

async function writeTinyBert(dir: string, seed = 3) {
  const encoder = await createBert(SHAPE, seed, 0.5); // wide enough that texts start apart
  const files = encoderFolderFiles(
    bertConfigJson(SHAPE),
    encoder,
    await sentenceTransformersFiles(SHARED_MINILM),
  );
  await writeModelFiles(dir, files);
  return encoder;
}

/** Runs `fn` in a new temporary folder, removed afterwards. */
async function inTempDir(prefix: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** cos(anchor, positive) of each pair under an embedder. */
function pairCosines(e: SentenceEmbedder, pairs: Array<[string, string]>): number[] {
  return pairs.map(([a, p]) => {
    const [va, vp] = e.embed([a, p]);
    return cosine(va, vp);
  });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test('encoder → sentence-transformers folder (BERT names, module files) → loadEmbedder: identical embeddings', async (t) => {
  if (!present) return t.skip(SKIP);
  await inTempDir('glasslm-bert-save-', async (dir) => {
    const encoder = await writeTinyBert(join(dir, 'tiny'));
    const loaded = await loadEmbedder(join(dir, 'tiny'));
    assert.equal(loaded.pooling, 'mean');
    assert.equal(loaded.normalize, true);
    assert.ok(existsSync(join(dir, 'tiny', '1_Pooling', 'config.json')));
    const direct = new SentenceEmbedder({ ...loaded, encoder });
    const texts = PAIRS.flat().slice(0, 6);
    assert.deepEqual(loaded.embed(texts), direct.embed(texts));
    // The saved names are the loader's, and saving the loaded model gives the same tensors.
    const a = bertTensors(encoder);
    const b = bertTensors(loaded.encoder);
    assert.deepEqual(
      a.map((x) => x.name),
      b.map((x) => x.name),
    );
    a.forEach((x, i) => assert.deepEqual(b[i].data, x.data, x.name));
    assert.ok(a.some((x) => x.name === 'encoder.layer.1.attention.self.value.bias'));

    // A real sentence-transformers folder (MiniLM's config, tokenizer and pipeline; random weights).
    const fixture = await ensureBertFixture();
    if (!fixture) return;
    const src = await loadEmbedder(fixture);
    const out = join(dir, 'minilm');
    await writeModelFiles(
      out,
      encoderFolderFiles(src.config.raw, src.encoder, await sentenceTransformersFiles(fixture)),
    );
    const back = await loadEmbedder(out);
    assert.deepEqual(back.embed(texts), src.embed(texts));
    const names = async (d: string) => {
      const s = await openSafetensorsFolder(d);
      try {
        return s.names().sort();
      } finally {
        await s.close();
      }
    };
    assert.deepEqual(await names(out), await names(fixture));
    for (const f of ['modules.json', 'sentence_bert_config.json', 'vocab.txt', '1_Pooling/config.json'])
      assert.deepEqual(await readFile(join(out, f)), await readFile(join(fixture, f)), f);
  });
});

test('pairs files: one "anchor<TAB>positive" a line, bad lines named file:line; the tail held out', () => {
  assert.deepEqual(parsePairs('a\tb\r\n\n  c \t d\n', 'p.tsv'), [
    ['a', 'b'],
    ['c', 'd'],
  ]);
  assert.throws(
    () => parsePairs('a\tb\nc d\n', 'p.tsv'),
    /^GlassError: p\.tsv:2: expected "anchor<TAB>positive"/,
  );
  assert.throws(() => parsePairs('a\tb\tc\n', 'p.tsv'), /p\.tsv:1: .*found 2 tabs/);
  assert.throws(() => parsePairs('a\tb\n\n\t x\n', 'p.tsv'), /p\.tsv:3: the anchor is empty/);
  const twelve = Array.from({ length: 12 }, (_, i) => i);
  assert.deepEqual(splitPairs(twelve, 0.1, 'p'), { train: twelve.slice(0, 10), val: [10, 11] });
  assert.deepEqual(splitPairs(twelve, 0.25, 'p').val, [9, 10, 11]);
  assert.deepEqual(splitPairs([1, 2, 3], 0.1, 'p'), { train: [1, 2, 3], val: [] });
  assert.deepEqual(splitPairs([1, 2, 3, 4], 0.3, 'p'), { train: [1, 2], val: [3, 4] });
  assert.deepEqual(splitPairs([1, 2, 3], 0.4, 'p'), { train: [1, 2, 3], val: [] });
  assert.throws(() => splitPairs([1], 0.1, 'p.tsv'), /p\.tsv has 1 pair, too few/);
});

test('finetune --pairs: the loss falls, the folder loads with embed, a trained pair moves closer; --resume continues', async (t) => {
  if (!present) return t.skip(SKIP);
  await inTempDir('glasslm-enc-finetune-', async (dir) => {
    const model = join(dir, 'tiny');
    await writeTinyBert(model);
    const pairs = join(dir, 'pairs.tsv');
    await writeFile(pairs, TSV);
    const out = join(dir, 'tuned');
    const args = [
      '--pairs',
      pairs,
      '--batch',
      '10',
      '--lr',
      '5e-4',
      '--eval-every',
      '4',
      '--checkpoint-every',
      '8',
    ];
    const r = glasslm('finetune', '--model', model, '--out', out, ...args, '--steps', '12');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /12 pairs · train 10 · val 2/);
    assert.match(r.stderr, /done at step 12/);
    assert.doesNotMatch(r.stderr, /perplexity/);
    const metrics = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number; train_loss: number; val_loss?: number });
    assert.equal(metrics.length, 12);
    const losses = metrics.map((m) => m.train_loss);
    t.diagnostic(`train loss ${losses.map((l) => l.toFixed(3)).join(' ')}`);
    assert.ok(
      mean(losses.slice(-3)) < mean(losses.slice(0, 3)) * 0.8,
      `the loss falls: ${losses.join(', ')}`,
    );
    assert.ok(metrics.some((m) => m.val_loss !== undefined));
    for (const f of ['config.json', 'model.safetensors', 'modules.json', '1_Pooling/config.json', 'loss.svg'])
      assert.ok(existsSync(join(out, f)), f);

    const before = await loadEmbedder(model);
    const after = await loadEmbedder(out);
    const train = PAIRS.slice(0, 10);
    const cb = pairCosines(before, train);
    const ca = pairCosines(after, train);
    t.diagnostic(
      `pair 0: cos ${cb[0].toFixed(4)} → ${ca[0].toFixed(4)}; mean ${mean(cb).toFixed(4)} → ${mean(ca).toFixed(4)}`,
    );
    assert.ok(ca[0] > cb[0], `the first trained pair moved closer (${cb[0]} → ${ca[0]})`);
    assert.ok(mean(ca) > mean(cb), `the trained pairs moved closer on average`);
    // …and closer than to the other pairs' positives (what the contrastive loss rewards).
    const margin = (e: SentenceEmbedder) => {
      const a = e.embed(train.map((p) => p[0]));
      const p = e.embed(train.map((q) => q[1]));
      return mean(
        a.map((v, i) => cosine(v, p[i]) - mean(p.filter((_, j) => j !== i).map((w) => cosine(v, w)))),
      );
    };
    assert.ok(margin(after) > margin(before), `${margin(before)} → ${margin(after)}`);

    const e = glasslm('embed', '--model', out, '--digits', '3', 'how do I reset my password');
    assert.equal(e.code, 0, e.stderr);
    assert.ok(e.stdout.trim().length > 0);

    // --resume continues the run (its options and pairs recorded) to a new total.
    const resumed = glasslm('finetune', '--out', out, '--resume', '--steps', '14');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming at step 12/);
    const state = await readTrainerState(out);
    assert.equal(state?.step, 14);
    assert.equal(state?.data.path, pairs);
    const lines = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { step: number }).step),
      Array.from({ length: 14 }, (_, i) => i + 1),
    );
    await loadEmbedder(out);
  });
});

test('encoder runs resume bit for bit: stopped after 3 of 6 steps, then resumed, equals 6 steps straight', async (t) => {
  if (!present) return t.skip(SKIP);
  await inTempDir('glasslm-enc-resume-', async (dir) => {
    const model = join(dir, 'tiny');
    await writeTinyBert(model, 5);
    const options: TrainOptions = {
      batch: 4,
      seqLen: 64,
      steps: 6,
      lr: 2e-3,
      warmupSteps: 1,
      weightDecay: 0.1,
      gradClip: 1,
      seed: 9,
      evalBatches: 1,
    };
    const run = async (out: string, stopAt: number, resume: boolean) => {
      const state = resume ? await readTrainerState(out) : undefined;
      const e = await loadEmbedder(state ? checkpointDir(out, state) : model);
      const ids = PAIRS.map(([a, p]) => [e.inputIds(a), e.inputIds(p)] as const);
      const ac = new AbortController();
      return runTraining({
        ...encoderRun({
          configJson: e.config.raw,
          encoder: e.encoder,
          pipelineFiles: await sentenceTransformersFiles(e.source),
          pairs: { train: ids.slice(0, 10), val: ids.slice(10), path: 'pairs', sha256: 'x' },
          padId: 0,
          options,
        }),
        signal: ac.signal,
        onStep: (r) => {
          if (r.step === stopAt) ac.abort();
        },
        dir: out,
        kind: 'finetune',
        title: 't',
        options,
        evalEvery: 2,
        checkpointEvery: 100,
        resume: state,
      });
    };
    const straight = await run(join(dir, 'a'), 6, false);
    const first = await run(join(dir, 'b'), 3, false);
    assert.ok(first.stopped);
    const resumed = await run(join(dir, 'b'), 6, true);
    assert.deepEqual(
      resumed.metrics.map((m) => [m.train_loss, m.val_loss]),
      straight.metrics.map((m) => [m.train_loss, m.val_loss]),
    );
    assert.deepEqual(
      resumed.params.params.map((p) => Array.from(p.data)),
      straight.params.params.map((p) => Array.from(p.data)),
    );
  });
});

test('finetune refuses the wrong data for the model, bad pairs files and too few pairs, writing nothing', async (t) => {
  if (!present) return t.skip(SKIP);
  await inTempDir('glasslm-enc-refuse-', async (dir) => {
    const model = join(dir, 'tiny');
    await writeTinyBert(model);
    const out = join(dir, 'out');
    const pairs = join(dir, 'pairs.tsv');
    await writeFile(pairs, TSV);
    const oneLine = (r: { code: number | null; stderr: string }, re: RegExp) => {
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(out), 'nothing written');
    };
    oneLine(
      glasslm('finetune', '--model', model, '--data', pairs, '--out', out),
      /is a sentence-embedding model: fine-tune it on text pairs with --pairs <file>/,
    );
    if (existsSync(STORIES)) {
      oneLine(
        glasslm('finetune', '--model', STORIES, '--pairs', pairs, '--out', out),
        /is a text generator: fine-tune it on text with --data <file>; --pairs is for sentence-embedding/,
      );
    }
    const bad = join(dir, 'bad.tsv');
    await writeFile(bad, 'a\tb\nno tab here\n');
    oneLine(
      glasslm('finetune', '--model', model, '--pairs', bad, '--out', out),
      /bad\.tsv:2: expected "anchor<TAB>positive"/,
    );
    const one = join(dir, 'one.tsv');
    await writeFile(one, 'a\tb\n');
    oneLine(
      glasslm('finetune', '--model', model, '--pairs', one, '--out', out),
      /one\.tsv has 1 pair, too few/,
    );
    oneLine(
      glasslm('finetune', '--model', model, '--pairs', pairs, '--out', out, '--batch', '1'),
      /at least 2 pairs/,
    );
  });
});
