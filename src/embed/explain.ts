// Explaining a similarity: which tokens of each text drive the cosine between their sentence vectors.
// Pure (no Node APIs), so the explorer page can share the types.
//
// With u = pool(H_a) and v = pool(H_b) — before normalisation, which only rescales them and so leaves
// the cosine as it is — cos(u, v) = u·v / (|u| |v|) splits exactly through each pooling:
//
//   mean   u = (1/n_a) Σ_i h_i, so cos = Σ_i h_i·v / (n_a |u| |v|): token i of a contributes h_i·v̂ / (n_a |u|)
//          (and token j of b, g_j·û / (n_b |v|)). Pair (i, j) contributes h_i·g_j / (n_a n_b |u| |v|); a
//          row of the pair matrix sums to a's token, a column to b's, the whole matrix to the cosine.
//          (mean_sqrt_len divides by √n instead of n: the same direction, the same terms.)
//   cls    u = h_[CLS]: the pooling reads [CLS] alone, so all of the score sits there. ([CLS]'s vector
//          attended to every token on its way up, but that is inside the encoder, not the pooling.)
//   max    u_k = h_{i_k, k} with i_k = argmax_i h_ik: dimension k's term u_k v_k / (|u| |v|) goes to token i_k
//          of a, to b's argmax token j_k, and to the pair (i_k, j_k).
//
// Only the first `rows` vectors of each text are read: padding (and anything else past them) is excluded.
// [CLS] and [SEP] are real inputs to mean and max pooling (sentence-transformers averages them in); they
// are kept and marked `special`.
import { GlassError } from '../util/errors.js';
import type { EmbeddingPooling, PoolingMode } from './pooling.js';

/** One text's token vectors: `hidden` is [≥ rows × dim]; rows past `rows` (padding) are never read. */
export interface TokenVectors {
  hidden: ArrayLike<number>;
  rows: number;
}

/** The raw split of one cosine: per-token terms of a and b and the pair matrix, all summing to `cosine`. */
export interface PoolingAttribution {
  cosine: number;
  /** Per token of a (length rows_a). */
  a: number[];
  /** Per token of b (length rows_b). */
  b: number[];
  /** [rows_a][rows_b]: pair (i, j)'s term; rows sum to `a`, columns to `b`. */
  pairs: number[][];
}

export interface ExplainedToken {
  /** Position in the model's input ([CLS] is 0). */
  index: number;
  id: number;
  /** The vocabulary string (WordPiece continuations keep their "##"). */
  text: string;
  /** UTF-8 byte span in the text ([CLS]: 0..0, [SEP]: the end..the end). */
  start: number;
  end: number;
  /** Added by the tokenizer ([CLS], [SEP]), not from the text. */
  special: boolean;
  /** A word not in a word-vector model's vocabulary: it has no vector and adds nothing (word vectors only). */
  skipped?: boolean;
  /** This token's term of the cosine; a text's terms sum to the cosine. */
  contribution: number;
  /** contribution / cosine (the shares of a text sum to 1; 0 when the cosine is 0). */
  share: number;
}

export interface ExplainedPair {
  /** Token indices in a and b. */
  a: number;
  b: number;
  contribution: number;
  share: number;
}

export interface SimilarityExplanation {
  version: 1;
  texts: { a: string; b: string };
  pooling: EmbeddingPooling;
  normalize: boolean;
  /** cos(pool(a), pool(b)), in float64 from the model's float32 token vectors. */
  cosine: number;
  tokens: { a: ExplainedToken[]; b: ExplainedToken[] };
  /** [tokens of a][tokens of b]: each pair's term of the cosine (sums to it). */
  pairs: number[][];
  /** The strongest pairs by |contribution|, largest first. */
  topPairs: ExplainedPair[];
  /** For a text cut to the model's limit: its length in tokens before the cut; else null. */
  truncated: { a: number | null; b: number | null };
  /** How the pooling splits the score, in words. */
  note: string;
}

