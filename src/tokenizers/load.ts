// Stage 1 — loading tokenizers from the models' own files: a Hugging Face `tokenizer.json` (byte-level
// BPE, or SentencePiece-style BPE as Llama 2 ships it), or the older pair `vocab.json` + `merges.txt`
// (OpenAI's `encoder.json` + `vocab.bpe` are the same two files under other names). Works on parsed
// JSON and text, so it runs in browsers too; see load-node.ts for reading a folder, and
// sentencepiece-load.ts for SentencePiece's and llama2.c's binary files.

import { WordPieceTokenizer } from './wordpiece.js';
import { MarianTokenizer } from './marian.js';
import { unigramModelFromJson, type UnigramModel } from './unigram.js';
import { GlassError } from '../util/errors.js';
import { BpeTokenizer, compilePretokenizerPattern, GPT2_PATTERN, type AddedToken } from './bpe.js';
import { checkIdSpan } from './common.js';
import { PieceType, SentencePieceTokenizer, SPACE_SYMBOL } from './sentencepiece.js';
import type { SpecialTokens, Tokenizer } from './tokenizer.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? JSON.stringify(v) : typeof v;
}

/** Reads a `{ token: id }` object into a Map, checking every id. */
function readVocab(v: unknown, where: string): Map<string, number> {
  if (!isObject(v))
    throw new GlassError('BAD_FILE', `${where}: expected an object of token → id, got ${describe(v)}`);
  const vocab = new Map<string, number>();
  for (const [tok, id] of Object.entries(v)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new GlassError(
        'BAD_FILE',
        `${where}: token ${JSON.stringify(tok)} has id ${JSON.stringify(id)}, not a non-negative integer`,
      );
    }
    vocab.set(tok, id);
  }
  if (vocab.size === 0) throw new GlassError('BAD_FILE', `${where}: the vocabulary is empty`);
  return vocab;
}

/** Checks that both halves of a merge and its result are vocabulary tokens. */
function checkMerge(vocab: Map<string, number>, a: string, b: string, where: string): void {
  for (const t of [a, b]) {
    if (!vocab.has(t))
      throw new GlassError(
        'BAD_FILE',
        `${where} "${a} ${b}": token ${JSON.stringify(t)} is not in the vocabulary`,
      );
  }
  if (!vocab.has(a + b)) {
    throw new GlassError(
      'BAD_FILE',
      `${where} "${a} ${b}": the merged token ${JSON.stringify(a + b)} is not in the vocabulary`,
    );
  }
}

/** Splits "a b" into its two tokens (byte-level tokens never contain a plain space). */
function splitMerge(line: string, where: string): [string, string] {
  const parts = line.split(' ');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw new GlassError(
      'BAD_FILE',
      `${where}: expected two tokens separated by one space, got ${JSON.stringify(line)}`,
    );
  }
  return [parts[0], parts[1]];
}

/** Names of special tokens that mean bos/eos/unk/pad across common model families. */
const KNOWN_SPECIALS: Record<string, (keyof SpecialTokens)[]> = {
  '<|endoftext|>': ['bos', 'eos'],
  '<s>': ['bos'],
  '</s>': ['eos'],
  '<|begin_of_text|>': ['bos'],
  '<|end_of_text|>': ['eos'],
  '<unk>': ['unk'],
  '<|unk|>': ['unk'],
  '<pad>': ['pad'],
  '<|pad|>': ['pad'],
  '<|padding|>': ['pad'],
};

function guessSpecialTokens(added: readonly AddedToken[]): SpecialTokens {
  const out: SpecialTokens = {};
  // Explicit names first, then <|endoftext|> fills whatever is left (GPT-2 uses it for both).
  const ordered = [...added].sort(
    (x, y) => Number(x.content === '<|endoftext|>') - Number(y.content === '<|endoftext|>'),
  );
  for (const t of ordered) {
    for (const role of KNOWN_SPECIALS[t.content] ?? []) if (out[role] === undefined) out[role] = t.id;
  }
  return out;
}

/**
 * Applies a tokenizer_config.json / special_tokens_map.json style object (`bos_token`, `eos_token`,
 * `unk_token`, `pad_token`, each a string or `{ content }`) on top of guessed special tokens.
 */
