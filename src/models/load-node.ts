// Loading a model (Node): a hub id or folder (Hugging Face layout), a GGUF file, or a llama2.c checkpoint
// → config → weights → tokenizer → the network assembled from nn blocks. The builders are shared with
// loading from bytes in a browser (load-files.ts); this file adds paths, the hub and --tokenizer.
import { existsSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openGgufFile } from '../formats/gguf-node.js';
import { resolveModel } from '../formats/hub.js';
import { llama2cLlamaConfig } from '../formats/llama2c.js';
import { openLlama2cFile } from '../formats/llama2c-node.js';
import { loadTokenizerFromFile } from '../tokenizers/load-node.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { WeightDtype } from '../tensor/index.js';
import { GlassError } from '../util/errors.js';
import { dirFiles } from '../util/file-set-node.js';
import {
  findLlama2cTokenizer,
  llama2cTokenizerCandidates,
  modelFromGguf,
  modelFromHfFiles,
  modelFromLlama2c,
} from './load-files.js';
import type { LanguageModel } from './model.js';

export { buildDecoder } from './load-files.js';

export interface LoadOptions {
  revision?: string;
  /** A tokenizer file for checkpoints that carry none (llama2.c .bin). */
  tokenizer?: string;
  onProgress?: (p: { file: string; received: number; total: number }) => void;
  /**
   * How the linear layers' weights are held: 'f32' (default), 'q8_0' (GGUF's int8 blocks of 32, a
   * quarter of the memory, faster decode on the wasm backend), 'q4_0' or 'q4_k' (4-bit blocks, quantized
   * at load; see WeightDtype). Matrices whose rows are not whole blocks stay f32; a GGUF file's Q4_0 / Q4_K
   * / Q5_K / Q6_K matrices are kept as they are whatever the dtype. Matrices are placed by the backend active at load time: call setBackend first.
   */
  dtype?: WeightDtype;
}

async function loadGguf(path: string, options: LoadOptions): Promise<LanguageModel> {
  const file = await openGgufFile(path);
  try {
    const tokenizer = options.tokenizer ? await loadTokenizerFromFile(options.tokenizer) : undefined;
    return await modelFromGguf(file, path, tokenizer, options.dtype);
  } finally {
    await file.close();
  }
}

/** llama2.c checkpoints carry no tokenizer: --tokenizer, else tokenizer.bin or tok<vocab>.bin beside the file. */
async function llama2cTokenizer(path: string, vocabSize: number, given?: string): Promise<Tokenizer> {
  if (given) return loadTokenizerFromFile(given);
  const dir = dirname(path);
  const found = await findLlama2cTokenizer(dirFiles(dir), vocabSize);
  if (found) return found;
  throw new GlassError(
    'NOT_FOUND',
    `${path}: a llama2.c checkpoint has no tokenizer; pass --tokenizer <file> (looked for ${llama2cTokenizerCandidates(vocabSize).join(', ')} in ${dir})`,
  );
}

async function loadLlama2c(path: string, options: LoadOptions): Promise<LanguageModel> {
  const file = await openLlama2cFile(path);
  try {
    const spec = llama2cLlamaConfig(file);
    const tokenizer = await llama2cTokenizer(path, spec.vocabSize, options.tokenizer);
    return await modelFromLlama2c(file, path, tokenizer, options.dtype);
  } finally {
    await file.close();
  }
}

async function magic(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    return b.toString('latin1');
  } finally {
    await fh.close();
  }
}

/** What a file name says it is: GGUF by extension, llama2.c by `.bin`; undefined otherwise. */
function kindByName(path: string): 'GGUF' | 'llama2.c' | undefined {
  if (/\.gguf$/i.test(path)) return 'GGUF';
  if (/\.bin$/i.test(path)) return 'llama2.c';
  return undefined;
}

/**
 * Loads a model from a GGUF file, a llama2.c checkpoint, a Hugging Face model folder, or a hub id
 * (downloaded into the HF cache on first use). In a browser, or from bytes: loadModelFromFiles.
 * A file is a GGUF file when it starts with "GGUF" or is named *.gguf (so a bad or empty one is reported
 * as a GGUF problem, not as a llama2.c one); other files are llama2.c checkpoints.
 */
export async function loadModel(source: string, options: LoadOptions = {}): Promise<LanguageModel> {
  const byName = kindByName(source);
  if (existsSync(source) && statSync(source).isFile()) {
    if (byName === 'GGUF' || (await magic(source)) === 'GGUF') return loadGguf(source, options);
    if (source.endsWith('.safetensors') || source.endsWith('.json')) {
      throw new GlassError('BAD_INPUT', `${source}: pass the model folder, not one of its files`);
    }
    return loadLlama2c(source, options);
  }
  if (byName && !existsSync(source)) {
    throw new GlassError(
      'NOT_FOUND',
      `${source}: no such file (expected a ${byName} model file; check the path)`,
    );
  }
  const dir = await resolveModel(source, options);
  return modelFromHfFiles(dirFiles(dir), dir, options.dtype);
}
