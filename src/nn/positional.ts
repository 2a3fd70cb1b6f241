// Stage 3 — positional encoding: tell the model where each token sits. Four kinds: learned (GPT-2, BERT: a
// second table added to the embeddings; RoBERTa's counts from its padding id), sinusoidal (the original Transformer, Marian: a fixed table of
// sines and cosines, added the same way), rotary (Llama: q and k are rotated inside attention; see
// attention.ts) and relative (T5: a learned bias on every attention score, by bucketed distance).
import { GlassError } from '../util/errors.js';
import type { Act, Ops } from './ops.js';
import type { Weight } from './weights.js';

/** Positions added to the token embeddings (as opposed to RoPE, which rotates q and k in attention). */
export type AdditivePositional = LearnedPositional | SinusoidalPositional;

/**
 * Sinusoidal positions, Marian's layout (HF MarianSinusoidalPositionalEmbedding): for pair index
 * i < dim/2, angle = pos / 10000^(2i/dim); P[pos, i] = sin(angle) in the first half of the vector,
 * P[pos, dim/2 + i] = cos(angle) in the second (not interleaved). Positions count from 0. Fixed: never
 * trained. Checkpoints may store the table (then it is read, not recomputed).
 */
export class SinusoidalPositional {
  readonly kind = 'sinusoidal';
  readonly weight: Float32Array;
  constructor(
    readonly maxPositions: number,
    readonly dim: number,
    stored: Float32Array | null = null,
  ) {
    if (stored) {
      if (stored.length !== maxPositions * dim)
        throw new GlassError(
          'BAD_FILE',
          `sinusoidal table: ${stored.length} values for [${maxPositions}, ${dim}]`,
        );
      this.weight = stored;
      return;
    }
    const w = new Float32Array(maxPositions * dim);
    const sinCols = Math.ceil(dim / 2); // HF's "sentinel": an odd dim gives sin one more column
    for (let pos = 0; pos < maxPositions; pos++) {
      for (let i = 0; i < sinCols; i++) w[pos * dim + i] = Math.sin(pos / Math.pow(10000, (2 * i) / dim));
      for (let i = 0; i < dim - sinCols; i++)
        w[pos * dim + sinCols + i] = Math.cos(pos / Math.pow(10000, (2 * i) / dim));
    }
    this.weight = w;
  }

  /** x[t] + P[position of row t]:  [rows, dim] → [rows, dim] */
  forward<T extends Act>(f: Ops<T>, x: T): T {
    return f.add(x, f.gather(this.weight, this.dim, f.positions(x.rows)));
  }

  /** The positional vector of one position (for display). */
  vector(pos: number): Float32Array {
    return this.weight.subarray(pos * this.dim, (pos + 1) * this.dim);
  }

  weights(): Weight[] {
    return [
      { name: 'weight', value: this.weight, shape: [this.maxPositions, this.dim], decay: false, fixed: true },
    ];
  }
}

/**
 * T5's relative position bias: the attention score of a query at position i for a key at position j gets
 * B[bucket(j − i), h] added, head by head — a learned [buckets, nHeads] table, held by the first block of
 * each stack (HF `relative_attention_bias`), computed once per pass and added in every block. Buckets
 * (HF `_relative_position_bucket`), for n = distance:
 *   bidirectional (encoder): half the buckets for keys after the query (j > i), half for the others;
 *   causal (decoder): only n = max(i − j, 0) counts, all buckets for it.
 *   Within the N buckets left: n < N/2 gets its own bucket; larger n are spaced logarithmically up to
 *   maxDistance, N/2 + ⌊log(n / (N/2)) / log(maxDistance / (N/2)) · (N − N/2)⌋, at most N − 1.
 * The logarithm is evaluated in float32, step by step, as HF's torch code does (a float64 one could put a
 * distance at a bucket boundary in the next bucket).
 */
export class RelativePositionBias {
  readonly kind = 'relative';
  constructor(
    /** [nBuckets, nHeads] row-major. */
    readonly weight: Float32Array,
    readonly nBuckets: number,
    readonly maxDistance: number,
    readonly nHeads: number,
    /** true: the encoder's (keys either side); false: the decoder's (only earlier keys are told apart). */
    readonly bidirectional: boolean,
  ) {
    if (weight.length !== nBuckets * nHeads)
      throw new GlassError(
        'BAD_FILE',
        `relative position bias: ${weight.length} values for [${nBuckets}, ${nHeads}]`,
      );
  }

