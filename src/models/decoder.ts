// A decoder-only transformer assembled from the nn blocks — the shape GPT-2 and Llama share:
//   x = Embed(ids) (+ Pos(ids))  →  N × Block  →  FinalNorm  →  logits = LMHead(x)
// Families differ only in which blocks they plug in (see gpt2.ts, llama.ts), never in this loop. The
// decoder of an encoder-decoder (seq2seq.ts, marian.ts) is this class too: its blocks also attend to the
// source (cross-attention); Marian has no final norm; T5 adds a relative position bias to every block's
// self-attention scores (no added positions) and, with a tied head, scales by d_model^−½ before it.
// Gemma 2 soft-caps the logits: logits = c·tanh(LMHead(x) / c).
// The same `run` serves inference (forward: InferOps, the KV cache) and training (train/: the tape).
import type { Block } from '../nn/block.js';
import type { Embedding } from '../nn/embedding.js';
import { InferOps, type SourceState } from '../nn/infer.js';
import { KVCache, kvCapacity } from '../nn/kv-cache.js';
import type { Linear } from '../nn/linear.js';
import type { Norm } from '../nn/norm.js';
import type { Act, Ops } from '../nn/ops.js';
import type { AdditivePositional, RelativePositionBias } from '../nn/positional.js';
import type { LayerTap } from '../nn/tap.js';
import { prefixed, type Weight } from '../nn/weights.js';
import { backend, type Backend } from '../tensor/index.js';
import { GlassError } from '../util/errors.js';

export interface DecoderParts {
  embedding: Embedding;
  /** Learned positions added to the embeddings; null when attention rotates q, k instead (or T5). */
  positional: AdditivePositional | null;
  /** T5: the relative position bias every block's self-attention adds (absent: none). */
  positionBias?: RelativePositionBias | null;
  /** The final norm's output is multiplied by this before the head (T5 with a tied head: d_model^−½; default 1). */
  headScale?: number;
  /** Logits soft-capped to c·tanh(logits / c) (Gemma 2's final_logit_softcapping); absent: none. */
  logitSoftcap?: number;
  blocks: Block[];
  /** null: none (post-norm stacks such as Marian end with a block's own norm). */
  finalNorm: Norm | null;
  /** [vocab, dim]; for tied models its matrix shares the embedding table's memory. */
  lmHead: Linear;
  contextLength: number;
  /** The kernels the weights were placed for (default: the backend active when the model is built). */
  backend?: Backend;
}

/** What a forward pass shows a recorder (the trace): embeddings, then each layer through its tap. */
export interface ForwardRecorder {
  /** Token embeddings [rows × dim] (before positions are added) for ids at positions pos0... */
  embeddings(ids: ArrayLike<number>, tokenVectors: Float32Array, pos0: number): void;
  /** The tap for layer l, or null to skip it. */
  layer(l: number): LayerTap | null;
}

export class Decoder {
  readonly kind = 'decoder';
  readonly embedding: Embedding;
  readonly positional: AdditivePositional | null;
  readonly positionBias: RelativePositionBias | null;
  readonly headScale: number;
  readonly logitSoftcap: number | undefined;
  readonly blocks: Block[];
  readonly finalNorm: Norm | null;
  readonly lmHead: Linear;
  readonly contextLength: number;
  /** The backend this model's weights live in; its kernels run every inference pass. */
  readonly backend: Backend;

  constructor(parts: DecoderParts) {
    this.embedding = parts.embedding;
    this.positional = parts.positional;
    this.positionBias = parts.positionBias ?? null;
    this.headScale = parts.headScale ?? 1;
    this.logitSoftcap = parts.logitSoftcap;
    if (this.headScale !== 1 && !parts.finalNorm) throw new Error('decoder: a head scale needs a final norm');
    this.blocks = parts.blocks;
    this.finalNorm = parts.finalNorm;
    this.lmHead = parts.lmHead;
    this.contextLength = parts.contextLength;
    this.backend = parts.backend ?? backend();
  }

  get dim(): number {
    return this.embedding.dim;
  }
  get vocabSize(): number {
    return this.lmHead.outDim;
  }
  get nLayers(): number {
    return this.blocks.length;
  }
  private get kvDim(): number {
    return this.blocks[0].attention.kvDim;
  }

  /** An empty cache; it grows in blocks (KV_BLOCK positions) as forward() fills it, up to maxPositions. */
  newCache(maxPositions = this.contextLength): KVCache {
    return new KVCache(this.nLayers, maxPositions, this.kvDim, this.backend);
  }

  /** Bytes the KV cache of a sequence of `positions` tokens holds (keys and values, every layer). */
  kvCacheBytes(positions: number): number {
    return KVCache.bytesFor(this.nLayers, this.kvDim, kvCapacity(positions, this.contextLength));
  }

  /**
   * The cache a forward() without one runs in: reused and reset, not a new one per call. A fast backend
   * mirrors each cache into its own memory and frees the mirror only when the cache is garbage-collected,
   * which a synchronous loop of cache-less forwards (scoring a long text window by window) never lets
   * happen.
   */
  private ownCache: KVCache | null = null;

