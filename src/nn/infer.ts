// The inference side of nn/ops.ts: each op is one call of the model's backend kernels on Float32Arrays,
// nothing recorded. One InferOps serves one forward pass: it knows where the rows sit (positions pos0…),
// the KV cache the attention reads and extends, the padding of an encoder batch, and the trace taps, so
// the modules need not.
//
// Its activations come from the backend's allocActivations (the wasm backend's own memory, where its
// kernels use them in place instead of copying each operand in and each result out on the calling thread)
// and go back when the pass ends: the model calls finish(result), which hands the result out as an
// ordinary array.
import type { Backend, Matrix } from '../tensor/index.js';
import type { DecodeAttention, ScoreTerms } from '../tensor/backend.js';
import { GlassError } from '../util/errors.js';
import type { KVCache } from './kv-cache.js';
import type { AttentionShape, Ops, Stage } from './ops.js';
import type { RotaryEmbedding } from './positional.js';
import type { LayerTap } from './tap.js';

/** Activations of inference: a Float32Array holding `rows` rows of `cols`. */
export class Rows {
  constructor(
    readonly data: Float32Array,
    readonly rows: number,
    readonly cols: number,
  ) {}
}

/**
 * What a decoder's cross-attention reads, for one source: the encoder's output and, per decoder block, its
 * keys and values (computed on the first step, then reused by every step and every beam).
 */
export class SourceState {
  readonly kv = new Map<number, { k: Float32Array; v: Float32Array }>();
  constructor(readonly memory: Rows) {}
  get rows(): number {
    return this.memory.rows;
  }
}

/**
 * One sequence of a batched pass: its rows (laid end to end with the others'), their first position, and
 * either its cache (decoders: causal attention reads and extends it) or its valid keys (encoders: rows
 * from `validKeys` on are padding, no query of the sequence gives them weight; default all its rows).
 */
export interface Sequence {
  rows: number;
  pos0: number;
  cache?: KVCache | null;
  validKeys?: number;
}

export interface InferContext {
  /** Position of the first row (decoders: the cache's length before this pass). */
  pos0?: number;
  /** Causal attention reads and extends this cache (required when a module attends causally). */
  cache?: KVCache | null;
  /**
   * Several sequences in one pass (batched decoding, an encoder's batch of texts): the rows are theirs, in
   * this order; every matmul runs over all of them at once (each weight read once), attention per sequence
   * (causal: against its own cache; bidirectional: its own rows, up to its validKeys). Replaces pos0, cache
   * and validKeys.
   */
  sequences?: readonly Sequence[];
  /** The source an encoder-decoder's decoder attends to (shared by every sequence of the pass). */
  source?: SourceState | null;
  /** Bidirectional attention: keys from here on are padding and get no weight (default: every row). */
  validKeys?: number;
  /** The trace's tap into block l, or null. */
  tap?: ((layer: number) => LayerTap | null) | null;
}

export class InferOps implements Ops<Rows> {
  private readonly pos0: number;
  private readonly taps = new Map<number, LayerTap | null>();
  /**
   * The activations allocated inside the block now running (between its residualIn and residualOut
   * looks), and those of earlier blocks, free for reuse by length. A block's arrays other than the residual
   * stream it returns are dead when it ends (a tap copies what it keeps), and the next block allocates the
   * same lengths again: reusing them spares a prefill the page faults of ~20 MB of fresh memory per block
   * (GPT-2, 512 tokens: ~0.2 s on one thread, while the pool's workers wait).
   */
  private blockArrays: Float32Array[] | null = null;
  private readonly spare = new Map<number, Float32Array[]>();
  /** Every array this pass had from the backend (allocActivations), given back by finish. */
  private readonly owned: Float32Array[] = [];

  constructor(
    readonly be: Backend,
    private readonly at: InferContext = {},
  ) {
    this.pos0 = at.pos0 ?? 0;
  }

  /** The sequences of a pass over `rows` rows: the batch given, or one sequence (pos0, cache, validKeys). */
  private sequences(rows: number): readonly Sequence[] {
    return (
      this.at.sequences ?? [
        { rows, pos0: this.pos0, cache: this.at.cache ?? null, validKeys: this.at.validKeys ?? rows },
      ]
    );
  }

  /** Wraps an existing array (it may be overwritten by the ops that take it first). */
  rows(data: Float32Array, rows: number): Rows {
    return new Rows(data, rows, data.length / rows);
  }

  /** n floats for an op's output, reused from an earlier block where one is free (contents undefined). */
  private alloc(n: number): Float32Array {
    let a = this.spare.get(n)?.pop();
    if (!a) this.owned.push((a = this.be.allocActivations(n)));
    this.blockArrays?.push(a);
    return a;
  }

