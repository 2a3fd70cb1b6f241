// word2vec training (Mikolov et al. 2013), as word2vec.c and gensim do it, in plain TypeScript.
//
// Two matrices: the input vectors W (V×dim, "syn0": the word vectors we keep) and output vectors — C
// (V×dim, "syn1neg") for negative sampling, H ((V−1)×dim, "syn1": one per Huffman inner node) for
// hierarchical softmax. σ(x) = 1/(1+e^−x).
//
// Skip-gram: each context word c within the window of a centre word w predicts w. With negative sampling
// and k noise words n_1..n_k drawn from P(w) ∝ count^0.75 (vocab.ts), the loss of one pair is
//   L = −log σ(W_c·C_w) − Σ_j log σ(−W_c·C_nj).
// For each target t (w with label 1, each n_j with label 0) the gradient step with learning rate α is
//   g = α·(label − σ(W_c·C_t));   e += g·C_t;   C_t += g·W_c        and after all targets  W_c += e.
// (word2vec.c's order: the context word's own vector is the "input"; gensim does the same.)
// Hierarchical softmax instead: p(w | c) = Π_d σ((1 − 2·code_d)·W_c·H_point_d) over w's Huffman path, so
//   L = −Σ_d log σ((1 − 2·code_d)·W_c·H_pd),   g = α·(1 − code_d − σ(W_c·H_pd)), e += g·H_pd, H_pd += g·W_c.
//
// CBOW: the mean of the context vectors h = (1/|ctx|)·Σ_c W_c predicts w with the same targets and
// gradients (h in place of W_c); the error e is then added, unscaled, to every context vector
// (word2vec.c's choice; gensim divides e by |ctx| when cbow_mean=1).
//
// Conventions (word2vec.c's unless said):
// - Window shrink: for each centre word draw b = rand % window; the context is the (window − b) words on
//   either side (so nearer words are used more often).
// - Subsampling: each occurrence is dropped before windows are taken with probability 1 − p(keep)
//   (vocab.ts), drawn afresh each epoch.
// - Learning rate: linear from α to minAlpha over all epochs' words:
//   α_now = α − (α − minAlpha)·wordsDone/(epochs·totalWords), recomputed every 10 000 words (gensim's
//   schedule; word2vec.c's is the same with minAlpha = α·1e−4). wordsDone counts words read, kept or not.
// - Initialisation: W uniform in [−0.5, 0.5)/dim, C and H zero.
// - σ is looked up in a 1000-entry table over [−6, 6), as word2vec.c and gensim do (and the loss, −log σ,
//   in a second one); beyond it negative sampling takes σ as 0 or 1 and hierarchical softmax skips the
//   node.
// - Random numbers: xorshift32 per worker, seeded from --seed and the worker's index (word2vec.c uses a
//   64-bit LCG, next·25214903917 + 11, which JavaScript numbers cannot do cheaply).
// - Threads: the corpus is cut into one contiguous shard per worker; every worker updates the same
//   shared matrices without locks ("Hogwild", as word2vec.c and gensim do), so a multi-thread run is not
//   bit-reproducible; one thread with a fixed seed is.
import { GlassError } from '../util/errors.js';
import {
  buildVocab,
  encodeCorpus,
  huffmanTree,
  keepProbabilities,
  negativeTable,
  sentences,
  type HuffmanTree,
  type Vocab,
} from './vocab.js';
import type { WordVectors } from './vectors.js';

export interface Word2VecOptions {
  /** Vector size (default 100). */
  dim: number;
  /** Max distance to a context word (default 5). */
  window: number;
  /** Skip-gram (default) or CBOW. */
  cbow: boolean;
  /** Noise words per target, 0 = no negative sampling (default 5). */
  negative: number;
  /** Hierarchical softmax (default off). */
  hs: boolean;
  /** Subsampling threshold, 0 = off (default 1e-3). */
  sample: number;
  /** Drop words seen fewer times (default 5). */
  minCount: number;
  /** Starting learning rate (default 0.025 skip-gram, 0.05 CBOW, as word2vec.c). */
  alpha: number;
  /** Final learning rate (default 1e-4, gensim's). */
  minAlpha: number;
  /** Passes over the corpus (default 5). */
  epochs: number;
  seed: number;
  lowercase: boolean;
}