function applyTokenConfig(
  special: SpecialTokens,
  config: unknown,
  lookup: (s: string) => number | undefined,
): void {
  if (!isObject(config)) return;
  const roles: [keyof SpecialTokens, string][] = [
    ['bos', 'bos_token'],
    ['eos', 'eos_token'],
    ['unk', 'unk_token'],
    ['pad', 'pad_token'],
  ];
  for (const [role, key] of roles) {
    const v = config[key];
    const content =
      typeof v === 'string' ? v : isObject(v) && typeof v.content === 'string' ? v.content : undefined;
    if (content === undefined) continue;
    const id = lookup(content);
    if (id !== undefined) special[role] = id;
  }
}

export interface LoadOptions {
  /** A parsed tokenizer_config.json or special_tokens_map.json; its bos/eos/unk/pad names win over guesses. */
  tokenConfig?: unknown;
}

/**
 * Loads a Hugging Face `tokenizer.json` (already parsed). Supports model.type 'BPE' in two kinds:
 * byte-level (a ByteLevel pre-tokenizer, GPT-2 style, or Split(regex) + ByteLevel, Llama-3/Qwen
 * style) and SentencePiece-style (byte_fallback, spaces turned into '▁' by a Prepend/Replace
 * normalizer or a Metaspace pre-tokenizer: Llama 2, Mistral, TinyLlama) — see loadSentencePieceJson.
 */