  /** The bucket of relative position `rel` = key position − query position. */
  bucket(rel: number): number {
    let n = this.nBuckets;
    let out = 0;
    let dist: number;
    if (this.bidirectional) {
      n = Math.floor(n / 2);
      if (rel > 0) out += n;
      dist = Math.abs(rel);
    } else dist = Math.max(-rel, 0);
    const exact = Math.floor(n / 2);
    if (dist < exact) return out + dist;
    const f = Math.fround;
    const ratio = f(f(Math.log(f(dist / exact))) / f(Math.log(this.maxDistance / exact)));
    const large = exact + Math.trunc(f(ratio * (n - exact)));
    return out + Math.min(large, n - 1);
  }

  /**
   * The bias of every (query, key) pair attention scores in this pass, in the ops' order (see
   * Ops.relativePositions):  [pairs, nHeads], row = B[bucket(j − i)].
   */
  forward<T extends Act>(f: Ops<T>, rows: number): T {
    const rel = f.relativePositions(rows, !this.bidirectional); // [pairs]
    const buckets = new Int32Array(rel.length);
    for (let p = 0; p < rel.length; p++) buckets[p] = this.bucket(rel[p]);
    return f.gather(this.weight, this.nHeads, buckets); // [pairs, nHeads]
  }

  weights(): Weight[] {
    return [{ name: 'weight', value: this.weight, shape: [this.nBuckets, this.nHeads], decay: false }];
  }
}

/**
 * GPT-2 / BERT: a learned [maxPositions, dim] table, row t for the token at position t.
 *
 * RoBERTa / XLM-RoBERTa (`padding` given): HF's create_position_ids_from_input_ids — a token that is not
 * the padding id p gets row p + (how many non-padding tokens its sequence has up to and including it),
 * a padding token gets row p. So a text without padding reads rows p + 1, p + 2, …, and rows 0..p are
 * never read by a real token: the usable context is maxPositions − (p + 1).
 */
export class LearnedPositional {
  readonly kind = 'learned';
  constructor(
    readonly weight: Float32Array,
    readonly maxPositions: number,
    readonly dim: number,
    /** RoBERTa's position ids, counted from the padding id (HF `padding_idx` = pad_token_id); null: BERT's. */
    readonly padding: { id: number } | null = null,
  ) {}

  /** The table row of each row of a pass (ids: the tokens, needed for RoBERTa's padding-aware positions). */
  rowsOf<T extends Act>(f: Ops<T>, rows: number, ids?: ArrayLike<number>): Int32Array {
    const pos = f.positions(rows); // [rows] 0, 1, … per sequence
    if (!this.padding) return pos;
    if (!ids || ids.length !== rows)
      throw new GlassError('BAD_INPUT', 'RoBERTa positions need the token ids of every row');
    const pad = this.padding.id;
    let real = 0; // non-padding tokens so far in this row's sequence
    for (let r = 0; r < rows; r++) {
      if (pos[r] === 0) real = 0; // a sequence starts
      if (ids[r] === pad) pos[r] = pad;
      else pos[r] = pad + ++real;
    }
    return pos;
  }

  /** x[t] + P[position of row t]:  [rows, dim] → [rows, dim] */
  forward<T extends Act>(f: Ops<T>, x: T, ids?: ArrayLike<number>): T {
    return f.add(x, f.gather(this.weight, this.dim, this.rowsOf(f, x.rows, ids)));
  }

  weights(): Weight[] {
    return [{ name: 'weight', value: this.weight, shape: [this.maxPositions, this.dim], decay: false }];
  }

  /** The positional vector of one position (for display). */
  vector(pos: number): Float32Array {
    return this.weight.subarray(pos * this.dim, (pos + 1) * this.dim);
  }
}

/**
 * Rotary position embedding (RoPE, Llama): instead of adding a vector, rotate each pair of q and k
 * coordinates by an angle that grows with the position, pos · θ^(−2i/d), so q·k depends on the distance.
 * Two pairings exist: 'interleaved' pairs (x₀,x₁), (x₂,x₃)… (llama2.c, GGUF); 'half' pairs
 * (xᵢ, x_{i+d/2}) (Hugging Face checkpoints, whose q/k rows are permuted to match).
 */
