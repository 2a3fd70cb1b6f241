// A sentence embedder from static word vectors (word2vec, GloVe): the weighted average of a text's word
// vectors. Pure (no Node APIs); load.ts reads the files.
//
// SIF (Arora, Liang & Ma 2017, "A simple but tough-to-beat baseline for sentence embeddings"):
//
//   α_w   = a / (a + p(w))            p(w) = count(w) / Σ counts: the word's share of the training corpus
//                                     (word2vec.c -save-vocab counts); a ≈ 1e-3. Frequent words ("the",
//                                     "and", "unto") weigh little, rare ones nearly 1.
//   v_s   = (1/|s|) Σ_{w∈s} α_w e_w   the average over the words of s found in the vocabulary (|s| of them)
//   v_s  ← v_s − (v_s·c) c            optional: remove the common component c (a unit vector, the first
//                                     principal component of the v_s of a reference set, fixed at build
//                                     time and stored with the model so that documents and queries get the
//                                     same map; see remove_component in load.ts)
//   out   = v_s / |v_s|               L2-normalised: a dot product is the cosine
//
// kind word2vec-mean is the same with α_w = 1 and no component removed: the plain average.
//
// Words: runs of letters and apostrophes (’ read as '), everything else a separator — the corpus rule of
// scripts/train-word2vec-kjv.sh. A word is looked up as written, then lower-cased, then without leading and
// trailing apostrophes, so a lower-cased vocabulary (the KJV vectors) and a cased one both work. Words not
// in the vocabulary are skipped (explain lists them, marked, with no share). A text with no known word has
// no vector: embed and explain refuse it with an error naming it (no zero vector, whose cosine is undefined).
//
// Explaining a similarity: the projection is linear, so v_s = (1/|s|) Σ_w α_w e'_w with e'_w = e_w − (e_w·c)c
// (e'_w = e_w without a component), and cos(v_A, v_B) = Σ_{w∈A} (α_w e'_w)·v_B / (|A| |v_A| |v_B|): word w of
// A contributes its term, a text's terms sum to the cosine, and pair (w, x) contributes
// (α_w e'_w)·(α_x e'_x) / (|A| |B| |v_A| |v_B|). That is mean pooling over the rows α_w e'_w
// (explain.ts, attributePooling), which this file hands it.
import { GlassError } from '../util/errors.js';
import type { WordVectors } from '../word2vec/vectors.js';
import type { EmbedOptions, ExplainOptions } from './embedder.js';
import { buildExplanation, type InputToken, type SimilarityExplanation } from './explain.js';
import type { EmbeddingModel } from './model.js';
import { powerStep } from './power-iteration.js';
import type { EmbeddingPooling } from './pooling.js';

/** SIF's a, when the model's config does not say. */
export const SIF_A = 1e-3;

export interface WordVectorEmbedderOptions {
  vectors: WordVectors;
  source: string;
  /** 'sif': α_w = a/(a + p(w)) from `counts`; 'mean': α_w = 1. */
  weighting: 'sif' | 'mean';
  /** Corpus counts per word (sif): every word of `vectors` needs one. */
  counts?: ReadonlyMap<string, number>;
  a?: number;
  /** The direction removed from every sentence vector (SIF's common component; made unit length); none when absent. */
  removeComponent?: ArrayLike<number>;
}

/** A word of a text: its characters, its UTF-8 byte span, and its vocabulary row (−1: not in it). */
export interface TextWord {
  text: string;
  start: number;
  end: number;
  row: number;
}

/** α_w = a / (a + count_w / total) per row; total = Σ of the counts given. */
export function sifWeights(
  words: readonly string[],
  counts: ReadonlyMap<string, number>,
  a = SIF_A,
): Float64Array {
  let total = 0;
  for (const c of counts.values()) total += c;
  const out = new Float64Array(words.length);
  words.forEach((w, i) => {
    const c = counts.get(w);
    if (c === undefined) throw new GlassError('BAD_FILE', `the vocabulary counts have no entry for "${w}"`);
    out[i] = a / (a + c / total);
  });
  return out;
}

