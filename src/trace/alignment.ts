// An encoder-decoder's alignment: for each output token, how much the decoder attended to each source token
// when it chose it (its cross-attention) — the matrix `glasslm explain` draws and the explorer's alignment
// view shows. Browser-safe.
//
// Output token k was chosen from the distribution the decoder computed at the query before it: the prompt
// pass's last row (the start token) for k = 0, step k − 1's row after that. So row k of the alignment is
// that query's cross-attention, not step k's own (which looks ahead, to choose token k + 1).
import type { Trace, TraceStep, TraceToken } from './schema.js';

export interface Alignment {
  /** Columns: the source tokens [S]. */
  source: TraceToken[];
  /** Rows: the output tokens [N]. */
  output: TraceToken[];
  /** [N × S]: row k sums to 1 over the source; NaN where the trace holds no such row (attention off). */
  weights: number[][];
}

/** One layer (an index into trace.layers) or the mean of all recorded ones; one head or the mean of all. */
export type Pick = number | 'mean';

function mean(rows: number[][], n: number): number[] {
  const out = new Array<number>(n).fill(0);
  for (const r of rows) for (let j = 0; j < n; j++) out[j] += r[j] / rows.length;
  return out;
}

/**
 * The alignment of a seq2seq trace's output (its steps, or `steps` given apart, as the explorer keeps
 * them) over its source, for one layer/head or their mean; null for a decoder-only trace.
 */
export function alignment(
  trace: Trace,
  steps: TraceStep[] = trace.steps,
  layerIdx: Pick = 'mean',
  head: Pick = 'mean',
): Alignment | null {
  const src = trace.source;
  if (!src) return null;
  const S = src.tokens.length;
  // the query rows' cross-attention, each [L][H][S]
  const T = trace.tokens.length;
  const first = trace.layers.every((l) => l.crossAttention)
    ? trace.layers.map((l) => l.crossAttention!.map((h) => h[T - 1]))
    : null;
  const queries = [first, ...steps.slice(0, -1).map((s) => s.crossAttention ?? null)];
  const weights = steps.map((_, k) => {
    const q = queries[k];
    const layers = q && (layerIdx === 'mean' ? q : q[layerIdx] ? [q[layerIdx]] : null);
    if (!layers) return new Array<number>(S).fill(NaN);
    const rows = layers.flatMap((hs) => (head === 'mean' ? hs : hs[head] ? [hs[head]] : []));
    return rows.length ? mean(rows, S) : new Array<number>(S).fill(NaN);
  });
  return { source: src.tokens, output: steps.map((s) => s.token), weights };
}
