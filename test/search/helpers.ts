// Shared by the search tests: a deterministic stand-in embedding model (hashed bag of words), a folder of
// documents, brute-force nearest neighbours in TypeScript, and the index/search scenario that both
// deployments (PGlite in process, a server over the wire protocol) must pass.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { chunkText, type Chunk } from '../../src/search/chunk.js';
import type { TextEmbedder } from '../../src/search/embedder.js';
import { findDocuments, indexFolder, searchStore } from '../../src/search/indexer.js';
import { parseVector, PROBE_TEXT, type Hit, type VectorStore } from '../../src/search/store.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs the glasslm CLI from source (offline), returning its exit code and output. */
export function glasslm(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    // xorshift32
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.s = x;
    return x / 4294967296;
  }
  gauss(): number {
    return Math.sqrt(-2 * Math.log(this.next() + 1e-12)) * Math.cos(2 * Math.PI * this.next());
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const words = (text: string) => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

export interface FakeEmbedder extends TextEmbedder {
  /** Every text embedded, in order (the model probe left out). */
  calls: string[];
  /** Embed calls (the probe left out). */
  batches: number;
}

/**
 * A stand-in model: each word has a fixed pseudo-random direction (from the seed), a text is the normalised
 * sum of its words'. One token per word. `failOnBatch` throws on that embed call (1-based, probe excluded).
 */
export function fakeEmbedder(
  options: { seed?: number; dim?: number; maxTokens?: number; failOnBatch?: number } = {},
): FakeEmbedder {
  const seed = options.seed ?? 1;
  const dim = options.dim ?? 32;
  const cache = new Map<string, Float64Array>();
  const wordVec = (w: string) => {
    let v = cache.get(w);
    if (!v) {
      const r = new Rng(fnv1a(`${seed}:${w}`));
      v = Float64Array.from({ length: dim }, () => r.gauss());
      cache.set(w, v);
    }
    return v;
  };
  const e: FakeEmbedder = {
    model: `fake-bag-of-words-${seed}-${dim}`,
    dim,
    maxTokens: options.maxTokens ?? 128,
    calls: [],
    batches: 0,
    countTokens: (text) => words(text).length,
    embed(texts) {
      if (!(texts.length === 1 && texts[0] === PROBE_TEXT)) {
        e.batches++;
        if (e.batches === options.failOnBatch) throw new Error('simulated crash while embedding');
        e.calls.push(...texts);
      }
      return texts.map((t) => {
        const acc = new Float64Array(dim);
        for (const w of words(t)) wordVec(w).forEach((x, i) => (acc[i] += x));
        const n = Math.hypot(...acc) || 1;
        return Float32Array.from(acc, (x) => x / n);
      });
    },
  };
  return e;
}

const VOCAB = (
  'river bank water fish heron reed stone bridge boat current money loan credit account interest ' +
  'password reset login security settings account email phone garden tree leaf flower seed rain sun ' +
  'winter summer bread flour oven butter salt music piano violin song rhythm train station ticket ' +
  'platform journey mountain snow glacier valley path map compass star night moon planet orbit'
).split(' ');

/** A paragraph of n words from the vocabulary, ending in a full stop. */
export function paragraph(r: Rng, n: number): string {
  const ws = Array.from({ length: n }, () => VOCAB[r.int(VOCAB.length)]);
  ws[0] = ws[0][0].toUpperCase() + ws[0].slice(1);
  // Sentences of ~8 words, so that over-long paragraphs can be cut at sentence ends.
  return ws.map((w, i) => ((i + 1) % 8 === 0 && i + 1 < n ? `${w}.` : w)).join(' ') + '.';
}

/** A fresh folder under the system temp dir, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `glasslm-${prefix}-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** docs/: five documents (.md, .txt, one in a subfolder, one with non-ASCII text), plus files to ignore. */
export function writeDocs(seed: number): string {
  const dir = tempDir('docs');
  const r = new Rng(seed);
  const doc = (paras: number, long = false) =>
    Array.from({ length: paras }, (_, i) => paragraph(r, long && i === 1 ? 90 : 6 + r.int(20))).join('\n\n') +
    '\n';
  mkdirSync(join(dir, 'sub'));
  mkdirSync(join(dir, '.hidden'));
  writeFileSync(join(dir, 'a.md'), `# Title\n\n${doc(6)}`);
  writeFileSync(join(dir, 'b.txt'), doc(5, true));
  writeFileSync(join(dir, 'sub', 'c.md'), doc(4));
  writeFileSync(join(dir, 'd.md'), doc(3));
  writeFileSync(join(dir, 'e.txt'), `Café crème — naïve façade.\r\n\r\n${doc(4)}`);
  writeFileSync(join(dir, 'notes.json'), '{"ignored": true}');
  writeFileSync(join(dir, '.hidden', 'x.md'), 'hidden, ignored');
  return dir;
}

export const CHUNKING = { chunkTokens: 40, overlap: 1, batch: 4 };

/** What a clean index of `dir` holds: each document's chunks and their vectors. */
export async function expectedIndex(
  dir: string,
  e: TextEmbedder,
): Promise<Map<string, Array<Chunk & { vector: Float32Array }>>> {
  const out = new Map<string, Array<Chunk & { vector: Float32Array }>>();
  for (const path of await findDocuments(dir)) {
    const chunks = chunkText(readFileSync(path, 'utf8'), (t) => e.countTokens(t), {
      maxTokens: CHUNKING.chunkTokens,
      overlap: CHUNKING.overlap,
    });
    const vecs = await e.embed(chunks.map((c) => c.text));
    out.set(
      path,
      chunks.map((c, i) => ({ ...c, vector: vecs[i] })),
    );
  }
  return out;
}

interface ChunkRow {
  id: number;
  path: string;
  ord: number;
  sha256: string;
  start_char: number;
  end_char: number;
  start_byte: number;
  end_byte: number;
  start_line: number;
  end_line: number;
  body: string;
  embedding: string;
}

export async function storedChunks(store: VectorStore): Promise<ChunkRow[]> {
  return store.db.query<ChunkRow>(
    `SELECT id, path, ord, sha256, start_char, end_char, start_byte, end_byte, start_line, end_line, body,
            embedding::text AS embedding
     FROM glasslm_chunks ORDER BY path, ord`,
  );
}

/** The store holds exactly a clean index of dir: every chunk once, spans exact, vectors bit-for-bit. */
export async function assertCleanIndex(store: VectorStore, dir: string): Promise<void> {
  const want = await expectedIndex(dir, fakeEmbedder());
  const rows = (await storedChunks(store)).filter((r) => r.path.startsWith(dir));
  const dup = await store.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM (SELECT path, ord FROM glasslm_chunks GROUP BY path, ord HAVING count(*) > 1) d',
  );
  assert.equal(dup[0].n, 0, 'no chunk twice');
  assert.deepEqual([...new Set(rows.map((r) => r.path))].sort(), [...want.keys()].sort(), 'the same files');
  const total = [...want.values()].reduce((a, c) => a + c.length, 0);
  assert.equal(rows.length, total, 'as many chunks as a clean index');
  for (const r of rows) {
    const c = want.get(r.path)![r.ord];
    const content = readFileSync(r.path, 'utf8');
    const bytes = readFileSync(r.path);
    assert.equal(r.body, c.text, `${r.path}#${r.ord} text`);
    assert.equal(content.slice(r.start_char, r.end_char), r.body, 'char span → the exact text');
    assert.equal(
      bytes.subarray(r.start_byte, r.end_byte).toString('utf8'),
      r.body,
      'byte span → the exact text',
    );
    assert.equal(r.start_line, content.slice(0, r.start_char).split('\n').length, 'start line');
    assert.equal(r.sha256, c.sha256);
    assert.deepEqual(parseVector(r.embedding), c.vector, `${r.path}#${r.ord} vector, bit for bit`);
  }
  const files = await store.files();
  for (const path of want.keys()) assert.equal(files.get(path)?.chunks, want.get(path)!.length);
}

