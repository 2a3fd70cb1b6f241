// Static vs contextual word vectors: the same word in several sentences. A static table (word2vec) has
// one vector per word, the same in every sentence; a transformer's vector of the word's token changes
// as its blocks mix the context in. Browser-safe (the explorer's context view and the in-page engine
// use it; `glasslm explain --contextual` and POST /api/contextual too).
//
// For sentences s = 1..S, the word's tokens in s are found by byte span (the first whole-word,
// case-insensitive occurrence; a word the tokenizer splits into several sub-word tokens is their mean):
//   v_s^0 = mean over the word's tokens t of h_t^0     h^0 = the embedding output (token + position)
//   v_s^l = mean over t of h_t^l                      h^l = the residual stream after block l (1..L)
//   cos_l(s, r) = v_s^l · v_r^l / (|v_s^l| |v_r^l|)    for every pair s < r
//   static: w = the word's word2vec row, the same for every s → cos(w, w) = 1 for every pair.
import { cosine } from '../embed/pooling.js';
import type { LanguageModel } from '../models/model.js';
import { GlassError } from '../util/errors.js';
import { vectorOf } from '../word2vec/query.js';
import type { WordVectors } from '../word2vec/vectors.js';
import type { Trace, TraceOptions, TraceToken } from './schema.js';

/** The word in one sentence: the tokens its vector is the mean of. */
export interface ContextualOccurrence {
  sentence: string;
  /** Indices into the sentence's tokens (BOS included) [n ≥ 1]. */
  indices: number[];
  tokens: TraceToken[];
  /** How many whole-word occurrences the sentence has (the first is used). */
  occurrences: number;
}

export interface ContextualComparison {
  word: string;
  occurrences: ContextualOccurrence[];
  /** Whether some occurrence is several sub-word tokens (its vector then is their mean). */
  averaged: boolean;
  /** Row labels: 'embedding' (layer 0), then 'block 1' .. 'block L' (the residual after each block). */
  layers: string[];
  /** The sentence pairs [s, r], s < r, in the column order of `cosines`. */
  pairs: Array<[number, number]>;
  /** cosines[l][p]: cos of the word's vectors in pairs[p]'s two sentences at layers[l] [(L+1) × P]. */
  cosines: number[][];
  /** The word2vec row: one vector for every sentence, so every pair's cosine is 1; null without vectors. */
  static: { dim: number; cosines: number[] } | null;
}

/** Trace options that record what this needs: every layer's residual vectors, nearly unrounded. */
export const CONTEXTUAL_TRACE_OPTIONS: TraceOptions = {
  vectors: 'full',
  attention: false,
  topK: 1,
  lens: 'last',
  precision: 9,
};

const enc = new TextEncoder();
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The tokens covering the first whole-word occurrence of `word` in the trace's prompt (case-insensitive,
 * bounded by non-letters/digits), and how many occurrences there are; none: indices [].
 */
export function wordTokens(trace: Trace, word: string): { indices: number[]; occurrences: number } {
  const text = trace.prompt;
  const re = new RegExp(`(^|[^\\p{L}\\p{N}])(${escape(word)})(?=$|[^\\p{L}\\p{N}])`, 'giu');
  const starts: number[] = [];
  for (let m = re.exec(text); m; m = re.exec(text)) {
    starts.push(m.index + m[1].length);
    re.lastIndex = m.index + m[0].length;
  }
  if (!starts.length) return { indices: [], occurrences: 0 };
  const bs = enc.encode(text.slice(0, starts[0])).length; // byte span of the word in the prompt
  const be = bs + enc.encode(text.slice(starts[0], starts[0] + word.length)).length;
  const indices: number[] = [];
  trace.tokens.forEach((t, i) => {
    if (t.end > t.start && t.start < be && t.end > bs) indices.push(i);
  });
  return { indices, occurrences: starts.length };
}

function meanRows(rows: number[][], idx: number[]): number[] {
  const d = rows[idx[0]].length;
  const m = new Array<number>(d).fill(0);
  for (const i of idx) for (let k = 0; k < d; k++) m[k] += rows[i][k] / idx.length;
  return m; // [dim]
}