export function loadTokenizerFromJson(json: unknown, name: string, options: LoadOptions = {}): Tokenizer {
  if (!isObject(json))
    throw new GlassError('BAD_FILE', `${name}: expected a JSON object, got ${describe(json)}`);
  const model = json.model;
  if (!isObject(model)) throw new GlassError('BAD_FILE', `${name}: "model" is missing or not an object`);
  const type = model.type ?? (model.merges !== undefined ? 'BPE' : undefined);
  if (type === 'WordPiece') return loadWordPieceJson(json, model, name);
  if (type === 'Unigram') return loadUnigramJson(json, name);
  if (type !== 'BPE') {
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: model.type ${describe(type)} is not supported (BPE — byte-level or SentencePiece-style —, WordPiece and Unigram tokenizer.json files are)`,
    );
  }
  if (isSentencePieceStyle(json, model)) return loadSentencePieceJson(json, model, name, options);
  if (json.normalizer !== null && json.normalizer !== undefined) {
    const t = isObject(json.normalizer) ? json.normalizer.type : undefined;
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: normalizer ${describe(t)} is not supported (byte-level BPE expects none)`,
    );
  }
  const pattern = readPreTokenizer(json.pre_tokenizer, name);
  const dec = json.decoder;
  if (dec !== null && dec !== undefined && !(isObject(dec) && dec.type === 'ByteLevel')) {
    const t = isObject(dec) ? dec.type : undefined;
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: decoder ${describe(t)} is not supported (expected ByteLevel)`,
    );
  }

  const vocab = readVocab(model.vocab, `${name}: model.vocab`);

  const merges = readMerges(model, vocab, name);
  const added = readAddedTokens(json, vocab, name);

  if (model.ignore_merges !== true) checkEveryTokenIsMerged(vocab, merges, added, `${name}: model.merges`);
  const special = guessSpecialTokens(added.filter((t) => t.special));
  applyTokenConfig(
    special,
    options.tokenConfig,
    (s) => vocab.get(s) ?? added.find((t) => t.content === s)?.id,
  );

  return new BpeTokenizer({
    name,
    vocab,
    merges,
    addedTokens: added,
    specialTokens: special,
    pattern,
    ignoreMerges: model.ignore_merges === true,
  });
}

/**
 * In a byte-level BPE vocabulary every token longer than one byte-character is made by a merge; one that
 * no merge makes can never be produced, which means the merge list is missing a line. (Added tokens are
 * matched whole and need none; Llama-3's ignore_merges vocabularies may hold whole words.)
 */
function checkEveryTokenIsMerged(
  vocab: Map<string, number>,
  merges: readonly (readonly [string, string])[],
  added: readonly AddedToken[],
  where: string,
): void {
  const made = new Set<string>();
  for (const [a, b] of merges) made.add(a + b);
  const addedIds = new Set(added.map((t) => t.id));
  for (const [token, id] of vocab) {
    if (addedIds.has(id) || made.has(token)) continue;
    let chars = 0;
    for (const _ of token) if (++chars > 1) break;
    if (chars > 1) {
      throw new GlassError(
        'BAD_FILE',
        `${where}: vocabulary token ${JSON.stringify(token)} (id ${id}) is made by no merge: the merge list is missing a line`,
      );
    }
  }
}

/** A TemplateProcessing post-processor's `single` template: its items, e.g. ['<s>', '$A', '</s>']. */
function singleTemplate(post: unknown): string[] | null {
  if (!isObject(post) || post.type !== 'TemplateProcessing' || !Array.isArray(post.single)) return null;
  const items: string[] = [];
  for (const item of post.single as unknown[]) {
    if (isObject(item) && isObject(item.Sequence) && item.Sequence.id === 'A') items.push('$A');
    else if (isObject(item) && isObject(item.SpecialToken) && typeof item.SpecialToken.id === 'string')
      items.push(item.SpecialToken.id);
    else return null;
  }
  return items;
}

/**
 * A Unigram tokenizer.json (unigram.ts, as SentencePiece encodes) with a Metaspace pre-tokenizer, in two
 * layouts:
 * - T5: a post-processor appending `</s>` (TemplateProcessing "$A </s>", or none: T5's slow tokenizer
 *   appends it too);
 * - XLM-RoBERTa (multilingual-e5, paraphrase-multilingual-MiniLM): TemplateProcessing "<s> $A </s>";
 *   ids <s> 0, <pad> 1, </s> 2, <unk> 3, then the SentencePiece pieces (shifted by one: fairseq's
 *   layout), <mask> last.
 * The Tokenizer is marian.ts's with one model both ways; its special tokens are the added tokens marked
 * special (`<pad>`, `</s>`, `<unk>`, `<s>`, `<mask>`, `<extra_id_N>`), matched whole in the text.
 */
function loadUnigramJson(json: Record<string, unknown>, name: string): Tokenizer {
  const added = Array.isArray(json.added_tokens) ? (json.added_tokens as unknown[]) : [];
  const specials = new Map<string, number>();
  for (const t of added)
    if (isObject(t) && t.special === true && typeof t.content === 'string' && Number.isInteger(t.id))
      specials.set(t.content, t.id as number);
  const unigram = unigramModelFromJson(json, new Set(specials.values()), name);
  // the post-processor may only append </s> to a single sequence, or put <s> before and </s> after it
  const post = json.post_processor;
  let bosToken: string | undefined;
  if (post !== null && post !== undefined) {
    const single = singleTemplate(post)?.join(' ');
    if (single === '<s> $A </s>') bosToken = '<s>';
    else if (single !== '$A </s>')
      throw new GlassError(
        'UNSUPPORTED',
        `${name}: post_processor ${describe(isObject(post) ? post.type : post)} ${single === undefined ? '' : `"${single}" `}is not supported with Unigram (expected TemplateProcessing "$A </s>" or "<s> $A </s>")`,
      );
  }
  return unigramTokenizer(unigram, specials, { bosToken }, name);
}

/**
 * The Tokenizer of a Unigram model (from a tokenizer.json, or a GGUF file's "t5" vocabulary): marian.ts's
 * with one model both ways; vocab = its pieces by index; `specials` (content → id) are matched whole in
 * the text; `</s>` is appended, and `bosToken` (XLM-RoBERTa's `<s>`) put first when given.
 */
export function unigramTokenizer(
  unigram: UnigramModel,
  specials: ReadonlyMap<string, number>,
  names: { bosToken?: string; eosToken?: string; padToken?: string },
  name: string,
): Tokenizer {
  const vocab: Record<string, number> = {};
  unigram.pieces.forEach((p, i) => {
    if (!(p in vocab)) vocab[p] = i;
  });
  for (const [t, id] of specials) vocab[t] = id;
  const named = new Set([
    unigram.pieces[unigram.unk],
    names.eosToken ?? '</s>',
    names.padToken ?? '<pad>',
    ...(names.bosToken ? [names.bosToken] : []),
  ]);
  return new MarianTokenizer({
    name,
    kind: 'unigram',
    source: unigram,
    target: unigram,
    vocab,
    unkToken: unigram.pieces[unigram.unk],
    ...names,
    extraSpecials: [...specials.keys()].filter((t) => !named.has(t)),
    languageCodes: false,
    dropUnknownIds: true,
  });
}

/** A BERT-style tokenizer.json: WordPiece model, BertNormalizer, BertPreTokenizer. */
function loadWordPieceJson(
  json: Record<string, unknown>,
  model: Record<string, unknown>,
  name: string,
): Tokenizer {
  const vocab = readVocab(model.vocab, `${name}: model.vocab`);
  const pieces: string[] = new Array(vocab.size);
  for (const [p, id] of vocab) {
    if (id >= vocab.size || pieces[id] !== undefined) {
      throw new GlassError(
        'BAD_FILE',
        `${name}: model.vocab ids are not 0..${vocab.size - 1} without gaps (id ${id})`,
      );
    }
    pieces[id] = p;
  }
  const norm = isObject(json.normalizer) ? json.normalizer : {};
  if (json.normalizer && norm.type !== 'BertNormalizer') {
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: normalizer ${describe(norm.type)} is not supported yet with WordPiece`,
    );
  }
  const lowercase = norm.lowercase !== false;
  return new WordPieceTokenizer({
    name,
    vocab: pieces,
    lowercase,
    stripAccents: typeof norm.strip_accents === 'boolean' ? norm.strip_accents : lowercase,
    handleChineseChars: norm.handle_chinese_chars !== false,
    cleanText: norm.clean_text !== false,
    continuingSubwordPrefix:
      typeof model.continuing_subword_prefix === 'string' ? model.continuing_subword_prefix : '##',
    maxInputCharsPerWord:
      typeof model.max_input_chars_per_word === 'number' ? model.max_input_chars_per_word : 100,
    unkToken: typeof model.unk_token === 'string' ? model.unk_token : '[UNK]',
  });
}

