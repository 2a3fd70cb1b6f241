// 10,000 vectors of 256 dimensions (MiniLM has 384; 256 keeps the test under a minute), random-ish: a mixture of Gaussian clusters, like
// real sentence embeddings, normalised. Exact search (a full scan) must return the nearest neighbours
// computed by brute force in TypeScript; the HNSW index must find ≥ 95% of the exact top 10 (recall@10).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { pgliteClient } from '../../src/search/db.js';
import { SEARCH_ANN } from '../../src/search/schema.js';
import { DEFAULT_EF_SEARCH, vectorLiteral, VectorStore, type ChunkToStore } from '../../src/search/store.js';
import { assertSameNeighbours, rankByCosine, Rng } from './helpers.js';

const N = 10_000;
const DIM = 256;
const CLUSTERS = 100;
const QUERIES = 100;
const K = 10;
/** Spread within a cluster (centres are N(0, 1) per dimension): neighbours are not trivially separated. */
const NOISE = 2;

function mixture(r: Rng, centers: Float64Array[]): Float32Array {
  const c = centers[r.int(centers.length)];
  const v = Float64Array.from(c, (x) => x + NOISE * r.gauss());
  const n = Math.hypot(...v);
  return Float32Array.from(v, (x) => x / n);
}

test(`HNSW recall@${K} >= 0.95 on ${N} vectors of ${DIM} dims; exact search = brute force`, async (t) => {
  const r = new Rng(2024);
  const centers = Array.from({ length: CLUSTERS }, () => Float64Array.from({ length: DIM }, () => r.gauss()));
  const data = Array.from({ length: N }, () => mixture(r, centers));
  const queries = Array.from({ length: QUERIES }, () => mixture(r, centers));

  const t0 = Date.now();
  const db = new PGlite({ extensions: { vector } });
  const store = await VectorStore.over(pgliteClient(db));
  try {
    await store.bindModel({
      model: 'random-mixture',
      dim: DIM,
      maxTokens: 256,
      countTokens: () => 1,
      embed: (texts) => texts.map(() => data[0]),
    });
    const t1 = Date.now();
    // Ten "files" of 1,000 chunks; the index is built once afterwards, as `glasslm index` does in bulk.
    await store.dropAnnIndex();
    for (let f = 0; f < 10; f++) {
      const chunks: ChunkToStore[] = [];
      for (let i = f * 1000; i < (f + 1) * 1000; i++) {
        chunks.push({
          ord: i - f * 1000,
          text: `v${i}`,
          startChar: 0,
          endChar: 1,
          startByte: 0,
          endByte: 1,
          startLine: 1,
          endLine: 1,
          tokens: 1,
          sha256: `h${i}`,
          embedding: vectorLiteral(data[i]),
        });
      }
      await store.replaceFile(
        { path: `/f${f}`, sha256: `f${f}`, chunking: 'x', bytes: 1, chunks: 0 },
        chunks,
      );
    }
    const t2 = Date.now();
    await store.createAnnIndex();
    const t3 = Date.now();
    assert.equal((await store.counts()).chunks, N);

    // The index path really uses the HNSW index; the exact path really does not.
    const plan = async (sql: string) =>
      (await store.db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, [vectorLiteral(queries[0]), K]))
        .map((row) => row['QUERY PLAN'])
        .join('\n');
    assert.match(await plan(SEARCH_ANN), /Index Scan using glasslm_chunks_hnsw/);

    // Each chunk's id ↔ its vector, for brute force over exactly what the store holds.
    const ids = await store.db.query<{ id: number; body: string }>('SELECT id, body FROM glasslm_chunks');
    const items = ids.map((row) => ({ id: row.id, v: data[Number(row.body.slice(1))] }));

    let found = 0;
    let annMs = 0;
    let exactMs = 0;
    let bruteMs = 0;
    for (const [qi, q] of queries.entries()) {
      let s = performance.now();
      const ann = await store.search(q, { k: K });
      annMs += performance.now() - s;
      s = performance.now();
      const exact = await store.search(q, { k: K, exact: true });
      exactMs += performance.now() - s;
      s = performance.now();
      const brute = rankByCosine(items, q, K);
      bruteMs += performance.now() - s;
      assertSameNeighbours(exact, brute, `query ${qi}`);
      const truth = new Set(exact.map((h) => h.id));
      found += ann.filter((h) => truth.has(h.id)).length;
    }
    const recall = found / (QUERIES * K);
    t.diagnostic(
      `recall@${K} = ${recall.toFixed(3)} (HNSW m=16, ef_construction=64, ef_search=${DEFAULT_EF_SEARCH}; ` +
        `${N} vectors × ${DIM} dims, ${QUERIES} queries)`,
    );
    t.diagnostic(
      `PGlite: start ${((t1 - t0) / 1000).toFixed(1)} s, insert ${((t2 - t1) / 1000).toFixed(1)} s, ` +
        `HNSW build ${((t3 - t2) / 1000).toFixed(1)} s; per query: HNSW ${(annMs / QUERIES).toFixed(1)} ms, ` +
        `exact scan ${(exactMs / QUERIES).toFixed(1)} ms, brute force in TypeScript ${(bruteMs / QUERIES).toFixed(1)} ms`,
    );
    assert.ok(recall >= 0.95, `recall@${K} ${recall}`);
  } finally {
    await store.close();
  }
});
