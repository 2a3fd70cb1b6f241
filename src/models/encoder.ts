// An encoder-only transformer (BERT family) assembled from the same nn blocks as the decoders:
//   x = Norm(Embed(ids) + Pos(positions) + Type(segments))  →  N × post-norm Block (bidirectional)
// It returns one contextual vector per token; pooling (src/embed) turns them into a sentence vector.
import type { Block } from '../nn/block.js';
import type { Embedding } from '../nn/embedding.js';
import type { Norm } from '../nn/norm.js';
import type { AdditivePositional } from '../nn/positional.js';
import type { LayerTap } from '../nn/tap.js';
import { GlassError } from '../util/errors.js';

export interface EncoderParts {
  embedding: Embedding;
  positional: AdditivePositional;
  /** Segment (token type) table [types × dim]; null when the model has none. */
  tokenTypes: Float32Array | null;
  embeddingNorm: Norm;
  blocks: Block[];
  contextLength: number;
}

export class Encoder {
  readonly embedding: Embedding;
  readonly positional: AdditivePositional;
  readonly tokenTypes: Float32Array | null;
  readonly embeddingNorm: Norm;
  readonly blocks: Block[];
  readonly contextLength: number;

  constructor(p: EncoderParts) {
    this.embedding = p.embedding;
    this.positional = p.positional;
    this.tokenTypes = p.tokenTypes;
    this.embeddingNorm = p.embeddingNorm;
    this.blocks = p.blocks;
    this.contextLength = p.contextLength;
  }

  get dim(): number {
    return this.embedding.dim;
  }
  get nLayers(): number {
    return this.blocks.length;
  }

  /**
   * Hidden states [rows × dim] for ids (segment 0 unless typeIds are given). `validKeys` < rows marks the
   * tail as padding (no token attends to it). `layerTap(l)` lets the trace look in.
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
    const dim = this.dim;
    const x = this.embedding.forward(ids);
    this.positional.addTo(x, rows, 0);
    if (this.tokenTypes) {
      for (let t = 0; t < rows; t++) {
        const ty = typeIds ? typeIds[t] : 0;
        for (let i = 0; i < dim; i++) x[t * dim + i] += this.tokenTypes[ty * dim + i];
      }
    }
    const h = this.embeddingNorm.forward(x, rows);
    for (let l = 0; l < this.blocks.length; l++)
      this.blocks[l].forwardPostNorm(h, rows, validKeys, layerTap ? layerTap(l) : null);
    return h;
  }
}