/** model.merges of a tokenizer.json ("a b" strings or ["a", "b"] pairs), checked against the vocabulary. */
function readMerges(
  model: Record<string, unknown>,
  vocab: Map<string, number>,
  name: string,
): [string, string][] {
  const rawMerges = model.merges;
  if (!Array.isArray(rawMerges))
    throw new GlassError('BAD_FILE', `${name}: model.merges is missing or not an array`);
  const merges: [string, string][] = new Array(rawMerges.length);
  for (let i = 0; i < rawMerges.length; i++) {
    const m: unknown = rawMerges[i];
    const where = `${name}: model.merges[${i}]`;
    let pair: [string, string];
    if (typeof m === 'string') pair = splitMerge(m, where);
    else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string')
      pair = [m[0], m[1]];
    else throw new GlassError('BAD_FILE', `${where}: expected "a b" or ["a", "b"], got ${JSON.stringify(m)}`);
    checkMerge(vocab, pair[0], pair[1], where);
    merges[i] = pair;
  }
  return merges;
}

/** added_tokens of a tokenizer.json, checked against the vocabulary. */
function readAddedTokens(
  json: Record<string, unknown>,
  vocab: Map<string, number>,
  name: string,
): AddedToken[] {
  const added: AddedToken[] = [];
  const rawAdded = json.added_tokens ?? [];
  if (!Array.isArray(rawAdded)) throw new GlassError('BAD_FILE', `${name}: added_tokens is not an array`);
  rawAdded.forEach((t: unknown, i: number) => {
    if (
      !isObject(t) ||
      typeof t.content !== 'string' ||
      typeof t.id !== 'number' ||
      !Number.isInteger(t.id) ||
      t.id < 0
    ) {
      throw new GlassError(
        'BAD_FILE',
        `${name}: added_tokens[${i}] needs a string "content" and a non-negative integer "id"`,
      );
    }
    const inVocab = vocab.get(t.content);
    if (inVocab !== undefined && inVocab !== t.id) {
      throw new GlassError(
        'BAD_FILE',
        `${name}: added_tokens[${i}] ${JSON.stringify(t.content)} has id ${t.id} but model.vocab says ${inVocab}`,
      );
    }
    added.push({ id: t.id, content: t.content, special: t.special === true });
  });
  return added;
}