  /**
   * The end of the pass: every activation it allocated goes back to the backend, and `result` (the pass's
   * output, which may be one of them or a view of one) comes back as an array of its own. Nothing the
   * pass computed may be used after, but what finish returns. (A pass that never finishes, one that threw,
   * leaves its arrays to the garbage collector.)
   *
   * `into`, when given, receives the result and is returned (its size is the caller's to check before the
   * pass runs: Decoder.checkInto): a caller that runs pass after pass (a decode loop, the server's batch)
   * reuses one array, where a fresh one per pass costs more than the copy — GPT-2's logits of 4
   * sequences are 800 KB, a new array of that size 0.15-2 ms here (fresh pages), the copy 0.03 ms.
   */
  finish(result: Float32Array, into?: Float32Array): Float32Array {
    let out = result;
    if (into) {
      into.set(result);
      out = into;
    } else {
      for (const a of this.owned) {
        if (overlaps(a, result)) {
          out = result.slice();
          break;
        }
      }
    }
    for (const a of this.owned) this.be.freeActivations(a);
    this.owned.length = 0;
    this.spare.clear();
    this.blockArrays = null;
    return out;
  }

  private tapOf(layer: number): LayerTap | null {
    if (!this.at.tap) return null;
    let t = this.taps.get(layer);
    if (t === undefined) this.taps.set(layer, (t = this.at.tap(layer)));
    return t;
  }

  gather(table: Float32Array | Matrix, dim: number, ids: ArrayLike<number>): Rows {
    if (!(table instanceof Float32Array) && table.kind !== 'f32')
      throw new Error(`gather: a ${table.kind} table has no float rows`);
    // rows read in place where the matrix can (a placed matrix in slabs, asked for a row-major view,
    // would rewrite itself row-major: src/tensor/wasm/matrices.ts), else from the row-major array
    const m = table instanceof Float32Array ? null : table;
    const t = m?.readRow ? null : (m?.data ?? (table as Float32Array));
    const n = t ? t.length / dim : m!.rows;
    const out = this.alloc(ids.length * dim);
    for (let r = 0; r < ids.length; r++) {
      const id = ids[r];
      if (!(id >= 0 && id < n)) {
        throw new GlassError('BAD_INPUT', `token id ${id} is outside the vocabulary (0..${n - 1})`);
      }
      if (t) out.set(t.subarray(id * dim, (id + 1) * dim), r * dim);
      else m!.readRow!(id, out, r * dim);
    }
    return new Rows(out, ids.length, dim);
  }

  positions(rows: number): Int32Array {
    const p = new Int32Array(rows);
    let r = 0;
    for (const s of this.sequences(rows)) for (let t = 0; t < s.rows && r < rows; t++) p[r++] = s.pos0 + t;
    return p;
  }

  relativePositions(rows: number, causal: boolean): Int32Array {
    const seqs = this.sequences(rows);
    let pairs = 0;
    for (const s of seqs) pairs += s.rows * (causal ? s.pos0 + s.rows : s.rows);
    const out = new Int32Array(pairs); // [Σ rows·keys]
    let at = 0;
    for (const s of seqs) {
      const keys = causal ? s.pos0 + s.rows : s.rows;
      const first = causal ? s.pos0 : 0; // the position of the sequence's first query row
      for (let t = 0; t < s.rows; t++) for (let j = 0; j < keys; j++) out[at++] = j - (first + t);
    }
    return out;
  }

  matmul(x: Rows, w: Matrix, bias: Float32Array | null): Rows {
    const out = this.alloc(x.rows * w.rows);
    this.be.matmul(out, x.data, w, bias, x.rows);
    return new Rows(out, x.rows, w.rows);
  }

  layerNorm(x: Rows, gamma: Float32Array, beta: Float32Array, eps: number): Rows {
    const out = this.alloc(x.data.length);
    this.be.layerNorm(out, x.data, gamma, beta, x.rows, x.cols, eps);
    return new Rows(out, x.rows, x.cols);
  }

  rmsNorm(x: Rows, gamma: Float32Array, eps: number): Rows {
    const out = this.alloc(x.data.length);
    this.be.rmsNorm(out, x.data, gamma, x.rows, x.cols, eps);
    return new Rows(out, x.rows, x.cols);
  }

  add(a: Rows, b: Rows): Rows {
    this.be.add(a.data, a.data, b.data, a.data.length);
    return a;
  }

  mul(a: Rows, b: Rows): Rows {
    this.be.mul(a.data, a.data, b.data, a.data.length);
    return a;
  }

  scale(x: Rows, c: number): Rows {
    const d = x.data;
    for (let i = 0; i < d.length; i++) d[i] *= c;
    return x;
  }

