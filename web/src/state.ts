// The page's state: the trace being shown, the tokens generated after it, and what the user picked.
import type { SimilarityExplanation } from '../../src/embed/explain.js';
import type { ContextualComparison } from '../../src/trace/contextual.js';
import type { Trace, TraceModelInfo, TraceStep, TraceToken, TopToken } from '../../src/trace/schema.js';

export type {
  ContextualComparison,
  SimilarityExplanation,
  Trace,
  TraceModelInfo,
  TraceStep,
  TraceToken,
  TopToken,
};

/** The server's static word vectors (GET /api/word-vectors). */
export interface WordVectorsInfo {
  source: string;
  words: number;
  dim: number;
}

/** a : b :: c : d, d the best answer, with its score. */
export interface MapAnalogy {
  a: string;
  b: string;
  c: string;
  d: string;
  score: number;
}

/** The server's embedding model (GET /api/embedder), as src/server/app.ts's EmbedderInfo. */
export interface EmbedderInfo {
  source: string;
  dim: number;
  nLayers: number;
  pooling: 'mean' | 'cls' | 'max' | 'mean_sqrt_len';
  normalize: boolean;
  maxTokens: number;
}

export interface WordVector {
  word: string;
  tokens: Array<{ id: number; text: string }>;
  vector: number[];
}

export interface AppState {
  /** The model the server runs (null without a server). */
  model: TraceModelInfo | null;
  trace: Trace | null;
  /** Tokens generated after the prompt, each with its attention row. */
  steps: TraceStep[];
  /** Token index (prompt then generated) in focus, or null for none. */
  focus: number | null;
  /** Index into trace.layers. */
  layerIdx: number;
  head: number | 'mean';
  /** Added to the PCA plot. */
  words: WordVector[];
  context: ContextualComparison | null;
  /** The server's word vectors (null: none, or no server). */
  wordVectors: WordVectorsInfo | null;
  /** The word map's words, with their static vectors, and the analogies drawn as arrows. */
  mapWords: Array<{ word: string; vector: number[] }>;
  mapAnalogies: MapAnalogy[];
  busy: boolean;
  /** Whether "next"/"generate" can run: a server with the same model as the trace. */
  canGenerate: boolean;
  /** Layers whose attention is being fetched (long prompts get it one layer at a time). */
  loadingAttention: Set<number>;
  /** The server's embedding model, for the similarity panel (null: none loaded, or no server). */
  embedder: EmbedderInfo | null;
  similarity: SimilarityExplanation | null;
  /** A token picked in the similarity panel: the other text is coloured by its pair terms with it. */
  simFocus: { side: 'a' | 'b'; index: number } | null;
  simBusy: boolean;
  /**
   * The logit lens of generated tokens (a step carries none): by position, the lens of each layer and the
   * output, fetched by tracing the prompt and the text generated up to it; or why there is none.
   */
  stepLens: Map<number, StepLens | 'loading' | { error: string }>;
}

export interface StepLens {
  layers: TopToken[][];
  output: TopToken[];
}

export const state: AppState = {
  model: null,
  trace: null,
  steps: [],
  focus: null,
  layerIdx: 0,
  head: 0,
  words: [],
  context: null,
  wordVectors: null,
  mapWords: [],
  mapAnalogies: [],
  busy: false,
  canGenerate: false,
  loadingAttention: new Set(),
  embedder: null,
  similarity: null,
  simFocus: null,
  simBusy: false,
  stepLens: new Map(),
};

/** Prompt tokens followed by the generated ones. */
export function allTokens(s: AppState): TraceToken[] {
  if (!s.trace) return [];
  return [...s.trace.tokens, ...s.steps.map((x) => x.token)];
}

/** The token in focus, defaulting to the last prompt token. */
export function focusOrLast(s: AppState): number {
  if (!s.trace) return 0;
  return s.focus ?? s.trace.tokens.length - 1;
}

/** The distribution for the next token: after the last generated step, else after the prompt. */
export function currentOutput(s: AppState) {
  if (!s.trace) return null;
  return s.steps.length ? s.steps[s.steps.length - 1].output : s.trace.output;
}

/**
 * One head's (or the heads' mean) attention over the whole sequence as a square N×N matrix
 * (N = prompt + generated tokens; NaN above the diagonal).
 */
export function attentionMatrix(s: AppState, layerIdx: number, head: number | 'mean'): number[][] {
  const tr = s.trace;
  if (!tr) return [];
  const layer = tr.layers[layerIdx];
  const N = tr.tokens.length + s.steps.length;
  const out: number[][] = [];
  const promptRows = layer?.attention;
  const pick = (heads: number[][]): number[] => {
    if (head !== 'mean') return heads[head] ?? [];
    const n = heads[0]?.length ?? 0;
    const m = new Array<number>(n).fill(0);
    for (const r of heads) for (let j = 0; j < n; j++) m[j] += r[j] / heads.length;
    return m;
  };
  for (let i = 0; i < tr.tokens.length; i++) {
    const heads = promptRows ? promptRows.map((hh) => hh[i]) : [];
    out.push(pick(heads));
  }
  for (const st of s.steps) out.push(pick(st.attention[layerIdx] ?? []));
  // NaN: a key the row cannot see — a later token, or (a sliding-window layer) one `window` or more back
  const window = layer?.window ?? 0;
  return out.map((row, i) => {
    const full = new Array<number>(N).fill(NaN);
    for (let j = window > 0 ? Math.max(0, i - window + 1) : 0; j <= i && j < row.length; j++)
      full[j] = row[j];
    return full;
  });
}

export function nHeadsOf(s: AppState): number {
  return s.trace?.model.nHeads ?? 0;
}