/** The pre-tokenizer regex of a tokenizer.json, or an UNSUPPORTED error. */
function readPreTokenizer(pre: unknown, name: string): string {
  const where = `${name}: pre_tokenizer`;
  if (!isObject(pre))
    throw new GlassError('UNSUPPORTED', `${where} ${describe(pre)} is not supported (expected ByteLevel)`);
  const byteLevel = (p: Record<string, unknown>, path: string): void => {
    if (p.add_prefix_space === true) {
      throw new GlassError('UNSUPPORTED', `${name}: ${path}.add_prefix_space = true is not supported`);
    }
  };
  if (pre.type === 'ByteLevel') {
    byteLevel(pre, 'pre_tokenizer');
    if (pre.use_regex === false) {
      throw new GlassError(
        'UNSUPPORTED',
        `${where}: ByteLevel with use_regex = false and no Split is not supported`,
      );
    }
    return GPT2_PATTERN;
  }
  if (pre.type === 'Sequence' && Array.isArray(pre.pretokenizers)) {
    const list: unknown[] = pre.pretokenizers;
    // Split(regex, Isolated) followed by ByteLevel(use_regex = false): Llama-3, Qwen2 and friends.
    if (
      list.length === 2 &&
      isObject(list[0]) &&
      isObject(list[1]) &&
      list[0].type === 'Split' &&
      list[1].type === 'ByteLevel'
    ) {
      const split = list[0];
      const bl = list[1];
      byteLevel(bl, 'pre_tokenizer.pretokenizers[1]');
      const pat = split.pattern;
      const regex = isObject(pat) && typeof pat.Regex === 'string' ? pat.Regex : undefined;
      if (regex === undefined || split.behavior !== 'Isolated' || split.invert === true) {
        throw new GlassError(
          'UNSUPPORTED',
          `${where}: only Split with a Regex pattern, behavior "Isolated" and invert false is supported`,
        );
      }
      if (bl.use_regex === true) {
        throw new GlassError(
          'UNSUPPORTED',
          `${where}: Split followed by ByteLevel with use_regex = true is not supported`,
        );
      }
      compilePretokenizerPattern(regex, `${where}.pretokenizers[0].pattern`); // fail here, with the file named
      return regex;
    }
    const types = list.map((p) => (isObject(p) ? String(p.type) : describe(p))).join(', ');
    throw new GlassError(
      'UNSUPPORTED',
      `${where}: Sequence [${types}] is not supported (expected ByteLevel, or Split + ByteLevel)`,
    );
  }
  throw new GlassError(
    'UNSUPPORTED',
    `${where} of type ${describe(pre.type)} is not supported (expected ByteLevel)`,
  );
}

// ---------------------------------------------------------------------------------------------
// SentencePiece-style BPE in a tokenizer.json (Llama 2 and its kin). Two generations of files:
//   older: normalizer Sequence[Prepend("▁"), Replace(" " → "▁")], no pre-tokenizer;
//   newer: no normalizer, pre_tokenizer Metaspace(replacement "▁", prepend_scheme, split false).
// Both with model.byte_fallback and decoder Sequence[Replace("▁" → " "), ByteFallback, Fuse,
// Strip(" ", 1, 0)] (or a Metaspace decoder). The merges are rank-ordered; for files converted from
// a SentencePiece model, rank order is the pieces' score order.

function isReplace(n: Record<string, unknown>, from: string, to: string): boolean {
  return n.type === 'Replace' && isObject(n.pattern) && n.pattern.String === from && n.content === to;
}

/** Whether a BPE tokenizer.json is SentencePiece-style rather than byte-level. */
function isSentencePieceStyle(json: Record<string, unknown>, model: Record<string, unknown>): boolean {
  if (model.byte_fallback === true) return true;
  const list = (v: unknown, key: string): Record<string, unknown>[] =>
    !isObject(v) ? [] : v.type === 'Sequence' && Array.isArray(v[key]) ? v[key].filter(isObject) : [v];
  const norms = list(json.normalizer, 'normalizers');
  if (
    norms.some((n) => (n.type === 'Prepend' && n.prepend === SPACE_SYMBOL) || isReplace(n, ' ', SPACE_SYMBOL))
  )
    return true;
  const decs = list(json.decoder, 'decoders');
  if (
    decs.some((d) => d.type === 'Metaspace' || d.type === 'ByteFallback' || isReplace(d, SPACE_SYMBOL, ' '))
  )
    return true;
  return false;
}

