// Node adapter for GGUF: open a file by path, and write one tensor at a time (no whole-file buffer).
import { open } from 'node:fs/promises';
import { fileSource } from '../util/bytes-node.js';
import { GlassError } from '../util/errors.js';
import { openGguf, type GgufFile } from './gguf.js';
import { ggufChunks, type GgufWriteOptions } from './gguf-write.js';

export async function openGgufFile(path: string): Promise<GgufFile> {
  const src = await fileSource(path);
  try {
    return await openGguf(src);
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

/**
 * Writes a GGUF version 3 file (the same bytes as writeGguf) to `path`, encoding and writing one tensor at
 * a time so only one tensor's encoded bytes are in memory. Returns the number of bytes written.
 */
export async function writeGgufFile(path: string, opts: GgufWriteOptions): Promise<number> {
  const chunks = ggufChunks(opts);
  const first = chunks.next(); // validates the options before the file is created
  let fh;
  try {
    fh = await open(path, 'w');
  } catch (e) {
    throw new GlassError('NOT_FOUND', `${path}: cannot create (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  let written = 0;
  try {
    for (let r = first; !r.done; r = chunks.next()) {
      for (let done = 0; done < r.value.length;) {
        const { bytesWritten } = await fh.write(r.value, done, r.value.length - done, written);
        done += bytesWritten;
        written += bytesWritten;
      }
    }
  } finally {
    await fh.close();
  }
  return written;
}
