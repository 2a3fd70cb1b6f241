// `glasslm chat` as a person uses it, on the bundled model (context 256): a message too long for the
// context is refused with the session kept, /help answers, and one Ctrl-C at the prompt does not quit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A chat process with helpers to type a line and to wait for text on stdout or stderr. */
function startChat(...args: string[]) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'chat', '--threads', '1', ...args],
    { cwd: ROOT, env: { ...process.env, HF_HUB_OFFLINE: '1' }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  child.stdout.setEncoding('utf8').on('data', (d: string) => ((out += d), wake()));
  child.stderr.setEncoding('utf8').on('data', (d: string) => ((err += d), wake()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    type: (line: string) => child.stdin.write(`${line}\n`),
    interrupt: () => child.kill('SIGINT'),
    get out() {
      return out;
    },
    get err() {
      return err;
    },
    /** Resolves once `pattern` appears in stdout+stderr after `from` characters of stdout. */
    async waitFor(pattern: RegExp, from = 0, ms = 60_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!pattern.test(out.slice(from)) && !pattern.test(err)) {
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${pattern}\nstdout:${out}\nstderr:${err}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}

test('chat keeps the session through /help, a too-long message and one Ctrl-C; a second Ctrl-C quits', async () => {
  const chat = startChat('--max-tokens', '4', '--seed', '1');
  try {
    await chat.waitFor(/> /);
    chat.type('/help');
    await chat.waitFor(/\/reset\s+forget the conversation/);
    assert.doesNotMatch(chat.err, /error/i);

    chat.type(Array.from({ length: 400 }, () => 'light').join(' '));
    await chat.waitFor(/that message is \d+ tokens and only \d+ fit/);
    assert.match(chat.err, /the model's context is 256\)\. It was not sent/);

    const before = chat.out.length;
    chat.type('And God said');
    await chat.waitFor(/\n> $/, before);
    assert.ok(chat.out.length > before + 4, 'a reply was written after the refused message');

    chat.interrupt();
    await chat.waitFor(/press Ctrl-C again, or Ctrl-D, to quit/);
    const afterFirst = chat.out.length;
    chat.type('/nonsense');
    await chat.waitFor(/unknown command \/nonsense/, afterFirst);

    chat.interrupt();
    await chat.waitFor(/press Ctrl-C again/, chat.out.length);
    chat.interrupt();
    assert.equal(await chat.exited, 130, 'two Ctrl-Cs in a row end the session (130, as Ctrl-C elsewhere)');
  } finally {
    chat.kill();
  }
});

test('chat --drop-oldest forgets the oldest turns when the context fills, and says so', async () => {
  const chat = startChat('--max-tokens', '200', '--seed', '1', '--drop-oldest', '--temperature', '0');
  try {
    await chat.waitFor(/> /);
    const line = Array.from({ length: 25 }, () => 'light').join(' ');
    for (let i = 0; i < 3; i++) {
      const at = chat.out.length;
      chat.type(line);
      await chat.waitFor(/\n> $/, at);
    }
    assert.match(chat.err, /oldest messages? no longer fit in the context and w(as|ere) forgotten/);
    chat.type('/exit');
    assert.equal(await chat.exited, 0);
  } finally {
    chat.kill();
  }
});
