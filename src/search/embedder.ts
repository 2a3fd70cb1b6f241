// What the search store needs from an embedding model, so that tests (and other engines) can plug in their
// own: a name, a dimension, a token counter for chunking, and texts → vectors.
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { SentenceEmbedder } from '../embed/embedder.js';

export interface TextEmbedder {
  /** The model, as the store records it and as `glasslm search` loads it again: a folder or a hub id. */
  readonly model: string;
  readonly dim: number;
  /** The most tokens one text may have (special tokens such as [CLS]/[SEP] not counted). */
  readonly maxTokens: number;
  countTokens(text: string): number;
  embed(texts: string[]): Float32Array[] | Promise<Float32Array[]>;
}

/** A folder given as a relative path is recorded absolute (so the store finds it from anywhere). */
export function modelName(source: string): string {
  return !isAbsolute(source) && existsSync(source) ? resolve(source) : source;
}

/** The store's view of a loaded sentence-transformers / BERT model. */
export function textEmbedder(
  e: SentenceEmbedder,
  source: string,
  onTruncate?: (text: string, tokens: number, kept: number) => void,
): TextEmbedder {
  return {
    model: modelName(source),
    dim: e.dim,
    maxTokens: e.maxTokens - 2,
    countTokens: (text) => e.tokenizer.encode(text).length,
    embed: (texts) =>
      e.embed(texts, { onTruncate: onTruncate && ((i, n, kept) => onTruncate(texts[i], n, kept)) }),
  };
}

/** The bundled default embedding model's folder, if one is installed (none is yet). */
export function defaultEmbedderPath(packageRoot: string): string | undefined {
  const p = join(packageRoot, 'models', 'default-embedder');
  return existsSync(join(p, 'config.json')) ? p : undefined;
}
