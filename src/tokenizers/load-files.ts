// Stage 1 — finding and reading a tokenizer among a model's files (a folder on disk or files given to a
// browser page: see FileSet). load.ts and sentencepiece-load.ts do the parsing; load-node.ts adapts paths.
import { parseJsonFile, type FileSet } from '../util/file-set.js';
import { GlassError } from '../util/errors.js';
import { loadTokenizerFromJson, loadTokenizerFromVocabMerges, type LoadOptions } from './load.js';
import { loadMarianTokenizerFromFiles } from './marian.js';
import { loadLlama2cTokenizer, loadSentencePieceModel, sniffTokenizerBytes } from './sentencepiece-load.js';
import type { Tokenizer } from './tokenizer.js';
import { WordPieceTokenizer, parseVocabTxt } from './wordpiece.js';

/** The file pairs tried after tokenizer.json: Hugging Face names, then OpenAI's original names. */
const PAIRS: [vocab: string, merges: string][] = [
  ['vocab.json', 'merges.txt'],
  ['encoder.json', 'vocab.bpe'],
];

/** tokenizer_config.json, else special_tokens_map.json (for bos/eos names), when present and valid. */
async function readTokenConfig(files: FileSet): Promise<unknown> {
  for (const f of ['tokenizer_config.json', 'special_tokens_map.json']) {
    const text = await files.text(f);
    if (text === undefined) continue;
    try {
      return JSON.parse(text);
    } catch {
      // Only a hint for special-token names; the tokenizer itself loads without it.
    }
  }
  return undefined;
}

/** llama2.c's tokenizer.bin, else the first tokNNN.bin (as llama2.c's training scripts name custom vocabularies). */
export function llama2cTokenizerName(names: string[]): string | undefined {
  return names.includes('tokenizer.bin')
    ? 'tokenizer.bin'
    : names.filter((f) => /^tok\d+\.bin$/.test(f)).sort()[0];
}

/**
 * Loads the tokenizer among a model's files, trying in order: tokenizer.json; Marian's source.spm +
 * target.spm + vocab.json; SentencePiece's tokenizer.model; vocab.json + merges.txt (or OpenAI's encoder.json + vocab.bpe); BERT's vocab.txt;
 * llama2.c's tokenizer.bin (or tokNNN.bin).
 */
export async function loadTokenizerFromFiles(files: FileSet): Promise<Tokenizer> {
  const tokenConfig = await readTokenConfig(files);
  const tj = await files.text('tokenizer.json');
  if (tj !== undefined) {
    const tjPath = files.path('tokenizer.json');
    return loadTokenizerFromJson(parseJsonFile(tj, tjPath), tjPath, { tokenConfig });
  }

  // Marian (opus-mt): source.spm + target.spm + vocab.json — before the vocab.json + merges.txt pair.
  const marian = await loadMarianTokenizerFromFiles(files);
  if (marian !== undefined) return marian;

  const sp = await files.bytes('tokenizer.model');
  if (sp !== undefined) return loadSentencePieceModel(sp, files.path('tokenizer.model'));

  for (const [v, m] of PAIRS) {
    const vPath = files.path(v);
    const mPath = files.path(m);
    const vText = await files.text(v);
    const mText = await files.text(m);
    if (vText === undefined && mText === undefined) continue;
    if (vText === undefined || mText === undefined) {
      const [have, lack] = vText === undefined ? [mPath, vPath] : [vPath, mPath];
      throw new GlassError('NOT_FOUND', `${files.name}: found ${have} but not ${lack}, which it needs`);
    }
    return loadTokenizerFromVocabMerges(parseJsonFile(vText, vPath), mText, files.name, {
      vocab: vPath,
      merges: mPath,
      tokenConfig,
    });
  }

  const vt = await files.text('vocab.txt');
  if (vt !== undefined) return wordPieceFromVocabTxt(vt, files.path('vocab.txt'), tokenConfig);

  const bin = llama2cTokenizerName(await files.list());
  if (bin !== undefined) {
    const bytes = await files.bytes(bin);
    if (bytes !== undefined) return loadLlama2cTokenizer(bytes, files.path(bin));
  }

  const looked = [
    'tokenizer.json',
    'source.spm + target.spm + vocab.json',
    'tokenizer.model',
    ...PAIRS.map(([v, m]) => `${v} + ${m}`),
    'vocab.txt',
    'tokenizer.bin',
  ].join(', or ');
  throw new GlassError('NOT_FOUND', `${files.name}: no tokenizer found (looked for ${looked})`);
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

/** Whether bytes look like a tokenizer file this version reads (JSON, SentencePiece .model, llama2.c .bin). */
export function looksLikeTokenizer(bytes: Uint8Array, name: string): boolean {
  const n = name.toLowerCase();
  if (n.endsWith('.json') || n.endsWith('.model') || n.endsWith('.spm')) return true;
  return startsWithBrace(bytes) || sniffTokenizerBytes(bytes) !== undefined;
}

function startsWithBrace(bytes: Uint8Array): boolean {
  let first = 0;
  while (
    first < bytes.length &&
    (bytes[first] === 0x20 || bytes[first] === 0x0a || bytes[first] === 0x0d || bytes[first] === 0x09)
  )
    first++;
  return bytes[first] === 0x7b; // '{'
}

/**
 * Loads one tokenizer file's bytes: a Hugging Face tokenizer.json, a SentencePiece tokenizer.model, or
 * llama2.c's tokenizer.bin. The name decides (.json, .model/.spm, .bin); otherwise the content.
 */
export function loadTokenizerFromBytes(
  bytes: Uint8Array,
  name: string,
  options: LoadOptions = {},
): Tokenizer {
  const lower = name.toLowerCase();
  const json = (): Tokenizer =>
    loadTokenizerFromJson(parseJsonFile(new TextDecoder().decode(bytes), name), name, options);
  if (lower.endsWith('.json')) return json();
  if (lower.endsWith('.model') || lower.endsWith('.spm')) return loadSentencePieceModel(bytes, name);
  if (lower.endsWith('.bin')) return loadLlama2cTokenizer(bytes, name);
  if (startsWithBrace(bytes)) return json();
  const kind = sniffTokenizerBytes(bytes);
  if (kind === 'sentencepiece') return loadSentencePieceModel(bytes, name);
  if (kind === 'llama2c') return loadLlama2cTokenizer(bytes, name);
  throw new GlassError(
    'BAD_FILE',
    `${name}: not a tokenizer file this version reads (expected tokenizer.json, a SentencePiece .model, or llama2.c's tokenizer.bin)`,
  );
}
