// Node adapter for FileSet: a folder on disk, read on demand (positioned reads for the big files).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileSource } from './bytes-node.js';
import { GlassError } from './errors.js';
import type { FileSet } from './file-set.js';

function absent(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function cannotRead(path: string, e: unknown): GlassError {
  const code = (e as NodeJS.ErrnoException).code;
  return new GlassError('NOT_FOUND', `${path}: cannot read (${code ?? String(e)})`, { cause: e });
}

/** The files of folder `dir` (a missing folder is an empty set). */
export function dirFiles(dir: string): FileSet {
  const path = (file: string) => join(dir, file);
  const bytes = async (file: string): Promise<Uint8Array | undefined> => {
    try {
      return await readFile(path(file));
    } catch (e) {
      if (absent(e)) return undefined;
      throw cannotRead(path(file), e);
    }
  };
  const has = async (file: string) => {
    try {
      return (await stat(path(file))).isFile();
    } catch {
      return false;
    }
  };
  return {
    name: dir,
    path,
    async list() {
      try {
        return await readdir(dir);
      } catch {
        return [];
      }
    },
    has,
    bytes,
    async text(file) {
      try {
        return await readFile(path(file), 'utf8');
      } catch (e) {
        if (absent(e)) return undefined;
        throw cannotRead(path(file), e);
      }
    },
    async source(file) {
      return (await has(file)) ? fileSource(path(file)) : undefined;
    },
  };
}