/** The runs of letters and apostrophes of a text, with their UTF-8 byte spans. */
export function textWords(text: string): Array<{ text: string; start: number; end: number }> {
  const enc = new TextEncoder();
  const out: Array<{ text: string; start: number; end: number }> = [];
  let chars = 0;
  let bytes = 0;
  for (const m of text.matchAll(/[\p{L}'’]+/gu)) {
    bytes += enc.encode(text.slice(chars, m.index)).length;
    const len = enc.encode(m[0]).length;
    out.push({ text: m[0].replace(/’/g, "'"), start: bytes, end: bytes + len });
    bytes += len;
    chars = m.index + m[0].length;
  }
  return out;
}

/**
 * The first principal component (uncentred, as Arora et al.'s TruncatedSVD) of the rows: the unit vector c
 * maximising Σ_i (x_i·c)², by power iteration on XᵀX from a fixed start; its sign makes Σ_k c_k ≥ 0.
 */
export function firstPrincipalComponent(
  rows: readonly ArrayLike<number>[],
  dim: number,
  iterations = 100,
): Float64Array {
  let c = new Float64Array(dim).fill(1 / Math.sqrt(dim));
  for (let it = 0; it < iterations; it++) {
    const { next, norm } = powerStep(rows, c);
    if (!(norm > 0)) break;
    c = next;
  }
  let s = 0;
  for (const v of c) s += v;
  if (s < 0) for (let k = 0; k < dim; k++) c[k] = -c[k];
  return c;
}

const POOLING_NOTE = {
  sif:
    'SIF: v = (1/|s|)·Σ α_w·e_w over the known words, α_w = a/(a + p(w))REMOVED; word w of A contributes ' +
    '(α_w·e_w)·v_B / (|A|·|v_A|·|v_B|)',
  mean: "plain average of the known words' vectors: word w of A contributes e_w·v_B / (|A|·|v_A|·|v_B|)",
};

export class WordVectorEmbedder implements EmbeddingModel {
  readonly source: string;
  readonly dim: number;
  readonly nLayers = 0;
  readonly pooling: EmbeddingPooling;
  readonly normalize = true;
  readonly maxTokens = Infinity;
  readonly addedTokens = 0;
  readonly vectors: WordVectors;
  /** α per vocabulary row (all 1 for the plain average). */
  readonly weights: Float64Array;
  readonly a: number;
  readonly removeComponent: Float64Array | null;
  private readonly rows = new Map<string, number>();

  constructor(o: WordVectorEmbedderOptions) {
    this.source = o.source;
    this.vectors = o.vectors;
    this.dim = o.vectors.dim;
    this.a = o.a ?? SIF_A;
    this.pooling = o.weighting === 'sif' ? 'sif' : 'mean';
    if (o.weighting === 'sif' && !o.counts) throw new Error('WordVectorEmbedder: SIF needs counts');
    this.weights =
      o.weighting === 'sif'
        ? sifWeights(o.vectors.words, o.counts!, this.a)
        : new Float64Array(o.vectors.words.length).fill(1);
    o.vectors.words.forEach((w, i) => {
      if (!this.rows.has(w)) this.rows.set(w, i); // a duplicate keeps its first (more frequent) row
    });
    const c = o.removeComponent ? Float64Array.from(o.removeComponent) : null;
    if (c && c.length !== this.dim) {
      throw new GlassError(
        'BAD_FILE',
        `${o.source}: remove_component has ${c.length} values, the vectors ${this.dim}`,
      );
    }
    // made a unit vector (a file stores it to 9 digits)
    const cn = c ? Math.sqrt(c.reduce((s, x) => s + x * x, 0)) : 0;
    if (c && !(cn > 0)) throw new GlassError('BAD_FILE', `${o.source}: remove_component is a zero vector`);
    this.removeComponent = c ? c.map((x) => x / cn) : null;
  }

  /** The vocabulary row of a word as written, lower-cased, or without outer apostrophes; −1 if none. */
  rowOf(word: string): number {
    const lower = word.toLowerCase();
    for (const w of [word, lower, word.replace(/^'+|'+$/g, ''), lower.replace(/^'+|'+$/g, '')]) {
      const r = this.rows.get(w);
      if (r !== undefined) return r;
    }
    return -1;
  }

  /** The words of a text with their rows. */
  words(text: string): TextWord[] {
    return textWords(text).map((w) => ({ ...w, row: this.rowOf(w.text) }));
  }

  countTokens(text: string): number {
    return textWords(text).length;
  }

  /** Row r's term α_r·e'_r (e' = e without the removed component), in float64. */
  wordTerm(r: number): Float64Array {
    const d = this.dim;
    const e = this.vectors.vectors.subarray(r * d, (r + 1) * d);
    const out = new Float64Array(d);
    const c = this.removeComponent;
    let p = 0;
    if (c) for (let k = 0; k < d; k++) p += e[k] * c[k];
    for (let k = 0; k < d; k++) out[k] = this.weights[r] * (c ? e[k] - p * c[k] : e[k]);
    return out;
  }

  /** v_s before normalisation (float64): the average of the known words' terms. */
  sentenceVector(text: string): Float64Array {
    const known = this.words(text).filter((w) => w.row >= 0);
    if (known.length === 0) throw this.noWord(text);
    const v = new Float64Array(this.dim);
    const d = this.dim;
    const c = this.removeComponent;
    for (const w of known) {
      const e = this.vectors.vectors.subarray(w.row * d, (w.row + 1) * d);
      const alpha = this.weights[w.row] / known.length;
      for (let k = 0; k < d; k++) v[k] += alpha * e[k];
    }
    if (c) {
      let p = 0;
      for (let k = 0; k < d; k++) p += v[k] * c[k];
      for (let k = 0; k < d; k++) v[k] -= p * c[k];
    }
    return v;
  }

  private noWord(text: string): GlassError {
    const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    return new GlassError(
      'BAD_INPUT',
      `${JSON.stringify(shown)} has no word in the vocabulary of ${this.source} (${this.vectors.words.length} words), ` +
        'so it has no vector; use other words or another --model',
    );
  }

  embed(texts: string[], _options: EmbedOptions = {}): Float32Array[] {
    return texts.map((t) => {
      const v = this.sentenceVector(t);
      let n = 0;
      for (const x of v) n += x * x;
      n = Math.sqrt(n) || 1;
      return Float32Array.from(v, (x) => x / n);
    });
  }

  explain(a: string, b: string, options: ExplainOptions = {}): SimilarityExplanation {
    const one = (text: string) => {
      const words = this.words(text);
      if (!words.some((w) => w.row >= 0)) throw this.noWord(text);
      const hidden = new Float64Array(words.length * this.dim);
      const tokens: InputToken[] = words.map((w, i) => {
        if (w.row >= 0) hidden.set(this.wordTerm(w.row), i * this.dim);
        const t: InputToken = { id: w.row, text: w.text, start: w.start, end: w.end, special: false };
        return w.row >= 0 ? t : { ...t, skipped: true };
      });
      return { text, tokens, hidden };
    };
    // The skipped words are zero rows: they add nothing, and the 1/n they change rescales both the
    // sentence vector and its norm, so the terms and the cosine are those of the known words alone.
    const note =
      this.pooling === 'sif'
        ? POOLING_NOTE.sif.replace(
            'REMOVED',
            `, a = ${this.a}${this.removeComponent ? ', the common component c removed from each e_w' : ''}`,
          )
        : POOLING_NOTE.mean;
    return buildExplanation(one(a), one(b), this.dim, 'mean', true, {
      topPairs: options.topPairs,
      pooling: this.pooling,
      note: note + '; – not in the vocabulary: skipped',
    });
  }
}
