// Questions to static word vectors: nearest words, similarity, analogies, and the analogy benchmark.
// Browser-safe.
//
// Similarity is the cosine cos(x, y) = x·y / (|x|·|y|); every search runs over unit-length rows.
// Analogy a : b :: c : ? (questions-words.txt order: "man king woman queen"):
// - 3CosAdd (Mikolov et al. 2013; gensim's most_similar(positive=[b, c], negative=[a])):
//     d = argmax_x cos(x, b) − cos(x, a) + cos(x, c)   (the same ranking as cos(x, b̂ − â + ĉ))
// - 3CosMul (Levy & Goldberg 2014), with cosines shifted to [0, 1] by (cos + 1)/2 and ε = 0.001:
//     d = argmax_x cos'(x, b)·cos'(x, c) / (cos'(x, a) + ε)
// a, b and c themselves are never answers. `restrict` limits the candidates (and the question words) to
// the first N rows — the N most frequent words in files sorted by count.
import { GlassError } from '../util/errors.js';
import type { WordVectors } from './vectors.js';

export interface Scored {
  word: string;
  score: number;
}

export type AnalogyMethod = 'add' | 'mul';

interface Index {
  unit: Float32Array;
  row: Map<string, number>;
}

const indexes = new WeakMap<WordVectors, Index>();

/** Unit-length rows and the word → row map, built once per vectors object. */
function indexOf(wv: WordVectors): Index {
  let ix = indexes.get(wv);
  if (ix) return ix;
  const { dim, vectors } = wv;
  const unit = new Float32Array(vectors.length);
  for (let r = 0; r < wv.words.length; r++) {
    let n = 0;
    for (let k = 0; k < dim; k++) n += vectors[r * dim + k]! ** 2;
    const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
    for (let k = 0; k < dim; k++) unit[r * dim + k] = vectors[r * dim + k]! * inv;
  }
  const row = new Map<string, number>();
  wv.words.forEach((w, i) => {
    if (!row.has(w)) row.set(w, i); // a duplicate keeps its first (more frequent) row
  });
  ix = { unit, row };
  indexes.set(wv, ix);
  return ix;
}

/** The row of a word, or an error naming it. */
export function rowOf(wv: WordVectors, word: string, restrict = Infinity): number {
  const r = indexOf(wv).row.get(word);
  if (r === undefined || r >= restrict)
    throw new GlassError('NOT_FOUND', `word2vec: "${word}" is not in the vocabulary`);
  return r;
}

/** A word's vector (a copy of its row). */
export function vectorOf(wv: WordVectors, word: string): Float32Array {
  const r = rowOf(wv, word);
  return wv.vectors.slice(r * wv.dim, (r + 1) * wv.dim);
}

/** Cosine similarities of every row (< restrict) to a unit vector q. */
function cosines(ix: Index, dim: number, q: Float32Array | Float64Array, rows: number): Float64Array {
  const out = new Float64Array(rows);
  const u = ix.unit;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * dim;
    for (let k = 0; k < dim; k++) s += u[o + k]! * q[k]!;
    out[r] = s;
  }
  return out;
}

/** The k best rows by score, skipping `exclude`. */
function top(wv: WordVectors, score: Float64Array, k: number, exclude: Set<number>): Scored[] {
  const best: Array<[number, number]> = [];
  for (let r = 0; r < score.length; r++) {
    if (exclude.has(r)) continue;
    const s = score[r]!;
    if (best.length === k && s <= best[k - 1]![1]) continue;
    let i = best.length;
    while (i > 0 && best[i - 1]![1] < s) i--;
    best.splice(i, 0, [r, s]);
    if (best.length > k) best.pop();
  }
  return best.map(([r, s]) => ({ word: wv.words[r]!, score: s }));
}

export interface SearchOptions {
  /** How many answers (default 10). */
  k?: number;
  /** Only the first N rows (the N most frequent words) are candidates. */
  restrict?: number;
}

/** cos(a, b). */
export function similarity(wv: WordVectors, a: string, b: string): number {
  const ix = indexOf(wv);
  const ra = rowOf(wv, a);
  const rb = rowOf(wv, b);
  let s = 0;
  for (let k = 0; k < wv.dim; k++) s += ix.unit[ra * wv.dim + k]! * ix.unit[rb * wv.dim + k]!;
  return s;
}

