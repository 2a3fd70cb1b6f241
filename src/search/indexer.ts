// `glasslm index`: a folder of .txt/.md documents → chunks → vectors in the store, incrementally.
// Each file is stored in its own transaction (its row, its content hash, all its chunks), so an interrupted
// run keeps every file it finished and nothing of the one it was on; the next run skips the finished files
// by hash and stores the rest — no duplicates (a file's chunks are replaced, (path, ord) is unique), nothing
// lost. A changed file is chunked again and only chunks whose text the store has never seen are embedded
// (the others reuse their stored vector); files gone from the folder are removed.
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { GlassError } from '../util/errors.js';
import {
  chunkingLabel,
  chunkText,
  DEFAULT_CHUNK_TOKENS,
  DEFAULT_OVERLAP,
  sha256,
  type Chunk,
} from './chunk.js';
import type { TextEmbedder } from './embedder.js';
import { vectorLiteral, type Hit, type SearchOptions, type VectorStore } from './store.js';

export const DOC_EXTENSIONS = new Set(['.txt', '.md', '.markdown']);

export type IndexEvent =
  | { phase: 'plan'; files: number; changed: number; deleted: number; chunks: number }
  | { phase: 'embed'; done: number; total: number; file: string }
  | { phase: 'hnsw' };

export interface IndexOptions {
  /** Token budget per chunk (default 200; never more than the model reads). */
  chunkTokens?: number;
  /** Paragraphs shared by consecutive chunks (default 1). */
  overlap?: number;
  /** Texts per embed() call (default 8). */
  batch?: number;
  /** Stops between batches and files; finished files stay stored. */
  signal?: AbortSignal;
  onProgress?: (e: IndexEvent) => void;
  onWarning?: (message: string) => void;
  /** Above this many chunks to write (and more than the store holds), the HNSW index is rebuilt once. */
  bulkThreshold?: number;
}

export interface IndexReport {
  /** Documents found under the folder. */
  files: number;
  unchanged: number;
  added: number;
  updated: number;
  deleted: number;
  /** Chunks written in this run; of them, `embedded` were new texts and `reused` had a stored vector. */
  chunks: number;
  embedded: number;
  reused: number;
  /** Files left out (not UTF-8). */
  skipped: string[];
  /** What the store holds afterwards. */
  store: { files: number; chunks: number };
  chunkTokens: number;
  overlap: number;
}

/** Thrown when the signal aborts a run: the files before it are stored, the rest wait for the next run. */
export class IndexInterrupted extends Error {
  constructor(
    readonly filesDone: number,
    readonly filesTotal: number,
  ) {
    super(`interrupted after ${filesDone} of ${filesTotal} changed files (finished files are stored)`);
    this.name = 'IndexInterrupted';
  }
}

/** The documents under root (or root itself when it is a file), absolute paths, sorted. */
export async function findDocuments(root: string): Promise<string[]> {
  const abs = resolve(root);
  let st;
  try {
    st = await stat(abs);
  } catch {
    throw new GlassError('NOT_FOUND', `${abs}: no such folder`);
  }
  if (st.isFile()) return [abs];
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of entries) {
      if (d.name.startsWith('.') || d.name === 'node_modules') continue;
      const p = join(dir, d.name);
      if (d.isDirectory()) {
        // A store kept inside the documents folder is not a document folder.
        if ((await readdir(p)).includes('PG_VERSION')) continue;
        await walk(p);
      } else if (d.isFile() && DOC_EXTENSIONS.has(extname(d.name).toLowerCase())) out.push(p);
    }
  };
  await walk(abs);
  return out;
}