/** The word's vector at the embedding output, then after each block: [(L+1) × dim]. */
export function layerVectors(trace: Trace, indices: number[]): number[][] {
  const first = trace.layers[0]?.residualIn;
  if (!first || trace.layers.some((l) => !l.residualOut))
    throw new GlassError('BAD_INPUT', 'this trace has no residual vectors (record it with vectors: "full")');
  if (trace.layers.length !== trace.model.nLayers)
    throw new GlassError('BAD_INPUT', 'this trace does not record every layer');
  return [meanRows(first, indices), ...trace.layers.map((l) => meanRows(l.residualOut!, indices))];
}

/** "sentence 2 ("the bank raised…")", for errors. */
function which(i: number, s: string): string {
  return `sentence ${i + 1} (${JSON.stringify(s.length > 40 ? s.slice(0, 39) + '…' : s)})`;
}

/**
 * Compares the word across traces of ≥ 2 sentences (recorded with CONTEXTUAL_TRACE_OPTIONS), and its
 * static vector when given (the same row for every sentence).
 */
export function compareTraces(
  word: string,
  traces: Trace[],
  staticVector: ArrayLike<number> | null = null,
): ContextualComparison {
  if (traces.length < 2) throw new GlassError('BAD_INPUT', 'compare a word in at least 2 sentences');
  const occurrences = traces.map((tr, s): ContextualOccurrence => {
    const { indices, occurrences: n } = wordTokens(tr, word);
    if (!indices.length)
      throw new GlassError('BAD_INPUT', `"${word}" does not occur in ${which(s, tr.prompt)}`);
    return { sentence: tr.prompt, indices, tokens: indices.map((i) => tr.tokens[i]), occurrences: n };
  });
  const vectors = traces.map((tr, s) => layerVectors(tr, occurrences[s].indices)); // [S][(L+1) × dim]
  const pairs: Array<[number, number]> = [];
  for (let s = 0; s < traces.length; s++) for (let r = s + 1; r < traces.length; r++) pairs.push([s, r]);
  const L = traces[0].layers.length;
  const cosines = Array.from({ length: L + 1 }, (_, l) =>
    pairs.map(([s, r]) => cosine(vectors[s][l], vectors[r][l])),
  ); // [(L+1) × P]
  return {
    word,
    occurrences,
    averaged: occurrences.some((o) => o.indices.length > 1),
    layers: ['embedding', ...traces[0].layers.map((l) => `block ${l.layer + 1}`)],
    pairs,
    cosines,
    static: staticVector
      ? {
          dim: staticVector.length,
          cosines: pairs.map(() => cosine(staticVector, staticVector)),
        }
      : null,
  };
}

/** The word's row in a static table: as written, else lower-cased; an error naming it when absent. */
export function staticVectorOf(wv: WordVectors, word: string): Float32Array {
  try {
    return vectorOf(wv, word);
  } catch (e) {
    if (word.toLowerCase() === word) throw e;
    return vectorOf(wv, word.toLowerCase());
  }
}

/**
 * The word in each sentence, through the model (one trace per sentence, every layer) and through the
 * static word vectors when given. Decoder-only models: an encoder-decoder's trace follows its decoder.
 */
export function contextualSimilarity(
  model: LanguageModel,
  word: string,
  sentences: string[],
  wordVectors: WordVectors | null = null,
): ContextualComparison {
  if (model.seq2seq)
    throw new GlassError(
      'BAD_INPUT',
      'contextual vectors need a decoder-only model (an encoder-decoder reads the sentence in its encoder)',
    );
  if (!word.trim() || /\s/.test(word.trim()))
    throw new GlassError('BAD_INPUT', `give one word to follow, not ${JSON.stringify(word)}`);
  const w = word.trim();
  if (sentences.length < 2) throw new GlassError('BAD_INPUT', 'compare a word in at least 2 sentences');
  // Checked before the model runs: a word missing from a sentence or from the vocabulary.
  const staticVector = wordVectors ? staticVectorOf(wordVectors, w) : null;
  const traces = sentences.map((s) => model.trace(s, CONTEXTUAL_TRACE_OPTIONS));
  return compareTraces(w, traces, staticVector);
}
