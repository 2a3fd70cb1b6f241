// A decoder-only transformer assembled from the nn blocks — the shape GPT-2 and Llama share:
//   x = Embed(ids) (+ Pos(ids))  →  N × Block  →  FinalNorm  →  logits = LMHead(x)
// Families differ only in which blocks they plug in (see gpt2.ts, llama.ts), never in this loop.
import type { Attention } from '../nn/attention.js';
import type { Block } from '../nn/block.js';
import type { Embedding } from '../nn/embedding.js';
import { KVCache, kvCapacity } from '../nn/kv-cache.js';
import type { Linear } from '../nn/linear.js';
import type { Norm } from '../nn/norm.js';
import type { AdditivePositional } from '../nn/positional.js';
import type { LayerTap } from '../nn/tap.js';
import { GlassError } from '../util/errors.js';

export interface DecoderParts {
  embedding: Embedding;
  /** Learned positions added to the embeddings; null when attention rotates q, k instead. */
  positional: AdditivePositional | null;
  blocks: Block[];
  finalNorm: Norm;
  /** [vocab, dim]; for tied models its matrix shares the embedding table's memory. */
  lmHead: Linear;
  contextLength: number;
}

/** What a forward pass shows a recorder (the trace): embeddings, then each layer through its tap. */
export interface ForwardRecorder {
  /** Token embeddings [rows × dim] (before positions are added) for ids at positions pos0... */
  embeddings(ids: ArrayLike<number>, tokenVectors: Float32Array, pos0: number): void;
  /** The tap for layer l, or null to skip it. */
  layer(l: number): LayerTap | null;
}

export class Decoder {
  readonly embedding: Embedding;
  readonly positional: AdditivePositional | null;
  readonly blocks: Block[];
  readonly finalNorm: Norm;
  readonly lmHead: Linear;
  readonly contextLength: number;

  constructor(parts: DecoderParts) {
    this.embedding = parts.embedding;
    this.positional = parts.positional;
    this.blocks = parts.blocks;
    this.finalNorm = parts.finalNorm;
    this.lmHead = parts.lmHead;
    this.contextLength = parts.contextLength;
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
  private get firstAttention(): Attention {
    return this.blocks[0].attention;
  }

  /** An empty cache; it grows in blocks (KV_BLOCK positions) as forward() fills it, up to maxPositions. */
  newCache(maxPositions = this.contextLength): KVCache {
    return new KVCache(this.nLayers, maxPositions, this.firstAttention.kvDim);
  }

  /** Bytes the KV cache of a sequence of `positions` tokens holds (keys and values, every layer). */
  kvCacheBytes(positions: number): number {
    return KVCache.bytesFor(
      this.nLayers,
      this.firstAttention.kvDim,
      kvCapacity(positions, this.contextLength),
    );
  }

  /**
   * The cache a forward() without one runs in: reused and reset, not a new one per call. A fast backend
   * mirrors each cache into its own memory and frees the mirror only when the cache is garbage-collected,
   * which a synchronous loop of cache-less forwards (scoring a long text window by window) never lets
   * happen.
   */
  private ownCache: KVCache | null = null;

  /**
   * Runs ids through the network at positions cache.length.., appending their keys/values to the cache.
   * Returns logits [rows, vocab] for every position, or only the last row when `lastOnly`.
   */
  forward(
    ids: ArrayLike<number>,
    cache?: KVCache,
    lastOnly = false,
    recorder: ForwardRecorder | null = null,
  ): Float32Array {
    if (!cache) {
      cache = this.ownCache ??= this.newCache();
      cache.reset();
    }
    const rows = ids.length;
    const pos0 = cache.length;
    if (rows === 0) throw new GlassError('BAD_INPUT', 'forward: no tokens to run');
    // grows the cache (in blocks) as the sequence does; past maxPositions, a GlassError
    cache.reserve(pos0 + rows);
    const x = this.embedding.forward(ids);
    recorder?.embeddings(ids, x, pos0);
    this.positional?.addTo(x, rows, pos0);
    for (let l = 0; l < this.blocks.length; l++) {
      this.blocks[l].forward(x, rows, cache.k[l], cache.v[l], pos0, recorder ? recorder.layer(l) : null);
    }
    cache.length = pos0 + rows;
    const dim = this.dim;
    const tail = lastOnly ? x.subarray((rows - 1) * dim) : x;
    const outRows = lastOnly ? 1 : rows;
    return this.logits(tail, outRows);
  }

  /** Final norm and LM head on residual vectors [rows × dim] → logits [rows × vocab] (also the logit lens). */
  logits(x: Float32Array, rows: number): Float32Array {
    return this.lmHead.forward(this.finalNorm.forward(x, rows), rows);
  }
}
