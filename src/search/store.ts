// The vector store: files, their chunks with source spans, and one vector per chunk, in PostgreSQL tables
// with pgvector (schema.ts). The same class drives PGlite and a PostgreSQL server (db.ts).
import { GlassError } from '../util/errors.js';
import type { Chunk } from './chunk.js';
import { openDb, transaction, type SqlClient } from './db.js';
import type { TextEmbedder } from './embedder.js';
import {
  ANN_INDEX,
  BASE_SCHEMA,
  chunkSchema,
  DROP_ANN_INDEX,
  HNSW_MAX_DIM,
  SCHEMA_VERSION,
  SEARCH_ANN,
  SEARCH_EXACT,
} from './schema.js';

/** Embedded once per model: two models that give it different vectors are different models. */
export const PROBE_TEXT = 'glasslm probe: the river bank was quiet in the morning light.';
/** How close two probe vectors must be (cosine) to call them the same model. */
const SAME_MODEL = 0.999;

/** Default HNSW search effort (pgvector's own default is 40); recall@10 grows with it. */
export const DEFAULT_EF_SEARCH = 100;

export interface StoreModel {
  model: string;
  dim: number;
  probe: Float32Array;
}

export interface StoredFile {
  path: string;
  sha256: string;
  chunking: string;
  bytes: number;
  chunks: number;
}

export interface ChunkToStore extends Chunk {
  /** The vector as pgvector text, `[x,y,...]` (see vectorLiteral). */
  embedding: string;
}

export interface Hit {
  id: number;
  path: string;
  ord: number;
  /** Cosine similarity, 1 − pgvector's cosine distance. */
  score: number;
  distance: number;
  startChar: number;
  endChar: number;
  startByte: number;
  endByte: number;
  startLine: number;
  endLine: number;
  tokens: number;
  text: string;
}

export interface SearchOptions {
  /** How many matches (default 5). */
  k?: number;
  /** Scan every vector instead of walking the HNSW index: the exact nearest neighbours. */
  exact?: boolean;
  /** hnsw.ef_search: candidates the index keeps while searching (default DEFAULT_EF_SEARCH). */
  efSearch?: number;
}

/**
 * A Float32Array as pgvector's text form. Nine significant digits read back to the same float32 (and are
 * ~40% shorter than JS's double printing, which matters to the server's parser at 10k × 384 values).
 */
export function vectorLiteral(v: ArrayLike<number>): string {
  let s = '[';
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!Number.isFinite(x)) {
      throw new GlassError('BAD_INPUT', `the embedding model gave a non-finite value (${x}) at ${i}`);
    }
    s += i === 0 ? x.toPrecision(9) : `,${x.toPrecision(9)}`;
  }
  return s + ']';
}

export function parseVector(text: string): Float32Array {
  return Float32Array.from(JSON.parse(text) as number[]);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb || 1);
}

interface HitRow {
  id: number;
  path: string;
  ord: number;
  start_char: number;
  end_char: number;
  start_byte: number;
  end_byte: number;
  start_line: number;
  end_line: number;
  tokens: number;
  body: string;
  distance: number;
}

const INSERT_BATCH = 200;
const CHUNK_COLUMNS = [
  'path',
  'ord',
  'sha256',
  'start_char',
  'end_char',
  'start_byte',
  'end_byte',
  'start_line',
  'end_line',
  'tokens',
  'body',
  'embedding',
];

export class VectorStore {
  private cachedModel: StoreModel | undefined;

  private constructor(readonly db: SqlClient) {}