  relu(x: Rows): Rows {
    const d = x.data;
    for (let i = 0; i < d.length; i++) if (!(d[i] > 0)) d[i] = 0;
    return x;
  }

  softcap(x: Rows, c: number): Rows {
    const d = x.data;
    for (let i = 0; i < d.length; i++) d[i] = c * Math.tanh(d[i] / c);
    return x;
  }

  headRmsNorm(
    x: Rows,
    offset: number,
    heads: number,
    headDim: number,
    gamma: Float32Array,
    eps: number,
  ): Rows {
    // the heads of every row gathered into [rows·heads, headDim], normed in one call, put back
    const w = heads * headDim;
    const h = this.alloc(x.rows * w);
    for (let r = 0; r < x.rows; r++)
      h.set(x.data.subarray(r * x.cols + offset, r * x.cols + offset + w), r * w);
    const y = this.alloc(h.length);
    this.be.rmsNorm(y, h, gamma, x.rows * heads, headDim, eps);
    for (let r = 0; r < x.rows; r++) x.data.set(y.subarray(r * w, (r + 1) * w), r * x.cols + offset);
    return x;
  }

  geluTanh(x: Rows): Rows {
    this.be.geluTanh(x.data, x.data.length);
    return x;
  }

  geluErf(x: Rows): Rows {
    this.be.geluErf(x.data, x.data.length);
    return x;
  }

  silu(x: Rows): Rows {
    this.be.silu(x.data, x.data.length);
    return x;
  }

  rotate(qkv: Rows, rope: RotaryEmbedding, s: AttentionShape): Rows {
    const { nHeads, nKvHeads, headDim } = s;
    let start = 0;
    for (const q of this.sequences(qkv.rows)) {
      const x = qkv.data.subarray(start * qkv.cols, (start + q.rows) * qkv.cols);
      rope.apply(x, q.rows, nHeads, headDim, q.pos0, qkv.cols, 0);
      rope.apply(x, q.rows, nKvHeads, headDim, q.pos0, qkv.cols, nHeads * headDim);
      start += q.rows;
    }
    return qkv;
  }

  attend(qkv: Rows, s: AttentionShape, layer: number, bias: Rows | null = null): Rows {
    const { nHeads, nKvHeads, headDim } = s;
    // the score terms (see ScoreTerms): a scale (T5, Gemma), the slice of the bias one sequence reads
    // (T5), a soft-cap (Gemma 2), a sliding window (causal only: Mistral, Gemma's local layers)
    const plain = s.scale === undefined && !bias && !s.softcap && !(s.causal && s.window);
    const terms = (from: number, n: number): ScoreTerms | undefined =>
      plain
        ? undefined
        : {
            scale: s.scale,
            bias: bias?.data.subarray(from * nHeads, (from + n) * nHeads),
            softcap: s.softcap,
            window: s.causal ? s.window : undefined,
          };
    let pair = 0; // the first (query, key) pair of the sequence at hand
    const rows = qkv.rows;
    const width = qkv.cols;
    const qDim = nHeads * headDim;
    const kvDim = nKvHeads * headDim;
    const q = this.alloc(rows * qDim);
    const heads = this.alloc(rows * qDim);
    const tap = this.tapOf(layer);
    let probs: Float32Array | undefined;
    if (s.causal) {
      // each sequence's keys and values join its cache; its queries read every cached position ≤ theirs
      const sequences = this.sequences(rows);
      // several sequences of one new token each, nothing recorded: one call for all (continuous batching)
      const decode: DecodeAttention[] | null =
        plain && !tap?.wantsAttention && sequences.length > 1 && rows === sequences.length ? [] : null;
      let start = 0;
      for (const seq of sequences) {
        const { cache, pos0 } = seq;
        if (!cache) throw new Error('attend: causal attention needs a KV cache');
        const kCache = cache.k[layer];
        const vCache = cache.v[layer];
        for (let t = 0; t < seq.rows; t++) {
          const src = (start + t) * width;
          const p = (pos0 + t) * kvDim;
          q.set(qkv.data.subarray(src, src + qDim), (start + t) * qDim);
          kCache.set(qkv.data.subarray(src + qDim, src + qDim + kvDim), p);
          vCache.set(qkv.data.subarray(src + qDim + kvDim, src + width), p);
        }
        const total = pos0 + seq.rows;
        if (tap?.wantsAttention) probs = new Float32Array(nHeads * seq.rows * total);
        const out = heads.subarray(start * qDim, (start + seq.rows) * qDim);
        const qs = q.subarray(start * qDim, (start + seq.rows) * qDim);
        if (decode) decode.push({ out, q: qs, kCache, vCache, pos0 });
        else {
          const st = terms(pair, seq.rows * total);
          this.be.attention(out, qs, kCache, vCache, seq.rows, pos0, nHeads, nKvHeads, headDim, probs, st);
          if (probs) tap!.attention(probs, nHeads, seq.rows, total);
        }
        pair += seq.rows * total;
        start += seq.rows;
      }
      if (decode) this.be.attentionDecode(decode, nHeads, nKvHeads, headDim);
    } else {
      // split q | k | v per row (every sequence's rows at once); then each sequence's queries see its own
      // keys, the first validKeys of them (the rest is padding)
      const k = this.alloc(rows * kvDim);
      const v = this.alloc(rows * kvDim);
      for (let t = 0; t < rows; t++) {
        const src = t * width;
        q.set(qkv.data.subarray(src, src + qDim), t * qDim);
        k.set(qkv.data.subarray(src + qDim, src + qDim + kvDim), t * kvDim);
        v.set(qkv.data.subarray(src + qDim + kvDim, src + width), t * kvDim);
      }
      let start = 0;
      for (const seq of this.sequences(rows)) {
        const n = seq.rows;
        const [a, b] = [start * qDim, (start + n) * qDim]; // this sequence's q rows (and head rows)
        const [ka, kb] = [start * kvDim, (start + n) * kvDim]; // and its k, v rows
        if (tap?.wantsAttention) probs = new Float32Array(nHeads * n * n);
        const valid = seq.validKeys ?? n;
        const out = heads.subarray(a, b);
        const [qs, ks, vs] = [q.subarray(a, b), k.subarray(ka, kb), v.subarray(ka, kb)];
        const st = terms(pair, n * n);
        this.be.attentionBidirectional(out, qs, ks, vs, n, valid, nHeads, nKvHeads, headDim, probs, st);
        if (probs) tap!.attention(probs, nHeads, n, n);
        pair += n * n;
        start += n;
      }
    }
    tap?.heads(heads, rows, nHeads, headDim);
    return new Rows(heads, rows, qDim);
  }

