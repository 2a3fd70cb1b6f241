// An encoder-only transformer (BERT family) assembled from the same nn blocks as the decoders:
//   x = Norm(Embed(ids) + Pos(positions) + Type(segments))  →  N × post-norm Block (bidirectional)
// (XLM-RoBERTa: the same, its positions counted from the padding id — nn/positional.ts LearnedPositional.)
// It returns one contextual vector per token; pooling (src/embed) turns them into a sentence vector. The
// encoder of an encoder-decoder (Marian: √d-scaled embeddings + sinusoidal positions, no norm; T5: no
// added positions but a relative position bias in every block's attention, pre-norm blocks and a final
// RMSNorm) is this class too; its output is what the decoder's cross-attention reads.
// The same `run` serves inference (forward) and training (train/: the tape).
import type { Block } from '../nn/block.js';
import type { Embedding } from '../nn/embedding.js';
import { InferOps } from '../nn/infer.js';
import type { Norm } from '../nn/norm.js';
import type { Act, Ops } from '../nn/ops.js';
import type { AdditivePositional, RelativePositionBias } from '../nn/positional.js';
import type { LayerTap } from '../nn/tap.js';
import { prefixed, type Weight } from '../nn/weights.js';
import { backend, type Backend } from '../tensor/index.js';
import { GlassError } from '../util/errors.js';

export interface EncoderParts {
  embedding: Embedding;
  /** Positions added to the embeddings; null for T5 (positionBias instead). */
  positional: AdditivePositional | null;
  /** T5: the relative position bias every block's attention adds (absent: none). */
  positionBias?: RelativePositionBias | null;
  /** A norm after the last block (T5's final_layer_norm; absent: none). */
  finalNorm?: Norm | null;
  /** Segment (token type) table [types × dim]; null when the model has none. */
  tokenTypes: Embedding | null;
  /** null: none (Marian). */
  embeddingNorm: Norm | null;
  blocks: Block[];
  contextLength: number;
  /** The kernels the weights were placed for (default: the backend active when the model is built). */
  backend?: Backend;
}

export class Encoder {
  readonly kind = 'encoder';
  readonly embedding: Embedding;
  readonly positional: AdditivePositional | null;
  readonly positionBias: RelativePositionBias | null;
  readonly finalNorm: Norm | null;
  readonly tokenTypes: Embedding | null;
  readonly embeddingNorm: Norm | null;
  readonly blocks: Block[];
  readonly contextLength: number;
  readonly backend: Backend;

  constructor(p: EncoderParts) {
    this.embedding = p.embedding;
    this.positional = p.positional;
    this.positionBias = p.positionBias ?? null;
    this.finalNorm = p.finalNorm ?? null;
    this.tokenTypes = p.tokenTypes;
    this.embeddingNorm = p.embeddingNorm;
    this.blocks = p.blocks;
    this.contextLength = p.contextLength;
    this.backend = p.backend ?? backend();
  }

  get dim(): number {
    return this.embedding.dim;
  }
  get nLayers(): number {
    return this.blocks.length;
  }

  /**
   * The network on any ops (inference or the training tape): ids (segments typeIds, 0 by default) → one
   * contextual vector per token, [rows, dim].
   */
  run<T extends Act>(f: Ops<T>, ids: ArrayLike<number>, typeIds?: ArrayLike<number>): T {
    let x = this.embedding.forward(f, ids); // [rows, dim]
    if (this.positional) x = this.positional.forward(f, x, ids); // + P[pos] (RoBERTa: pos from the ids)
    if (this.tokenTypes) x = f.add(x, this.tokenTypes.forward(f, typeIds ?? new Int32Array(ids.length)));
    if (this.embeddingNorm) x = this.embeddingNorm.forward(f, x);
    // T5: one bias for every block, [rows·rows, nHeads]
    const bias = this.positionBias ? this.positionBias.forward(f, ids.length) : null;
    for (let l = 0; l < this.blocks.length; l++) x = this.blocks[l].forward(f, x, l, null, bias);
    return this.finalNorm ? this.finalNorm.forward(f, x) : x;
  }

  /**
   * Inference: hidden states [rows × dim] for ids (segment 0 unless typeIds are given). `validKeys` < rows
   * marks the tail as padding (no token attends to it). `layerTap(l)` lets the trace look in.
   */
  forward(
    ids: ArrayLike<number>,
    typeIds?: ArrayLike<number>,
    validKeys = ids.length,
    layerTap: ((l: number) => LayerTap | null) | null = null,
  ): Float32Array {
    const rows = ids.length;
    if (rows === 0) throw new GlassError('BAD_INPUT', 'encode: no tokens');
    if (rows > this.contextLength) {
      throw new GlassError(
        'BAD_INPUT',
        `the text is ${rows} tokens, but the model's limit is ${this.contextLength}`,
      );
    }
    const f = new InferOps(this.backend, { validKeys, tap: layerTap });
    return f.finish(this.run(f, ids, typeIds).data); // [rows, dim]
  }

  /**
   * Batched inference: several texts in one pass, their rows laid end to end ([Σ rows, dim] through every
   * matmul, each weight read once for all of them), attention per text over its own rows — the decoders'
   * `sequences` (nn/infer.ts), without a cache. No row of padding is computed: a text is its own length.
   * An item's `validKeys` < its length marks its tail as padding, as forward's does. Returns the hidden
   * states [Σ rows, dim] (item i's rows after those of items 0..i-1).
   */
  forwardBatch(
    items: ReadonlyArray<{ ids: ArrayLike<number>; typeIds?: ArrayLike<number>; validKeys?: number }>,
  ): Float32Array {
    if (items.length === 0) throw new GlassError('BAD_INPUT', 'encode: no texts');
    // one sequence per text, each at positions 0..
    const sequences = items.map(({ ids, validKeys }) => {
      const rows = ids.length;
      if (rows === 0) throw new GlassError('BAD_INPUT', 'encode: no tokens');
      if (rows > this.contextLength) {
        throw new GlassError(
          'BAD_INPUT',
          `the text is ${rows} tokens, but the model's limit is ${this.contextLength}`,
        );
      }
      return { rows, pos0: 0, validKeys: validKeys ?? rows };
    });
    // the ids (and segments) of every text, end to end
    const total = sequences.reduce((n, q) => n + q.rows, 0);
    const ids = new Int32Array(total);
    const typeIds = new Int32Array(total);
    let at = 0;
    for (const it of items) {
      ids.set(it.ids, at);
      if (it.typeIds) typeIds.set(it.typeIds, at);
      at += it.ids.length;
    }
    const f = new InferOps(this.backend, { sequences });
    return f.finish(this.run(f, ids, typeIds).data); // [Σ rows, dim]
  }

  /** Every trainable weight, by name (see nn/weights.ts). */
  weights(): Weight[] {
    return [
      ...prefixed('embed', this.embedding.weights()),
      ...(this.positional ? prefixed('pos', this.positional.weights()) : []),
      ...(this.positionBias ? prefixed('rel_bias', this.positionBias.weights()) : []),
      ...(this.tokenTypes ? prefixed('types', this.tokenTypes.weights()) : []),
      ...(this.embeddingNorm ? prefixed('embed_norm', this.embeddingNorm.weights()) : []),
      ...this.blocks.flatMap((b, l) => prefixed(`blocks.${l}`, b.weights())),
      ...(this.finalNorm ? prefixed('final_norm', this.finalNorm.weights()) : []),
    ];
  }
}
