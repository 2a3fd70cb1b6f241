// `glasslm pull` and `glasslm ls` end to end against the fake hub on 127.0.0.1 (commands registered on a
// fresh commander program; the full CLI is not spawned).
import { test, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { register as registerLs } from '../../src/cli/ls.js';
import { register as registerPull } from '../../src/cli/pull.js';
import { GlassError } from '../../src/util/errors.js';
import { FakeHub, tinyRepo } from '../formats/fake-hub.js';

const TINY = tinyRepo();
let hub: FakeHub;
let home: string;
const savedEnv = { ...process.env };

before(async () => {
  hub = new FakeHub([TINY]);
  await hub.start();
});
after(async () => {
  await hub.close();
});
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'glasslm-cli-hub-'));
  for (const k of ['HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_TOKEN', 'HF_HUB_OFFLINE'])
    delete process.env[k];
  process.env.HF_HOME = home;
  process.env.HF_ENDPOINT = hub.endpoint;
});
afterEach(async () => {
  process.env = { ...savedEnv };
  await rm(home, { recursive: true, force: true });
});

function program(): Command {
  const p = new Command().name('glasslm').exitOverride();
  registerPull(p);
  registerLs(p);
  return p;
}

/** Runs a command, capturing what it writes to stdout and stderr (and still passing it on). */
async function run(args: string[]): Promise<{ out: string; err: string }> {
  let out = '';
  let err = '';
  const origOut = process.stdout.write;
  const origErr = process.stderr.write;
  const capture = (orig: typeof process.stdout.write, sink: (s: string) => void) =>
    function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      if (typeof chunk === 'string') sink(chunk);
      return (orig as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof process.stdout.write;
  process.stdout.write = capture(origOut, (s) => (out += s));
  process.stderr.write = capture(origErr, (s) => (err += s));
  try {
    await program().parseAsync(args, { from: 'user' });
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  }
  return { out, err };
}

test('glasslm pull downloads and prints the snapshot folder', async () => {
  const snapshot = join(home, 'hub', 'models--test-org--tiny', 'snapshots', TINY.commit);
  const first = await run(['pull', 'test-org/tiny']);
  assert.equal(first.out, `${snapshot}\n`);
  // Not a terminal here: one line per finished file instead of bars.
  for (const f of ['config.json', 'tokenizer.json', 'model.safetensors'])
    assert.match(first.err, new RegExp(`downloaded ${f.replace('.', '\\.')} \\(`));
  assert.deepEqual((await readdir(snapshot)).sort(), [
    'config.json',
    'merges.txt',
    'model.safetensors',
    'tokenizer.json',
    'vocab.json',
  ]);

  hub.requests.length = 0;
  const again = await run(['pull', 'test-org/tiny', '--revision', 'main']);
  assert.equal(again.out, `${snapshot}\n`);
  assert.match(again.err, /already in the cache/);
  assert.deepEqual(hub.requests, []);
});

test('glasslm pull --revision <commit>', async () => {
  const { out } = await run(['pull', 'test-org/tiny', '-r', TINY.commit]);
  assert.equal(out.trim(), join(home, 'hub', 'models--test-org--tiny', 'snapshots', TINY.commit));
});

test('glasslm pull reports hub errors as GlassErrors', async () => {
  await assert.rejects(
    run(['pull', 'test-org/missing']),
    (e: unknown) => e instanceof GlassError && e.code === 'NOT_FOUND',
  );
});

test('glasslm ls lists cached models', async () => {
  const empty = await run(['ls']);
  assert.match(empty.out, /no models in /);
  await run(['pull', 'test-org/tiny']);
  const { out } = await run(['ls']);
  const lines = out.trim().split('\n');
  assert.match(lines[0], /^MODEL\s+REVISION\s+SIZE\s+FILES$/);
  assert.match(lines[1], new RegExp(`^test-org/tiny\\s+main → ${TINY.commit}\\s+\\d+(\\.\\d)? kB\\s+5$`));
  assert.equal(lines[2], `cache: ${join(home, 'hub')}`);
  const json = JSON.parse((await run(['ls', '--json'])).out);
  assert.equal(json.models[0].id, 'test-org/tiny');
  assert.deepEqual(json.models[0].revisions[0].refs, ['main']);
});

test('help texts describe the commands', () => {
  const p = program();
  const pull = p.commands.find((c) => c.name() === 'pull')!;
  const help = pull.helpInformation();
  assert.match(help, /hub-id/);
  assert.match(help, /--revision/);
  assert.match(pull.description(), /Hugging Face hub/);
  assert.match(p.commands.find((c) => c.name() === 'ls')!.description(), /cache/);
});
