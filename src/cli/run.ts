// Runs a commander program and turns a user's mistake into one line on stderr and a non-zero exit: a
// GlassError as it is, and a file-system error (ENOENT, EISDIR, EEXIST, ENOTDIR, EACCES...) from any command
// as a sentence naming the path and what to do. Anything else is a bug and keeps its stack trace.
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { isGlassError } from '../util/errors.js';
import { maskSecrets } from '../util/mask.js';

const FS_CODES = new Set([
  'ENOENT',
  'EISDIR',
  'EEXIST',
  'ENOTDIR',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOSPC',
  'EDQUOT',
  'ENAMETOOLONG',
  'ENOTEMPTY',
  'ELOOP',
  'EMFILE',
  'EBUSY',
]);

/** A Node file-system error (with a code and a path) in `e` or its chain of causes. */
export function fsErrorOf(e: unknown): NodeJS.ErrnoException | undefined {
  for (let c = e, depth = 0; c && depth < 8; c = (c as { cause?: unknown }).cause, depth++) {
    const x = c as NodeJS.ErrnoException;
    if (typeof x === 'object' && typeof x.code === 'string' && FS_CODES.has(x.code) && x.path) return x;
  }
  return undefined;
}

function kind(path: string): 'file' | 'folder' | undefined {
  try {
    return statSync(path).isDirectory() ? 'folder' : 'file';
  } catch {
    return undefined;
  }
}

/** The highest folder on the way to `path` that does not exist (as the user wrote it), if any. */
function missingFolder(path: string): string | undefined {
  let missing: string | undefined;
  for (let p = dirname(path); kind(p) === undefined; p = dirname(p)) {
    missing = p;
    if (dirname(p) === p) break;
  }
  return missing;
}

/** The part of the way to `path` that is a file where a folder is needed (ENOTDIR). */
function fileInTheWay(path: string): string | undefined {
  for (let p = dirname(path); dirname(p) !== p; p = dirname(p)) {
    if (kind(p) === 'file') return p;
  }
  return undefined;
}

const VERBS: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  mkdir: 'create folder',
  rmdir: 'remove folder',
  unlink: 'remove',
  rename: 'rename',
  scandir: 'list folder',
  opendir: 'list folder',
  stat: 'find',
  lstat: 'find',
  access: 'find',
  copyfile: 'copy',
  symlink: 'link',
};

/** A file-system error as one sentence: what could not be done to which path, why, and what to do. */
export function describeFsError(e: NodeJS.ErrnoException): string {
  const path = e.path ?? '';
  const verb = VERBS[e.syscall ?? ''] ?? 'use';
  const head = `cannot ${verb} ${path}`;
  switch (e.code) {
    case 'ENOENT': {
      const m = missingFolder(path);
      if (m) return `${head}: folder ${m} does not exist — create it or choose another path`;
      return `${head}: no such file or folder — check the path`;
    }
    case 'EISDIR':
      return `${head}: it is a folder, not a file — give a file path (e.g. ${path.replace(/[\\/]+$/, '')}/name)`;
    case 'EEXIST':
      return `${head}: a ${kind(path) ?? 'file'} of that name already exists — remove it or choose another path`;
    case 'ENOTDIR': {
      const f = fileInTheWay(path);
      return f
        ? `${head}: ${f} is a file, not a folder — choose another path`
        : `${head}: a part of the path is a file, not a folder — choose another path`;
    }
    case 'EACCES':
    case 'EPERM':
      return `${head}: permission denied — check its permissions or choose another path`;
    case 'EROFS':
      return `${head}: the file system is read-only — choose another path`;
    case 'ENOSPC':
    case 'EDQUOT':
      return `${head}: no space left on the disk — free some space or choose another disk`;
    case 'ENAMETOOLONG':
      return `${head}: the name is too long — choose a shorter path`;
    case 'ENOTEMPTY':
      return `${head}: the folder is not empty — empty it or choose another path`;
    case 'ELOOP':
      return `${head}: too many symbolic links (a loop?) — check the path`;
    default:
      return `${head}: ${e.code} — ${e.message}`;
  }
}

/** Prints a known error as one line (credentials masked, whatever message carries them) and exits 2. */
export function reportError(e: unknown): never {
  if (isGlassError(e)) {
    process.stderr.write(`glasslm: ${maskSecrets(e.message)}\n`);
    process.exit(2);
  }
  const fs = fsErrorOf(e);
  if (fs) {
    process.stderr.write(`glasslm: ${maskSecrets(describeFsError(fs))}\n`);
    process.exit(2);
  }
  throw e;
}

export async function runCli(program: Command, argv: string[] = process.argv): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (e) {
    reportError(e);
  }
}
