// Semantic search: documents → chunks with source spans → vectors in PostgreSQL + pgvector (PGlite in
// process, or a server) → the passages nearest in meaning to a query.
export * from './chunk.js';
export * from './db.js';
export * from './embedder.js';
export * from './indexer.js';
export * from './schema.js';
export * from './store.js';
