// Stage 1 — the tokenizer of Marian translation models (Helsinki-NLP opus-mt), as Hugging Face's
// MarianTokenizer does it (transformers/models/marian/tokenization_marian.py):
//
// Encoding: the text is split on the special tokens written in it (`</s>`, `<unk>`, `<pad>`, as HF's
// slow tokenizers do); each other stretch loses a leading language code `>>xx<<` (kept as one token)
// and is cut into pieces by the *source* SentencePiece model (source.spm, unigram); the pieces become
// ids through the shared vocab.json (not the .spm's own ids), a piece vocab.json lacks becoming
// `<unk>`; `</s>` is appended.
//
// Decoding: ids → vocab.json strings; with skipSpecialTokens (the default here, as translation output
// is read) `</s>`, `<unk>` and `<pad>` are dropped; the *target* model (target.spm) joins the pieces
// ('▁' → space, control pieces vanish), and the result is trimmed. Without skipping, a special token
// is written as itself followed by a space, as HF's convert_tokens_to_string does.
//
// The decoder starts from the pad id (config.decoder_start_token_id is pad_token_id in Marian).
// HF's MosesPunctNormalizer is left out: MarianTokenizer defines normalize() but never calls it.
//
// T5's tokenizer.json (a Unigram model, load.ts) is this tokenizer too: one unigram model both ways
// (unigram.ts unigramModelFromJson), vocab = its pieces by index, every special added token
// (`<extra_id_N>` too) split out of the text, `</s>` appended, no language codes; kind 'unigram'.

import type { FileSet } from '../util/file-set.js';
import { parseJsonFile } from '../util/file-set.js';
import { GlassError } from '../util/errors.js';
import { encodeUtf8, utf8Encoder, wellFormed } from './common.js';
import { SPACE_SYMBOL } from './sentencepiece.js';
import type { EncodeOptions, IncrementalDecoder, SpecialTokens, TokenSpan, Tokenizer } from './tokenizer.js';
import { loadUnigramModel, type UnigramModel } from './unigram.js';

export interface MarianTokenizerOptions {
  /** Shown in error messages. */
  name?: string;
  /** source.spm: cuts the text to translate into pieces. */
  source: UnigramModel;
  /** target.spm: joins decoded pieces back into text. */
  target: UnigramModel;
  /** vocab.json: piece → model id, shared by encoder and decoder. */
  vocab: Readonly<Record<string, number>>;
  unkToken?: string;
  eosToken?: string;
  padToken?: string;
  /** A token put in front of every input (XLM-RoBERTa's `<s>` in `<s> $A </s>`); none by default. */
  bosToken?: string;
  /** Special tokens besides those three, matched in the text and skipped in decoding (T5's `<extra_id_N>`). */
  extraSpecials?: readonly string[];
  /** A leading `>>xx<<` is one token (Marian's multilingual targets). Default true. */
  languageCodes?: boolean;
  /** Tokenizer.kind: 'marian' (default), 'unigram' (a tokenizer.json). */
  kind?: string;
  /**
   * Decoding drops ids the vocabulary lacks instead of refusing them, as HF's tokenizers library does
   * (T5's model rows outnumber its tokenizer's pieces: 32128 vs 32100). Default false.
   */
  dropUnknownIds?: boolean;
}

export interface MarianEncodeOptions extends EncodeOptions {
  /** Append `</s>` (HF does for every input; addSpecialTokens false also leaves it off). Default true. */
  addEos?: boolean;
}

export interface MarianDecodeOptions {
  /** Drop `</s>`, `<unk>` and `<pad>` (HF's skip_special_tokens). Default true. */
  skipSpecialTokens?: boolean;
}