/** A token as the model reads it, before attribution. */
export interface InputToken {
  id: number;
  text: string;
  start: number;
  end: number;
  special: boolean;
  /** Not in a word-vector model's vocabulary (its vector row is zero). */
  skipped?: boolean;
}

export const POOLING_NOTES: Record<PoolingMode, string> = {
  mean:
    'mean pooling: token i of A contributes h_i·v̂ / (n_A·|u|), pair (i, j) h_i·h_j / (n_A·n_B·|u|·|v|); ' +
    '[CLS] and [SEP] are averaged in like every token, as sentence-transformers does',
  mean_sqrt_len:
    'mean (÷√n) pooling: the same direction as the mean, so the same terms: token i of A contributes ' +
    'h_i·v̂ / (n_A·|u|), pair (i, j) h_i·h_j / (n_A·n_B·|u|·|v|)',
  cls:
    "CLS pooling: the sentence vector is the [CLS] token's, so all of the score sits on [CLS] (its vector " +
    'attended to every token inside the encoder, but the pooling reads [CLS] alone)',
  max:
    "max pooling: each dimension k comes from one token (its argmax); dimension k's term u_k·v_k / (|u|·|v|) " +
    'goes to that token of A, that token of B, and their pair',
};

function row(t: TokenVectors, i: number, dim: number): ArrayLike<number> {
  const h = t.hidden;
  if (h instanceof Float32Array || h instanceof Float64Array) return h.subarray(i * dim, (i + 1) * dim);
  return Array.from({ length: dim }, (_, k) => h[i * dim + k]);
}

function check(t: TokenVectors, dim: number, which: string): void {
  if (!Number.isInteger(t.rows) || t.rows < 1)
    throw new GlassError('BAD_INPUT', `explain: text ${which} has no tokens`);
  if (t.hidden.length < t.rows * dim) {
    throw new GlassError(
      'BAD_INPUT',
      `explain: text ${which} has ${t.hidden.length} values, fewer than ${t.rows} tokens × ${dim} dims`,
    );
  }
}

function dot(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < x.length; k++) s += x[k] * y[k];
  return s;
}

/** The mean of the first rows vectors, in float64. */
function meanOf(t: TokenVectors, dim: number): Float64Array {
  const u = new Float64Array(dim);
  for (let i = 0; i < t.rows; i++) {
    const r = row(t, i, dim);
    for (let k = 0; k < dim; k++) u[k] += r[k];
  }
  for (let k = 0; k < dim; k++) u[k] /= t.rows;
  return u;
}

/** Per dimension: the max over the first rows vectors and the (first) token holding it. */
function maxOf(t: TokenVectors, dim: number): { u: Float64Array; arg: Int32Array } {
  const u = new Float64Array(dim).fill(-Infinity);
  const arg = new Int32Array(dim);
  for (let i = 0; i < t.rows; i++) {
    const r = row(t, i, dim);
    for (let k = 0; k < dim; k++) {
      if (r[k] > u[k]) {
        u[k] = r[k];
        arg[k] = i;
      }
    }
  }
  return { u, arg };
}

const zeros = (n: number) => new Array<number>(n).fill(0);
const matrix = (r: number, c: number) => Array.from({ length: r }, () => zeros(c));

/**
 * Splits cos(pool(a), pool(b)) into per-token terms of each text and a token×token pair matrix, all of
 * which sum to the cosine (see the top of this file). A zero pooled vector gives cosine 0 and no terms.
 */
