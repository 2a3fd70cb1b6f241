// `npm run bench:sif`: does a query find its verse? Retrieval over the King James Bible with the default
// embedding model (models/kjv-word2vec: SIF-weighted averages of word vectors) against simpler and
// weaker embedders, on the same verses and queries.
//
// Passages: every verse of the KJV (31,102 less the few with no word in the vocabulary; Debian's `bible-kjv`, dumped by `bible -f gen1:1-rev22:21`,
// the text the vectors were trained on). Queries: bench/data/kjv-paraphrases.tsv — 127 paraphrases
// written by hand in modern English, each with the reference of the verse it paraphrases; none of them is
// in the training text. Each query is embedded, every verse is ranked by cosine (exact, brute force), and
// the rank of its verse gives recall@1, recall@10 and MRR (mean of 1/rank over the queries).
//
// Embedders:
//   sif           models/kjv-word2vec as shipped: α_w = a/(a + p(w)), a = 1e-3, the weighted average less
//                 its common component (Arora et al.'s step 2; c = the first principal component of the
//                 SIF vectors of every verse, scripts/sif-component.ts, stored in its config.json)
//   sif-no-pc     the same without removing the component
//   sif-a1e-2     a = 1e-2 (frequent words count more), its own component removed
//   mean          the plain average of the word vectors (α = 1)
//   minilm-random a random-weight all-MiniLM-L6-v2-shaped BERT (test/fixtures/make-bert.ts: real config,
//                 tokenizer and pooling, random weights): the floor, where nothing is learnt. It runs on
//                 --minilm-verses verses only (default 2,000: the 127 paraphrased verses and 1,873 others
//                 drawn with a fixed seed; 0 = all), since a 6-layer encoder over 31,102 verses takes tens of
//                 minutes on a shared 2-core machine; the word-vector embedders are measured on that same
//                 subset too, for a like-for-like row.
//
// Writes bench/results/sif-<timestamp>.json (with the CPU model) and prints a table.
//   npm run bench:sif
//   npm run bench:sif -- --minilm-verses 0          # the floor on every verse (slow)
//   npm run bench:sif -- --no-minilm                 # the word vectors only (seconds)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadEmbeddingModel } from '../src/embed/load.js';
import type { EmbeddingModel } from '../src/embed/model.js';
import { firstPrincipalComponent, WordVectorEmbedder } from '../src/embed/word-vectors.js';
import { createWasmBackend, setBackend } from '../src/tensor/index.js';
import { parseVocab } from '../src/word2vec/formats.js';
import { ensureBertFixture } from '../test/fixtures/make-bert.js';
import { machine } from './machine.js';

