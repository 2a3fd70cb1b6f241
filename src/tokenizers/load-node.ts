// Stage 1 — reading a tokenizer from a model folder on disk (Node only; load.ts does the parsing).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GlassError } from '../util/errors.js';
import { loadTokenizerFromJson, loadTokenizerFromVocabMerges } from './load.js';
import type { Tokenizer } from './tokenizer.js';

/** The file pairs tried after tokenizer.json: Hugging Face names, then OpenAI's original names. */
const PAIRS: [vocab: string, merges: string][] = [
  ['vocab.json', 'merges.txt'],
  ['encoder.json', 'vocab.bpe'],
];

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new GlassError('NOT_FOUND', `${path}: cannot read (${code ?? String(e)})`, { cause: e });
  }
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new GlassError('BAD_FILE', `${path}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

/** tokenizer_config.json, else special_tokens_map.json (for bos/eos names), when present and valid. */
async function readTokenConfig(dir: string): Promise<unknown> {
  for (const f of ['tokenizer_config.json', 'special_tokens_map.json']) {
    const text = await readIfPresent(join(dir, f));
    if (text === undefined) continue;
    try {
      return JSON.parse(text);
    } catch {
      // Only a hint for special-token names; the tokenizer itself loads without it.
    }
  }
  return undefined;
}

/**
 * Loads the tokenizer in a model folder: tokenizer.json when present, else vocab.json + merges.txt
 * (or OpenAI's encoder.json + vocab.bpe).
 */
export async function loadTokenizerFromFolder(dir: string): Promise<Tokenizer> {
  const tokenConfig = await readTokenConfig(dir);
  const tjPath = join(dir, 'tokenizer.json');
  const tj = await readIfPresent(tjPath);
  if (tj !== undefined) return loadTokenizerFromJson(parseJson(tj, tjPath), tjPath, { tokenConfig });

  for (const [v, m] of PAIRS) {
    const vPath = join(dir, v);
    const mPath = join(dir, m);
    const vText = await readIfPresent(vPath);
    const mText = await readIfPresent(mPath);
    if (vText === undefined && mText === undefined) continue;
    if (vText === undefined || mText === undefined) {
      const [have, lack] = vText === undefined ? [mPath, vPath] : [vPath, mPath];
      throw new GlassError('NOT_FOUND', `${dir}: found ${have} but not ${lack}, which it needs`);
    }
    return loadTokenizerFromVocabMerges(parseJson(vText, vPath), mText, dir, {
      vocab: vPath,
      merges: mPath,
      tokenConfig,
    });
  }
  const looked = ['tokenizer.json', ...PAIRS.map(([v, m]) => `${v} + ${m}`)].join(', or ');
  throw new GlassError('NOT_FOUND', `${dir}: no tokenizer found (looked for ${looked})`);
}