/** Python's str.isspace() characters, for HF's final strip(). */
const PY_SPACE =
  '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class MarianTokenizer implements Tokenizer {
  readonly kind: string;
  readonly name: string;
  readonly vocabSize: number;
  readonly specialTokens: SpecialTokens;
  readonly padId: number;
  readonly eosId: number;
  readonly unkId: number;
  /** The id encode() puts first (XLM-RoBERTa's `<s>`), or undefined (Marian, T5: none). */
  readonly bosId: number | undefined;
  /** Language codes (`>>xx<<`) in the vocabulary, for multilingual-target models; often none. */
  readonly supportedLanguageCodes: readonly string[];
  readonly source: UnigramModel;
  readonly target: UnigramModel;

  private readonly encoder = new Map<string, number>();
  private readonly decoderMap = new Map<number, string>();
  private readonly specials: Map<string, number>;
  private readonly specialIds: Set<number>;
  private readonly specialRe: RegExp;
  private readonly languageCodes: boolean;
  private readonly dropUnknownIds: boolean;

  constructor(options: MarianTokenizerOptions) {
    this.name = options.name ?? 'marian tokenizer';
    this.kind = options.kind ?? 'marian';
    this.languageCodes = options.languageCodes ?? true;
    this.dropUnknownIds = options.dropUnknownIds ?? false;
    this.source = options.source;
    this.target = options.target;
    for (const [piece, id] of Object.entries(options.vocab)) {
      if (!Number.isInteger(id) || id < 0)
        throw new GlassError(
          'BAD_FILE',
          `${this.name}: vocab.json: ${JSON.stringify(piece)} has id ${String(id)}`,
        );
      this.encoder.set(piece, id);
      this.decoderMap.set(id, piece); // later entries win, as in HF's {v: k for k, v in ...}
    }
    // HF: vocab_size = len(encoder).
    this.vocabSize = this.encoder.size;
    const need = (token: string, what: string): number => {
      const id = this.encoder.get(token);
      if (id === undefined)
        throw new GlassError(
          'BAD_FILE',
          `${this.name}: the ${what} token ${JSON.stringify(token)} is not in vocab.json`,
        );
      return id;
    };
    const unk = options.unkToken ?? '<unk>';
    const eos = options.eosToken ?? '</s>';
    const pad = options.padToken ?? '<pad>';
    this.unkId = need(unk, 'unknown');
    this.eosId = need(eos, 'end-of-sequence');
    this.padId = need(pad, 'padding');
    this.bosId = options.bosToken === undefined ? undefined : need(options.bosToken, 'beginning');
    this.specialTokens = {
      ...(this.bosId === undefined ? {} : { bos: this.bosId }),
      eos: this.eosId,
      unk: this.unkId,
      pad: this.padId,
    };
    this.specials = new Map([
      [eos, this.eosId],
      [unk, this.unkId],
      [pad, this.padId],
    ]);
    if (options.bosToken !== undefined) this.specials.set(options.bosToken, this.bosId!);
    for (const t of options.extraSpecials ?? []) this.specials.set(t, need(t, 'special'));
    this.specialIds = new Set(this.specials.values());
    // Longest first, so that one special token that starts another does not cut it.
    const alts = [...this.specials.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.specialRe = new RegExp(alts.join('|'), 'g');
    this.supportedLanguageCodes = this.languageCodes
      ? [...this.encoder.keys()].filter((k) => k.startsWith('>>') && k.endsWith('<<'))
      : [];
  }

  /** The id the decoder starts from: Marian's config sets decoder_start_token_id to pad_token_id. */
  get decoderStartTokenId(): number {
    return this.padId;
  }

  /** The id of one vocab.json string, `<unk>`'s for strings it lacks (HF's _convert_token_to_id). */
  private idOf(piece: string): number {
    return this.encoder.get(piece) ?? this.unkId;
  }

  /** HF's tokenize(): the vocab.json strings of a text (no `</s>` added), with input byte spans. */
  private pieces(text: string, allowSpecial: boolean): { piece: string; start: number; end: number }[] {
    text = wellFormed(text);
    const out: { piece: string; start: number; end: number }[] = [];
    const segment = (seg: string, byteAt: number): void => {
      // HF's remove_language_code: a leading ">>...<<" is one token.
      if (this.languageCodes && seg.startsWith('>>')) {
        const end = seg.indexOf('<<');
        if (end !== -1) {
          const code = seg.slice(0, end + 2);
          const len = encodeUtf8(code).length;
          out.push({ piece: code, start: byteAt, end: byteAt + len });
          seg = seg.slice(end + 2);
          byteAt += len;
        }
      }
      for (const p of this.source.encode(seg))
        out.push({ piece: p.piece, start: byteAt + p.start, end: byteAt + p.end });
    };
    if (!allowSpecial) {
      segment(text, 0);
      return out;
    }
    const re = this.specialRe;
    re.lastIndex = 0;
    let last = 0;
    let byteAt = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) {
        const seg = text.slice(last, m.index);
        segment(seg, byteAt);
        byteAt += encodeUtf8(seg).length;
      }
      const len = encodeUtf8(m[0]).length;
      out.push({ piece: m[0], start: byteAt, end: byteAt + len });
      byteAt += len;
      last = m.index + m[0].length;
    }
    if (last < text.length) segment(text.slice(last), byteAt);
    return out;
  }

  /** The vocab.json strings of a text, as HF's tokenize() gives them (no `</s>`). */
  tokenize(text: string, options?: EncodeOptions): string[] {
    return this.pieces(text, options?.allowSpecial ?? true).map((p) => p.piece);
  }

  /**
   * The model's input ids: pieces mapped through vocab.json, then `</s>` — HF's
   * `tokenizer(text).input_ids`. Special tokens written in the text are recognised unless
   * allowSpecial is false.
   */
  encode(text: string, options?: MarianEncodeOptions): Uint32Array {
    return Uint32Array.from(this.encodeWithSpans(text, options), (s) => s.id);
  }

  /**
   * As encode(), with each token's vocab.json string and input byte span (`</s>`: an empty span at the
   * end, `<s>` one at the start).
   */
  encodeWithSpans(text: string, options?: MarianEncodeOptions): TokenSpan[] {
    const ps = this.pieces(text, options?.allowSpecial ?? true);
    const spans: TokenSpan[] = ps.map((p) => ({
      id: this.idOf(p.piece),
      text: p.piece.replaceAll(SPACE_SYMBOL, ' '),
      start: p.start,
      end: p.end,
    }));
    const template = options?.addSpecialTokens ?? true;
    const mark = (id: number, at: number): TokenSpan => ({
      id,
      text: this.decoderMap.get(id) ?? '',
      start: at,
      end: at,
    });
    if (template && (options?.addEos ?? true))
      spans.push(mark(this.eosId, utf8Encoder.encode(wellFormed(text)).length));
    if (template && this.bosId !== undefined) spans.unshift(mark(this.bosId, 0));
    return spans;
  }

  /** The vocab.json string of an id ('' for one the vocabulary lacks, when those are dropped). */
  private tokenOf(id: number): string {
    const t = Number.isInteger(id) ? this.decoderMap.get(id) : undefined;
    if (t === undefined && this.dropUnknownIds && Number.isInteger(id) && id >= 0) return '';
    if (t === undefined)
      throw new GlassError('BAD_INPUT', `${this.name}: token id ${id} is not in the vocabulary (vocab.json)`);
    return t;
  }

  /** SentencePiece's DecodePieces on the target model, for one run of non-special pieces. */
  private joinPieces(pieces: string[]): string {
    let text = '';
    for (let piece of pieces) {
      const id = this.target.pieceToId(piece);
      if (id === undefined) {
        text += piece; // a piece the target model lacks is kept as it is
        continue;
      }
      if (this.target.isControl(id)) continue;
      if (id === this.target.unk) {
        text += ' \u2047 ';
        continue;
      }
      if (text === '' && piece.startsWith(SPACE_SYMBOL)) piece = piece.slice(SPACE_SYMBOL.length);
      text += piece.replaceAll(SPACE_SYMBOL, ' ');
    }
    return text;
  }

  /** Text of ids, as HF's decode(ids, skip_special_tokens=…) (default: skip). */
  decode(ids: ArrayLike<number>, options?: MarianDecodeOptions): string {
    const skip = options?.skipSpecialTokens ?? true;
    let out = '';
    let run: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const token = this.tokenOf(id);
      if (token === '') continue; // dropped (see dropUnknownIds)
      if (this.specialIds.has(id) && this.specials.get(token) === id) {
        if (skip) continue;
        out += this.joinPieces(run) + token + ' ';
        run = [];
      } else run.push(token);
    }
    out += this.joinPieces(run);
    return out.replaceAll(SPACE_SYMBOL, ' ').replace(PY_STRIP, '');
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    return utf8Encoder.encode(this.decode(ids));
  }

  /**
   * Streams ids to text (special tokens skipped). Each push re-decodes what it has so far and
   * returns what was added; trailing spaces are held back until text follows them (decode() trims).
   */
  decoder(): IncrementalDecoder {
    const ids: number[] = [];
    let shown = '';
    return {
      push: (id: number): string => {
        this.tokenOf(id);
        ids.push(id);
        const full = this.decode(ids);
        if (!full.startsWith(shown)) return '';
        const added = full.slice(shown.length);
        shown = full;
        return added;
      },
      flush: (): string => '',
    };
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) ? this.decoderMap.get(id) : undefined;
  }

  tokenToId(token: string): number | undefined {
    return this.encoder.get(token);
  }
}

