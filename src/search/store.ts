// The vector store: files, their chunks with source spans, and one vector per chunk, in PostgreSQL tables
// with pgvector (schema.ts). The same class drives PGlite and a PostgreSQL server (db.ts).
import { GlassError } from '../util/errors.js';
import type { Chunk } from './chunk.js';
import { openDb, transaction, type OpenDbOptions, type SqlClient } from './db.js';
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
/** pgvector's largest hnsw.ef_search: an HNSW search returns at most this many rows. */
export const MAX_EF_SEARCH = 1000;

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

  /**
   * Opens (with create: creates) the store at `--db`: a folder (PGlite) or a postgres:// URL. A folder is
   * held by one process at a time (another waits, told through onWait); on a server, `writer` waits for
   * the one writer lock.
   */
  static async open(spec: string, options: OpenDbOptions = {}): Promise<VectorStore> {
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

  /**
   * The store's invariants, read from the tables themselves (index scans off, so a damaged index cannot
   * hide a damaged table): one description row of this schema version; every chunk belongs to a file;
   * no chunk id or (file, position) twice; each file's chunk count and positions 0…n−1 match its
   * chunks; spans in order; every vector of the store's dimension. Returns the problems (none: []).
   */
  async check(): Promise<string[]> {
    const problems: string[] = [];
    const count = async (sql: string): Promise<number> =>
      (await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) q`))[0].n;
    const say = (n: number, what: string) => {
      if (n > 0) problems.push(`${n} ${what}`);
    };
    for (const s of ['enable_indexscan', 'enable_bitmapscan', 'enable_indexonlyscan'])
      await this.db.query(`SET ${s} = off`);
    try {
      const desc = await this.db.query<{ schema_version: number; dim: number }>(
        'SELECT schema_version, dim FROM glasslm_store',
      );
      const [{ ok: hasChunks }] = await this.db.query<{ ok: boolean }>(
        "SELECT to_regclass('glasslm_chunks') IS NOT NULL AS ok",
      );
      if (desc.length > 1) problems.push(`${desc.length} store description rows (expected one)`);
      if (desc.length === 0) {
        const files = await count('SELECT 1 FROM glasslm_files');
        if (files > 0 || hasChunks) problems.push(`files or chunks but no store description (model, dims)`);
        return problems;
      }
      if (desc[0].schema_version !== SCHEMA_VERSION) {
        problems.push(`schema version ${desc[0].schema_version} (this glasslm reads ${SCHEMA_VERSION})`);
        return problems;
      }
      say(
        await count('SELECT path FROM glasslm_files GROUP BY path HAVING count(*) > 1'),
        'file paths stored twice',
      );
      if (!hasChunks) {
        say(
          await count('SELECT 1 FROM glasslm_files WHERE chunks > 0'),
          'files whose chunks table is missing',
        );
        return problems;
      }
      say(
        await count(
          'SELECT 1 FROM glasslm_chunks c WHERE NOT EXISTS (SELECT 1 FROM glasslm_files f WHERE f.path = c.path)',
        ),
        'chunks that belong to no file',
      );
      say(
        await count('SELECT id FROM glasslm_chunks GROUP BY id HAVING count(*) > 1'),
        'chunk ids stored twice',
      );
      say(
        await count('SELECT path, ord FROM glasslm_chunks GROUP BY path, ord HAVING count(*) > 1'),
        'chunk positions (file, ord) stored twice',
      );
      say(
        await count(
          `SELECT 1 FROM glasslm_files f LEFT JOIN
             (SELECT path, count(*)::int AS n, min(ord) AS lo, max(ord) AS hi FROM glasslm_chunks GROUP BY path) c
           ON c.path = f.path
           WHERE f.chunks <> coalesce(c.n, 0) OR (c.n > 0 AND (c.lo <> 0 OR c.hi <> c.n - 1))`,
        ),
        'files whose chunks do not match their recorded count (missing or extra chunks)',
      );
      say(
        await count(
          `SELECT 1 FROM glasslm_chunks WHERE start_char > end_char OR start_byte > end_byte
             OR start_line > end_line OR start_char < 0 OR start_byte < 0 OR start_line < 1`,
        ),
        'chunks with spans out of order',
      );
      say(
        await count(`SELECT 1 FROM glasslm_chunks WHERE vector_dims(embedding) <> ${Number(desc[0].dim)}`),
        `vectors not of the store's ${desc[0].dim} dims`,
      );
    } finally {
      for (const s of ['enable_indexscan', 'enable_bitmapscan', 'enable_indexonlyscan'])
        await this.db.query(`RESET ${s}`);
    }
    return problems;
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
    if (!options.exact) {
      if (k > MAX_EF_SEARCH) {
        throw new GlassError(
          'BAD_INPUT',
          `k ${k}: the HNSW index returns at most ${MAX_EF_SEARCH} matches (pgvector's ef_search limit); ` +
            `use --exact for more`,
        );
      }
      const ef = options.efSearch ?? Math.max(DEFAULT_EF_SEARCH, k);
      if (!Number.isInteger(ef) || ef < 1 || ef > MAX_EF_SEARCH) {
        throw new GlassError(
          'BAD_INPUT',
          `ef_search must be an integer in [1, ${MAX_EF_SEARCH}] (got ${ef})`,
        );
      }
      await this.db.query(`SET hnsw.ef_search = ${ef}`);
    }
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
