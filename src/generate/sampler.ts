// Stage 7 — output: logits → probabilities → one chosen token.
//   p = softmax(logits / T) (float32, on the backend), keep the top-k most likely, then the smallest set
//   whose mass reaches top-p, renormalise, and draw with a seeded generator. Greedy (T = 0) takes the
//   argmax.
import { backend } from '../tensor/active.js';
import { argmax } from '../tensor/reference/kernels.js';
import { GlassError } from '../util/errors.js';
import { Rng } from './rng.js';

export { argmax };

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

/** softmax(logits / temperature) in float64. */
export function softmax(logits: ArrayLike<number>, temperature = 1): Float64Array {
  const n = logits.length;
  const p = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[i];
    if (v > max) max = v;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp((logits[i] - max) / temperature);
    p[i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) p[i] /= sum;
  return p;
}

/**
 * softmax(logits / temperature) in float32, on the backend (the wasm kernels' SIMD exp; a logit of
 * −Infinity gets exactly 0), written into `out` (at least logits.length long) and returned as its first
 * logits.length values. The sampler's probabilities: float64 with Math.exp took 0.7–1 ms per token at
 * GPT-2's 50257 ids, most of what a sampled stream spent choosing each token.
 */
export function probabilities(
  logits: ArrayLike<number>,
  temperature: number,
  out: Float32Array,
): Float32Array {
  const n = logits.length;
  const p = out.length === n ? out : out.subarray(0, n);
  // (x − max) / T, rounded to float32 only after the shift: the likely ids' values, near 0, keep their
  // precision (x / T first, at |x / T| ~ 300, lost ~3e-5 in every e^)
  let max = -Infinity;
  if (logits instanceof Float32Array) max = logits[backend().argmax(logits, n)];
  else for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  const inv = 1 / temperature;
  for (let i = 0; i < n; i++) p[i] = (logits[i] - max) * inv;
  backend().softmax(p, 1, n);
  return p;
}

/** The k most probable tokens, most probable first (equal ones: the lower id first). */
export function topK(probs: ArrayLike<number>, k: number): Candidate[] {
  return Array.from(mostLikely(probs, k, 1), (id) => ({ id, prob: probs[id] }));
}

const f32 = new Float32Array(1);
const f32bits = new Uint32Array(f32.buffer);
/**
 * Sorts ids by probability, most probable first, equal ones by id. Many ids (a flat row: top-p keeps
 * most of the vocabulary): first a numeric sort of one float64 per id that packs the probability
 * rounded to float32 (the order of its bits) above the id, then insertion sort by the exact comparison,
 * which only moves ids whose probabilities round alike. 45k of GPT-2's ids: ~6 → ~1 ms.
 */
function byProbability(ids: number[], probs: ArrayLike<number>): void {
  const cmp = (a: number, b: number) => probs[b] - probs[a] || a - b;
  const m = ids.length;
  if (m < 1024 || probs.length > 2 ** 21) {
    ids.sort(cmp);
    return;
  }
  const keys = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    f32[0] = probs[ids[i]];
    keys[i] = (0x7fffffff - f32bits[0]) * 2 ** 21 + ids[i]; // < 2^52: exact
  }
  keys.sort();
  for (let i = 0; i < m; i++) ids[i] = keys[i] % 2 ** 21;
  for (let i = 1; i < m; i++) {
    const id = ids[i];
    let j = i;
    while (j > 0 && cmp(ids[j - 1], id) > 0) {
      ids[j] = ids[j - 1];
      j--;
    }
    ids[j] = id;
  }
}

/** Buckets of mostLikely's one pass: by how far below the top a probability is, in quarters of a bit. */
const BUCKETS = 256;
/** A float64's exponent and first two mantissa bits, read from its bits (order-preserving for p ≥ 0). */
const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // the high word (little-endian: 1)
function quarterLog2(p: number): number {
  bits[0] = p;
  return words[HI] >>> 18; // 11 exponent bits, 2 mantissa bits (the sign bit is 0)
}

