// Byte sources: the core reads files through this small interface so that it runs in Node
// (file handles, see bytes-node.ts) and in browsers (Blob / ArrayBuffer) alike.

export interface ByteSource {
  /** Name shown in error messages (a path or URL). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads `length` bytes at `offset` into `into` (at `into.byteOffset`) when given, else into a new
   * Uint8Array. Reading straight into the destination lets loaders fill a Float32Array without a second copy.
   */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** A ByteSource over bytes already in memory (tests, browser uploads, fetched files). */
export function bytesSource(bytes: Uint8Array, name = '<memory>'): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    async read(offset, length, into) {
      const view = bytes.subarray(offset, offset + length);
      if (into) {
        into.set(view);
        return into;
      }
      return view;
    },
  };
}

/** A ByteSource over a browser Blob/File. */
export function blobSource(blob: Blob, name = '<blob>'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length, into) {
      const buf = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      if (into) {
        into.set(buf);
        return into;
      }
      return buf;
    },
  };
}
