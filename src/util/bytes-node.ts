// Node adapter for ByteSource: positioned reads from a file handle, no whole-file buffering.
import { open } from 'node:fs/promises';
import type { ByteSource } from './bytes.js';
import { GlassError } from './errors.js';

export async function fileSource(path: string): Promise<ByteSource> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new GlassError('NOT_FOUND', `${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  const handle = fh;
  const size = (await handle.stat()).size;
  return {
    name: path,
    size,
    async read(offset, length, into) {
      const dst = into ?? new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(dst, done, length - done, offset + done);
        if (bytesRead === 0)
          throw new GlassError('BAD_FILE', `${path}: unexpected end of file at byte ${offset + done}`);
        done += bytesRead;
      }
      return dst;
    },
    async close() {
      await handle.close();
    },
  };
}
