// The command line's options as commander parses them, in-process (no model is loaded: every action is
// replaced by one that records the options): one --threads parser for every command that takes it, the
// --model help of every model command telling the truth, and arguments checked before options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { CommanderError, type Command } from 'commander';
import { createProgram } from '../../src/cli/program.js';

interface Parsed {
  error?: CommanderError;
  opts?: Record<string, unknown>;
  stderr: string;
}

/** Parses `args` with the real program; actions do nothing but record their command's options. */
async function parse(...args: string[]): Promise<Parsed> {
  const program = await createProgram();
  let stderr = '';
  let opts: Record<string, unknown> | undefined;
  for (const c of [program, ...program.commands]) {
    c.exitOverride().configureOutput({ writeErr: (s) => (stderr += s), writeOut: () => {} });
  }
  for (const c of program.commands) c.action(() => void (opts = c.opts()));
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  try {
    await program.parseAsync(['node', 'glasslm', ...args]);
    return { opts, stderr };
  } catch (e) {
    if (e instanceof CommanderError) return { error: e, stderr };
    throw e;
  } finally {
    process.stderr.write = write;
  }
}

const command = (p: Command, name: string) => p.commands.find((c) => c.name() === name)!;
const option = (c: Command, flag: string) => c.options.find((o) => o.long === flag);

const THREADED = ['generate', 'chat', 'explain', 'serve', 'eval', 'train', 'finetune', 'index', 'search'];
const ARGS: Record<string, string[]> = {
  index: ['docs'],
  search: ['query'],
  generate: ['x'],
  explain: ['x'],
};

test('every command that runs a model takes --threads through one parser', async () => {
  const program = await createProgram();
  const have = program.commands.filter((c) => option(c, '--threads')).map((c) => c.name());
  assert.deepEqual(have.sort(), [...THREADED].sort());
  const parsers = new Set(have.map((n) => option(command(program, n), '--threads')!.description));
  assert.equal(parsers.size, 1, 'one --threads description (one parser) for all');
});

test('--threads: nonsense is refused by every command, too many is capped at the cores with a word', async () => {
  const cores = availableParallelism();
  for (const name of THREADED) {
    for (const bad of ['-1', '1.5', 'many', '']) {
      const r = await parse(name, '--threads', bad, ...(ARGS[name] ?? []));
      assert.equal(r.error?.code, 'commander.invalidArgument', `${name} --threads ${JSON.stringify(bad)}`);
      assert.match(r.stderr, /--threads must be a whole number from 0 to \d+/);
    }
  }
  const r = await parse('generate', '--threads', '100000', 'x');
  assert.equal(r.error, undefined, r.stderr);
  assert.equal(r.opts?.threads, cores);
  assert.match(
    r.stderr,
    new RegExp(`--threads 100000 is more than this machine's ${cores} cores; using ${cores}`),
  );
  const zero = await parse('train', '--threads', '0', '--out', 'x');
  assert.equal(zero.opts?.threads, 0, '0 = the reference kernels, accepted');
  assert.equal(zero.stderr, '');
});

test('every language-model command documents the same --model: files, folders, hub ids, the bundled default', async () => {
  const program = await createProgram();
  for (const name of ['generate', 'chat', 'explain', 'serve', 'eval', 'finetune', 'tokenize']) {
    const o = option(command(program, name), '--model');
    assert.ok(o, `${name} has --model`);
    assert.equal(o.mandatory, false, `${name} --model is optional`);
    assert.match(o.description, /GGUF/, name);
    assert.match(o.description, /\.bin/, name);
    assert.match(o.description, /default: the bundled model/, name);
  }
});

test('search --db does not promise to create a store it refuses to create', async () => {
  const program = await createProgram();
  const db = option(command(program, 'search'), '--db')!;
  assert.doesNotMatch(db.description, /created if missing/);
  assert.match(db.description, /glasslm index/);
});

test('a missing text is reported before a missing --model (embed, similarity)', async () => {
  const a = await parse('similarity', 'a');
  assert.equal(a.error?.code, 'commander.missingArgument');
  assert.match(a.stderr, /missing required argument 'b'/);
  const e = await parse('embed');
  assert.equal(e.error?.code, 'commander.missingArgument');
  assert.match(e.stderr, /missing required argument 'text'/);
});
