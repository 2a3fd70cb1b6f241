// Encoder-decoders from nothing: `glasslm train --arch seq2seq --pairs` writes an HF Marian folder that
// `generate` loads and translates with; marianTensors is buildMarian's inverse (save → loadModel → the same
// logits); bad pairs files are named file:line with nothing written; and the bundled models/dates-iso
// translates held-out dates of scripts/make-dates.mjs exactly (greedy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/models/load-node.js';
import { countWords, seq2seqTokenizerJson, trainBpe } from '../../src/train/bpe-trainer.js';
import { marianFolderFiles, writeModelFiles } from '../../src/train/checkpoint-node.js';
import { marianTensors } from '../../src/train/export.js';
import { createMarian, marianConfigJson, type MarianShape } from '../../src/train/init.js';
import { parsePairs } from '../../src/train/pairs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');
const DATES_MODEL = join(ROOT, 'models/dates-iso');

function glasslm(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function inTempDir(prefix: string, f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const PAIRS = [
  ['one two', '1 2'],
  ['two three', '2 3'],
  ['three one', '3 1'],
  ['one one', '1 1'],
  ['two two two', '2 2 2'],
  ['three two one', '3 2 1'],
  ['one three', '1 3'],
  ['two one', '2 1'],
  ['three three', '3 3'],
  ['one two three', '1 2 3'],
];
const TSV = PAIRS.map((p) => p.join('\t')).join('\n') + '\n';

test('marianTensors: save → loadModel gives the same logits (fused q|k|v and k|v split, one table, final_logits_bias)', async () => {
  await inTempDir('glasslm-marian-save-', async (dir) => {
    const bpe = trainBpe(countWords(TSV), { vocabSize: 262 });
    const tok = seq2seqTokenizerJson(bpe);
    const shape: MarianShape = {
      dim: 16,
      encoderLayers: 2,
      decoderLayers: 1,
      nHeads: 4,
      ffnDim: 24,
      vocabSize: tok.vocabSize,
      contextLength: 16,
      padTokenId: tok.pad,
      eosTokenId: tok.eos,
    };
    const { model } = await createMarian(shape, 3, 0.3);
    // a bias that is not zero, so final_logits_bias is seen to round-trip
    model.decoder.lmHead.bias!.forEach((_, i, b) => (b[i] = Math.sin(i)));
    const tensors = marianTensors(model);
    const names = tensors.map((t) => t.name);
    assert.equal(new Set(names).size, names.length, 'each tensor once');
    assert.equal(names.filter((n) => n.endsWith('shared.weight')).length, 1);
    assert.deepEqual(tensors.find((t) => t.name === 'final_logits_bias')?.shape, [1, tok.vocabSize]);
    assert.ok(names.includes('model.decoder.layers.0.encoder_attn.v_proj.bias'));
    await writeModelFiles(
      dir,
      marianFolderFiles(
        marianConfigJson(shape),
        model,
        new Map([['tokenizer.json', JSON.stringify(tok.json)]]),
      ),
    );
    const loaded = await loadModel(dir);
    assert.ok(loaded.seq2seq);
    const src = [5, 9, 33, 7];
    const tgt = [tok.pad, 12, 40];
    const a = model.forward(model.encode(src), tgt, model.newCache());
    const b = loaded.seq2seq.forward(loaded.seq2seq.encode(src), tgt, loaded.seq2seq.newCache());
    assert.equal(a.length, b.length);
    let worst = 0;
    for (let i = 0; i < a.length; i++)
      if (Number.isFinite(a[i])) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    assert.ok(worst < 1e-5, `max |Δlogit| ${worst}`);
  });
});

test('train --arch seq2seq → an HF Marian folder (config, weights, tokenizer with <pad>, generation_config) that generate loads', async () => {
  await inTempDir('glasslm-s2s-train-', async (dir) => {
    const pairs = join(dir, 'pairs.tsv');
    const out = join(dir, 'model');
    await writeFile(pairs, TSV);
    const r = glasslm(
      'train',
      '--arch',
      'seq2seq',
      '--pairs',
      pairs,
      '--out',
      out,
      '--layers',
      '1',
      '--heads',
      '2',
      '--dim',
      '16',
      '--context',
      '16',
      '--vocab',
      '270',
      '--batch',
      '4',
      '--steps',
      '6',
      '--eval-every',
      '3',
      '--lr',
      '3e-3',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /data: 10 pairs · train 8 · val 2/);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    assert.equal(config.model_type, 'marian');
    assert.equal(config.encoder_layers, 1);
    const gen = JSON.parse(await readFile(join(out, 'generation_config.json'), 'utf8'));
    const tok = JSON.parse(await readFile(join(out, 'tokenizer.json'), 'utf8'));
    const added = new Map(tok.added_tokens.map((t: { content: string; id: number }) => [t.content, t.id]));
    assert.equal(gen.decoder_start_token_id, added.get('<pad>'));
    assert.equal(config.decoder_start_token_id, added.get('<pad>'));
    assert.equal(gen.eos_token_id, added.get('<|endoftext|>'));
    assert.deepEqual(gen.bad_words_ids, [[added.get('<pad>')]]);
    const metrics = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(metrics.length, 6);
    assert.ok(metrics.some((m) => m.val_loss !== undefined));
    assert.ok(existsSync(join(out, 'loss.svg')));
    const g = glasslm('generate', '--model', out, '--max-tokens', '4', 'one two');
    assert.equal(g.code, 0, g.stderr);
    assert.ok(!g.stdout.startsWith('one two'), 'a translation, not a continuation of the source');
    // the run continues from its checkpoint
    const more = glasslm('train', '--out', out, '--resume', '--steps', '8'); // the checkpoint says seq2seq
    assert.equal(more.code, 0, more.stderr);
    assert.match(more.stderr, /resuming at step 6/);
  });
});

test('train --arch seq2seq refuses bad pairs files (file:line) and the wrong data option, writing nothing', async () => {
  await inTempDir('glasslm-s2s-refuse-', async (dir) => {
    const out = join(dir, 'out');
    const oneLine = (r: { code: number | null; stderr: string }, re: RegExp) => {
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(out), 'nothing written');
    };
    const bad = join(dir, 'bad.tsv');
    await writeFile(bad, 'a\tb\n\nno tab here\n');
    oneLine(
      glasslm('train', '--arch', 'seq2seq', '--pairs', bad, '--out', out),
      /bad\.tsv:3: expected "source<TAB>target" \(one tab\), found 0 tabs/,
    );
    const good = join(dir, 'good.tsv');
    await writeFile(good, TSV);
    oneLine(
      glasslm('train', '--pairs', good, '--out', out),
      /--pairs trains an encoder-decoder: add --arch seq2seq/,
    );
    // pairs too long for the context are found once the tokenizer is learned, before anything is written
    const long = glasslm('train', '--arch', 'seq2seq', '--pairs', good, '--out', out, '--context', '2');
    assert.notEqual(long.code, 0);
    assert.match(long.stderr.trim().split('\n').at(-1)!, /good\.tsv: pair 1 .* does not fit --context 2/);
    assert.ok(!existsSync(out), 'nothing written');
  });
});

test('seq2seq pairs: "source<TAB>target" errors name the side; the tokenizer ends with <|endoftext|>, <pad>', () => {
  const names = ['source', 'target'] as const;
  assert.throws(() => parsePairs('a\tb\nc\t \n', 'p.tsv', names), /p\.tsv:2: the target is empty/);
  assert.throws(() => parsePairs('a\tb\tc\n', 'p.tsv', names), /p\.tsv:1: expected "source<TAB>target"/);
  const tok = seq2seqTokenizerJson(trainBpe(countWords(TSV), { vocabSize: 262 }));
  assert.deepEqual([tok.eos, tok.pad, tok.vocabSize], [261, 262, 263]);
  const added = tok.json.added_tokens as Array<{ id: number; content: string; special: boolean }>;
  assert.deepEqual(
    added.map((t) => [t.id, t.content, t.special]),
    [
      [261, '<|endoftext|>', true],
      [262, '<pad>', true],
    ],
  );
});

test('models/dates-iso translates held-out test dates of scripts/make-dates.mjs exactly (greedy)', async (t) => {
  if (!existsSync(join(DATES_MODEL, 'model.safetensors'))) return t.skip('models/dates-iso is not there');
  await inTempDir('glasslm-dates-', async (dir) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/make-dates.mjs'), dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = async (name: string) =>
      (await readFile(join(dir, name), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => l.split('\t'));
    const trainTargets = new Set((await lines('pairs.tsv')).map((p) => p[1]));
    const test = (await lines('test.tsv')).slice(0, 12);
    const m = await loadModel(DATES_MODEL);
    for (const [source, target] of test) {
      assert.ok(!trainTargets.has(target), `${target} is held out`);
      const gen = m.generate(source, { greedy: true, maxTokens: 16 });
      for await (const piece of gen) void piece;
      assert.equal((await gen.result).text, target, source);
    }
  });
});

test('glasslm explain --beams on models/dates-iso: the winner, its alignment, and the tree said', async (t) => {
  if (!existsSync(join(DATES_MODEL, 'model.safetensors'))) return t.skip('models/dates-iso is not there');
  const bin = join(ROOT, 'bin/glasslm.js');
  const r = spawnSync(
    process.execPath,
    [bin, 'explain', '--model', DATES_MODEL, '--beams', '3', 'the third of March 1998'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /2\. output \(\d+ tokens\): "1998-03-03<\|endoftext\|>" · the best hypothesis of beam search with 3 beams/,
  );
  // the month digits were written looking at " March"
  const row03 = r.stdout.split('\n').find((l) => /^\s+03\s+│/.test(l));
  assert.ok(row03, r.stdout);
  assert.match(row03, /→ (March|third)/);
});
