// Node adapter for safetensors: open a model folder (single file or sharded; the search among its files
// is safetensors-files.ts, shared with the browser) and write files.
import { stat, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { fileSource } from '../util/bytes-node.js';
import { GlassError } from '../util/errors.js';
import { dirFiles } from '../util/file-set-node.js';
import { openSafetensorsFromFiles, openSafetensorsIndex } from './safetensors-files.js';
import {
  openSafetensors,
  writeSafetensors,
  type SafetensorsSource,
  type TensorToWrite,
} from './safetensors.js';

export { SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE } from './safetensors-files.js';

async function kind(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : 'file';
  } catch {
    return undefined;
  }
}

/**
 * Opens the weights of a model folder: `model.safetensors`, else `model.safetensors.index.json` and the
 * shards it names. A path to a `.safetensors` file or to an `.index.json` file is accepted too.
 */
export async function openSafetensorsFolder(dir: string): Promise<SafetensorsSource> {
  const k = await kind(dir);
  if (k === undefined)
    throw new GlassError('NOT_FOUND', `${dir}: no such file or folder (expected a model folder)`);
  if (k === 'file') {
    if (dir.endsWith('.index.json')) return openSafetensorsIndex(dirFiles(dirname(dir)), basename(dir));
    return openSafetensors(await fileSource(dir));
  }
  return openSafetensorsFromFiles(dirFiles(dir));
}

/** Writes a safetensors file (see writeSafetensors). */
export async function writeSafetensorsFile(
  path: string,
  tensors: TensorToWrite[],
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = writeSafetensors(tensors, metadata);
  try {
    await writeFile(path, bytes);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GlassError(
      code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT',
      `${path}: cannot write (${code ?? e})`,
    );
  }
}
