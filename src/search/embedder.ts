// What the search store needs from an embedding model, so that tests (and other engines) can plug in their
// own: a name, a dimension, a token counter for chunking, and texts → vectors.
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { WORD2VEC_PREFIX } from '../embed/load.js';
import type { EmbeddingModel } from '../embed/model.js';

export interface TextEmbedder {
  /** The model, as the store records it and as `glasslm search` loads it again: a folder or a hub id. */
  readonly model: string;
  readonly dim: number;
  /** The most tokens one text may have (special tokens such as [CLS]/[SEP] not counted). */
  readonly maxTokens: number;
  countTokens(text: string): number;
  embed(texts: string[]): Float32Array[] | Promise<Float32Array[]>;
}

/**
 * A folder (or word2vec:<file>) given as a relative path is recorded absolute (so the store finds it from
 * anywhere).
 */
export function modelName(source: string): string {
  if (source.startsWith(WORD2VEC_PREFIX))
    return WORD2VEC_PREFIX + modelName(source.slice(WORD2VEC_PREFIX.length));
  return !isAbsolute(source) && existsSync(source) ? resolve(source) : source;
}

/** The store's view of a loaded embedding model (BERT / sentence-transformers, or word vectors). */
export function textEmbedder(
  e: EmbeddingModel,
  source: string,
  onTruncate?: (text: string, tokens: number, kept: number) => void,
): TextEmbedder {
  return {
    model: modelName(source),
    dim: e.dim,
    maxTokens: e.maxTokens - e.addedTokens,
    countTokens: (text) => e.countTokens(text),
    embed: (texts) =>
      e.embed(texts, { onTruncate: onTruncate && ((i, n, kept) => onTruncate(texts[i], n, kept)) }),
  };
}

/** The bundled default embedding model, used when no --model is given. */
export const DEFAULT_EMBEDDER = 'models/kjv-word2vec';

/**
 * The bundled default embedding model's folder, if it is installed: the KJV word vectors, SIF-weighted
 * (models/kjv-word2vec, a word-vector folder: see src/embed/load.ts).
 */
export function defaultEmbedderPath(packageRoot: string): string | undefined {
  const p = join(packageRoot, DEFAULT_EMBEDDER);
  return existsSync(join(p, 'config.json')) ? p : undefined;
}
