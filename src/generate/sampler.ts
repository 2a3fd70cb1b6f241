// Stage 7 — output: logits → probabilities → one chosen token.
//   p = softmax(logits / T), keep the top-k most likely, then the smallest set whose mass reaches top-p,
//   renormalise, and draw with a seeded generator. Greedy (T = 0) takes the argmax.
import { GlassError } from '../util/errors.js';
import { Rng } from './rng.js';

export interface SamplingOptions {
  /** 0 or `greedy` picks the most likely token. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = all). */
  topP?: number;
  greedy?: boolean;
  /** Seed for the random draw; the same seed gives the same text. Default: random. */
  seed?: number;
  /**
   * OpenAI's penalties on what this sampler already chose: logit[t] −= presence·[count[t] > 0] +
   * frequency·count[t]. Both in [−2, 2]; default 0.
   */
  presencePenalty?: number;
  frequencyPenalty?: number;
}

export interface Candidate {
  id: number;
  prob: number;
}

export function validateSampling(o: SamplingOptions): void {
  if (o.temperature !== undefined && !(o.temperature >= 0 && Number.isFinite(o.temperature))) {
    throw new GlassError('BAD_INPUT', `temperature must be a number >= 0, got ${o.temperature}`);
  }
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) {
    throw new GlassError('BAD_INPUT', `top-k must be an integer >= 0, got ${o.topK}`);
  }
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) {
    throw new GlassError('BAD_INPUT', `top-p must be in (0, 1], got ${o.topP}`);
  }
  for (const [name, v] of [
    ['presence penalty', o.presencePenalty],
    ['frequency penalty', o.frequencyPenalty],
  ] as const) {
    if (v !== undefined && !(v >= -2 && v <= 2))
      throw new GlassError('BAD_INPUT', `${name} must be in [-2, 2], got ${v}`);
  }
}

/** The index of the largest value (the first of equal ones). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  let top = x[0];
  for (let i = 1; i < x.length; i++) {
    const v = x[i];
    if (v > top) {
      top = v;
      best = i;
    }
  }
  return best;
}

/** softmax(logits / temperature) in float64. */
export function softmax(logits: ArrayLike<number>, temperature = 1): Float64Array {
  const p = new Float64Array(logits.length);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    p[i] = Math.exp((logits[i] - max) / temperature);
    sum += p[i];
  }
  for (let i = 0; i < p.length; i++) p[i] /= sum;
  return p;
}

/** The k most probable tokens, most probable first. */
export function topK(probs: ArrayLike<number>, k: number): Candidate[] {
  const ids = Array.from({ length: probs.length }, (_, i) => i);
  // A full sort of 50k ids is ~5 ms; fine per generated token at reference speed. Partial selection later.
  ids.sort((a, b) => probs[b] - probs[a] || a - b);
  return ids.slice(0, k).map((id) => ({ id, prob: probs[id] }));
}

export class Sampler {
  private readonly rng: Rng;
  /** How often each token was chosen, kept only when a penalty is set. */
  private readonly counts: Map<number, number> | null;
  constructor(readonly options: SamplingOptions = {}) {
    validateSampling(options);
    this.rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 32));
    this.counts = options.presencePenalty || options.frequencyPenalty ? new Map() : null;
  }

  get isGreedy(): boolean {
    return this.options.greedy === true || this.options.temperature === 0;
  }

  /** Picks the next token id from one row of logits. */
  sample(logits: ArrayLike<number>): number {
    if (!this.counts) return this.choose(logits);
    const { presencePenalty: pp = 0, frequencyPenalty: fp = 0 } = this.options;
    const x = Float32Array.from(logits);
    for (const [t, c] of this.counts) x[t] -= pp + fp * c;
    const id = this.choose(x);
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
    return id;
  }

  private choose(logits: ArrayLike<number>): number {
    if (this.isGreedy) return argmax(logits);
    const { temperature = 1, topK: k = 0, topP = 1 } = this.options;
    const probs = softmax(logits, temperature);
    let candidates: Candidate[];
    if (k > 0 || topP < 1) {
      candidates = topK(probs, k > 0 ? Math.min(k, probs.length) : probs.length);
      if (topP < 1) {
        let mass = 0;
        let cut = candidates.length;
        for (let i = 0; i < candidates.length; i++) {
          mass += candidates[i].prob;
          if (mass >= topP) {
            cut = i + 1;
            break;
          }
        }
        candidates = candidates.slice(0, cut);
      }
    } else {
      candidates = Array.from(probs, (prob, id) => ({ id, prob }));
    }
    let total = 0;
    for (const c of candidates) total += c.prob;
    let r = this.rng.next() * total;
    for (const c of candidates) {
      r -= c.prob;
      if (r < 0) return c.id;
    }
    return candidates[candidates.length - 1].id;
  }
}
