// Node adapter for safetensors: open a model folder (single file or sharded) and write files.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileSource } from '../util/bytes-node.js';
import { GlassError } from '../util/errors.js';
import {
  openSafetensors,
  openShardedSafetensors,
  writeSafetensors,
  type SafetensorsSource,
  type TensorToWrite,
} from './safetensors.js';

export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

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
    if (dir.endsWith('.index.json')) return openIndex(dir);
    return openSafetensors(await fileSource(dir));
  }
  const single = join(dir, SAFETENSORS_FILE);
  if ((await kind(single)) === 'file') return openSafetensors(await fileSource(single));
  const index = join(dir, SAFETENSORS_INDEX_FILE);
  if ((await kind(index)) === 'file') return openIndex(index);

  for (const other of [
    'pytorch_model.bin',
    'pytorch_model.bin.index.json',
    'model.bin',
    'tf_model.h5',
    'flax_model.msgpack',
  ]) {
    if ((await kind(join(dir, other))) === 'file') {
      throw new GlassError(
        'UNSUPPORTED',
        `${dir}: has weights only as ${other}; glasslm reads safetensors (expected ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE})`,
      );
    }
  }
  throw new GlassError(
    'NOT_FOUND',
    `${dir}: no safetensors weights (looked for ${SAFETENSORS_FILE} and ${SAFETENSORS_INDEX_FILE})`,
  );
}

async function openIndex(indexPath: string): Promise<SafetensorsSource> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new GlassError(
        'BAD_FILE',
        `${indexPath}: not valid JSON (${e.message}); expected an object with "weight_map"`,
      );
    }
    throw new GlassError(
      'NOT_FOUND',
      `${indexPath}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`,
    );
  }
  const dir = dirname(indexPath);
  return openShardedSafetensors(json, indexPath, async (file) => {
    const path = join(dir, file);
    if ((await kind(path)) !== 'file') {
      throw new GlassError('NOT_FOUND', `${indexPath}: names shard "${file}", but ${path} is missing`);
    }
    return fileSource(path);
  });
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
