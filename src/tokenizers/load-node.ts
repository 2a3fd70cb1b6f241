// Stage 1 — reading a tokenizer from a model folder on disk (Node only; load.ts does the parsing).

import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { WordPieceTokenizer, parseVocabTxt } from './wordpiece.js';
import { GlassError } from '../util/errors.js';
import { loadTokenizerFromJson, loadTokenizerFromVocabMerges, type LoadOptions } from './load.js';
import { loadLlama2cTokenizer, loadSentencePieceModel, sniffTokenizerBytes } from './sentencepiece-load.js';
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

async function readBytesIfPresent(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path);
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
 * Loads the tokenizer in a model folder, trying in order: tokenizer.json; SentencePiece's
 * tokenizer.model; vocab.json + merges.txt (or OpenAI's encoder.json + vocab.bpe); llama2.c's
 * tokenizer.bin (or tokNNN.bin, as llama2.c's training scripts name custom vocabularies).
 */
export async function loadTokenizerFromFolder(dir: string): Promise<Tokenizer> {
  const tokenConfig = await readTokenConfig(dir);
  const tjPath = join(dir, 'tokenizer.json');
  const tj = await readIfPresent(tjPath);
  if (tj !== undefined) return loadTokenizerFromJson(parseJson(tj, tjPath), tjPath, { tokenConfig });

  const spPath = join(dir, 'tokenizer.model');
  const sp = await readBytesIfPresent(spPath);
  if (sp !== undefined) return loadSentencePieceModel(sp, spPath);

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

  const vtPath = join(dir, 'vocab.txt');
  const vt = await readIfPresent(vtPath);
  if (vt !== undefined) return wordPieceFromVocabTxt(vt, vtPath, tokenConfig);

  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    // A missing folder is reported below like an empty one.
  }
  const bin = names.includes('tokenizer.bin')
    ? 'tokenizer.bin'
    : names.filter((f) => /^tok\d+\.bin$/.test(f)).sort()[0];
  if (bin !== undefined) {
    const binPath = join(dir, bin);
    return loadLlama2cTokenizer((await readBytesIfPresent(binPath))!, binPath);
  }

  const looked = [
    'tokenizer.json',
    'tokenizer.model',
    ...PAIRS.map(([v, m]) => `${v} + ${m}`),
    'vocab.txt',
    'tokenizer.bin',
  ].join(', or ');
  throw new GlassError('NOT_FOUND', `${dir}: no tokenizer found (looked for ${looked})`);
}

/** BERT's vocab.txt, with do_lower_case / strip_accents / tokenize_chinese_chars from tokenizer_config.json. */
function wordPieceFromVocabTxt(text: string, path: string, tokenConfig: unknown): Tokenizer {
  const cfg = (tokenConfig ?? {}) as {
    do_lower_case?: boolean;
    strip_accents?: boolean | null;
    tokenize_chinese_chars?: boolean;
  };
  return new WordPieceTokenizer({
    name: path,
    vocab: parseVocabTxt(text, path),
    lowercase: cfg.do_lower_case ?? true,
    stripAccents: cfg.strip_accents ?? undefined,
    handleChineseChars: cfg.tokenize_chinese_chars ?? true,
  });
}

/**
 * Loads one tokenizer file: a Hugging Face tokenizer.json, a SentencePiece tokenizer.model, or
 * llama2.c's tokenizer.bin. The name decides (.json, .model/.spm, .bin); otherwise the content.
 */
export async function loadTokenizerFromFile(path: string, options: LoadOptions = {}): Promise<Tokenizer> {
  const bytes = await readBytesIfPresent(path);
  if (bytes === undefined) throw new GlassError('NOT_FOUND', `${path}: no such file`);
  const name = basename(path).toLowerCase();
  const json = (): Tokenizer =>
    loadTokenizerFromJson(parseJson(new TextDecoder().decode(bytes), path), path, options);
  if (name.endsWith('.json')) return json();
  if (name.endsWith('.model') || name.endsWith('.spm')) return loadSentencePieceModel(bytes, path);
  if (name.endsWith('.bin')) return loadLlama2cTokenizer(bytes, path);
  let first = 0;
  while (
    first < bytes.length &&
    (bytes[first] === 0x20 || bytes[first] === 0x0a || bytes[first] === 0x0d || bytes[first] === 0x09)
  )
    first++;
  if (bytes[first] === 0x7b) return json(); // '{'
  const kind = sniffTokenizerBytes(bytes);
  if (kind === 'sentencepiece') return loadSentencePieceModel(bytes, path);
  if (kind === 'llama2c') return loadLlama2cTokenizer(bytes, path);
  throw new GlassError(
    'BAD_FILE',
    `${path}: not a tokenizer file this version reads (expected tokenizer.json, a SentencePiece .model, or llama2.c's tokenizer.bin)`,
  );
}
