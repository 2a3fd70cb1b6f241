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

export class RotaryEmbedding {
  readonly kind = 'rope';
  /**
   * cos/sin tables [positions reached so far (rounded up to ROPE_BLOCK), rotaryDim/2], computed in float64.
   * Never sized from `maxPositions` up front: a file's context length is a number in its header, not bytes
   * it holds, so a 1 MB file claiming 2^26 positions must not cost a 2 GB table before the first token.
   */
  private cos = new Float32Array(0);
  private sin = new Float32Array(0);
  /** Rows the tables hold. */
  private filled = 0;
  readonly half: number;

  constructor(
    readonly headDim: number,
    readonly maxPositions: number,
    readonly theta = 10000,
    readonly style: RopeStyle = 'interleaved',
    /** How many leading dims of each head rotate (all by default). */
    readonly rotaryDim = headDim,
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
    this.half = rotaryDim / 2;
  }

  /** Makes the tables cover positions [0, end) (end ≤ maxPositions), growing them in whole blocks. */
  private reach(end: number): void {
    if (end <= this.filled) return;
    if (end > this.maxPositions) {
      throw new GlassError(
        'BAD_INPUT',
        `RoPE: position ${end - 1} is past the context length ${this.maxPositions}`,
      );
    }
    const rows = Math.min(this.maxPositions, Math.max(end, 2 * this.filled, ROPE_BLOCK));
    const rounded = Math.min(this.maxPositions, Math.ceil(rows / ROPE_BLOCK) * ROPE_BLOCK);
    const half = this.half;
    const cos = new Float32Array(rounded * half);
    const sin = new Float32Array(rounded * half);
    cos.set(this.cos);
    sin.set(this.sin);
    for (let p = this.filled; p < rounded; p++) {
      for (let i = 0; i < half; i++) {
        const angle = p * Math.pow(this.theta, (-2 * i) / this.rotaryDim);
        cos[p * half + i] = Math.cos(angle);
        sin[p * half + i] = Math.sin(angle);
      }
    }
    this.cos = cos;
    this.sin = sin;
    this.filled = rounded;
  }

  /**
   * The cos/sin tables covering positions [0, end) at least ([rows, rotaryDim/2], row p = position p), for
   * code that rotates on its own (the training tape's rope and its backward).
   */
  tables(end: number): { cos: Float32Array; sin: Float32Array } {
    this.reach(end);
    return { cos: this.cos, sin: this.sin };
  }

  /** The rotation applied at one position: the angle of each pair (for display). */
  angles(pos: number): Float32Array {
    this.reach(pos + 1);
    const out = new Float32Array(this.half);
    for (let i = 0; i < this.half; i++)
      out[i] = Math.atan2(this.sin[pos * this.half + i], this.cos[pos * this.half + i]);
    return out;
  }

  /**
   * Rotates, in place, `nHeads` heads of `headDim` found at `offset` within each of `rows` rows of `stride`
   * values, the rows being positions pos0, pos0+1, …:  (a, b) ← (a·cos − b·sin, a·sin + b·cos).
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
    this.reach(pos0 + rows);
    const half = this.half;
    const interleaved = this.style === 'interleaved';
    for (let t = 0; t < rows; t++) {
      const tab = (pos0 + t) * half;
      for (let h = 0; h < nHeads; h++) {
        const base = t * stride + offset + h * headDim;
        for (let i = 0; i < half; i++) {
          const ia = interleaved ? base + 2 * i : base + i;
          const ib = interleaved ? ia + 1 : ia + half;
          const c = this.cos[tab + i];
          const s = this.sin[tab + i];
          const a = x[ia];
          const b = x[ib];
          x[ia] = a * c - b * s;
          x[ib] = a * s + b * c;
        }
      }
    }
  }
}