  /** Opens (with create: creates) the store at `--db`: a folder (PGlite) or a postgres:// URL. */
  static async open(spec: string, options: { create?: boolean } = {}): Promise<VectorStore> {
    const db = await openDb(spec, options);
    try {
      return await VectorStore.over(db);
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  /** A store over an open client (the tables are created if missing). */
  static async over(db: SqlClient): Promise<VectorStore> {
    try {
      for (const sql of BASE_SCHEMA) await db.query(sql);
    } catch (e) {
      const msg = (e as Error).message;
      throw new GlassError(
        /vector/.test(msg) ? 'UNSUPPORTED' : 'BAD_FILE',
        /extension "vector"/.test(msg)
          ? `${db.location}: this PostgreSQL has no pgvector extension (${msg})`
          : `${db.location}: cannot set up the store: ${msg}`,
        { cause: e },
      );
    }
    const store = new VectorStore(db);
    const m = await store.model();
    if (m) await store.ensureChunkTable(m.dim);
    return store;
  }

  get location(): string {
    return this.db.location;
  }

  get kind(): SqlClient['kind'] {
    return this.db.kind;
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /** The model whose vectors the store holds; undefined while it is empty. */
  async model(): Promise<StoreModel | undefined> {
    if (this.cachedModel) return this.cachedModel;
    const rows = await this.db.query<{ schema_version: number; model: string; dim: number; probe: string }>(
      'SELECT schema_version, model, dim, probe FROM glasslm_store WHERE id = 1',
    );
    if (rows.length === 0) return undefined;
    const r = rows[0];
    if (r.schema_version !== SCHEMA_VERSION) {
      throw new GlassError(
        'UNSUPPORTED',
        `${this.location}: store schema version ${r.schema_version}, this glasslm reads version ${SCHEMA_VERSION}`,
      );
    }
    this.cachedModel = { model: r.model, dim: r.dim, probe: parseVector(r.probe) };
    return this.cachedModel;
  }

  private async ensureChunkTable(dim: number): Promise<void> {
    for (const sql of chunkSchema(dim)) await this.db.query(sql);
  }

  /**
   * Ties the store to the embedder's model: the first one is recorded (and the chunk table made for its
   * dimension); any later one must be the same model — vectors of two models are not comparable.
   */
  async bindModel(e: TextEmbedder): Promise<StoreModel> {
    const [probe] = await e.embed([PROBE_TEXT]);
    if (probe.length !== e.dim) {
      throw new GlassError('BAD_INPUT', `${e.model}: vectors of ${probe.length} dims, expected ${e.dim}`);
    }
    const have = await this.model();
    if (have) {
      this.checkSame(have, e, probe);
      return have;
    }
    await transaction(this.db, async () => {
      await this.db.query(
        'INSERT INTO glasslm_store (id, schema_version, model, dim, probe) VALUES (1, $1, $2, $3, $4)',
        [SCHEMA_VERSION, e.model, e.dim, vectorLiteral(probe)],
      );
      await this.ensureChunkTable(e.dim);
    });
    this.cachedModel = { model: e.model, dim: e.dim, probe };
    return this.cachedModel;
  }

  /** Throws unless the embedder is the store's model (for search: a query vector must match). */
  async checkModel(e: TextEmbedder): Promise<StoreModel> {
    const have = await this.model();
    if (!have) {
      throw new GlassError('NOT_FOUND', `${this.location}: the store is empty (run \`glasslm index\` first)`);
    }
    const [probe] = await e.embed([PROBE_TEXT]);
    this.checkSame(have, e, probe);
    return have;
  }

  private checkSame(have: StoreModel, e: TextEmbedder, probe: Float32Array): void {
    const same = have.dim === e.dim && probe.length === have.dim && cosine(have.probe, probe) >= SAME_MODEL;
    if (!same) {
      throw new GlassError(
        'BAD_INPUT',
        `${this.location} holds vectors made by ${have.model} (${have.dim} dims); ${e.model} ` +
          `(${e.dim} dims) is a different model and vectors of two models cannot be mixed: ` +
          `use that model, or a new --db`,
      );
    }
  }

  async files(): Promise<Map<string, StoredFile>> {
    const rows = await this.db.query<StoredFile>(
      'SELECT path, sha256, chunking, bytes, chunks FROM glasslm_files ORDER BY path',
    );
    return new Map(rows.map((r) => [r.path, r]));
  }

  /** Stored vectors (pgvector text) of chunks with these text hashes, from any file. */
  async vectorsByHash(hashes: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (hashes.length === 0 || !(await this.model())) return out;
    for (let i = 0; i < hashes.length; i += 500) {
      const rows = await this.db.query<{ sha256: string; embedding: string }>(
        `SELECT DISTINCT ON (sha256) sha256, embedding::text AS embedding FROM glasslm_chunks
         WHERE sha256 IN (SELECT jsonb_array_elements_text($1::jsonb))`,
        [JSON.stringify(hashes.slice(i, i + 500))],
      );
      for (const r of rows) out.set(r.sha256, r.embedding);
    }
    return out;
  }

  /** One file's row and all its chunks, replacing what was there, in one transaction. */
  async replaceFile(file: StoredFile, chunks: ChunkToStore[]): Promise<void> {
    if (!(await this.model())) throw new Error('replaceFile before bindModel');
    await transaction(this.db, async () => {
      await this.db.query('DELETE FROM glasslm_files WHERE path = $1', [file.path]);
      await this.db.query(
        'INSERT INTO glasslm_files (path, sha256, chunking, bytes, chunks) VALUES ($1, $2, $3, $4, $5)',
        [file.path, file.sha256, file.chunking, file.bytes, chunks.length],
      );
      for (let i = 0; i < chunks.length; i += INSERT_BATCH) {
        const batch = chunks.slice(i, i + INSERT_BATCH);
        const n = CHUNK_COLUMNS.length;
        const values = batch.map(
          (_, r) =>
            `(${CHUNK_COLUMNS.map((c, k) => `$${r * n + k + 1}${c === 'embedding' ? '::vector' : ''}`).join(', ')})`,
        );
        const params = batch.flatMap((c) => [
          file.path,
          c.ord,
          c.sha256,
          c.startChar,
          c.endChar,
          c.startByte,
          c.endByte,
          c.startLine,
          c.endLine,
          c.tokens,
          c.text,
          c.embedding,
        ]);
        await this.db.query(
          `INSERT INTO glasslm_chunks (${CHUNK_COLUMNS.join(', ')}) VALUES ${values.join(', ')}`,
          params,
        );
      }
    });
  }

  /** Forgets files (their chunks go with them). */
  async removeFiles(paths: string[]): Promise<void> {
    if (paths.length === 0) return;
    await transaction(this.db, async () => {
      for (let i = 0; i < paths.length; i += 500) {
        await this.db.query(
          'DELETE FROM glasslm_files WHERE path IN (SELECT jsonb_array_elements_text($1::jsonb))',
          [JSON.stringify(paths.slice(i, i + 500))],
        );
      }
    });
  }

  async counts(): Promise<{ files: number; chunks: number }> {
    const [f] = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM glasslm_files');
    const chunks = (await this.model())
      ? (await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM glasslm_chunks'))[0].n
      : 0;
    return { files: f.n, chunks };
  }

  async hasAnnIndex(): Promise<boolean> {
    const [r] = await this.db.query<{ ok: boolean }>(
      "SELECT to_regclass('glasslm_chunks_hnsw') IS NOT NULL AS ok",
    );
    return r.ok;
  }

  /** Builds the HNSW index if it is missing (pgvector indexes at most HNSW_MAX_DIM dimensions). */
  async createAnnIndex(): Promise<boolean> {
    const m = await this.model();
    if (!m || m.dim > HNSW_MAX_DIM) return false;
    await this.db.query(ANN_INDEX);
    return true;
  }

  /** Drops the HNSW index: a bulk load then builds it once at the end, several times faster. */
  async dropAnnIndex(): Promise<void> {
    if (await this.model()) await this.db.query(DROP_ANN_INDEX);
  }

  /** The k chunks nearest to the vector by cosine: through the HNSW index, or exactly with `exact`. */
  async search(vector: Float32Array, options: SearchOptions = {}): Promise<Hit[]> {
    const m = await this.model();
    if (!m)
      throw new GlassError('NOT_FOUND', `${this.location}: the store is empty (run \`glasslm index\` first)`);
    if (vector.length !== m.dim) {
      throw new GlassError('BAD_INPUT', `query vector has ${vector.length} dims; the store holds ${m.dim}`);
    }
    const k = options.k ?? 5;
    if (!Number.isInteger(k) || k < 1)
      throw new GlassError('BAD_INPUT', `k must be a positive integer (got ${k})`);
    const ef = options.efSearch ?? Math.max(DEFAULT_EF_SEARCH, k);
    if (!Number.isInteger(ef) || ef < 1 || ef > 1000) {
      throw new GlassError('BAD_INPUT', `ef_search must be an integer in [1, 1000] (got ${ef})`);
    }
    if (!options.exact) await this.db.query(`SET hnsw.ef_search = ${ef}`);
    const rows = await this.db.query<HitRow>(options.exact ? SEARCH_EXACT : SEARCH_ANN, [
      vectorLiteral(vector),
      k,
    ]);
    return rows.map((r) => ({
      id: r.id,
      path: r.path,
      ord: r.ord,
      score: 1 - r.distance,
      distance: r.distance,
      startChar: r.start_char,
      endChar: r.end_char,
      startByte: r.start_byte,
      endByte: r.end_byte,
      startLine: r.start_line,
      endLine: r.end_line,
      tokens: r.tokens,
      text: r.body,
    }));
  }
}
