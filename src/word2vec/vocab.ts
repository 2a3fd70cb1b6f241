// word2vec's vocabulary and the tables built from its counts, before any training.
//
// Words: what whitespace separates (spaces, tabs, newlines), nothing more — punctuation stays attached
// ("earth." and "earth" are two words), as in word2vec.c and gensim's LineSentence; `lowercase` folds
// case first. Each line is a sentence: windows never cross a line break (gensim's LineSentence; word2vec.c
// reads a newline as the word </s>, which has the same effect). Lines longer than MAX_SENTENCE words are
// cut into pieces of that length (gensim's MAX_WORDS_IN_BATCH is 10000; word2vec.c's 1000).
//
// The vocabulary keeps the words seen at least minCount times, sorted by count descending, ties in order of
// first appearance (gensim sorts stably after counting in first-seen order) — the order word2vec.c and
// gensim write vectors in, so row i of a vectors file is the i-th most frequent word.
//
// Frequent-word subsampling (Mikolov et al. 2013, as word2vec.c implements it): with t = sample·total
// (total = the corpus's in-vocabulary words) and f = a word's count, each occurrence is kept with
// probability  p(keep) = (sqrt(f/t) + 1) · t/f  (≥ 1 for rare words: always kept). sample = 0: keep all.
//
// Negative sampling draws "noise" words from the unigram distribution raised to 3/4:
// P(w) = count(w)^0.75 / Σ count^0.75, as a table of tableSize slots where word w fills a share P(w) of
// the slots in vocabulary order; a uniform slot index is then a draw from P (word2vec.c's table, whose
// size is always 1e8). Ours is sized by the vocabulary (negativeTableSize): enough slots that the rarest
// word fills 20 or more (its probability off by at most 1 slot in 20), between 1e6 and word2vec.c's 1e8.
// Every draw is a random read of the table, so a small one pays: the KJV's 5,332 words need 820,000
// slots, and training one epoch took 1.5 CPU-s with a 1e6-slot table (4 MB, in cache) against 2.1-2.5
// with 1e7 (40 MB).
//
// Hierarchical softmax puts the words at the leaves of a Huffman tree built from the counts (frequent
// words get short paths). Each of the V−1 inner nodes n has a vector; a word's path from the root is a
// list of inner nodes point[0..L) and the turns code[0..L) ∈ {0,1} taken below each; see train.ts for
// the probabilities.

/** Longest run of words treated as one sentence; longer lines are cut (gensim's limit). */
export const MAX_SENTENCE = 10000;

export interface Vocab {
  /** Words by count descending (ties: first seen first). */
  words: string[];
  counts: number[];
  /** word → row. */
  index: Map<string, number>;
  /** Σ counts: the in-vocabulary words of the corpus. */
  total: number;
}

/** Splits a text into sentences of words (whitespace-separated; one line = one sentence). */
export function sentences(text: string, lowercase = false): string[][] {
  const out: string[][] = [];
  for (const line of (lowercase ? text.toLowerCase() : text).split('\n')) {
    const words = line.split(/\s+/).filter((w) => w !== '');
    for (let i = 0; i < words.length; i += MAX_SENTENCE) out.push(words.slice(i, i + MAX_SENTENCE));
  }
  return out;
}

/** Counts the words and keeps those seen ≥ minCount times, most frequent first. */
export function buildVocab(sents: string[][], minCount = 5): Vocab {
  // Map keeps insertion order: first-seen order, which the stable sort below preserves among ties.
  const counts = new Map<string, number>();
  for (const s of sents) for (const w of s) counts.set(w, (counts.get(w) ?? 0) + 1);
  const kept = [...counts].filter(([, c]) => c >= minCount).sort((a, b) => b[1] - a[1]);
  return {
    words: kept.map(([w]) => w),
    counts: kept.map(([, c]) => c),
    index: new Map(kept.map(([w], i) => [w, i])),
    total: kept.reduce((s, [, c]) => s + c, 0),
  };
}

/**
 * The corpus as word rows, each sentence ended by -1; words outside the vocabulary are dropped before
 * windows are taken (as word2vec.c and gensim do, so they neither count nor occupy a window slot).
 */
export function encodeCorpus(sents: string[][], vocab: Vocab): Int32Array {
  let n = 0;
  for (const s of sents) n += s.length + 1;
  const ids = new Int32Array(n);
  let k = 0;
  for (const s of sents) {
    const start = k;
    for (const w of s) {
      const id = vocab.index.get(w);
      if (id !== undefined) ids[k++] = id;
    }
    if (k > start) ids[k++] = -1;
  }
  return ids.slice(0, k);
}