  /**
   * The network on any ops (inference or the training tape): ids → the residual stream after the last
   * block, [rows, dim]. Positions and attention's keys are the ops' business (nn/ops.ts). `source`: the
   * encoder's output [srcRows, dim] an encoder-decoder's blocks attend to.
   */
  run<T extends Act>(
    f: Ops<T>,
    ids: ArrayLike<number>,
    recorder: ForwardRecorder | null = null,
    source: T | null = null,
  ): T {
    let x = this.embedding.forward(f, ids); // [rows, dim]
    // the trace keeps the token vectors before positions are added (f.positions(1)[0]: the first row's)
    if (recorder) recorder.embeddings(ids, x.data as Float32Array, f.positions(1)[0]);
    if (this.positional) x = this.positional.forward(f, x); // + P[pos]
    // T5: one bias for every block, [pairs, nHeads] (each row against its cached keys too)
    const bias = this.positionBias ? this.positionBias.forward(f, ids.length) : null;
    for (let l = 0; l < this.blocks.length; l++) x = this.blocks[l].forward(f, x, l, source, bias);
    return x;
  }

  /** Final norm (× headScale), LM head (soft-capped): residual vectors [rows, dim] → logits [rows, vocab]. */
  head<T extends Act>(f: Ops<T>, x: T): T {
    let h = this.finalNorm ? this.finalNorm.forward(f, x) : x;
    // scaling the norm's output, a new array: inference's in-place scale leaves x as it was
    if (this.headScale !== 1) h = f.scale(h, this.headScale);
    const logits = this.lmHead.forward(f, h); // [rows, vocab]
    return this.logitSoftcap ? f.softcap(logits, this.logitSoftcap) : logits;
  }

  /**
   * Inference: runs ids at positions cache.length.., appending their keys/values to the cache.
   * Returns logits [rows, vocab] for every position, or only the last row when `lastOnly` — written into
   * `into` when given (it must be that size; see InferOps.finish), else a new array.
   */
  forward(
    ids: ArrayLike<number>,
    cache?: KVCache,
    lastOnly = false,
    recorder: ForwardRecorder | null = null,
    source: SourceState | null = null,
    into?: Float32Array,
  ): Float32Array {
    if (!cache) {
      cache = this.ownCache ??= this.newCache();
      cache.reset();
    }
    const rows = ids.length;
    const pos0 = cache.length;
    if (rows === 0) throw new GlassError('BAD_INPUT', 'forward: no tokens to run');
    this.checkInto(into, lastOnly ? 1 : rows);
    // grows the cache (in blocks) as the sequence does; past maxPositions, a GlassError
    cache.reserve(pos0 + rows);
    const f = new InferOps(this.backend, {
      pos0,
      cache,
      source,
      tap: recorder && ((l) => recorder.layer(l)),
    });
    const x = this.run(f, ids, recorder, source?.memory ?? null); // [rows, dim]
    cache.length = pos0 + rows;
    const tail = lastOnly ? f.rows(x.data.subarray((rows - 1) * this.dim), 1) : x;
    return f.finish(this.head(f, tail).data, into); // [rows or 1, vocab]
  }

  /**
   * Batched inference (continuous batching): one pass over several sequences, each with its own cache and
   * positions; every weight is read once for all of them. Returns the logits of each sequence's last row,
   * [sequences, vocab], in the order given (into `into` when given, as forward).
   */
  forwardBatch(
    items: ReadonlyArray<{ ids: ArrayLike<number>; cache: KVCache }>,
    /** An encoder-decoder's source, shared by every sequence (the beams of one input). */
    source: SourceState | null = null,
    into?: Float32Array,
  ): Float32Array {
    if (items.length === 0) throw new GlassError('BAD_INPUT', 'forwardBatch: no sequences');
    this.checkInto(into, items.length);
    const sequences = items.map(({ ids, cache }) => {
      if (ids.length === 0) throw new GlassError('BAD_INPUT', 'forward: no tokens to run');
      cache.reserve(cache.length + ids.length);
      return { rows: ids.length, pos0: cache.length, cache };
    });
    const total = sequences.reduce((n, q) => n + q.rows, 0);
    const ids = new Int32Array(total);
    let at = 0;
    for (const it of items) for (let t = 0; t < it.ids.length; t++) ids[at++] = it.ids[t];
    const f = new InferOps(this.backend, { sequences, source });
    const x = this.run(f, ids, null, source?.memory ?? null); // [Σ rows, dim]
    const dim = this.dim;
    const last = new Float32Array(items.length * dim); // each sequence's last row
    at = 0;
    sequences.forEach((q, i) => {
      at += q.rows;
      last.set(x.data.subarray((at - 1) * dim, at * dim), i * dim);
      q.cache.length = q.pos0 + q.rows;
    });
    return f.finish(this.head(f, f.rows(last, items.length)).data, into); // [sequences, vocab]
  }

  /** Refuses, before anything runs (the cache untouched), an array for the logits of the wrong size. */
  private checkInto(into: Float32Array | undefined, rows: number): void {
    if (into && into.length !== rows * this.vocabSize)
      throw new GlassError(
        'BAD_INPUT',
        `forward: the logits are ${rows} × ${this.vocabSize} values, the array given holds ${into.length}`,
      );
  }

  /** Final norm and LM head on residual vectors [rows × dim] → logits [rows × vocab] (also the logit lens). */
  logits(x: Float32Array, rows: number): Float32Array {
    const f = new InferOps(this.backend);
    return f.finish(this.head(f, f.rows(x, rows)).data);
  }

  /** Every trainable weight, by name (see nn/weights.ts); a tied head is the embedding's table again. */
  weights(): Weight[] {
    return [
      ...prefixed('embed', this.embedding.weights()),
      ...(this.positional ? prefixed('pos', this.positional.weights()) : []),
      ...(this.positionBias ? prefixed('rel_bias', this.positionBias.weights()) : []),
      ...this.blocks.flatMap((b, l) => prefixed(`blocks.${l}`, b.weights())),
      ...(this.finalNorm ? prefixed('final_norm', this.finalNorm.weights()) : []),
      ...prefixed('lm_head', this.lmHead.weights()),
    ];
  }
}
