// What every command that turns texts into sentence vectors uses — `glasslm embed`, `similarity`
// (`--explain`), `index`, `search` and `serve --embedder` — whichever kind of model makes them:
//   SentenceEmbedder (embedder.ts)    a BERT-family encoder: tokens → contextual vectors → pooling
//   WordVectorEmbedder (word-vectors.ts)  static word vectors: the SIF-weighted (or plain) average of a
//                                     text's word vectors, no encoder (0 layers)
// loadEmbeddingModel (load.ts) picks the kind from what it is given.
import type { EmbedOptions, ExplainOptions } from './embedder.js';
import type { SimilarityExplanation } from './explain.js';
import type { EmbeddingPooling } from './pooling.js';

export interface EmbeddingModel {
  /** Where the model was loaded from (a folder, a hub id resolved to a folder, or word2vec:<file>). */
  readonly source: string;
  readonly dim: number;
  /** Encoder layers (0 for static word vectors). */
  readonly nLayers: number;
  readonly pooling: EmbeddingPooling;
  /** Vectors are L2-normalised (a dot product is the cosine). */
  readonly normalize: boolean;
  /** The most tokens one input may have, addedTokens included (Infinity: no limit). */
  readonly maxTokens: number;
  /** Tokens the model adds to every input ([CLS] and [SEP]: 2; word vectors: 0). */
  readonly addedTokens: number;
  /** A text's own tokens (words for word vectors), addedTokens not counted. */
  countTokens(text: string): number;
  /** One vector per text, in the order given. */
  embed(texts: string[], options?: EmbedOptions): Float32Array[];
  /** Which tokens of each text drive cos(embed(a), embed(b)), each text's terms summing to the cosine. */
  explain(a: string, b: string, options?: ExplainOptions): SimilarityExplanation;
}
