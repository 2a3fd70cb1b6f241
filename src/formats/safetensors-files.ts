// The weights among a model's files (a folder on disk or files given to a browser page: see FileSet):
// model.safetensors, else model.safetensors.index.json and the shards it names.
import type { ByteSource } from '../util/bytes.js';
import { GlassError } from '../util/errors.js';
import { parseJsonFile, type FileSet } from '../util/file-set.js';
import { openSafetensors, openShardedSafetensors, type SafetensorsSource } from './safetensors.js';

export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** Weight formats glasslm does not read, named so that the error can say what was found instead. */
const OTHER_WEIGHTS = [
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
  'model.bin',
  'tf_model.h5',
  'flax_model.msgpack',
];

/** Opens a model's safetensors weights: a single file, else an index and its shards. */
export async function openSafetensorsFromFiles(files: FileSet): Promise<SafetensorsSource> {
  const single = await files.source(SAFETENSORS_FILE);
  if (single) return openClosingOnError(single);
  if (await files.has(SAFETENSORS_INDEX_FILE)) return openSafetensorsIndex(files, SAFETENSORS_INDEX_FILE);
  for (const other of OTHER_WEIGHTS) {
    if (await files.has(other)) {
      throw new GlassError(
        'UNSUPPORTED',
        `${files.name}: has weights only as ${other}; glasslm reads safetensors (expected ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE})`,
      );
    }
  }
  throw new GlassError(
    'NOT_FOUND',
    `${files.name}: no safetensors weights (looked for ${SAFETENSORS_FILE} and ${SAFETENSORS_INDEX_FILE})`,
  );
}

/** openSafetensors, closing the source when it is not a valid file. */
async function openClosingOnError(src: ByteSource): Promise<SafetensorsSource> {
  try {
    return await openSafetensors(src);
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

/** A sharded checkpoint: `index` (a file of the set) and the shards it names, beside it. */
export async function openSafetensorsIndex(files: FileSet, index: string): Promise<SafetensorsSource> {
  const indexPath = files.path(index);
  const text = await files.text(index);
  if (text === undefined) throw new GlassError('NOT_FOUND', `${indexPath}: cannot read (ENOENT)`);
  let json: unknown;
  try {
    json = parseJsonFile(text, indexPath);
  } catch (e) {
    throw new GlassError('BAD_FILE', `${(e as Error).message}; expected an object with "weight_map"`, {
      cause: e,
    });
  }
  return openShardedSafetensors(json, indexPath, async (file) => {
    const src = await files.source(file);
    if (!src) {
      throw new GlassError(
        'NOT_FOUND',
        `${indexPath}: names shard "${file}", but ${files.path(file)} is missing`,
      );
    }
    return src;
  });
}
