// An encoder-decoder (the original Transformer, Marian/opus-mt, T5): the encoder reads the whole source
// once; the decoder writes the output a token at a time, its blocks attending to its own earlier tokens
// (self-attention, KV cache) and to the source (cross-attention, whose keys/values are computed once):
//   source = Encoder(srcIds)                          [srcRows, dim]
//   logits = Decoder(outIds, cross-attending source)   [rows, vocab]
// Both halves are the same Encoder and Decoder classes the other families use, on the same ops.
import { InferOps, SourceState } from '../nn/infer.js';
import type { KVCache } from '../nn/kv-cache.js';
import type { LayerTap } from '../nn/tap.js';
import { prefixed, type Weight } from '../nn/weights.js';
import type { Backend } from '../tensor/index.js';
import { GlassError } from '../util/errors.js';
import type { StepModel } from '../generate/steps.js';
import type { Decoder, ForwardRecorder } from './decoder.js';
import type { Encoder } from './encoder.js';

export class Seq2Seq {
  readonly kind = 'seq2seq';

  constructor(
    readonly encoder: Encoder,
    readonly decoder: Decoder,
    /** The decoder's first input token (Marian: the pad id; T5: the pad id too). */
    readonly decoderStartTokenId: number,
    /** Token ids never generated (HF `bad_words_ids`: Marian masks its pad). */
    readonly suppressedIds: readonly number[] = [],
  ) {}

  get contextLength(): number {
    return this.decoder.contextLength;
  }
  get vocabSize(): number {
    return this.decoder.vocabSize;
  }
  /** The backend both halves' weights live in. */
  get backend(): Backend {
    return this.decoder.backend;
  }

  /**
   * Runs the encoder once over the source ids: the state every decoder step (and every beam) reads.
   * `layerTap(l)` lets a trace look into the encoder's blocks.
   */
  encode(ids: ArrayLike<number>, layerTap: ((l: number) => LayerTap | null) | null = null): SourceState {
    const e = this.encoder;
    if (ids.length === 0) throw new GlassError('BAD_INPUT', 'encode: no source tokens');
    if (ids.length > e.contextLength) {
      throw new GlassError(
        'BAD_INPUT',
        `the source is ${ids.length} tokens, but the encoder's limit is ${e.contextLength}: shorten it (nothing is cut silently)`,
      );
    }
    const f = new InferOps(e.backend, { tap: layerTap });
    const x = e.run(f, ids); // [srcRows, dim]
    return new SourceState(f.rows(f.finish(x.data), x.rows));
  }

  /**
   * One decoder pass over `ids` at positions cache.length… against an encoded source: logits [rows or 1,
   * vocab] (into `into` when given, as Decoder.forward).
   */
  forward(
    source: SourceState,
    ids: ArrayLike<number>,
    cache: KVCache,
    lastOnly = false,
    recorder: ForwardRecorder | null = null,
    into?: Float32Array,
  ): Float32Array {
    const logits = this.decoder.forward(ids, cache, lastOnly, recorder, source, into);
    this.suppress(logits);
    return logits;
  }

  /** Sets the suppressed ids' logits to −∞ in every row (HF's bad_words_ids of length 1). */
  suppress(logits: Float32Array): void {
    const V = this.vocabSize;
    for (let r = 0; r < logits.length / V; r++)
      for (const id of this.suppressedIds) logits[r * V + id] = -Infinity;
  }

  /** The decoder bound to one encoded source: what the step loop (generate, beams, trace) steps through. */
  bind(source: SourceState): StepModel {
    return {
      // (the step loop's own source argument is unused: the binding is the source)
      forward: (ids, cache, lastOnly, recorder, _source, into) =>
        this.forward(source, ids, cache!, lastOnly, recorder, into),
      // the beams of one source in one pass: they share its encoded keys and values
      forwardBatch: (items) => {
        const logits = this.decoder.forwardBatch(items, source);
        this.suppress(logits);
        return logits;
      },
      newCache: () => this.newCache(),
      vocabSize: this.vocabSize,
      contextLength: this.contextLength,
    };
  }

  newCache(): KVCache {
    return this.decoder.newCache();
  }

  /** Every trainable weight: the encoder's under "encoder.", the decoder's under "decoder." (a shared table once). */
  weights(): Weight[] {
    return [...prefixed('encoder', this.encoder.weights()), ...prefixed('decoder', this.decoder.weights())];
  }
}
