// A set of named files — a model folder on disk (file-set-node.ts) or files a browser page was given
// (memoryFiles) — that the loaders read through, so Node and the browser share one loading path.
import { blobSource, bytesSource, type ByteSource } from './bytes.js';
import { GlassError } from './errors.js';

export interface FileSet {
  /** For messages: the folder's path, or a list of the files' names. */
  readonly name: string;
  /** How a file of the set is named in messages (for a folder: its path). */
  path(file: string): string;
  /** The file names in the set (for a folder: its entries). */
  list(): Promise<string[]>;
  has(file: string): Promise<boolean>;
  /** The file as UTF-8 text, or undefined when the set has no such file. */
  text(file: string): Promise<string | undefined>;
  /** The file's bytes, or undefined when the set has no such file. */
  bytes(file: string): Promise<Uint8Array | undefined>;
  /** Positioned reads of the file (no whole-file buffer where the set allows), or undefined when absent. */
  source(file: string): Promise<ByteSource | undefined>;
}

/** One file handed to loadModelFromFiles: its name (a path is fine: only the last part counts) and content. */
export interface NamedFile {
  name: string;
  bytes: Uint8Array | ArrayBuffer | Blob;
}

/** The last part of a path ("a/b/config.json" → "config.json"), for files from a folder picker. */
export function baseName(name: string): string {
  return name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
}

/** A browser File is a Blob with a name, so `input.files` can be passed as they are. */
function contentOf(f: NamedFile | File): Uint8Array | Blob {
  // (A File has a bytes() method in newer browsers: test for the Blob first.)
  const b = f instanceof Blob ? f : f.bytes;
  return b instanceof ArrayBuffer ? new Uint8Array(b) : b;
}

/** A FileSet over files in memory or Blobs (browser uploads, fetched files, tests). Names match by base name. */
export function memoryFiles(files: ReadonlyArray<NamedFile | File>): FileSet {
  const byName = new Map<string, Uint8Array | Blob>();
  for (const f of files) {
    const name = baseName(f.name);
    if (!name) throw new GlassError('BAD_INPUT', `a file without a name (${JSON.stringify(f.name)})`);
    if (byName.has(name))
      throw new GlassError('BAD_INPUT', `two files are named ${name}: pass each file once`);
    byName.set(name, contentOf(f));
  }
  const find = (file: string) => byName.get(file) ?? byName.get(baseName(file));
  const bytes = async (file: string): Promise<Uint8Array | undefined> => {
    const c = find(file);
    if (c === undefined) return undefined;
    return c instanceof Uint8Array ? c : new Uint8Array(await c.arrayBuffer());
  };
  return {
    name: [...byName.keys()].join(' + ') || '(no files)',
    path: (file) => file,
    list: async () => [...byName.keys()],
    has: async (file) => find(file) !== undefined,
    bytes,
    async text(file) {
      const b = await bytes(file);
      return b === undefined ? undefined : new TextDecoder().decode(b);
    },
    async source(file) {
      const c = find(file);
      if (c === undefined) return undefined;
      return c instanceof Uint8Array ? bytesSource(c, file) : blobSource(c, file);
    },
  };
}

/** The file's text, or a NOT_FOUND GlassError saying what needs it. */
export async function requireText(set: FileSet, file: string, why: string): Promise<string> {
  const t = await set.text(file);
  if (t === undefined) throw new GlassError('NOT_FOUND', `${set.path(file)}: not found (${why})`);
  return t;
}

/** Parses JSON, or a BAD_FILE GlassError naming the file. */
export function parseJsonFile(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new GlassError('BAD_FILE', `${path}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}
