// An exclusive lock between processes (and between callers in one process): a lock file created atomically
// (written beside it, then hard-linked into place, which fails if it exists) that names its holder — pid,
// host, start time, what for. A lock whose holder is gone (same host, pid no longer running) is stale and
// taken over; a waiter says once that it waits, and whom for. Used by the search store (one writer per
// folder) and the hub cache (one download per file).
import { unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';

export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  since: string;
  /** What the holder does, for messages ("glasslm index"). */
  purpose: string;
}

export interface LockOptions {
  /** What the holder does, recorded in the lock and shown to waiters. */
  purpose?: string;
  /** Called once when the lock is busy and this caller starts waiting. */
  onWait?: (holder: LockHolder | undefined, lockPath: string) => void;
  /** How often to look again (default 100 ms). */
  pollMs?: number;
  /** Mode of the lock file (default 0o600). */
  mode?: number;
}

export interface Lock {
  readonly path: string;
  release(): Promise<void>;
}

/** A lock file whose contents cannot be read yet is not stale until it is this old. */
const UNREADABLE_GRACE_MS = 5_000;
const held = new Set<string>();
let exitHook = false;

/** Whether process `pid` is running on this machine (one owned by another user counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

async function readHolder(path: string): Promise<{ text: string; holder?: LockHolder } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    if (Number.isInteger(h.pid) && typeof h.host === 'string') return { text, holder: h };
  } catch {
    // fall through: unreadable
  }
  return { text };
}

async function isStale(path: string, seen: { holder?: LockHolder }): Promise<boolean> {
  const h = seen.holder;
  if (h) return h.host === hostname() && !processAlive(h.pid);
  const st = await stat(path).catch(() => undefined);
  return st !== undefined && Date.now() - st.mtimeMs > UNREADABLE_GRACE_MS;
}

/** Moves a stale lock aside (one process wins the rename) and deletes it if it is still the stale one. */
async function breakStale(path: string, staleText: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else broke it
    throw e;
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  // Between our look and the rename another process broke the lock and took a fresh one: put it back.
  if (moved !== staleText) await link(aside, path).catch(() => undefined);
  await rm(aside, { force: true });
}

function describe(h: LockHolder | undefined, path: string): string {
  if (!h) return `${path} is held`;
  return `${h.purpose || 'another glasslm'} (pid ${h.pid} on ${h.host}, since ${h.since}) holds ${path}`;
}

/** Takes the lock at `path` (its folder is created), waiting while a live holder has it. */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<Lock> {
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    purpose: options.purpose ?? 'glasslm',
  };
  const text = JSON.stringify(me) + '\n';
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, text, { mode: options.mode ?? 0o600 });
  let waited = false;
  try {
    for (;;) {
      try {
        await link(tmp, path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const seen = await readHolder(path);
      if (seen === undefined) continue; // released meanwhile: try again at once
      if (await isStale(path, seen)) {
        await breakStale(path, seen.text);
        continue;
      }
      if (!waited) {
        waited = true;
        options.onWait?.(seen.holder, path);
      }
      await new Promise((res) => setTimeout(res, options.pollMs ?? 100));
    }
  } finally {
    await rm(tmp, { force: true });
  }
  held.add(path);
  if (!exitHook) {
    exitHook = true;
    // A process that exits (process.exit, an uncaught error) leaves no lock behind; kill -9 leaves a
    // stale one, which the next taker detects.
    process.on('exit', () => {
      for (const p of held) {
        try {
          unlinkSync(p);
        } catch {
          // already gone
        }
      }
    });
  }
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      held.delete(path);
      const now = await readHolder(path);
      if (now?.text === text) await rm(path, { force: true });
    },
  };
}

/** A message for onWait: who holds the lock, and that this process waits for it. */
export function waitMessage(holder: LockHolder | undefined, path: string): string {
  return `waiting: ${describe(holder, path)}`;
}
