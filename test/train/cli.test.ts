// glasslm train / finetune / eval as a user runs them: the output folder is an HF model folder that
// `generate` loads; Ctrl-C stops with a checkpoint that --resume continues; mistakes get one clear line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSafetensorsFolder } from '../../src/formats/safetensors-node.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STORIES = fileURLToPath(
  new URL('../../../shared/models/stories260K-llama2c/stories260K.bin', import.meta.url),
);
const MAIN = join(ROOT, 'src/cli/main.ts');

function glasslm(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const CORPUS = Array.from(
  { length: 40 },
  (_, i) => `Verse ${i}: the quick brown fox jumps over the lazy dog, and the dog sleeps in the sun.\n`,
).join('');

const TINY = [
  '--layers',
  '1',
  '--heads',
  '2',
  '--dim',
  '16',
  '--context',
  '32',
  '--vocab',
  '300',
  '--batch',
  '2',
];

test('train → an HF GPT-2 folder that generate and eval load; fresh runs refuse to overwrite a checkpoint', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-cli-train-'));
  try {
    const data = join(dir, 'corpus.txt');
    const out = join(dir, 'model');
    await writeFile(data, CORPUS);
    const r = glasslm(
      'train',
      '--data',
      data,
      '--out',
      out,
      ...TINY,
      '--steps',
      '12',
      '--eval-every',
      '4',
      '--lr',
      '3e-3',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /tokenizer: 300 tokens \(256 bytes \+ 43 merges \+ <\|endoftext\|>\)/);
    assert.match(r.stderr, /done at step 12 · train loss [\d.]+ · val loss [\d.]+/);
    for (const f of [
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'optimizer.safetensors',
      'metrics.jsonl',
      'loss.svg',
      'trainer_state.json',
      'tokens.bin',
    ]) {
      assert.ok(existsSync(join(out, f)), f);
    }
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    assert.equal(config.model_type, 'gpt2');
    assert.equal(config.n_embd, 16);
    assert.equal(config.vocab_size, 300);
    const st = await openSafetensorsFolder(out);
    assert.deepEqual(st.info('h.0.attn.c_attn.weight').shape, [16, 48], 'Conv1D layout [in, out]');
    assert.ok(!st.has('lm_head.weight'), 'tied head');
    await st.close();
    const metrics = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(metrics.length, 12);
    assert.deepEqual(
      metrics.filter((m) => m.val_loss !== undefined).map((m) => m.step),
      [4, 8, 12],
    );
    const svg = await readFile(join(out, 'loss.svg'), 'utf8');
    assert.match(svg, /^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, />step</);
    assert.match(svg, />validation</);

    const g = glasslm('generate', '--model', out, '--seed', '1', '--max-tokens', '8', 'the quick');
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /^the quick/);
    const e = glasslm('eval', '--model', out, '--data', data);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /^loss [\d.]+ nats\/token · perplexity [\d.]+ · \d+ tokens/);

    const again = glasslm('train', '--data', data, '--out', out, ...TINY);
    assert.notEqual(again.code, 0);
    assert.match(
      again.stderr.trim(),
      /^glasslm: .* already holds a training checkpoint \(step 12\); pass --resume/,
    );
    assert.equal(again.stderr.trim().split('\n').length, 1);
    const none = glasslm('train', '--data', data, '--out', join(dir, 'nothing'), '--resume');
    assert.match(none.stderr.trim(), /^glasslm: .*no checkpoint to resume/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C stops training cleanly with a checkpoint; --resume continues to the end', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-cli-sigint-'));
  try {
    const data = join(dir, 'corpus.txt');
    const out = join(dir, 'model');
    await writeFile(data, CORPUS);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        MAIN,
        'train',
        '--data',
        data,
        '--out',
        out,
        ...TINY,
        '--steps',
        '100000',
        '--eval-every',
        '1',
      ],
      {
        cwd: ROOT,
      },
    );
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/step 3\//.test(stderr)) resolve();
      });
    });
    // Twice at once, as a terminal plus an npx wrapper deliver one Ctrl-C: still one clean stop.
    child.kill('SIGINT');
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 0, stderr);
    const m = /stopped at step (\d+)/.exec(stderr);
    assert.ok(m, stderr);
    const state = JSON.parse(await readFile(join(out, 'trainer_state.json'), 'utf8'));
    assert.equal(state.step, Number(m[1]));
    const r = glasslm('train', '--out', out, '--resume', '--steps', String(state.step + 2));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`resuming at step ${state.step}`));
    assert.match(r.stderr, new RegExp(`done at step ${state.step + 2}`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('finetune stories260K (llama2.c) → an HF Llama folder with tokenizer.model that generate loads', async (t) => {
  if (!existsSync(STORIES)) return t.skip(`${STORIES} is absent`);
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-cli-finetune-'));
  try {
    const data = join(dir, 'stories.txt');
    const out = join(dir, 'tuned');
    await writeFile(
      data,
      'Once upon a time, there was a cat named Mittens. Mittens had a blue kite.\n<|endoftext|>\n'.repeat(6),
    );
    const r = glasslm(
      'finetune',
      '--model',
      STORIES,
      '--data',
      data,
      '--out',
      out,
      '--steps',
      '3',
      '--batch',
      '2',
      '--context',
      '32',
      '--lr',
      '1e-4',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /done at step 3/);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.model', 'tokenizer_config.json'])
      assert.ok(existsSync(join(out, f)), f);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    assert.equal(config.model_type, 'llama');
    assert.equal(config.tie_word_embeddings, true);
    const g = glasslm('generate', '--model', out, '--greedy', '--max-tokens', '6', 'Once upon a time');
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /^Once upon a time, there was/);
    const e = glasslm('eval', '--model', out, '--data', data);
    assert.equal(e.code, 0, e.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