/** A SentencePiece-style tokenizer.json → SentencePieceTokenizer; UNSUPPORTED for parts it cannot honour. */
function loadSentencePieceJson(
  json: Record<string, unknown>,
  model: Record<string, unknown>,
  name: string,
  options: LoadOptions,
): Tokenizer {
  // Normalisation: who turns spaces into '▁', and who puts the dummy '▁' in front.
  let replace = false;
  let prepend: 'always' | 'first' | 'never' = 'never';
  const norm = json.normalizer;
  if (norm !== null && norm !== undefined) {
    const list =
      isObject(norm) && norm.type === 'Sequence' && Array.isArray(norm.normalizers)
        ? norm.normalizers
        : [norm];
    list.forEach((n: unknown, i: number) => {
      const where = list.length === 1 && list[0] === norm ? 'normalizer' : `normalizer.normalizers[${i}]`;
      if (isObject(n) && n.type === 'Prepend' && n.prepend === SPACE_SYMBOL) prepend = 'always';
      else if (isObject(n) && isReplace(n, ' ', SPACE_SYMBOL)) replace = true;
      else {
        throw new GlassError(
          'UNSUPPORTED',
          `${name}: ${where} ${JSON.stringify(n)} is not supported (SentencePiece-style files: Prepend("▁") then Replace(" " → "▁"))`,
        );
      }
    });
  }
  const pre = json.pre_tokenizer;
  if (pre !== null && pre !== undefined) {
    if (!isObject(pre) || pre.type !== 'Metaspace') {
      const t = isObject(pre) ? pre.type : undefined;
      throw new GlassError(
        'UNSUPPORTED',
        `${name}: pre_tokenizer ${describe(t)} is not supported for SentencePiece-style BPE (expected none, or Metaspace)`,
      );
    }
    if (pre.replacement !== undefined && pre.replacement !== SPACE_SYMBOL) {
      throw new GlassError(
        'UNSUPPORTED',
        `${name}: pre_tokenizer.replacement ${describe(pre.replacement)} is not supported (expected "▁")`,
      );
    }
    if (pre.split === true) {
      throw new GlassError(
        'UNSUPPORTED',
        `${name}: pre_tokenizer Metaspace with split = true is not supported yet`,
      );
    }
    const scheme = pre.prepend_scheme ?? (pre.add_prefix_space === false ? 'never' : 'always');
    if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never') {
      throw new GlassError(
        'UNSUPPORTED',
        `${name}: pre_tokenizer.prepend_scheme ${describe(scheme)} is not supported`,
      );
    }
    if (prepend === 'never') prepend = scheme;
    replace = true;
  }
  if (!replace) {
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: SentencePiece-style BPE (byte_fallback) whose spaces are not turned into "▁" (no Replace normalizer, no Metaspace pre-tokenizer) is not supported`,
    );
  }
  const dec = json.decoder;
  if (dec !== null && dec !== undefined) {
    const list =
      isObject(dec) && dec.type === 'Sequence' && Array.isArray(dec.decoders) ? dec.decoders : [dec];
    list.forEach((d: unknown, i: number) => {
      const ok =
        isObject(d) &&
        (d.type === 'ByteFallback' ||
          d.type === 'Fuse' ||
          d.type === 'Metaspace' ||
          d.type === 'Strip' ||
          isReplace(d, SPACE_SYMBOL, ' '));
      if (!ok) {
        const where = list.length === 1 && list[0] === dec ? 'decoder' : `decoder.decoders[${i}]`;
        throw new GlassError(
          'UNSUPPORTED',
          `${name}: ${where} ${JSON.stringify(d)} is not supported (expected Replace("▁" → " "), ByteFallback, Fuse, Strip or Metaspace)`,
        );
      }
    });
  }
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    const v = model[key];
    if (v !== null && v !== undefined && v !== '') {
      throw new GlassError(
        'UNSUPPORTED',
        `${name}: model.${key} ${describe(v)} is not supported for SentencePiece-style BPE`,
      );
    }
  }
  if (model.ignore_merges === true) {
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: model.ignore_merges is not supported for SentencePiece-style BPE`,
    );
  }

  const vocab = readVocab(model.vocab, `${name}: model.vocab`);
  const merges = readMerges(model, vocab, name);
  const added = readAddedTokens(json, vocab, name);

  // Pieces by id: the vocabulary, then added tokens beyond it.
  let size = 0;
  for (const id of vocab.values()) size = Math.max(size, id + 1);
  for (const t of added) size = Math.max(size, t.id + 1);
  checkIdSpan(size - 1, vocab.size + added.length, name);
  const pieces = new Array<string>(size);
  for (const [tok, id] of vocab) {
    if (pieces[id] !== undefined) {
      throw new GlassError(
        'BAD_FILE',
        `${name}: model.vocab: ${JSON.stringify(pieces[id])} and ${JSON.stringify(tok)} share id ${id}`,
      );
    }
    pieces[id] = tok;
  }
  for (const t of added) pieces[t.id] ??= t.content;
  for (let id = 0; id < size; id++) {
    if (pieces[id] === undefined)
      throw new GlassError('BAD_FILE', `${name}: no token has id ${id} (model.vocab has gaps)`);
  }

  const unkToken = model.unk_token;
  const unk = typeof unkToken === 'string' ? vocab.get(unkToken) : undefined;
  if (typeof unkToken === 'string' && unk === undefined) {
    throw new GlassError(
      'BAD_FILE',
      `${name}: model.unk_token ${JSON.stringify(unkToken)} is not in model.vocab`,
    );
  }
  const byteFallback = model.byte_fallback === true;
  const types = new Uint8Array(size).fill(PieceType.NORMAL);
  if (byteFallback)
    for (let id = 0; id < size; id++) if (/^<0x[0-9A-Fa-f]{2}>$/.test(pieces[id])) types[id] = PieceType.BYTE;
  for (const t of added) types[t.id] = t.special ? PieceType.CONTROL : PieceType.USER_DEFINED;
  if (unk !== undefined) types[unk] = PieceType.UNKNOWN;

  const special = guessSpecialTokens(added.filter((t) => t.special));
  if (unk !== undefined) special.unk = unk;
  applyTokenConfig(
    special,
    options.tokenConfig,
    (s) => vocab.get(s) ?? added.find((t) => t.content === s)?.id,
  );

  return new SentencePieceTokenizer({
    name,
    pieces,
    types,
    merges,
    bos: special.bos,
    eos: special.eos,
    unk: special.unk,
    pad: special.pad,
    addDummyPrefix: prepend !== 'never',
    prefixAfterSpecial: prepend === 'always',
    byteFallback,
  });
}

