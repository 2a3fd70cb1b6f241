// The glasslm command end to end, as a user runs it: output on success, one clear line and a non-zero
// exit on bad input (never a stack trace).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureGpt2Fixtures, SHARED_GPT2 } from '../fixtures/make-gpt2.js';
import { ensureMarianFixtures } from '../fixtures/make-marian.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SKIP = `${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`;

function glasslm(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertOneLineError(r: ReturnType<typeof glasslm>, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'non-zero exit');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^glasslm: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

/** A copy of the F32 fixture folder whose model.safetensors the caller may spoil. */
async function spoilableCopy(): Promise<string | null> {
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return null;
  const src = dirs['gpt2-tiny'];
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-cli-'));
  for (const f of ['config.json', 'vocab.json', 'merges.txt']) await symlink(join(src, f), join(dir, f));
  await copyFile(join(src, 'model.safetensors'), join(dir, 'model.safetensors'));
  return dir;
}

test("tokenize with no --model: the bundled model's tokens, the very ids explain traces", () => {
  const tok = glasslm('tokenize', '--json', 'In the beginning God created');
  assert.equal(tok.code, 0, tok.stderr);
  const spans = (JSON.parse(tok.stdout) as { tokens: { id: number; start: number; end: number }[] }).tokens;
  const ex = glasslm('explain', '--json', '-', 'In the beginning God created');
  assert.equal(ex.code, 0, ex.stderr);
  const traced = (JSON.parse(ex.stdout) as { tokens: { id: number }[] }).tokens.map((t) => t.id);
  assert.deepEqual(
    spans.map((s) => s.id),
    traced,
  );
  assert.deepEqual([spans[0].start, spans.at(-1)?.end], [0, 28], 'byte spans cover the text');
  const table = glasslm('tokenize', 'In the beginning God created');
  assert.match(table.stdout, new RegExp(`${spans.length} tokens, 28 bytes`));
});

const STORIES = fileURLToPath(new URL('../../../shared/models/', import.meta.url));

test('tokenize takes the GGUF and llama2.c files generate takes, BOS first as the model sees it', async (t) => {
  const gguf = join(STORIES, 'stories260K-gguf/tinyllamas-stories-260k-q8_0.gguf');
  const bin = join(STORIES, 'stories260K-llama2c/stories260K.bin');
  if (!existsSync(gguf) || !existsSync(bin))
    return t.skip(`${STORIES} has no stories260K: cannot check GGUF/.bin`);
  const ids = (model: string) => {
    const r = glasslm('tokenize', '--json', '--model', model, 'Once upon a time');
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { tokens: { id: number }[] }).tokens.map((x) => x.id);
  };
  const fromBin = ids(bin);
  assert.equal(fromBin[0], 1, 'BOS (id 1) first, as explain traces it');
  assert.ok(fromBin.length > 2);
  assert.deepEqual(ids(gguf), fromBin, 'the GGUF and the .bin hold the same tokenizer');
});

test('generate streams a seeded continuation; the same seed gives the same text', async (t) => {
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip(SKIP);
  const args = [
    'generate',
    '--model',
    dirs['gpt2-tiny-sharded'],
    '--seed',
    '7',
    '-n',
    '12',
    '--no-stats',
    'Once upon a time',
  ];
  const a = glasslm(...args);
  const b = glasslm(...args);
  assert.equal(a.code, 0, a.stderr);
  assert.ok(a.stdout.startsWith('Once upon a time'));
  assert.ok(a.stdout.length > 'Once upon a time\n'.length);
  assert.equal(a.stdout, b.stdout);
});

