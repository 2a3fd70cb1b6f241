// Beam search's decision, with Hugging Face's semantics (transformers' `_beam_search`, v4.5x): the step
// loop (steps.ts) runs the model and the stop rules; this file decides which beams go on and which end.
//
// One step, for the running beams b (numBeams of them) with scores S_b (summed log-probabilities):
//   logp_b = log_softmax(logits_b)                   [vocab], float64; banned n-grams → -Infinity
//   candidates = top 2·numBeams of S_b + logp_b[t]   over every (b, t); ties: lower b, then lower t
//   a candidate that hits a stop rule (end-of-text, a stop string, max tokens, the context) ends there:
//     when its rank is < numBeams it joins the finished hypotheses with score S / L^lengthPenalty, L = the
//     generated tokens counting the end-of-text (forced tokens count too); the best numBeams are kept
//   the numBeams best candidates that do not stop run on (each beam's KV cache forked from its parent's)
// When to stop (after each step, L = tokens generated so far):
//   - every candidate stopped (max tokens or the context reached);
//   - earlyStopping true: numBeams hypotheses are finished;
//   - otherwise, once numBeams are finished, when the best running score S_0 / L'^lp cannot beat the worst
//     finished one, with L' = L (earlyStopping false: HF's heuristic) or, for 'never' with lp > 0, the
//     longest length still possible (max tokens).
// The result: the finished hypotheses, best first (numReturnSequences of them).
import type { KVCache } from '../nn/kv-cache.js';
import type { StepModel } from './steps.js';
import { GlassError } from '../util/errors.js';

export type EarlyStopping = boolean | 'never';

export interface BeamOptions {
  /** Beams kept at each step (>= 1; 1 is greedy search). */
  numBeams: number;
  /** Finished scores are sum log-prob / length^lengthPenalty (default 1; > 0 favours longer ones). */
  lengthPenalty?: number;
  /** true: stop at numBeams finished; false (default): HF's heuristic; 'never': only when none can win. */
  earlyStopping?: EarlyStopping;
  /** How many finished hypotheses to return, best first (default 1, at most numBeams). */
  numReturnSequences?: number;
}

/**
 * What beam search needs of a model: run a batch of (new ids, state) at once, returning each one's last
 * row of logits [n × vocab], and fork a state. A decoder's state is its KV cache; an encoder-decoder's
 * would be its self-attention cache plus the shared cross-attention keys.
 */
export interface BeamModel<S> {
  readonly vocabSize: number;
  forwardBatch(items: ReadonlyArray<{ ids: ArrayLike<number>; state: S }>): Float32Array;
  /** An independent copy of `state` (the original goes on unchanged). */
  fork(state: S): S;
  /** Frees a state no beam uses any more. */
  release(state: S): void;
}

/**
 * The step loop's model as a BeamModel: its state is one KV cache per beam (an encoder-decoder bound to
 * its source keeps the cross-attention keys in the binding, shared by every beam). All beams run in one
 * batched forward when the model has forwardBatch (a Decoder), else one forward each.
 */
export function stepBeamModel(d: StepModel): BeamModel<KVCache> {
  const V = d.vocabSize;
  return {
    vocabSize: V,
    forwardBatch(items) {
      if (d.forwardBatch) return d.forwardBatch(items.map(({ ids, state }) => ({ ids, cache: state })));
      const out = new Float32Array(items.length * V);
      items.forEach(({ ids, state }, i) => out.set(d.forward(ids, state, true), i * V));
      return out;
    },
    fork(state) {
      const c = d.newCache();
      c.copyFrom(state);
      return c;
    },
    release: (state) => state.release(),
  };
}

/** A finished hypothesis: its generated ids (a final end-of-text included), scores and why it ended. */
export interface Hypothesis {
  ids: number[];
  /** Sum of the log-probabilities of its chosen tokens (forced ones count 0). */
  logprob: number;
  /** logprob / length^lengthPenalty: what beams are ranked by. */
  score: number;
  /** Why it ended: 'eos', 'stop', 'max-tokens', 'context' ('aborted': still running when stopped). */
  stop: string;
}

/** One candidate of a step: the running beam it extends, the token, its summed log-prob and its fate. */
export interface BeamCandidate {
  parent: number;
  id: number;
  logprob: number;
  fate: 'running' | 'finished' | 'dropped';
}

export function validateBeams(o: BeamOptions): Required<BeamOptions> {
  const { numBeams, lengthPenalty = 1, earlyStopping = false, numReturnSequences = 1 } = o;
  if (!(Number.isInteger(numBeams) && numBeams >= 1))
    throw new GlassError('BAD_INPUT', `num-beams must be an integer >= 1, got ${numBeams}`);
  if (!Number.isFinite(lengthPenalty))
    throw new GlassError('BAD_INPUT', `length-penalty must be a number, got ${lengthPenalty}`);
  if (!(earlyStopping === true || earlyStopping === false || earlyStopping === 'never'))
    throw new GlassError(
      'BAD_INPUT',
      `early-stopping must be true, false or 'never', got ${String(earlyStopping)}`,
    );
  if (!(Number.isInteger(numReturnSequences) && numReturnSequences >= 1 && numReturnSequences <= numBeams))
    throw new GlassError(
      'BAD_INPUT',
      `num-return-sequences must be an integer in [1, num-beams = ${numBeams}], got ${numReturnSequences}`,
    );
  return { numBeams, lengthPenalty, earlyStopping, numReturnSequences };
}

