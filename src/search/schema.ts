// The one schema and the one SQL dialect of the semantic-search store. Every statement here runs unchanged
// on both deployments: PGlite in process (PostgreSQL compiled to WebAssembly, with pgvector) and any
// PostgreSQL server with pgvector reached through `pg`. Nothing else in src/search writes SQL DDL.

/** Bumped when the tables change shape; a store written by another version is refused, not guessed at. */
export const SCHEMA_VERSION = 1;

/** pgvector's HNSW index takes vectors of at most this many dimensions (type `vector`). */
export const HNSW_MAX_DIM = 2000;

/** Run once per open: the extension, the store's one-row description, and the indexed files. */
export const BASE_SCHEMA: readonly string[] = [
  'CREATE EXTENSION IF NOT EXISTS vector',
  // Which model made the vectors (one model per store): its name (how `search` reloads it), its
  // dimension, and its vector for a fixed probe text, which tells one model's vectors from another's.
  `CREATE TABLE IF NOT EXISTS glasslm_store (
     id integer PRIMARY KEY CHECK (id = 1),
     schema_version integer NOT NULL,
     model text NOT NULL,
     dim integer NOT NULL,
     probe text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
  // One row per indexed file: the content hash that re-indexing compares, and how it was chunked.
  `CREATE TABLE IF NOT EXISTS glasslm_files (
     path text PRIMARY KEY,
     sha256 text NOT NULL,
     chunking text NOT NULL,
     bytes integer NOT NULL,
     chunks integer NOT NULL,
     indexed_at timestamptz NOT NULL DEFAULT now()
   )`,
];

/**
 * The chunks, created once the model (and so the dimension) is known. A file's chunks are replaced in one
 * transaction; (path, ord) is unique, so a resumed run can never leave a chunk twice.
 */
export function chunkSchema(dim: number): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS glasslm_chunks (
       id serial PRIMARY KEY,
       path text NOT NULL REFERENCES glasslm_files (path) ON DELETE CASCADE,
       ord integer NOT NULL,
       sha256 text NOT NULL,
       start_char integer NOT NULL,
       end_char integer NOT NULL,
       start_byte integer NOT NULL,
       end_byte integer NOT NULL,
       start_line integer NOT NULL,
       end_line integer NOT NULL,
       tokens integer NOT NULL,
       body text NOT NULL,
       embedding vector(${dim}) NOT NULL,
       UNIQUE (path, ord)
     )`,
    // Chunks with the same text have the same vector: re-indexing looks them up by hash instead of
    // embedding them again (an edited file, a renamed file, a paragraph quoted twice).
    'CREATE INDEX IF NOT EXISTS glasslm_chunks_sha256 ON glasslm_chunks (sha256)',
  ];
}

/** The approximate-nearest-neighbour index: HNSW over cosine distance (pgvector's `<=>`). */
export const ANN_INDEX =
  'CREATE INDEX IF NOT EXISTS glasslm_chunks_hnsw ON glasslm_chunks USING hnsw (embedding vector_cosine_ops)';
export const DROP_ANN_INDEX = 'DROP INDEX IF EXISTS glasslm_chunks_hnsw';

const HIT_COLUMNS = `id, path, ord, start_char, end_char, start_byte, end_byte, start_line, end_line, tokens, body`;

/** Nearest chunks by cosine distance through the HNSW index (approximate; `hnsw.ef_search` sets the effort). */
export const SEARCH_ANN = `
  SELECT ${HIT_COLUMNS}, embedding <=> $1::vector AS distance
  FROM glasslm_chunks
  ORDER BY embedding <=> $1::vector
  LIMIT $2`;

/**
 * The same question answered by a full scan: ordering by a column of a materialized CTE leaves the planner
 * no index to use, so every distance is computed — the exact nearest neighbours, on any PostgreSQL.
 */
export const SEARCH_EXACT = `
  WITH scored AS MATERIALIZED (
    SELECT ${HIT_COLUMNS}, embedding <=> $1::vector AS distance FROM glasslm_chunks
  )
  SELECT * FROM scored ORDER BY distance, id LIMIT $2`;