export type RopeStyle = 'interleaved' | 'half';

/** The largest context length a loader accepts (2^24 positions; the longest-context open models claim ~10M). */
export const MAX_CONTEXT_LENGTH = 2 ** 24;

/** Positions of cos/sin computed per step: the table grows in blocks as positions are reached. */
export const ROPE_BLOCK = 256;

/**
 * RoPE scaling: a change to the inverse frequencies ωᵢ = θ^(−2i/d) (i < d/2, d = the rotary dims) and,
 * for some methods, an attention factor m that multiplies cos and sin (so q·k by m²). Hugging Face's
 * `rope_scaling` (modeling_rope_utils.py is the spec), one variant per method; the formulas are at
 * ropeFrequencies. L₀ is `originalContext`, s the `factor`.
 */
export type RopeScaling =
  /** Position interpolation: ωᵢ / s. */
  | { type: 'linear'; factor: number }
  /** NTK-aware, recomputed per pass from its length (see ropeFrequencies); L₀ = max_position_embeddings. */
  | { type: 'dynamic'; factor: number; originalContext: number }
  /** Llama 3.1: long wavelengths ÷ s, short ones kept, a smooth ramp between. */
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalContext: number;
    }
  /** YaRN: interpolation and extrapolation blended by a ramp over the dims; attention factor m. */
  | {
      type: 'yarn';
      factor: number;
      originalContext: number;
      betaFast: number;
      betaSlow: number;
      attentionFactor: number;
      /** Round the ramp's ends to whole dims (HF `truncate`, default true). */
      truncate: boolean;
    }
  /** LongRoPE (Phi-3 "longrope" / "su"): a divisor per dim, short or long by the pass's length; factor m. */
  | {
      type: 'longrope';
      shortFactor: number[];
      longFactor: number[];
      originalContext: number;
      attentionFactor: number;
    }
  /** llama.cpp's `rope_freqs.weight` (what its converter writes for Llama 3.1): ωᵢ / fᵢ. */
  | { type: 'freq-factors'; factors: number[] };

/** YaRN's default attention factor (HF get_mscale): 0.1·mscale·ln s + 1 for s > 1, else 1; with both
 * `mscale` and `mscale_all_dim` given, get_mscale(s, mscale) / get_mscale(s, mscale_all_dim). */
export function yarnAttentionFactor(factor: number, mscale?: number, mscaleAllDim?: number): number {
  const get = (s: number, m = 1) => (s <= 1 ? 1 : 0.1 * m * Math.log(s) + 1);
  return mscale && mscaleAllDim ? get(factor, mscale) / get(factor, mscaleAllDim) : get(factor);
}

/** LongRoPE's default attention factor: √(1 + ln s / ln L₀) for s = L / L₀ > 1 (L the extended context), else 1. */
export function longropeAttentionFactor(factor: number, originalContext: number): number {
  return factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(originalContext));
}

/**
 * The inverse frequencies ω (d/2 of them) and the attention factor m of a pass whose last position is
 * seqLen − 1. Unscaled: ωᵢ = θ^(−2i/d), m = 1. Then, by method:
 *   linear:  ωᵢ / s.
 *   dynamic: θ' = θ · (s·L/L₀ − (s − 1))^(d/(d−2)) with L = max(seqLen, L₀); ωᵢ = θ'^(−2i/d). Within L₀ this
 *            is the unscaled RoPE; past it the frequencies depend on the length of the pass (HF's
 *            dynamic_rope_update recomputes them when a pass reaches further; the keys already cached keep
 *            the rotation they got, as in HF's cache).
 *   llama3:  λᵢ = 2π/ωᵢ; λᵢ < L₀/high: ωᵢ; λᵢ > L₀/low: ωᵢ/s; between, with t = (L₀/λᵢ − low)/(high − low):
 *            (1 − t)·ωᵢ/s + t·ωᵢ.
 *   yarn:    dim(r) = d·ln(L₀/(2πr)) / (2 ln θ); lo = max(⌊dim(β_fast)⌋, 0), hi = min(⌈dim(β_slow)⌉, d − 1)
 *            (no rounding when truncate is false; hi += 0.001 when equal); rampᵢ = clamp((i − lo)/(hi − lo),
 *            0, 1); ωᵢ = (ωᵢ/s)·rampᵢ + ωᵢ·(1 − rampᵢ); m = attentionFactor.
 *   longrope: ωᵢ / fᵢ, f = longFactor when seqLen > L₀, else shortFactor; m = attentionFactor.
 *   freq-factors: ωᵢ / fᵢ.
 */
