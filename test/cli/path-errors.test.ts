// Ordinary path mistakes, fed to each command that reads or writes a path the user gives: every one is one
// line naming the path and what to do, a non-zero exit, and no stack trace (src/cli/run.ts turns any Node
// file-system error into that line, for every command).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeFsError } from '../../src/cli/run.js';
import { ensureBertFixture, SHARED_MINILM } from '../fixtures/make-bert.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Resolved here: the commands run in a scratch folder, where `tsx` alone would not resolve.
const TSX = import.meta.resolve('tsx');

function glasslm(cwd: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], {
      cwd,
      env: { ...process.env, HF_HUB_OFFLINE: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => done({ code, stderr }));
  });
}

test('each command given a bad path: one line naming it and what to do, no stack, non-zero exit', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-paths-'));
  await writeFile(join(dir, 'file'), 'not a folder\n');
  await writeFile(
    join(dir, 'data.txt'),
    'In the beginning was the word, and the word was with God.\n'.repeat(4),
  );
  const embedder = await ensureBertFixture();
  const cases: Array<{ args: string[]; says: RegExp }> = [
    {
      args: ['explain', '--json', 'nodir/x.json', 'hi'],
      says: /nodir\/x\.json: folder nodir does not exist — create it/,
    },
    {
      args: ['explain', '--json', '.', 'hi'],
      says: /cannot open \.: it is a folder, not a file — give a file path/,
    },
    {
      args: ['train', '--data', 'data.txt', '--out', 'file', '--steps', '1'],
      says: /\bfile:? .*(already exists|not a folder|is a file).* — /,
    },
    {
      args: ['train', '--data', 'data.txt', '--out', 'file/sub', '--steps', '1'],
      says: /file\/sub: (.*\/)?file is a file, not a folder — choose another/,
    },
    {
      args: ['finetune', '--data', 'data.txt', '--out', 'file', '--steps', '1'],
      says: /\bfile:? .*(already exists|not a folder|is a file).* — /,
    },
  ];
  if (embedder) {
    cases.push(
      {
        args: ['embed', '--model', embedder, '--jsonl', 'nodir/e.jsonl', 'a text'],
        says: /nodir\/e\.jsonl: folder nodir does not exist/,
      },
      {
        args: ['index', '.', '--db', 'file/sub', '--model', embedder],
        says: /file\/sub: .*file is a file, not a folder/,
      },
    );
  }
  const results = await Promise.all(cases.map((c) => glasslm(dir, c.args)));
  cases.forEach((c, i) => {
    const r = results[i];
    const what = `glasslm ${c.args.join(' ')}`;
    assert.notEqual(r.code, 0, `${what}: non-zero exit`);
    assert.ok(!r.stderr.includes('    at '), `${what}: no stack trace:\n${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${what}: one line, got:\n${r.stderr}`);
    assert.match(lines[0], /^glasslm: /, what);
    assert.match(lines[0], c.says, what);
    assert.doesNotMatch(
      lines[0],
      /--model/,
      `${what}: no complaint about --model (finetune defaults to the bundled model)`,
    );
  });
  if (!embedder) t.diagnostic(`${SHARED_MINILM} is absent: embed --jsonl and index --db not fed a bad path`);
});

test('the sentence for each file-system error names the path, the reason and what to do', () => {
  const err = (code: string, syscall: string, path: string) =>
    Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
  assert.equal(
    describeFsError(err('EACCES', 'open', '/root/x')),
    'cannot open /root/x: permission denied — check its permissions or choose another path',
  );
  assert.equal(
    describeFsError(err('ENOSPC', 'write', 'big.bin')),
    'cannot write big.bin: no space left on the disk — free some space or choose another disk',
  );
  assert.match(
    describeFsError(err('ENOENT', 'open', 'missing.txt')),
    /^cannot open missing\.txt: no such file or folder — check the path$/,
  );
});