export function defaultOptions(o: Partial<Word2VecOptions> = {}): Word2VecOptions {
  const cbow = o.cbow ?? false;
  return {
    dim: 100,
    window: 5,
    cbow,
    negative: 5,
    hs: false,
    sample: 1e-3,
    minCount: 5,
    alpha: cbow ? 0.05 : 0.025,
    minAlpha: 1e-4,
    epochs: 5,
    seed: 1,
    lowercase: false,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  };
}

/** Everything one worker needs; the arrays may be views of SharedArrayBuffers (Hogwild across workers). */
export interface ShardJob {
  dim: number;
  window: number;
  cbow: boolean;
  negative: number;
  hs: boolean;
  alpha: number;
  minAlpha: number;
  epochs: number;
  /** All workers' words to read: epochs × in-vocabulary corpus words (for the learning rate). */
  plannedWords: number;
  seed: number;
  /** This worker's index: its slot in `progress`. */
  worker: number;
  /** Word rows, sentences ended by -1 (vocab.ts encodeCorpus); this worker reads [begin, end). */
  corpus: Int32Array;
  begin: number;
  end: number;
  /** p(keep)·2³² per word, compared to a 32-bit random draw (1 = 2³²: always kept). */
  keep: Float64Array;
  table: Int32Array;
  W: Float32Array;
  /** Negative-sampling output vectors (V×dim), when negative > 0. */
  C: Float32Array;
  /** Huffman-node output vectors ((V−1)×dim), when hs. */
  H: Float32Array;
  tree: Pick<HuffmanTree, 'length' | 'code' | 'point' | 'maxDepth'>;
  /**
   * Shared progress, 4 float64 per worker: words read, loss sum, loss terms, alpha now. Slot 0 of
   * `stop` ≠ 0 asks every worker to return (Ctrl-C).
   */
  progress: Float64Array;
  stop: Int32Array;
  /**
   * The SIMD kernels (assembly/word2vec.ts), when W, C and H are views of the wasm memory: byte offsets of
   * W, C, H and this worker's two scratch rows (e, and CBOW's mean h). Without: plain TypeScript loops.
   */
  wasm?: WasmKernels;
}

export interface WasmKernels {
  /** One sentence (n word rows at byte offset sent), every step of it; returns the random state after. */
  w2vSentence(sent: number, n: number, alpha: number, rnd: number): number;
  /** The loss sum and its number of terms since the last call. */
  w2vTakeLoss(): number;
  w2vTakeTerms(): number;
  /** This worker's sentence buffer (MAX_SENTENCE + 1 int32), a byte offset of the wasm memory. */
  sent: number;
  /**
   * Where the worker trains a replica of the matrices (train-node.ts, several threads): folds what it
   * learned since the last call into the shared matrices and takes theirs. Called after the sentence that
   * reaches `mergeEvery` words since the last merge, and at the end of the shard (or a stop).
   */
  merge?(): void;
  /** Words between two merges (default: none before the end of the shard). */
  mergeEvery?: number;
}

/**
 * Trains on one shard for all epochs. Self-contained (no outside names, no inner functions): workers run
 * its source text (train-node.ts), and a bundler may rename anything outside.
 */