export function ropeFrequencies(
  rotaryDim: number,
  theta: number,
  scaling: RopeScaling | null,
  seqLen: number,
): { inv: Float64Array; attention: number } {
  const half = rotaryDim / 2;
  const d = rotaryDim;
  let base = theta;
  if (scaling?.type === 'dynamic') {
    const L0 = scaling.originalContext;
    const L = Math.max(seqLen, L0);
    base = theta * Math.pow((scaling.factor * L) / L0 - (scaling.factor - 1), d / (d - 2));
  }
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.pow(base, (-2 * i) / d);
  if (!scaling || scaling.type === 'dynamic') return { inv, attention: 1 };
  switch (scaling.type) {
    case 'linear':
      for (let i = 0; i < half; i++) inv[i] /= scaling.factor;
      return { inv, attention: 1 };
    case 'llama3': {
      const { factor: s, lowFreqFactor: low, highFreqFactor: high, originalContext: L0 } = scaling;
      for (let i = 0; i < half; i++) {
        const wavelen = (2 * Math.PI) / inv[i];
        if (wavelen > L0 / low) inv[i] /= s;
        else if (!(wavelen < L0 / high)) {
          const t = (L0 / wavelen - low) / (high - low);
          inv[i] = ((1 - t) * inv[i]) / s + t * inv[i];
        }
      }
      return { inv, attention: 1 };
    }
    case 'yarn': {
      const { factor: s, originalContext: L0 } = scaling;
      const dimOf = (r: number) => (d * Math.log(L0 / (r * 2 * Math.PI))) / (2 * Math.log(theta));
      let lo = dimOf(scaling.betaFast);
      let hi = dimOf(scaling.betaSlow);
      if (scaling.truncate) {
        lo = Math.floor(lo);
        hi = Math.ceil(hi);
      }
      lo = Math.max(lo, 0);
      hi = Math.min(hi, d - 1);
      if (lo === hi) hi += 0.001;
      for (let i = 0; i < half; i++) {
        const ramp = Math.min(1, Math.max(0, (i - lo) / (hi - lo)));
        inv[i] = (inv[i] / s) * ramp + inv[i] * (1 - ramp);
      }
      return { inv, attention: scaling.attentionFactor };
    }
    case 'longrope': {
      const f = seqLen > scaling.originalContext ? scaling.longFactor : scaling.shortFactor;
      for (let i = 0; i < half; i++) inv[i] /= f[i];
      return { inv, attention: scaling.attentionFactor };
    }
    case 'freq-factors':
      for (let i = 0; i < half; i++) inv[i] /= scaling.factors[i];
      return { inv, attention: 1 };
  }
}

/** The original context past which a scaling's frequencies depend on the pass (dynamic, longrope); else null. */
function passDependentFrom(scaling: RopeScaling | null): number | null {
  return scaling?.type === 'dynamic' || scaling?.type === 'longrope' ? scaling.originalContext : null;
}

/** Checks a scaling's numbers against the rotary dims (BAD_INPUT naming what is wrong). */
function checkScaling(scaling: RopeScaling, rotaryDim: number): void {
  const bad = (what: string) => new GlassError('BAD_INPUT', `RoPE ${scaling.type} scaling: ${what}`);
  const positive = (what: string, v: number) => {
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw bad(`${what} is ${v} (expected > 0)`);
  };
  const perDim = (what: string, f: number[]) => {
    if (f.length !== rotaryDim / 2)
      throw bad(`${what} has ${f.length} values, expected ${rotaryDim / 2} (rotary dims / 2)`);
    f.forEach((v, i) => positive(`${what}[${i}]`, v));
  };
  switch (scaling.type) {
    case 'linear':
      return positive('factor', scaling.factor);
    case 'dynamic':
      if (rotaryDim <= 2) throw bad(`needs more than 2 rotary dims (got ${rotaryDim})`);
      positive('factor', scaling.factor);
      return positive('the original context', scaling.originalContext);
    case 'llama3':
      positive('factor', scaling.factor);
      positive('low_freq_factor', scaling.lowFreqFactor);
      positive('high_freq_factor', scaling.highFreqFactor);
      if (scaling.highFreqFactor === scaling.lowFreqFactor)
        throw bad('high_freq_factor equals low_freq_factor (the ramp would divide by zero)');
      return positive('the original context', scaling.originalContext);
    case 'yarn':
      positive('factor', scaling.factor);
      positive('beta_fast', scaling.betaFast);
      positive('beta_slow', scaling.betaSlow);
      positive('the attention factor', scaling.attentionFactor);
      return positive('the original context', scaling.originalContext);
    case 'longrope':
      perDim('short_factor', scaling.shortFactor);
      perDim('long_factor', scaling.longFactor);
      positive('the attention factor', scaling.attentionFactor);
      return positive('the original context', scaling.originalContext);
    case 'freq-factors':
      return perDim('rope_freqs', scaling.factors);
  }
}

