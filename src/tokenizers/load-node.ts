// Stage 1 — reading a tokenizer from a model folder or file on disk (Node only). The search among a
// folder's files and the parsing are shared with the browser: load-files.ts, load.ts.

import { readFile } from 'node:fs/promises';
import { dirFiles } from '../util/file-set-node.js';
import { GlassError } from '../util/errors.js';
import type { LoadOptions } from './load.js';
import { loadTokenizerFromBytes, loadTokenizerFromFiles } from './load-files.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * Loads the tokenizer in a model folder, trying in order: tokenizer.json; SentencePiece's
 * tokenizer.model; vocab.json + merges.txt (or OpenAI's encoder.json + vocab.bpe); llama2.c's
 * tokenizer.bin (or tokNNN.bin, as llama2.c's training scripts name custom vocabularies).
 */
export async function loadTokenizerFromFolder(dir: string): Promise<Tokenizer> {
  return loadTokenizerFromFiles(dirFiles(dir));
}

/**
 * Loads one tokenizer file: a Hugging Face tokenizer.json, a SentencePiece tokenizer.model, or
 * llama2.c's tokenizer.bin. The name decides (.json, .model/.spm, .bin); otherwise the content.
 */
export async function loadTokenizerFromFile(path: string, options: LoadOptions = {}): Promise<Tokenizer> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new GlassError('NOT_FOUND', `${path}: no such file`);
    throw new GlassError('NOT_FOUND', `${path}: cannot read (${code ?? String(e)})`, { cause: e });
  }
  return loadTokenizerFromBytes(bytes, path, options);
}