export function trainShard(j: ShardJob): void {
  const { dim, window, cbow, negative, hs, corpus, keep, table, W, C, H, progress, stop } = j;
  const { length: pathLen, code, point, maxDepth } = j.tree;
  const tableSize = table.length;
  const slot = j.worker * 4;
  // xorshift32, never 0.
  let rnd = (Math.imul(j.seed + 1, 0x9e3779b1) ^ Math.imul(j.worker + 1, 0x85ebca6b)) | 0 || 1;
  const wasm = j.wasm;
  // σ and −log σ by table, as word2vec.c, gensim and the wasm kernels: SIG[i] = σ(x_i), LOSS[i] =
  // −log σ(x_i) = log(1 + e^−x_i), x_i = (2i/1000 − 1)·6; f in [−6, 6) reads entry ⌊(f + 6)·1000/12⌋ (and
  // σ(−f), −log σ(−f) the mirrored entry 999 − i). Outside, σ saturates: negative sampling clamps it to
  // 0 or 1, hierarchical softmax skips the node.
  const SIG = new Float32Array(1000);
  const LOSS = new Float32Array(1000);
  for (let i = 0; i < 1000; i++) {
    const x = ((2 * i) / 1000 - 1) * 6;
    SIG[i] = 1 / (1 + Math.exp(-x));
    LOSS[i] = Math.log1p(Math.exp(-x));
  }
  // One sentence after subsampling (MAX_SENTENCE + 1): in the wasm memory when the kernels run it.
  const sent = wasm ? new Int32Array(W.buffer, wasm.sent, 10001) : new Int32Array(10001);
  const e = new Float32Array(dim); // accumulated error
  const h = new Float32Array(dim); // CBOW's context mean
  let alpha = j.alpha;
  let words = 0; // read by this worker, not yet added to progress
  let loss = 0;
  let terms = 0;
  let unmerged = 0; // words read since the last merge (a replica's: see WasmKernels.merge)
  training: for (let epoch = 0; epoch < j.epochs; epoch++) {
    let p = j.begin;
    while (p < j.end) {
      // Every 10 000 words: publish progress, reread everyone's, and set the learning rate.
      if (words >= 10000) {
        if (wasm) {
          loss += wasm.w2vTakeLoss();
          terms += wasm.w2vTakeTerms();
        }
        progress[slot] = progress[slot]! + words;
        progress[slot + 1] = progress[slot + 1]! + loss;
        progress[slot + 2] = progress[slot + 2]! + terms;
        words = 0;
        loss = 0;
        terms = 0;
        let done = 0;
        for (let s = 0; s < progress.length; s += 4) done += progress[s]!;
        alpha = Math.max(j.minAlpha, j.alpha - (j.alpha - j.minAlpha) * (done / j.plannedWords));
        progress[slot + 3] = alpha;
        if (stop[0] !== 0) break training;
      }
      // Read one sentence, dropping subsampled words.
      let n = 0;
      while (p < j.end && corpus[p]! >= 0) {
        const w = corpus[p++]!;
        words++;
        unmerged++;
        rnd ^= rnd << 13;
        rnd ^= rnd >>> 17;
        rnd ^= rnd << 5;
        if (keep[w]! >= 4294967296 || rnd >>> 0 < keep[w]!) sent[n++] = w;
      }
      p++; // the -1
      // The wasm kernels run the whole sentence: the same steps and draws as the loops below.
      if (wasm) {
        rnd = wasm.w2vSentence(wasm.sent, n, alpha, rnd);
        if (wasm.merge && unmerged >= (wasm.mergeEvery ?? Infinity)) {
          wasm.merge();
          unmerged = 0;
        }
        continue;
      }
      for (let i = 0; i < n; i++) {
        const w = sent[i]!;
        // The window shrink: b = rand % window, context = window − b words each side.
        rnd ^= rnd << 13;
        rnd ^= rnd >>> 17;
        rnd ^= rnd << 5;
        const reach = window - ((rnd >>> 0) % window);
        const lo = i - reach < 0 ? 0 : i - reach;
        const hi = i + reach >= n ? n - 1 : i + reach;
        // The inputs that predict w: in skip-gram each context vector in turn (x = W, row xo); in CBOW
        // once, their mean (x = h).
        let cw = 0;
        if (cbow) {
          h.fill(0);
          for (let c = lo; c <= hi; c++) {
            if (c === i) continue;
            const r = sent[c]! * dim;
            for (let k = 0; k < dim; k++) h[k] += W[r + k]!;
            cw++;
          }
          if (cw === 0) continue;
          for (let k = 0; k < dim; k++) h[k] /= cw;
        }
        for (let c = cbow ? i : lo; c <= (cbow ? i : hi); c++) {
          if (!cbow && c === i) continue;
          const x = cbow ? h : W;
          const xo = cbow ? 0 : sent[c]! * dim;
          e.fill(0);
          // Hierarchical softmax along w's Huffman path, then negative sampling: w with label 1 and
          // `negative` noise words with label 0 (a draw equal to w is skipped). Each target t:
          //   f = x·out_t;  g = α(label − σ(f));  e += g·out_t;  out_t += g·x
          for (let d = 0; d < (hs ? pathLen[w]! : 0) + (negative > 0 ? negative + 1 : 0); d++) {
            const isHs = d < (hs ? pathLen[w]! : 0);
            const at = w * maxDepth + d;
            let t = isHs ? point[at]! : w;
            const nd = isHs ? -1 : d - (hs ? pathLen[w]! : 0); // 0: w itself, then the noise draws
            if (nd > 0) {
              rnd ^= rnd << 13;
              rnd ^= rnd >>> 17;
              rnd ^= rnd << 5;
              t = table[(rnd >>> 0) % tableSize]!;
              if (t === w) continue;
            }
            const out = isHs ? H : C;
            const r = t * dim;
            const label = isHs ? 1 - code[at]! : nd === 0 ? 1 : 0;
            let f = 0;
            for (let k = 0; k < dim; k++) f += x[xo + k]! * out[r + k]!;
            if (isHs && (f <= -6 || f >= 6)) continue;
            const i6 = Math.floor((f + 6) * (1000 / 12));
            const sig = f >= 6 ? 1 : f < -6 ? 0 : SIG[i6]!;
            loss += f >= 6 ? (label ? 0 : f) : f < -6 ? (label ? -f : 0) : LOSS[label ? i6 : 999 - i6]!;
            terms++;
            const g = Math.fround(alpha * (label - sig));
            for (let k = 0; k < dim; k++) {
              e[k] += g * out[r + k]!;
              out[r + k] += g * x[xo + k]!;
            }
          }
          // The error goes back to the input: the context vector, or (CBOW) every context vector.
          for (let c2 = cbow ? lo : c; c2 <= (cbow ? hi : c); c2++) {
            if (cbow && c2 === i) continue;
            const r = sent[c2]! * dim;
            for (let k = 0; k < dim; k++) W[r + k] += e[k]!;
          }
        }
      }
    }
  }
  if (wasm) {
    loss += wasm.w2vTakeLoss();
    terms += wasm.w2vTakeTerms();
    wasm.merge?.();
  }
  progress[slot] = progress[slot]! + words;
  progress[slot + 1] = progress[slot + 1]! + loss;
  progress[slot + 2] = progress[slot + 2]! + terms;
}