/** log_softmax(logits) in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}

/**
 * Tokens that would repeat an n-gram of `seq` (prompt and generated ids, as HF's
 * NoRepeatNGramLogitsProcessor): every token that followed an earlier occurrence of the last n-1 ids.
 */
export function bannedByNgram(seq: readonly number[], n: number): number[] {
  if (n <= 0 || seq.length + 1 < n) return [];
  const banned: number[] = [];
  const start = seq.length - (n - 1);
  for (let i = 0; i + n <= seq.length; i++) {
    let same = true;
    for (let j = 0; j < n - 1 && same; j++) same = seq[i + j] === seq[start + j];
    if (same) banned.push(seq[i + n - 1]);
  }
  return banned;
}

/** A running beam's score offset for HF's start: every beam but the first starts at -1e9. */
export const NOT_STARTED = -1e9;

/**
 * The top k (score, flat index b·vocab + t) of score_b + logp_b[t] over all rows, best first; ties go to
 * the lower flat index.
 */
export function topCandidates(
  rows: readonly Float64Array[],
  scores: readonly number[],
  k: number,
): Array<{ parent: number; id: number; logprob: number }> {
  const best: Array<{ parent: number; id: number; logprob: number }> = [];
  for (let b = 0; b < rows.length; b++) {
    const row = rows[b];
    for (let t = 0; t < row.length; t++) {
      const v = scores[b] + row[t];
      // strictly better than the worst kept (equal loses: its flat index is higher)
      if (best.length === k && !(v > best[k - 1].logprob)) continue;
      let i = best.length === k ? k - 1 : best.length;
      while (i > 0 && v > best[i - 1].logprob) i--;
      best.splice(i, 0, { parent: b, id: t, logprob: v });
      if (best.length > k) best.pop();
    }
  }
  return best;
}

/** The finished hypotheses and the stopping rules of HF's beam search (see the top of this file). */
export class BeamScorer {
  /** Best first, at most numBeams. */
  readonly finished: Hypothesis[] = [];
  /** HF's is_early_stop_heuristic_unsatisfied: false once no running beam can beat the worst finished. */
  private improvable = true;

  constructor(
    readonly o: Required<BeamOptions>,
    /** The most tokens a hypothesis can have (max tokens, or what the context leaves). */
    readonly maxLength: number,
  ) {}

  /**
   * Settles the candidates of step s (s tokens generated before it), `stops[i]` saying whether candidate i
   * hits a stop rule. Marks each candidate's fate; returns the indices of the beams to run on (numBeams,
   * best first) and whether generation goes on.
   */
  settle(
    cands: Array<{ parent: number; id: number; logprob: number; fate?: BeamCandidate['fate'] }>,
    stops: ReadonlyArray<string | undefined>,
    ids: (i: number) => number[],
    s: number,
  ): { running: number[]; more: boolean } {
    const { numBeams: k, lengthPenalty: lp, earlyStopping } = this.o;
    const L = s + 1;
    // running: the best k that do not stop (HF pushes stopped ones 1e9 down; they fill in only if needed)
    const order = cands
      .map((c, i) => ({ i, v: stops[i] ? c.logprob + NOT_STARTED : c.logprob }))
      .sort((a, b) => b.v - a.v || a.i - b.i);
    const running = order.slice(0, k).map((x) => x.i);
    for (const c of cands) c.fate = 'dropped';
    for (const i of running) cands[i].fate = 'running';
    // finished: the stopped among the top k, unless the hypotheses are closed
    const full = this.finished.length === k && earlyStopping === true;
    for (let i = 0; i < Math.min(k, cands.length); i++) {
      if (!stops[i]) continue;
      if (full || !this.improvable) {
        if (cands[i].fate !== 'running') cands[i].fate = 'dropped';
        continue;
      }
      const score = cands[i].logprob / L ** lp;
      // kept when there is room or it beats the worst (ties keep the earlier one)
      let at = this.finished.length;
      while (at > 0 && score > this.finished[at - 1].score) at--;
      if (at < k) {
        this.finished.splice(at, 0, {
          ids: ids(i),
          logprob: cands[i].logprob,
          score,
          stop: stops[i] as string,
        });
        if (this.finished.length > k) this.finished.pop();
        cands[i].fate = 'finished';
      }
    }
    // HF's heuristic, with the length after this step
    // (with fewer than k finished, the worst is HF's empty slot, -1e9)
    const len = earlyStopping === 'never' && lp > 0 ? this.maxLength : L;
    const worst = this.finished.length === k ? this.finished[k - 1].score : NOT_STARTED;
    this.improvable &&= order[0].v / len ** lp > worst;
    const allStopped = stops.every((x) => x !== undefined);
    const closed = this.finished.length === k && earlyStopping === true;
    return { running, more: this.improvable && !closed && !allStopped };
  }

  /** Running beams still open at an abort join as HF's finalize does; then the best, best first. */
  result(open: ReadonlyArray<{ ids: number[]; logprob: number }>, stop: string): Hypothesis[] {
    for (const b of open) {
      if (b.logprob <= NOT_STARTED / 2) continue;
      const score = b.ids.length > 0 ? b.logprob / b.ids.length ** this.o.lengthPenalty : b.logprob;
      let at = this.finished.length;
      while (at > 0 && score > this.finished[at - 1].score) at--;
      if (at < this.o.numBeams) {
        this.finished.splice(at, 0, { ids: b.ids, logprob: b.logprob, score, stop });
        if (this.finished.length > this.o.numBeams) this.finished.pop();
      }
    }
    return this.finished.slice(0, this.o.numReturnSequences);
  }
}