/**
 * The ids of the most probable tokens, most probable first (equal ones: the lower id first): the first k,
 * and of those the shortest run whose mass reaches topP (1: no cut) — what sorting every id would give,
 * without sorting every id. One pass sorts the ids into buckets by how far below the top they are (a
 * histogram of counts and mass), the buckets from the top give the first one that holds the k-th id or
 * completes the mass, and only the ids down to it are sorted. (A full sort of GPT-2's 50257 ids per
 * generated token took 28-40 ms of a 10-20 ms step.)
 */
export function mostLikely(probs: ArrayLike<number>, k: number, topP: number): Int32Array {
  const n = probs.length;
  k = Math.min(k, n);
  let top = 0;
  for (let i = 0; i < n; i++) if (probs[i] > top) top = probs[i];
  // bucket of each id: about 4·log2(top / p), clamped (p = 0, NaN: the last); what matters is that it
  // never decreases as p does
  const topKey = quarterLog2(top);
  const bucketOf = (p: number) => {
    const b = topKey - quarterLog2(p);
    return b >= 0 && b < BUCKETS - 1 && p === p ? b : BUCKETS - 1;
  };
  const count = new Int32Array(BUCKETS);
  const mass = new Float64Array(BUCKETS);
  const bucket = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const b = bucketOf(probs[i]);
    bucket[i] = b;
    count[b]++;
    mass[b] += probs[i];
  }
  let last = BUCKETS - 1;
  let c = 0;
  let m = 0;
  for (let b = 0; b < BUCKETS; b++) {
    c += count[b];
    m += mass[b];
    if (c >= k || (topP < 1 && m >= topP)) {
      last = b;
      break;
    }
  }
  const ranked = (upTo: number): Int32Array => {
    const ids: number[] = [];
    for (let i = 0; i < n; i++) if (bucket[i] <= upTo) ids.push(i);
    byProbability(ids, probs);
    let cut = Math.min(k, ids.length);
    if (topP < 1) {
      let sum = 0;
      for (let i = 0; i < cut; i++) {
        sum += probs[ids[i]];
        if (sum >= topP) {
          cut = i + 1;
          break;
        }
        // the buckets' mass (summed in another order) said the mass is here, the sorted sum says it
        // is not yet: rounding — take every id then
        if (i === cut - 1 && upTo < BUCKETS - 1 && cut < k) return ranked(BUCKETS - 1);
      }
    }
    return Int32Array.from(ids.slice(0, cut));
  };
  return ranked(last);
}

export class Sampler {
  private readonly rng: Rng;
  /** How often each token was chosen, kept only when a penalty is set. */
  private readonly counts: Map<number, number> | null;
  /** The probabilities of the row at hand (in the backend's memory: wasm reads it in place), reused. */
  private probs: Float32Array | null = null;
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
    // greedy: the backend's (SIMD on wasm) over a float row, the plain loop otherwise
    if (this.isGreedy)
      return logits instanceof Float32Array ? backend().argmax(logits, logits.length) : argmax(logits);
    const { temperature = 1, topK: k = 0, topP = 1 } = this.options;
    if (!this.probs || this.probs.length < logits.length)
      this.probs = backend().allocActivations(logits.length);
    const probs = probabilities(logits, temperature, this.probs);
    // the candidates: every id in id order, or the k / top-p most likely, most likely first
    const ids = k > 0 || topP < 1 ? mostLikely(probs, k > 0 ? k : probs.length, topP) : null;
    const size = ids ? ids.length : probs.length;
    let total = 0;
    for (let i = 0; i < size; i++) total += probs[ids ? ids[i] : i];
    let r = this.rng.next() * total;
    for (let i = 0; i < size; i++) {
      const id = ids ? ids[i] : i;
      r -= probs[id];
      if (r < 0) return id;
    }
    return ids ? ids[size - 1] : size - 1;
  }
}