/** W's starting values: uniform in [−0.5, 0.5)/dim from a seeded xorshift32 (C and H start at zero). */
export function initInput(W: Float32Array, dim: number, seed: number): void {
  let rnd = Math.imul(seed + 7, 0x9e3779b1) | 0 || 1;
  for (let i = 0; i < W.length; i++) {
    rnd ^= rnd << 13;
    rnd ^= rnd >>> 17;
    rnd ^= rnd << 5;
    W[i] = ((rnd >>> 0) / 4294967296 - 0.5) / dim;
  }
}

/**
 * Cuts the encoded corpus into `parts` shards of about equal length, each ending after a sentence's -1,
 * returned as boundaries [0, b1, …, corpus.length].
 */
export function shardBounds(corpus: Int32Array, parts: number): number[] {
  const bounds = [0];
  for (let k = 1; k < parts; k++) {
    let p = Math.max(bounds[k - 1]!, Math.floor((corpus.length * k) / parts));
    while (p < corpus.length && corpus[p - 1] !== -1) p++;
    bounds.push(p);
  }
  bounds.push(corpus.length);
  return bounds;
}

/** The corpus and tables a run trains on, and its matrices (in shared memory when `shared`). */
export interface Prepared {
  options: Word2VecOptions;
  vocab: Vocab;
  corpus: Int32Array;
  keep: Float64Array;
  table: Int32Array;
  tree: HuffmanTree;
  W: Float32Array;
  C: Float32Array;
  H: Float32Array;
}