/** cos/sin rows for positions [0, filled) (× the attention factor), of one set of frequencies. */
interface RopeTable {
  inv: Float64Array;
  attention: number;
  cos: Float32Array;
  sin: Float32Array;
  filled: number;
}

export class RotaryEmbedding {
  readonly kind = 'rope';
  /**
   * cos/sin tables [positions reached so far (rounded up to ROPE_BLOCK), rotaryDim/2], computed in float64.
   * Never sized from `maxPositions` up front: a file's context length is a number in its header, not bytes
   * it holds, so a 1 MB file claiming 2^26 positions must not cost a 2 GB table before the first token.
   * `base` holds the frequencies of passes within the original context (all passes, for most scalings);
   * `long` LongRoPE's long factors, for passes reaching past it.
   */
  private base: RopeTable;
  private long: RopeTable | null = null;
  readonly half: number;
  /** The attention factor (cos, sin × m) of passes within the original context. */
  readonly attentionFactor: number;

  constructor(
    readonly headDim: number,
    readonly maxPositions: number,
    readonly theta = 10000,
    readonly style: RopeStyle = 'interleaved',
    /** How many leading dims of each head rotate (all by default). */
    readonly rotaryDim = headDim,
    /** The frequencies' scaling (HF rope_scaling); null: plain RoPE. */
    readonly scaling: RopeScaling | null = null,
  ) {
    const bad = (what: string) => new GlassError('BAD_INPUT', `RoPE: ${what}`);
    if (!Number.isSafeInteger(headDim) || headDim <= 0)
      throw bad(`head dim ${headDim} is not a positive integer`);
    if (!Number.isSafeInteger(rotaryDim) || rotaryDim <= 0 || rotaryDim > headDim || rotaryDim % 2 !== 0) {
      throw bad(
        `rotary dim ${rotaryDim} must be an even integer in 2..${headDim} (the head dim): RoPE rotates pairs`,
      );
    }
    if (!Number.isSafeInteger(maxPositions) || maxPositions <= 0)
      throw bad(`context length ${maxPositions} is not a positive integer`);
    if (!(typeof theta === 'number' && Number.isFinite(theta) && theta > 1))
      throw bad(`theta ${theta} must be a finite number above 1`);
    if (scaling) checkScaling(scaling, rotaryDim);
    this.half = rotaryDim / 2;
    this.base = this.table(1);
    this.attentionFactor = this.base.attention;
  }

  /** An empty table of the frequencies of a pass ending at seqLen. */
  private table(seqLen: number): RopeTable {
    const { inv, attention } = ropeFrequencies(this.rotaryDim, this.theta, this.scaling, seqLen);
    return { inv, attention, cos: new Float32Array(0), sin: new Float32Array(0), filled: 0 };
  }

  /** Fills rows [from, to) of cos/sin (row r = position r + row0) from a table's frequencies. */
  private fill(t: RopeTable, cos: Float32Array, sin: Float32Array, from: number, to: number, row0 = 0): void {
    const half = this.half;
    for (let p = from; p < to; p++) {
      const at = (p - row0) * half;
      for (let i = 0; i < half; i++) {
        const angle = p * t.inv[i];
        cos[at + i] = Math.cos(angle) * t.attention;
        sin[at + i] = Math.sin(angle) * t.attention;
      }
    }
  }