/** The words nearest (by cosine) to a word — itself excluded — or to any vector. */
export function nearest(wv: WordVectors, query: string | Float32Array, o: SearchOptions = {}): Scored[] {
  const ix = indexOf(wv);
  const rows = Math.min(wv.words.length, o.restrict ?? Infinity);
  const exclude = new Set<number>();
  let q: Float32Array;
  if (typeof query === 'string') {
    const r = rowOf(wv, query);
    exclude.add(r);
    q = ix.unit.subarray(r * wv.dim, (r + 1) * wv.dim);
  } else {
    const n = Math.hypot(...query) || 1;
    q = query.map((x) => x / n);
  }
  return top(wv, cosines(ix, wv.dim, q, rows), o.k ?? 10, exclude);
}

/** a : b :: c : ? — the best answers by 3CosAdd (default) or 3CosMul. */
export function analogy(
  wv: WordVectors,
  a: string,
  b: string,
  c: string,
  o: SearchOptions & { method?: AnalogyMethod } = {},
): Scored[] {
  const ix = indexOf(wv);
  const rows = Math.min(wv.words.length, o.restrict ?? Infinity);
  const [ra, rb, rc] = [rowOf(wv, a, rows), rowOf(wv, b, rows), rowOf(wv, c, rows)];
  const unitRow = (r: number): Float32Array => ix.unit.subarray(r * wv.dim, (r + 1) * wv.dim);
  const [ca, cb, cc] = [ra, rb, rc].map((r) => cosines(ix, wv.dim, unitRow(r), rows)) as [
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  const score = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    score[r] =
      o.method === 'mul'
        ? (((cb[r]! + 1) / 2) * ((cc[r]! + 1) / 2)) / ((ca[r]! + 1) / 2 + 1e-3)
        : cb[r]! - ca[r]! + cc[r]!;
  }
  return top(wv, score, o.k ?? 10, new Set([ra, rb, rc]));
}

export interface SectionScore {
  section: string;
  correct: number;
  /** Questions asked: all four words within the restricted vocabulary. */
  asked: number;
  /** Questions skipped for a word outside it. */
  skipped: number;
}

export interface AnalogyScores {
  sections: SectionScore[];
  overall: SectionScore;
}

/**
 * The analogy benchmark of questions-words.txt (": section" lines, then "a b c d" lines): for each question
 * whose four words are all among the first `restrict` rows (default 300000, gensim's), is the best answer
 * to a : b :: c : ? exactly d? Case-insensitive by default, like gensim's evaluate_word_analogies: words
 * and questions are upper-cased, a word that then occurs twice keeps its first (more frequent) row.
 */
export function evaluateAnalogies(
  wv: WordVectors,
  questions: string,
  o: { restrict?: number; method?: AnalogyMethod; caseInsensitive?: boolean } = {},
): AnalogyScores {
  const restrict = Math.min(wv.words.length, o.restrict ?? 300000);
  const fold = o.caseInsensitive ?? true;
  // The restricted vocabulary (folded when case-insensitive) as its own vectors object.
  const words: string[] = [];
  const rows: number[] = [];
  const seen = new Set<string>();
  for (let r = 0; r < restrict; r++) {
    const w = fold ? wv.words[r]!.toUpperCase() : wv.words[r]!;
    if (seen.has(w)) continue;
    seen.add(w);
    words.push(w);
    rows.push(r);
  }
  const sub: WordVectors = {
    words,
    dim: wv.dim,
    vectors: Float32Array.from(rows.flatMap((r) => [...wv.vectors.subarray(r * wv.dim, (r + 1) * wv.dim)])),
  };
  const sections: SectionScore[] = [];
  let cur: SectionScore | undefined;
  for (const line of questions.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    if (t.startsWith(':')) {
      cur = { section: t.slice(1).trim(), correct: 0, asked: 0, skipped: 0 };
      sections.push(cur);
      continue;
    }
    if (!cur) {
      cur = { section: '', correct: 0, asked: 0, skipped: 0 };
      sections.push(cur);
    }
    const q = (fold ? t.toUpperCase() : t).split(/\s+/);
    if (q.length !== 4 || !q.every((w) => seen.has(w))) {
      cur.skipped++;
      continue;
    }
    const [a, b, c, d] = q as [string, string, string, string];
    cur.asked++;
    if (analogy(sub, a, b, c, { k: 1, method: o.method })[0]?.word === d) cur.correct++;
  }
  const overall = sections.reduce(
    (s, x) => ({
      section: 'overall',
      correct: s.correct + x.correct,
      asked: s.asked + x.asked,
      skipped: s.skipped + x.skipped,
    }),
    { section: 'overall', correct: 0, asked: 0, skipped: 0 },
  );
  return { sections, overall };
}