/** Counts, encodes and builds the tables; allocates W (initialised), C and H (zero). */
export function prepare(text: string, options: Word2VecOptions, shared = false): Prepared {
  const o = options;
  const sents = sentences(text, o.lowercase);
  const vocab = buildVocab(sents, o.minCount);
  if (vocab.words.length < 2) {
    throw new GlassError(
      'BAD_INPUT',
      `word2vec: ${vocab.words.length} words seen ≥ ${o.minCount} times; lower --min-count`,
    );
  }
  const V = vocab.words.length;
  const alloc = <T>(make: new (b: ArrayBufferLike) => T, bytes: number): T =>
    new make(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  const copy = <T extends Int32Array | Float64Array | Uint8Array>(a: T): T => {
    if (!shared) return a;
    const b = new (a.constructor as new (x: ArrayBufferLike) => T)(new SharedArrayBuffer(a.byteLength));
    b.set(a as never);
    return b;
  };
  const W = alloc(Float32Array, V * o.dim * 4);
  initInput(W, o.dim, o.seed);
  const tree = o.hs
    ? huffmanTree(vocab.counts)
    : { length: new Uint8Array(0), code: new Uint8Array(0), point: new Int32Array(0), maxDepth: 1 };
  return {
    options: o,
    vocab,
    corpus: copy(encodeCorpus(sents, vocab)),
    keep: copy(keepProbabilities(vocab, o.sample).map((p) => (p >= 1 ? 4294967296 : p * 4294967296))),
    table: copy(o.negative > 0 ? negativeTable(vocab.counts) : new Int32Array(1)),
    tree: { ...tree, length: copy(tree.length), code: copy(tree.code), point: copy(tree.point) },
    W,
    C: alloc(Float32Array, o.negative > 0 ? V * o.dim * 4 : 0),
    H: alloc(Float32Array, o.hs ? (V - 1) * o.dim * 4 : 0),
  };
}

/** One shard's job over prepared data (progress: 4 float64 per worker, stop: 1 int32). */
export function shardJob(
  p: Prepared,
  worker: number,
  begin: number,
  end: number,
  progress: Float64Array,
  stop: Int32Array,
): ShardJob {
  const o = p.options;
  return {
    dim: o.dim,
    window: o.window,
    cbow: o.cbow,
    negative: o.negative,
    hs: o.hs,
    alpha: o.alpha,
    minAlpha: o.minAlpha,
    epochs: o.epochs,
    plannedWords: o.epochs * p.vocab.total,
    seed: o.seed,
    worker,
    corpus: p.corpus,
    begin,
    end,
    keep: p.keep,
    table: p.table,
    W: p.W,
    C: p.C,
    H: p.H,
    tree: p.tree,
    progress,
    stop,
  };
}

/** The trained input vectors with their words, most frequent first. */
export function wordVectors(p: Prepared): WordVectors {
  return { words: p.vocab.words, dim: p.options.dim, vectors: p.W, counts: p.vocab.counts };
}

/**
 * Trains word2vec on a text in this thread (browser-safe; train-node.ts runs workers). One thread and a
 * fixed seed give the same vectors every time.
 */
export function trainWord2Vec(text: string, options: Partial<Word2VecOptions> = {}): WordVectors {
  const p = prepare(text, defaultOptions(options));
  trainShard(shardJob(p, 0, 0, p.corpus.length, new Float64Array(4), new Int32Array(1)));
  return wordVectors(p);
}