  /** Makes a table cover positions [0, end) (end ≤ maxPositions), growing it in whole blocks. */
  private reach(t: RopeTable, end: number): void {
    if (end <= t.filled) return;
    const rows = Math.min(this.maxPositions, Math.max(end, 2 * t.filled, ROPE_BLOCK));
    const rounded = Math.min(this.maxPositions, Math.ceil(rows / ROPE_BLOCK) * ROPE_BLOCK);
    const cos = new Float32Array(rounded * this.half);
    const sin = new Float32Array(rounded * this.half);
    cos.set(t.cos);
    sin.set(t.sin);
    this.fill(t, cos, sin, t.filled, rounded);
    t.cos = cos;
    t.sin = sin;
    t.filled = rounded;
  }

  /**
   * cos/sin for positions [pos0, end) of a pass ending at `end` (row p − row0 = position p): the cached
   * table, except where the scaling depends on the pass (dynamic, longrope) and the pass reaches past the
   * original context.
   */
  private window(pos0: number, end: number): { cos: Float32Array; sin: Float32Array; row0: number } {
    if (end > this.maxPositions) {
      throw new GlassError(
        'BAD_INPUT',
        `RoPE: position ${end - 1} is past the context length ${this.maxPositions}`,
      );
    }
    const from = passDependentFrom(this.scaling);
    let t = this.base;
    if (from !== null && end > from) {
      if (this.scaling?.type === 'longrope') t = this.long ??= this.table(end);
      else {
        // dynamic NTK: frequencies of this pass's length, for its rows only
        t = this.table(end);
        const cos = new Float32Array((end - pos0) * this.half);
        const sin = new Float32Array((end - pos0) * this.half);
        this.fill(t, cos, sin, pos0, end, pos0);
        return { cos, sin, row0: pos0 };
      }
    }
    this.reach(t, end);
    return { cos: t.cos, sin: t.sin, row0: 0 };
  }

  /**
   * The cos/sin tables of a pass over positions [0, end) ([rows, rotaryDim/2], row p = position p), for
   * code that rotates on its own (the training tape's rope and its backward).
   */
  tables(end: number): { cos: Float32Array; sin: Float32Array } {
    return this.window(0, end);
  }

  /** The attention factor (cos, sin × m) of a pass ending at `end`. */
  attentionAt(end: number): number {
    const from = passDependentFrom(this.scaling);
    return from !== null && end > from ? this.table(end).attention : this.attentionFactor;
  }

  /** The rotation applied at one position (in a pass ending there): the angle of each pair (for display). */
  angles(pos: number): Float32Array {
    return this.passAngles(pos, pos + 1)[0];
  }

  /** The angles of each pair at positions [from, end) of a pass ending at `end` (for display). */
  passAngles(from: number, end: number): Float32Array[] {
    const { cos, sin, row0 } = this.window(from, end);
    const out: Float32Array[] = [];
    for (let p = from; p < end; p++) {
      const a = new Float32Array(this.half);
      const at = (p - row0) * this.half;
      for (let i = 0; i < this.half; i++) a[i] = Math.atan2(sin[at + i], cos[at + i]);
      out.push(a);
    }
    return out;
  }

  /**
   * Rotates, in place, `nHeads` heads of `headDim` found at `offset` within each of `rows` rows of `stride`
   * values, the rows being positions pos0, pos0+1, …:  (a, b) ← (a·cos − b·sin, a·sin + b·cos), cos and
   * sin × the attention factor.
   */
  apply(
    x: Float32Array,
    rows: number,
    nHeads: number,
    headDim: number,
    pos0: number,
    stride: number,
    offset: number,
  ): void {
    const { cos, sin, row0 } = this.window(pos0, pos0 + rows);
    const half = this.half;
    const interleaved = this.style === 'interleaved';
    for (let t = 0; t < rows; t++) {
      const tab = (pos0 + t - row0) * half;
      for (let h = 0; h < nHeads; h++) {
        const base = t * stride + offset + h * headDim;
        for (let i = 0; i < half; i++) {
          const ia = interleaved ? base + 2 * i : base + i;
          const ib = interleaved ? ia + 1 : ia + half;
          const c = cos[tab + i];
          const s = sin[tab + i];
          const a = x[ia];
          const b = x[ib];
          x[ia] = a * c - b * s;
          x[ib] = a * s + b * c;
        }
      }
    }
  }
}