  sourceKV(layer: number, compute: () => Rows): Rows {
    const src = this.at.source;
    if (!src) throw new Error('sourceKV: this pass has no source (an encoder-decoder needs one)');
    if (!src.kv.has(layer)) {
      // first step on this source: project it, split k | v per row, keep them for every later step
      const kv = compute();
      const half = kv.cols / 2;
      const k = new Float32Array(kv.rows * half);
      const v = new Float32Array(kv.rows * half);
      for (let t = 0; t < kv.rows; t++) {
        k.set(kv.data.subarray(t * kv.cols, t * kv.cols + half), t * half);
        v.set(kv.data.subarray(t * kv.cols + half, (t + 1) * kv.cols), t * half);
      }
      src.kv.set(layer, { k, v });
    }
    return new Rows(new Float32Array(0), src.rows, 0); // a handle: crossAttend reads the kept k, v
  }

  crossAttend(q: Rows, _kv: Rows, s: AttentionShape, layer: number): Rows {
    const { nHeads, nKvHeads, headDim } = s;
    const src = this.at.source!;
    const { k, v } = src.kv.get(layer)!;
    const rows = q.rows;
    const tk = src.rows;
    const heads = this.alloc(rows * nHeads * headDim);
    const tap = this.tapOf(layer);
    const probs = tap?.crossAttention ? new Float32Array(nHeads * rows * tk) : undefined;
    const terms = s.scale === undefined ? undefined : { scale: s.scale }; // no position bias here
    this.be.crossAttention(heads, q.data, k, v, rows, tk, nHeads, nKvHeads, headDim, probs, terms);
    if (probs) tap!.crossAttention!(probs, nHeads, rows, tk);
    return new Rows(heads, rows, nHeads * headDim);
  }

  look(layer: number, stage: Stage, x: Rows): void {
    const tap = this.tapOf(layer);
    if (tap) tap[stage](x.data, x.rows, x.cols);
    if (stage === 'residualIn') this.blockArrays = [];
    else if (stage === 'residualOut' && this.blockArrays) {
      // the block is done: all it allocated but the stream it passes on is free for the next block
      for (const a of this.blockArrays) {
        if (overlaps(a, x.data)) continue;
        const list = this.spare.get(a.length);
        if (list) list.push(a);
        else this.spare.set(a.length, [a]);
      }
      this.blockArrays = null;
    }
  }
}

/** Whether two arrays share any memory. */
function overlaps(a: Float32Array, b: Float32Array): boolean {
  return (
    a.buffer === b.buffer &&
    a.byteOffset < b.byteOffset + b.byteLength &&
    b.byteOffset < a.byteOffset + a.byteLength
  );
}