test('a truncated safetensors file: one clear line naming the file', async (t) => {
  const dir = await spoilableCopy();
  if (!dir) return t.skip(SKIP);
  await truncate(join(dir, 'model.safetensors'), 1_000_000);
  const r = glasslm('generate', '--model', dir, 'hi');
  assertOneLineError(r, /model\.safetensors/);
  assert.match(r.stderr, /tensor "|outside|end of|truncat/i);
});

test('overlapping tensor spans: one clear line naming both tensors', async (t) => {
  const dir = await spoilableCopy();
  if (!dir) return t.skip(SKIP);
  const path = join(dir, 'model.safetensors');
  const bytes = await readFile(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { data_offsets: number[] }
  >;
  // Point ln_f.bias at ln_f.weight's bytes (same size), so the two spans overlap.
  header['ln_f.bias'].data_offsets = [...header['ln_f.weight'].data_offsets];
  const json = Buffer.from(JSON.stringify(header).padEnd(n, ' '));
  assert.equal(json.length, n);
  json.copy(bytes, 8);
  await writeFile(path, bytes);
  const r = glasslm('generate', '--model', dir, 'hi');
  assertOneLineError(r, /overlap/i);
  assert.match(r.stderr, /ln_f\.weight/);
  assert.match(r.stderr, /ln_f\.bias/);
});

test('merges.txt naming a token that is not in the vocabulary: one clear line naming the file and line', async (t) => {
  const dir = await spoilableCopy();
  if (!dir) return t.skip(SKIP);
  const merges = (await readFile(join(SHARED_GPT2, 'vocab.bpe'), 'utf8')).split('\n');
  merges[5] = 'Ġ zzqqxx';
  const { rm } = await import('node:fs/promises');
  await rm(join(dir, 'merges.txt'));
  await writeFile(join(dir, 'merges.txt'), merges.join('\n'));
  const r = glasslm('generate', '--model', dir, 'hi');
  assertOneLineError(r, /merges\.txt/);
  assert.match(r.stderr, /line 6/);
});

test('a tokenizer.json missing a merge: one clear line naming the file and the orphaned token', async (t) => {
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip(SKIP);
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-cli-'));
  const src = dirs['gpt2-tiny-bf16'];
  for (const f of ['config.json', 'model.safetensors']) await symlink(join(src, f), join(dir, f));
  const json = JSON.parse(await readFile(join(src, 'tokenizer.json'), 'utf8')) as {
    model: { merges: string[] };
  };
  const dropped = json.model.merges.splice(100, 1)[0];
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(json));
  const r = glasslm('generate', '--model', dir, 'hi');
  assertOneLineError(r, /tokenizer\.json: model\.merges: vocabulary token .* is made by no merge/);
  assert.ok(
    r.stderr.includes(JSON.stringify(dropped.replace(' ', ''))),
    `names the token made by "${dropped}"`,
  );
});

test('a prompt longer than the context: one clear line and a non-zero exit', async (t) => {
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip(SKIP);
  const r = glasslm('generate', '--model', dirs['gpt2-tiny'], ' river'.repeat(80));
  assertOneLineError(r, /prompt is 80 tokens, but the model's context length is 64/);
});

test('bad option values are refused before any work', () => {
  assertOneLineError(glasslm('generate', '--top-p', '2', 'x'), /top-p/);
  assertOneLineError(glasslm('generate', '--max-tokens', '-1', 'x'), /max-tokens/);
});

test('every command has --help', () => {
  for (const c of ['tokenize', 'generate', 'pull', 'ls']) {
    const r = glasslm(c, '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`Usage: glasslm ${c}`));
  }
});

test('explain draws tokens, an attention heatmap, the logit lens and the distribution; --json writes the trace', async (t) => {
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip(SKIP);
  const out = join(await mkdtemp(join(tmpdir(), 'glasslm-explain-')), 'trace.json');
  const r = glasslm(
    'explain',
    '--model',
    dirs['gpt2-tiny'],
    '--layer',
    '1',
    '--head',
    '2',
    '--json',
    out,
    'The bank of the river',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1\. tokens \(5\)/);
  assert.match(r.stdout, /" river"=7850/);
  assert.match(r.stdout, /attention · layer 1 · head 2/);
  assert.equal(r.stdout.split('\n').filter((l) => l.includes('│')).length, 5, 'one heatmap row per token');
  assert.match(r.stdout, /layer {2}0 /);
  assert.match(r.stdout, /4\. next token/);
  const trace = JSON.parse(await readFile(out, 'utf8')) as {
    version: number;
    tokens: unknown[];
    layers: unknown[];
  };
  assert.equal(trace.version, 2);
  assert.equal(trace.tokens.length, 5);
  assert.equal(trace.layers.length, 2);
  assertOneLineError(glasslm('explain', '--model', dirs['gpt2-tiny'], '--head', '9', 'x'), /--head must be/);
});

test('explain on a translation model: the source, the output and the cross-attention alignment', async (t) => {
  const dirs = await ensureMarianFixtures();
  if (!dirs) return t.skip('../shared/tokenizers/opus-mt-en-mg is absent');
  const model = dirs['marian-tiny'];
  const r = glasslm('explain', '--model', model, '--steps', '4', 'The house is small.');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /encoder 2 layers × 4 heads · decoder 2 layers × 4 heads .* sinusoidal positions/);
  assert.match(r.stdout, /1\. source tokens \(6, what the encoder reads\)/);
  assert.match(r.stdout, /5:"<\/s>"=0/);
  assert.match(r.stdout, /2\. output \(4 tokens\)/);
  assert.match(r.stdout, /alignment · cross-attention · mean of 2 layers · mean of 4 heads/);
  // one row per output token, one shaded cell per source token
  const rows = r.stdout.split('\n').filter((l) => l.includes('│'));
  assert.equal(rows.length, 4);
  for (const row of rows) assert.equal(row.split('│')[1].length, 6, row);
  const one = glasslm('explain', '--model', model, '--steps', '2', '--layer', '1', '--head', '3', 'Hello');
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /cross-attention · layer 1 · head 3/);
  assert.equal(one.stdout.split('\n').filter((l) => l.includes('│')).length, 2);
});