export interface VocabMergesNames {
  /** Name of the vocab file in error messages (default: the `name` argument). */
  vocab?: string;
  /** Name of the merges file in error messages (default: the `name` argument). */
  merges?: string;
}

/**
 * Loads the GPT-2 style pair: `vocab.json` (parsed: token → id) and the text of `merges.txt` (one
 * "a b" merge per line, rank order, after an optional `#version` header). `<|endoftext|>`, when in
 * the vocabulary, becomes a special token (bos and eos).
 */
export function loadTokenizerFromVocabMerges(
  vocabJson: unknown,
  mergesText: string,
  name: string,
  files: VocabMergesNames & LoadOptions = {},
): Tokenizer {
  const vocabName = files.vocab ?? name;
  const mergesName = files.merges ?? name;
  const vocab = readVocab(vocabJson, vocabName);
  if (typeof mergesText !== 'string')
    throw new GlassError('BAD_FILE', `${mergesName}: merges text is not a string`);

  const lines = mergesText.split('\n');
  const merges: [string, string][] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (i === 0 && line.startsWith('#version')) continue;
    if (line.trim() === '') continue;
    const where = `${mergesName}: merge line ${i + 1}`;
    const [a, b] = splitMerge(line, where);
    checkMerge(vocab, a, b, where);
    merges.push([a, b]);
  }

  const added: AddedToken[] = [];
  for (const content of Object.keys(KNOWN_SPECIALS)) {
    const id = vocab.get(content);
    // Only the GPT-style <|...|> names are safe to assume special in a vocab.json; '<s>' could be text.
    if (id !== undefined && content.startsWith('<|')) added.push({ id, content, special: true });
  }
  checkEveryTokenIsMerged(vocab, merges, added, mergesName);
  const special = guessSpecialTokens(added);
  applyTokenConfig(special, files.tokenConfig, (s) => vocab.get(s));
  return new BpeTokenizer({ name, vocab, merges, addedTokens: added, specialTokens: special });
}