/** p(keep) for each word: (sqrt(f/t) + 1)·t/f with t = sample·total, capped at 1; all 1 when sample = 0. */
export function keepProbabilities(vocab: Vocab, sample: number): Float64Array {
  const p = new Float64Array(vocab.counts.length).fill(1);
  if (sample <= 0) return p;
  const t = sample * vocab.total;
  vocab.counts.forEach((f, i) => {
    p[i] = Math.min(1, (Math.sqrt(f / t) + 1) * (t / f));
  });
  return p;
}

/** Slots for negativeTable: the rarest word's share of Σ count^0.75 × size ≥ 20, within [1e6, 1e8]. */
export function negativeTableSize(counts: readonly number[], power = 0.75): number {
  let z = 0;
  let least = Infinity;
  for (const c of counts) {
    z += Math.pow(c, power);
    least = Math.min(least, Math.pow(c, power));
  }
  return Math.min(1e8, Math.max(1e6, Math.ceil((20 * z) / least)));
}

/**
 * The negative-sampling table: slot s holds the word w whose cumulative share of Σ count^0.75 covers the
 * slot's midpoint (s + ½)/size, so word w fills ≈ P(w)·size consecutive slots.
 */
export function negativeTable(
  counts: readonly number[],
  size = negativeTableSize(counts),
  power = 0.75,
): Int32Array {
  const table = new Int32Array(size);
  let z = 0;
  for (const c of counts) z += Math.pow(c, power);
  let w = 0;
  let upTo = Math.pow(counts[0] ?? 0, power) / z; // cumulative share of words 0..w
  for (let s = 0; s < size; s++) {
    while ((s + 0.5) / size > upTo && w < counts.length - 1) upTo += Math.pow(counts[++w]!, power) / z;
    table[s] = w;
  }
  return table;
}

export interface HuffmanTree {
  /** Path length per word. */
  length: Uint8Array;
  /** Turns, word w's at [w·maxDepth, w·maxDepth + length[w]), root first. */
  code: Uint8Array;
  /** Inner nodes (0..V−2, rows of the hs output matrix) on the same paths, root first. */
  point: Int32Array;
  maxDepth: number;
}

/**
 * Builds the Huffman tree of the counts (word2vec.c's construction): repeatedly merge the two least
 * frequent nodes; the merged node's first child gets code 0, the second code 1. Leaves are 0..V−1, inner
 * nodes V..2V−2 in creation order; inner node V+j is row j of the hs matrix, the root is row V−2.
 */
export function huffmanTree(counts: readonly number[]): HuffmanTree {
  const V = counts.length;
  const count = new Float64Array(2 * V).fill(Infinity);
  counts.forEach((c, i) => (count[i] = c));
  const parent = new Int32Array(2 * V);
  const bit = new Uint8Array(2 * V);
  // counts are sorted descending, so leaves are taken from the end (pos1 moves down) and inner nodes,
  // created in increasing count order, from the front of their queue (pos2 moves up): a two-queue merge.
  let pos1 = V - 1;
  let pos2 = V;
  const takeMin = (): number => (pos1 >= 0 && count[pos1]! < count[pos2]! ? pos1-- : pos2++);
  for (let a = 0; a < V - 1; a++) {
    const m1 = takeMin();
    const m2 = takeMin();
    count[V + a] = count[m1]! + count[m2]!;
    parent[m1] = V + a;
    parent[m2] = V + a;
    bit[m2] = 1;
  }
  // Each word's path: walk up to the root, then store it root first.
  const paths: Array<{ code: number[]; point: number[] }> = [];
  let maxDepth = 1;
  const root = 2 * V - 2;
  for (let w = 0; w < V; w++) {
    const code: number[] = [];
    const point: number[] = [];
    for (let n = w; n !== root && V > 1; n = parent[n]!) {
      code.push(bit[n]!);
      point.push(parent[n]! - V);
    }
    code.reverse();
    point.reverse();
    paths.push({ code, point });
    maxDepth = Math.max(maxDepth, code.length);
  }
  const tree: HuffmanTree = {
    length: new Uint8Array(V),
    code: new Uint8Array(V * maxDepth),
    point: new Int32Array(V * maxDepth),
    maxDepth,
  };
  paths.forEach((p, w) => {
    tree.length[w] = p.code.length;
    tree.code.set(p.code, w * maxDepth);
    tree.point.set(p.point, w * maxDepth);
  });
  return tree;
}
