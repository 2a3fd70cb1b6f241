// Word-vector files by path (Node): formats.ts does the bytes. The format is read from the contents
// (word2vec text, word2vec binary, GloVe text); writing picks binary for a .bin path, text otherwise.
import { readFile, writeFile } from 'node:fs/promises';
import { parseVectors, writeBinary, writeText, type VectorFormat } from './formats.js';
import type { WordVectors } from './vectors.js';

export async function loadWordVectors(path: string, format?: VectorFormat): Promise<WordVectors> {
  return parseVectors(await readFile(path), format);
}

export async function saveWordVectors(
  path: string,
  wv: WordVectors,
  binary = path.endsWith('.bin'),
): Promise<void> {
  await writeFile(path, binary ? writeBinary(wv) : writeText(wv));
}