export function attributePooling(
  a: TokenVectors,
  b: TokenVectors,
  dim: number,
  mode: PoolingMode,
): PoolingAttribution {
  check(a, dim, 'A');
  check(b, dim, 'B');
  const na = a.rows;
  const nb = b.rows;
  const out: PoolingAttribution = { cosine: 0, a: zeros(na), b: zeros(nb), pairs: matrix(na, nb) };

  if (mode === 'cls') {
    const u = row(a, 0, dim);
    const v = row(b, 0, dim);
    const den = Math.sqrt(dot(u, u) * dot(v, v));
    if (!(den > 0)) return out;
    out.cosine = dot(u, v) / den;
    out.a[0] = out.b[0] = out.pairs[0][0] = out.cosine;
    return out;
  }

  if (mode === 'max') {
    const { u, arg: ia } = maxOf(a, dim);
    const { u: v, arg: ib } = maxOf(b, dim);
    const den = Math.sqrt(dot(u, u) * dot(v, v));
    if (!(den > 0)) return out;
    for (let k = 0; k < dim; k++) {
      const term = (u[k] * v[k]) / den;
      out.cosine += term;
      out.a[ia[k]] += term;
      out.b[ib[k]] += term;
      out.pairs[ia[k]][ib[k]] += term;
    }
    return out;
  }

  // mean, mean_sqrt_len
  const u = meanOf(a, dim);
  const v = meanOf(b, dim);
  const nu = Math.sqrt(dot(u, u));
  const nv = Math.sqrt(dot(v, v));
  if (!(nu > 0 && nv > 0)) return out;
  out.cosine = dot(u, v) / (nu * nv);
  const ka = 1 / (na * nu * nv);
  const kb = 1 / (nb * nu * nv);
  const kab = 1 / (na * nb * nu * nv);
  const rowsB = Array.from({ length: nb }, (_, j) => row(b, j, dim));
  for (let i = 0; i < na; i++) {
    const hi = row(a, i, dim);
    out.a[i] = dot(hi, v) * ka;
    const p = out.pairs[i];
    for (let j = 0; j < nb; j++) p[j] = dot(hi, rowsB[j]) * kab;
  }
  for (let j = 0; j < nb; j++) out.b[j] = dot(rowsB[j], u) * kb;
  return out;
}

/** The `count` pairs with the largest |contribution|, largest first. */
export function topPairs(pairs: number[][], cosine: number, count: number): ExplainedPair[] {
  const all: ExplainedPair[] = [];
  pairs.forEach((r, i) =>
    r.forEach((c, j) => {
      if (c !== 0) all.push({ a: i, b: j, contribution: c, share: cosine === 0 ? 0 : c / cosine });
    }),
  );
  all.sort((x, y) => Math.abs(y.contribution) - Math.abs(x.contribution) || x.a - y.a || x.b - y.b);
  return all.slice(0, Math.max(0, count));
}

export interface ExplainInput {
  text: string;
  tokens: InputToken[];
  hidden: ArrayLike<number>;
  /** Tokens before a cut to the model's limit, or null. */
  truncatedFrom?: number | null;
}

/** Puts an attribution together with the tokens of both texts. */
export function buildExplanation(
  a: ExplainInput,
  b: ExplainInput,
  dim: number,
  pooling: PoolingMode,
  normalize: boolean,
  options: {
    topPairs?: number;
    /** The name and note to report when the rows are not an encoder's (SIF: the weighted word vectors). */
    pooling?: EmbeddingPooling;
    note?: string;
  } = {},
): SimilarityExplanation {
  const r = attributePooling(
    { hidden: a.hidden, rows: a.tokens.length },
    { hidden: b.hidden, rows: b.tokens.length },
    dim,
    pooling,
  );
  const share = (c: number) => (r.cosine === 0 ? 0 : c / r.cosine);
  const explainTokens = (toks: InputToken[], terms: number[]): ExplainedToken[] =>
    toks.map((t, index) => ({ index, ...t, contribution: terms[index], share: share(terms[index]) }));
  return {
    version: 1,
    texts: { a: a.text, b: b.text },
    pooling: options.pooling ?? pooling,
    normalize,
    cosine: r.cosine,
    tokens: { a: explainTokens(a.tokens, r.a), b: explainTokens(b.tokens, r.b) },
    pairs: r.pairs,
    topPairs: topPairs(r.pairs, r.cosine, options.topPairs ?? 10),
    truncated: { a: a.truncatedFrom ?? null, b: b.truncatedFrom ?? null },
    note: options.note ?? POOLING_NOTES[pooling],
  };
}