interface PlannedFile {
  path: string;
  hash: string;
  bytes: number;
  chunks: Chunk[];
  isNew: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function indexFolder(
  store: VectorStore,
  root: string,
  embedder: TextEmbedder,
  options: IndexOptions = {},
): Promise<IndexReport> {
  const warn = options.onWarning ?? (() => undefined);
  let budget = options.chunkTokens ?? DEFAULT_CHUNK_TOKENS;
  if (!Number.isInteger(budget) || budget < 1) {
    throw new GlassError('BAD_INPUT', `--chunk-tokens must be a positive integer (got ${budget})`);
  }
  if (budget > embedder.maxTokens) {
    warn(`chunks of ${budget} tokens do not fit ${embedder.model}; using its limit, ${embedder.maxTokens}`);
    budget = embedder.maxTokens;
  }
  const overlap = options.overlap ?? DEFAULT_OVERLAP;
  const chunkOptions = { maxTokens: budget, overlap };
  const chunking = chunkingLabel(chunkOptions);
  const batch = Math.max(1, options.batch ?? 8);

  const absRoot = resolve(root);
  const docs = await findDocuments(absRoot);
  await store.bindModel(embedder);
  const stored = await store.files();

  // Plan: what is gone, what changed (hash or chunking), what to chunk.
  const present = new Set(docs);
  const inScope = (p: string) =>
    p === absRoot || p.startsWith(absRoot.endsWith(sep) ? absRoot : absRoot + sep);
  const planned: PlannedFile[] = [];
  const skipped: string[] = [];
  for (const path of docs) {
    const bytes = await readFile(path);
    const hash = sha256(bytes);
    const old = stored.get(path);
    if (old && old.sha256 === hash && old.chunking === chunking) continue;
    let content: string;
    try {
      content = utf8.decode(bytes);
    } catch {
      skipped.push(path);
      warn(`${path}: not UTF-8 text, left out`);
      continue;
    }
    planned.push({
      path,
      hash,
      bytes: bytes.length,
      chunks: chunkText(content, (t) => embedder.countTokens(t), chunkOptions),
      isNew: !old,
    });
  }
  const gone = (p: string) => !present.has(p) || skipped.includes(p);
  const deleted = [...stored.keys()].filter((p) => inScope(p) && gone(p));
  const total = planned.reduce((a, f) => a + f.chunks.length, 0);
  options.onProgress?.({
    phase: 'plan',
    files: docs.length,
    changed: planned.length,
    deleted: deleted.length,
    chunks: total,
  });

  await store.removeFiles(deleted);
  const before = await store.counts();
  const bulk = total > (options.bulkThreshold ?? 2000) && total > 2 * before.chunks;
  if (bulk) await store.dropAnnIndex();

  let done = 0;
  let embedded = 0;
  let reused = 0;
  // Embedding and PGlite both run synchronously under their promises: give the event loop a turn (Ctrl-C,
  // the progress bar's redraw timer) before each batch, then stop if asked to.
  const checkAbort = async (filesDone: number) => {
    await new Promise((res) => setImmediate(res));
    if (options.signal?.aborted) throw new IndexInterrupted(filesDone, planned.length);
  };
  for (const [n, file] of planned.entries()) {
    await checkAbort(n);
    const vectors = await store.vectorsByHash([...new Set(file.chunks.map((c) => c.sha256))]);
    reused += file.chunks.filter((c) => vectors.has(c.sha256)).length;
    // One embedding per distinct new text (a paragraph repeated in the file is embedded once).
    const copies = new Map<string, number>();
    for (const c of file.chunks) copies.set(c.sha256, (copies.get(c.sha256) ?? 0) + 1);
    const todo: Chunk[] = [];
    const seen = new Set<string>();
    for (const c of file.chunks) {
      if (!vectors.has(c.sha256) && !seen.has(c.sha256)) todo.push(c);
      seen.add(c.sha256);
    }
    done += file.chunks.length - todo.reduce((a, c) => a + (copies.get(c.sha256) ?? 0), 0);
    options.onProgress?.({ phase: 'embed', done, total, file: file.path });
    for (let i = 0; i < todo.length; i += batch) {
      await checkAbort(n);
      const part = todo.slice(i, i + batch);
      const vecs = await embedder.embed(part.map((c) => c.text));
      if (vecs.length !== part.length) {
        throw new GlassError(
          'BAD_INPUT',
          `${embedder.model}: ${vecs.length} vectors for ${part.length} texts`,
        );
      }
      part.forEach((c, k) => {
        if (vecs[k].length !== embedder.dim) {
          throw new GlassError(
            'BAD_INPUT',
            `${embedder.model}: a vector of ${vecs[k].length} dims, expected ${embedder.dim}`,
          );
        }
        vectors.set(c.sha256, vectorLiteral(vecs[k]));
      });
      embedded += part.length;
      done += part.reduce((a, c) => a + (copies.get(c.sha256) ?? 0), 0);
      options.onProgress?.({ phase: 'embed', done, total, file: file.path });
    }
    await store.replaceFile(
      { path: file.path, sha256: file.hash, chunking, bytes: file.bytes, chunks: file.chunks.length },
      file.chunks.map((c) => ({ ...c, embedding: vectors.get(c.sha256) as string })),
    );
  }
  if (bulk) options.onProgress?.({ phase: 'hnsw' });
  await store.createAnnIndex();

  return {
    files: docs.length,
    unchanged: docs.length - planned.length - skipped.length,
    added: planned.filter((f) => f.isNew).length,
    updated: planned.filter((f) => !f.isNew).length,
    deleted: deleted.length,
    chunks: total,
    embedded,
    reused,
    skipped,
    store: await store.counts(),
    chunkTokens: budget,
    overlap,
  };
}

/** Embeds the query with the store's model and returns the nearest chunks. */
export async function searchStore(
  store: VectorStore,
  embedder: TextEmbedder,
  query: string,
  options: SearchOptions = {},
): Promise<Hit[]> {
  await store.checkModel(embedder);
  const [v] = await embedder.embed([query]);
  return store.search(v, options);
}