/** Brute force in TypeScript: cosine of the query against every stored vector, float64, best first. */
export async function bruteForce(
  store: VectorStore,
  query: Float32Array,
  k: number,
): Promise<Array<{ id: number; score: number }>> {
  const rows = await store.db.query<{ id: number; embedding: string }>(
    'SELECT id, embedding::text AS embedding FROM glasslm_chunks',
  );
  return rankByCosine(
    rows.map((r) => ({ id: r.id, v: parseVector(r.embedding) })),
    query,
    k,
  );
}

export function rankByCosine(
  items: Array<{ id: number; v: Float32Array }>,
  q: Float32Array,
  k: number,
): Array<{ id: number; score: number }> {
  let qq = 0;
  for (const x of q) qq += x * x;
  const scored = items.map(({ id, v }) => {
    let dot = 0;
    let vv = 0;
    for (let i = 0; i < v.length; i++) {
      dot += v[i] * q[i];
      vv += v[i] * v[i];
    }
    return { id, score: dot / Math.sqrt(qq * vv) };
  });
  scored.sort((a, b) => b.score - a.score || a.id - b.id);
  return scored.slice(0, k);
}

/**
 * Exact search returns the brute-force neighbours: the same ids in the same order, wherever the scores
 * are not tied (within float32 rounding), and the same scores.
 */
