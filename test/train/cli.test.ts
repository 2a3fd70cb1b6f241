// glasslm train / finetune / eval as a user runs them: the output folder is an HF model folder that
// `generate` loads; Ctrl-C stops with a checkpoint that --resume continues; mistakes get one clear line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
      'checkpoint-12/optimizer.safetensors',
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
    // A resume that has nothing to do says so instead of exiting 0 in silence.
    const past = glasslm('train', '--out', out, '--resume', '--steps', '10');
    assert.equal(past.code, 2);
    assert.equal(
      past.stderr.trim(),
      `glasslm: ${out}: the run is already at step 12, past --steps 10; nothing to do — pass --steps above 12 to train further`,
    );
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
    assert.equal(code, 130, stderr); // the conventional exit code of Ctrl-C, after the checkpoint is saved
    const m = /stopped at step (\d+)/.exec(stderr);
    assert.ok(m, stderr);
    assert.match(
      stderr,
      new RegExp(`interrupted \\(SIGINT\\) at step ${m[1]}, checkpoint saved; exit code 130`),
    );
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

test('train/finetune never lose work: --out may not be the model read, bad data leaves nothing behind', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-cli-safe-'));
  try {
    const model = join(dir, 'model');
    await mkdir(model);
    await writeFile(join(model, 'config.json'), '{"model_type":"gpt2"}');
    await writeFile(join(model, 'model.safetensors'), 'weights');
    const data = join(dir, 'corpus.txt');
    await writeFile(data, CORPUS);
    const same = glasslm('finetune', '--model', model, '--data', data, '--out', model, '--force');
    assert.equal(same.code, 2);
    assert.match(
      same.stderr.trim(),
      /^glasslm: --out .*model would write over .*model, which this command reads/,
    );
    assert.equal(await readFile(join(model, 'model.safetensors'), 'utf8'), 'weights');

    const empty = join(dir, 'empty.txt');
    await writeFile(empty, '');
    const e = glasslm('train', '--data', empty, '--out', join(dir, 'new'), ...TINY);
    assert.equal(e.stderr.trim(), `glasslm: ${empty} is empty: there is nothing to train on`);
    assert.ok(!existsSync(join(dir, 'new')), 'no output folder for a failed run');
    // Too little text is found after tokenizing; the (empty) folder given is left as it was.
    const short = join(dir, 'short.txt');
    await writeFile(short, 'a few words');
    await mkdir(join(dir, 'given'));
    const s = glasslm('train', '--data', short, '--out', join(dir, 'given'), ...TINY);
    assert.equal(s.code, 2);
    assert.match(
      s.stderr,
      /glasslm: .*short\.txt \(training part\) has \d+ tokens, too few for one window of 32/,
    );
    assert.deepEqual(await readdir(join(dir, 'given')), []);

    const help = glasslm('train', '--help');
    assert.match(
      help.stdout.replace(/\s+/g, ' '),
      /--force write into a non-empty --out that is not a glasslm output folder/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