/** The raw files of a Marian tokenizer. */
export interface MarianTokenizerFiles {
  sourceSpm: Uint8Array;
  targetSpm: Uint8Array;
  /** vocab.json, parsed. */
  vocab: unknown;
  /** tokenizer_config.json, parsed, when present (unk_token / eos_token / pad_token, separate_vocabs). */
  tokenConfig?: unknown;
  name?: string;
}

function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string')
    return (v as { content: string }).content;
  return undefined;
}

/** Builds a MarianTokenizer from source.spm, target.spm and vocab.json (and tokenizer_config.json). */
export function loadMarianTokenizer(files: MarianTokenizerFiles): MarianTokenizer {
  const name = files.name ?? 'marian tokenizer';
  const vocab = files.vocab;
  if (vocab === null || typeof vocab !== 'object' || Array.isArray(vocab))
    throw new GlassError('BAD_FILE', `${name}: vocab.json is not an object of piece → id`);
  const cfg = (files.tokenConfig ?? {}) as Record<string, unknown>;
  if (cfg.separate_vocabs === true)
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: separate source and target vocabularies (separate_vocabs) are not supported yet`,
    );
  return new MarianTokenizer({
    name,
    source: loadUnigramModel(files.sourceSpm, `${name}: source.spm`),
    target: loadUnigramModel(files.targetSpm, `${name}: target.spm`),
    vocab: vocab as Record<string, number>,
    unkToken: tokenName(cfg.unk_token),
    eosToken: tokenName(cfg.eos_token),
    padToken: tokenName(cfg.pad_token),
  });
}

/**
 * The Marian tokenizer among a model's files (source.spm, target.spm, vocab.json, and
 * tokenizer_config.json if present), or undefined when there is no source.spm.
 */
export async function loadMarianTokenizerFromFiles(files: FileSet): Promise<MarianTokenizer | undefined> {
  const sourceSpm = await files.bytes('source.spm');
  if (sourceSpm === undefined) return undefined;
  const targetSpm = await files.bytes('target.spm');
  const vocabText = await files.text('vocab.json');
  const missing = [targetSpm === undefined ? 'target.spm' : '', vocabText === undefined ? 'vocab.json' : '']
    .filter(Boolean)
    .map((f) => files.path(f));
  if (targetSpm === undefined || vocabText === undefined)
    throw new GlassError(
      'NOT_FOUND',
      `${files.name}: found ${files.path('source.spm')} (a Marian tokenizer) but not ${missing.join(' or ')}, which it needs`,
    );
  let tokenConfig: unknown;
  const cfgText = await files.text('tokenizer_config.json');
  if (cfgText !== undefined) {
    try {
      tokenConfig = JSON.parse(cfgText);
    } catch {
      // Only a hint for special-token names.
    }
  }
  return loadMarianTokenizer({
    sourceSpm,
    targetSpm,
    vocab: parseJsonFile(vocabText, files.path('vocab.json')),
    tokenConfig,
    name: files.name,
  });
}