export function assertSameNeighbours(
  got: Array<{ id: number; score: number }>,
  want: Array<{ id: number; score: number }>,
  what: string,
): void {
  assert.equal(got.length, want.length, `${what}: count`);
  const TIE = 1e-5;
  got.forEach((g, i) => {
    assert.ok(Math.abs(g.score - want[i].score) < TIE, `${what}: score ${i}: ${g.score} vs ${want[i].score}`);
    const tied = (j: number) => j >= 0 && j < want.length && Math.abs(want[j].score - want[i].score) < TIE;
    if (!tied(i - 1) && !tied(i + 1)) assert.equal(g.id, want[i].id, `${what}: rank ${i}`);
  });
}

/**
 * The whole index/search life cycle on one store: first index, exact search = brute force, no-op
 * re-index, one file changed, one deleted, an interrupted run resumed, another model refused. Returns the
 * hits of a fixed query, for comparing deployments.
 */
export async function indexScenario(
  t: TestContext,
  open: () => Promise<VectorStore>,
  label: string,
): Promise<Hit[]> {
  const dir = writeDocs(7);
  const ctx = { store: await open() };
  const started = Date.now();
  try {
    // 1. First index: every chunk embedded once; the store is a clean index.
    let e = fakeEmbedder();
    let r = await indexFolder(ctx.store, dir, e, CHUNKING);
    assert.equal(r.files, 5);
    assert.equal(r.added, 5);
    const first = await expectedIndex(dir, fakeEmbedder());
    const distinct = new Set([...first.values()].flat().map((c) => c.text));
    assert.equal(e.calls.length, distinct.size, 'each distinct chunk text embedded once');
    assert.ok(r.chunks > 10, `enough chunks to search (${r.chunks})`);
    assert.ok(await ctx.store.hasAnnIndex(), 'HNSW index built');
    await assertCleanIndex(ctx.store, dir);

    // 2. Exact search = brute force in TypeScript; the index path finds the same best match.
    const q = new Rng(3);
    for (let i = 0; i < 5; i++) {
      const query = paragraph(q, 6);
      const [qv] = await fakeEmbedder().embed([query]);
      const want = await bruteForce(ctx.store, qv, 8);
      const exact = await searchStore(ctx.store, fakeEmbedder(), query, { k: 8, exact: true });
      assertSameNeighbours(exact, want, `exact query ${i}`);
      const ann = await searchStore(ctx.store, fakeEmbedder(), query, { k: 8 });
      assert.equal(ann[0].id, want[0].id, `HNSW best match, query ${i}`);
    }
    const sample = first.get(join(dir, 'sub', 'c.md'))!.at(-1)!;
    const [hit] = await searchStore(ctx.store, fakeEmbedder(), sample.text, { k: 1, exact: true });
    assert.equal(hit.path, join(dir, 'sub', 'c.md'));
    assert.ok(hit.score > 0.9999, 'a chunk finds itself');

    // 3. Nothing changed: nothing embedded, nothing rewritten.
    const idsBefore = (await storedChunks(ctx.store)).map((c) => c.id);
    e = fakeEmbedder();
    r = await indexFolder(ctx.store, dir, e, CHUNKING);
    assert.deepEqual([r.unchanged, r.added, r.updated, r.deleted, r.embedded], [5, 0, 0, 0, 0]);
    assert.equal(e.calls.length, 0);
    assert.deepEqual(
      (await storedChunks(ctx.store)).map((c) => c.id),
      idsBefore,
    );

    // 4. One file changed: only its new chunk texts are embedded; the other files' rows are untouched.
    const b = join(dir, 'b.txt');
    const oldTexts = new Set([...first.values()].flat().map((c) => c.text));
    const paras = readFileSync(b, 'utf8').split('\n\n');
    paras[0] = 'Edited: the heron waited by the stone bridge for the winter train.';
    writeFileSync(b, paras.join('\n\n') + '\nA new closing paragraph about pianos and rain.\n');
    const others = (await storedChunks(ctx.store)).filter((c) => c.path !== b);
    e = fakeEmbedder();
    r = await indexFolder(ctx.store, dir, e, CHUNKING);
    assert.deepEqual([r.unchanged, r.updated], [4, 1]);
    const bChunks = (await expectedIndex(dir, fakeEmbedder())).get(b)!;
    const newTexts = [...new Set(bChunks.map((c) => c.text).filter((x) => !oldTexts.has(x)))];
    assert.ok(newTexts.length > 0 && newTexts.length < bChunks.length, 'some chunks changed, not all');
    assert.deepEqual(e.calls.sort(), newTexts.sort(), 'only the changed chunks were embedded');
    assert.equal(r.reused, bChunks.length - newTexts.length);
    assert.deepEqual(
      (await storedChunks(ctx.store)).filter((c) => c.path !== b),
      others,
      'other files untouched',
    );
    await assertCleanIndex(ctx.store, dir);

    // 5. One file deleted: its rows go, nothing is embedded.
    rmSync(join(dir, 'd.md'));
    e = fakeEmbedder();
    r = await indexFolder(ctx.store, dir, e, CHUNKING);
    assert.deepEqual([r.files, r.deleted, r.embedded], [4, 1, 0]);
    assert.equal((await storedChunks(ctx.store)).filter((c) => c.path === join(dir, 'd.md')).length, 0);
    assert.equal((await ctx.store.files()).has(join(dir, 'd.md')), false);
    await assertCleanIndex(ctx.store, dir);

    // 6. Interrupted run: three files rewritten, the embedder dies on its 3rd call. Finished files are
    // stored whole, the rest keep their old version; the next run finishes without duplicates and
    // embeds nothing twice.
    const rw = new Rng(11);
    for (const f of ['a.md', 'b.txt', 'e.txt']) {
      writeFileSync(join(dir, f), Array.from({ length: 4 }, () => paragraph(rw, 12)).join('\n\n') + '\n');
    }
    const crashing = fakeEmbedder({ failOnBatch: 3 });
    await assert.rejects(indexFolder(ctx.store, dir, crashing, { ...CHUNKING, batch: 2 }), /simulated crash/);
    const mid = await ctx.store.files();
    const want = await expectedIndex(dir, fakeEmbedder());
    const midRows = await storedChunks(ctx.store);
    for (const [path, f] of mid) {
      if (!path.startsWith(dir)) continue;
      const rows = midRows.filter((c) => c.path === path);
      assert.equal(rows.length, f.chunks, `${path}: all of its chunks or none`);
    }
    const doneFirst = [...want.keys()].filter(
      (p) =>
        mid.get(p)?.sha256 &&
        want.get(p)!.every((c, i) => midRows.find((x) => x.path === p && x.ord === i)?.sha256 === c.sha256),
    );
    assert.ok(doneFirst.includes(join(dir, 'a.md')), 'the file finished before the crash is stored');
    assert.ok(doneFirst.length < 4, 'the crash left work to do');
    const resumed = fakeEmbedder();
    r = await indexFolder(ctx.store, dir, resumed, CHUNKING);
    const doneTexts = new Set(doneFirst.flatMap((p) => want.get(p)!.map((c) => c.text)));
    assert.equal(
      resumed.calls.filter((x) => doneTexts.has(x)).length,
      0,
      'nothing stored before the crash is embedded again',
    );
    assert.ok(resumed.calls.length > 0);
    await assertCleanIndex(ctx.store, dir);

    // 7. Another model (or dimension) is refused, for indexing and for searching.
    await assert.rejects(indexFolder(ctx.store, dir, fakeEmbedder({ seed: 2 }), CHUNKING), /different model/);
    await assert.rejects(searchStore(ctx.store, fakeEmbedder({ dim: 16 }), 'river'), /different model/);

    // 8. Persisted: what a reopened store answers is what it answered before closing.
    const before = await searchStore(ctx.store, fakeEmbedder(), 'river bank heron', { k: 5, exact: true });
    await ctx.store.close();
    ctx.store = await open();
    const after = await searchStore(ctx.store, fakeEmbedder(), 'river bank heron', { k: 5, exact: true });
    assert.deepEqual(after, before);
    t.diagnostic(`${label}: index life cycle in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return after.map((h) => ({ ...h, path: h.path.slice(dir.length) }));
  } finally {
    await ctx.store.close();
  }
}
