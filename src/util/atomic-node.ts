// Files written whole or not at all (Node): to a temporary name beside the target, flushed to the disk,
// then renamed over it — a crash or a second writer leaves the old file or the new one, never half of one.
// Training checkpoints and the hub cache both write this way.
import { open, rename, rm } from 'node:fs/promises';
import { GlassError } from './errors.js';

/** Writes a file and flushes it to the disk before returning. */
export async function writeDurable(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a folder's entries (the renames in it) to the disk, where the system allows it. */
export async function syncDir(path: string): Promise<void> {
  try {
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Not every system can open or sync a folder; the renames stay atomic all the same.
  }
}

export function cannotWrite(path: string, e: unknown): GlassError {
  const code = (e as NodeJS.ErrnoException).code;
  return new GlassError('BAD_INPUT', `${path}: cannot write (${code ?? String(e)})`, { cause: e });
}

/** Writes `path` whole or not at all: to `<path>.tmp-<pid>-<random>`, flushed, then renamed over it. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeDurable(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw cannotWrite(path, e);
  }
}