function opt(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const NO_MINILM = process.argv.includes('--no-minilm');
const MINILM_VERSES = opt('minilm-verses', 2000);
const THREADS = opt('threads', Math.min(4, availableParallelism()));
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// ---- verses and queries -------------------------------------------------------------------------------

let dump: string;
try {
  dump = execFileSync('bible', ['-f', 'gen1:1-rev22:21'], { encoding: 'utf8', maxBuffer: 64 << 20 });
} catch {
  console.error('bench:sif needs the KJV text: apt-get install -y bible-kjv (the `bible` command)');
  process.exit(2);
}
const refs: string[] = [];
const verses: string[] = [];
for (const line of dump.split('\n')) {
  const m = /^(\S*\d+:\d+) (.*)$/.exec(line);
  if (m) {
    refs.push(m[1]);
    verses.push(m[2]);
  }
}
const at = new Map(refs.map((r, i) => [r, i]));
const queries = readFileSync(here('./data/kjv-paraphrases.tsv'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() && !l.startsWith('#'))
  .map((l) => {
    const [ref, text] = l.split('\t');
    const target = at.get(ref);
    if (target === undefined) throw new Error(`kjv-paraphrases.tsv: no verse ${ref}`);
    return { ref, text, target };
  });
console.error(`${verses.length} verses, ${queries.length} queries`);

/** The subset for the slow floor: the queries' verses and others of `from` drawn by a seeded xorshift. */
function subset(from: number[], n: number): number[] {
  if (n <= 0 || n >= from.length) return from;
  const keep = new Set(queries.map((q) => q.target));
  let s = 12345;
  while (keep.size < n) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    keep.add(from[s % from.length]);
  }
  return [...keep].sort((a, b) => a - b);
}

// ---- scoring ------------------------------------------------------------------------------------------

interface Score {
  verses: number;
  queries: number;
  recallAt1: number;
  recallAt10: number;
  mrr: number;
  /** Queries whose verse came first / in the top 10. */
  hitsAt1: number;
  hitsAt10: number;
  embedSeconds: number;
}

/** Ranks `docs` (unit vectors of the verses `ids`) for each query by dot product = cosine. */
function score(docs: Float32Array[], ids: number[], qv: Float32Array[], embedSeconds: number): Score {
  const pos = new Map(ids.map((id, i) => [id, i]));
  let h1 = 0;
  let h10 = 0;
  let rr = 0;
  queries.forEach((q, k) => {
    const v = qv[k];
    const dots = docs.map((d) => {
      let s = 0;
      for (let j = 0; j < v.length; j++) s += v[j] * d[j];
      return s;
    });
    const mine = dots[pos.get(q.target)!];
    const rank = 1 + dots.filter((x) => x > mine).length;
    if (rank === 1) h1++;
    if (rank <= 10) h10++;
    rr += 1 / rank;
  });
  const n = queries.length;
  return {
    verses: ids.length,
    queries: n,
    recallAt1: h1 / n,
    recallAt10: h10 / n,
    mrr: rr / n,
    hitsAt1: h1,
    hitsAt10: h10,
    embedSeconds,
  };
}

function measure(e: EmbeddingModel, ids: number[]): Score {
  const t0 = performance.now();
  const docs = e.embed(ids.map((i) => verses[i]));
  const qv = e.embed(queries.map((q) => q.text));
  return score(docs, ids, qv, (performance.now() - t0) / 1000);
}

// ---- the embedders ------------------------------------------------------------------------------------

const modelDir = here('../models/kjv-word2vec');
const sif = (await loadEmbeddingModel(modelDir)) as WordVectorEmbedder;
const counts = parseVocab(readFileSync(`${modelDir}/vocab.txt`, 'utf8'));
const variant = (o: { a?: number; mean?: boolean; removeComponent?: ArrayLike<number> }) =>
  new WordVectorEmbedder({
    vectors: sif.vectors,
    source: modelDir,
    weighting: o.mean ? 'mean' : 'sif',
    counts,
    a: o.a ?? sif.a,
    removeComponent: o.removeComponent,
  });
// A verse none of whose words is in the vocabulary (a list of rare names) has no word-vector embedding:
// such verses are left out of the index for every embedder (none of them is a query's verse).
const all = verses.map((_, i) => i).filter((i) => sif.words(verses[i]).some((w) => w.row >= 0));
const unembeddable = verses.length - all.length;
console.error(`${unembeddable} verses have no word in the vocabulary: left out`);
const small = subset(all, MINILM_VERSES);

// a = 1e-2's own component, from the verses searched (as scripts/sif-component.ts makes the shipped one)
const t0 = performance.now();
const a2 = variant({ a: 1e-2 });
const pc2 = firstPrincipalComponent(
  all.map((i) => a2.sentenceVector(verses[i])),
  sif.dim,
);
const pcSeconds = (performance.now() - t0) / 1000;
const embedders: Array<[string, string, EmbeddingModel]> = [
  ['sif', 'models/kjv-word2vec as shipped: SIF, a = 1e-3, its common component removed', sif],
  ['sif-no-pc', 'SIF, a = 1e-3, no component removed', variant({})],
  [
    'sif-a1e-2',
    'SIF, a = 1e-2, its own common component removed',
    variant({ a: 1e-2, removeComponent: pc2 }),
  ],
  ['mean', 'plain average of the word vectors', variant({ mean: true })],
];

const rows: Array<{ embedder: string; what: string; set: string } & Score> = [];
for (const [name, what, e] of embedders) {
  for (const [set, ids] of [
    ['all', all],
    ['subset', small],
  ] as const) {
    if (set === 'subset' && (NO_MINILM || ids.length === all.length)) continue;
    rows.push({ embedder: name, what, set, ...measure(e, ids) });
    console.error(`${name} on ${ids.length} verses done`);
  }
}

let minilm: Record<string, unknown> | null = null;
if (!NO_MINILM) {
  const dir = await ensureBertFixture();
  if (!dir) {
    console.error('minilm-random skipped: ../shared/tokenizers/all-MiniLM-L6-v2 is absent');
  } else {
    setBackend(await createWasmBackend({ threads: THREADS }));
    const e = await loadEmbeddingModel(dir);
    minilm = { folder: dir, layers: e.nLayers, dim: e.dim, threads: THREADS };
    const set = small.length === all.length ? 'all' : 'subset';
    rows.push({
      embedder: 'minilm-random',
      what: 'random-weight all-MiniLM-L6-v2-shaped BERT (the floor)',
      set,
      ...measure(e, small),
    });
  }
}

// ---- report -------------------------------------------------------------------------------------------

const pct = (x: number) => `${(x * 100).toFixed(1)}%`.padStart(6);
const lines = [
  `embedder        verses  recall@1  recall@10    MRR   embed s`,
  ...rows.map(
    (r) =>
      `${r.embedder.padEnd(14)} ${String(r.verses).padStart(7)}   ${pct(r.recallAt1)}    ${pct(r.recallAt10)}  ` +
      `${r.mrr.toFixed(3)}  ${r.embedSeconds.toFixed(1).padStart(7)}`,
  ),
];
console.log(lines.join('\n'));
const date = new Date().toISOString();
const out = {
  date,
  command: `npm run bench:sif -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { ...machine(), loadAverage: loadavg().map((x) => +x.toFixed(2)) },
  verses: verses.length,
  versesIndexed: all.length,
  versesWithoutKnownWords: unembeddable,
  queries: queries.length,
  queryFile: 'bench/data/kjv-paraphrases.tsv',
  subset: { verses: small.length, rule: 'the paraphrased verses + others drawn by xorshift32 seed 12345' },
  principalComponent: {
    seconds: pcSeconds,
    note: 'first principal component (uncentred) of the SIF vectors of all verses',
  },
  minilm,
  notes: [
    'exact ranking by cosine over every verse of the set; rank = 1 + verses scoring strictly higher than the target',
    'recall@k: share of queries whose verse ranks ≤ k; MRR: mean of 1/rank',
  ],
  rows,
};
mkdirSync(here('./results'), { recursive: true });
const file = here(`./results/sif-${date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
console.error(`written ${file}`);
