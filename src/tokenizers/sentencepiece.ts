// Stage 1 — SentencePiece-style BPE (Llama 1/2, Mistral, TinyLlama, llama2.c's tinyllamas), done the
// way llama2.c's encoder and llama.cpp's SPM tokenizer do it:
//
// 1. Normalise: every space becomes '▁' (U+2581) and, when the model says add_dummy_prefix, a '▁' is
//    put in front of non-empty text, so "Hello" and " Hello" inside a sentence look alike.
// 2. Split the text into characters (code points); each is one symbol.
// 3. Merge: repeatedly join the adjacent pair whose concatenation is a vocabulary piece with the
//    highest score; on equal scores the leftmost pair wins (llama2.c scans left to right and keeps
//    the first best; llama.cpp's and SentencePiece's queues order equal scores by left position).
//    Files that give merges in rank order instead of scores (Hugging Face tokenizer.json) merge the
//    pair with the lowest rank.
// 4. Byte fallback: a symbol that is still not a piece (a character the vocabulary lacks) becomes
//    one `<0xNN>` token per UTF-8 byte.
//
// Speed: a heap over candidate pairs and a linked list of symbols keep the merge loop O(n log n).
// SentencePiece vocabularies have no piece with a '▁' after another character, so no merge crosses
// the place before such a '▁': when that holds (checked), text is merged word by word, and each
// word's result is cached by its text.
//
// Control tokens (`<s>`, `</s>`, `<unk>`) are never produced by merging, and are recognised in the
// text only with EncodeOptions.allowSpecial (default false here, unlike the byte-level BPE: llama2.c
// and SentencePiece treat "<s>" in a prompt as text; llama.cpp only parses it when asked).
// User-defined pieces are always recognised. As in llama.cpp and Hugging Face's Llama files, the
// text after a recognised piece gets its own dummy prefix (see prefixAfterSpecial).
//
// Decoding is the reverse: '▁' becomes a space, byte tokens become bytes, control tokens nothing,
// <unk> " ⁇ " (SentencePiece's unk_surface). The space the dummy prefix put in front of the text is
// removed again: decode() drops one leading space from the first token that shows any text, and
// from the first one after each BOS (a BOS starts a new text, encoded with its own dummy prefix) —
// as SentencePiece and Hugging Face (Strip decoder) do at the start, and llama2.c after BOS.

import { GlassError } from '../util/errors.js';
import {
  encodeUtf8,
  IdBuffer,
  PairTable,
  utf8Bound,
  utf8Decoder,
  utf8Into,
  utf8Stream,
  wellFormed,
} from './common.js';
import type { EncodeOptions, IncrementalDecoder, SpecialTokens, TokenSpan, Tokenizer } from './tokenizer.js';

/** SentencePiece's whitespace symbol, U+2581 LOWER ONE EIGHTH BLOCK. */
export const SPACE_SYMBOL = '\u2581';

/** Piece types, as in SentencePiece's ModelProto and GGUF's tokenizer.ggml.token_type. */
export const PieceType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

export interface SentencePieceOptions {
  /** Shown in error messages (a file name or model name). */
  name?: string;
  /** The vocabulary: piece strings by id, with '▁' for spaces (as in tokenizer.model and GGUF). */
  pieces: readonly string[];
  /** Merge priority of each piece, higher first. Required unless `merges` is given. */
  scores?: Float32Array | readonly number[];
  /**
   * Piece types (PieceType: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte). When
   * absent: `<0xNN>` pieces are bytes, unk is unknown, bos/eos are control, the rest normal.
   */
  types?: Uint8Array | Int32Array | readonly number[];
  /**
   * Merges in rank order (Hugging Face tokenizer.json): the pair with the lowest rank merges first
   * instead of the concatenation with the highest score.
   */
  merges?: ReadonlyArray<readonly [string, string]>;
  /** Default (undefined): the piece `<s>`, if any; null: none. */
  bos?: number | null;
  /** Default (undefined): the piece `</s>`, if any; null: none. */
  eos?: number | null;
  /** Default (undefined): the first piece of type unknown, else the piece `<unk>`, if any; null: none. */
  unk?: number | null;
  pad?: number | null;
  /** Put a '▁' in front of the text (SentencePiece's add_dummy_prefix). Default true. */
  addDummyPrefix?: boolean;
  /**
   * Also put the dummy prefix in front of text that follows a special or user-defined token matched
   * in the text (llama.cpp, and Hugging Face's Prepend normalizer, do; a Metaspace pre-tokenizer with
   * prepend_scheme "first" does not). Default true.
   */
  prefixAfterSpecial?: boolean;
  /** Drop leading and trailing spaces and collapse runs of spaces (SentencePiece's remove_extra_whitespaces). Default false. */
  removeExtraWhitespaces?: boolean;
  /** Characters missing from the vocabulary become `<0xNN>` byte tokens. Default: true when the vocabulary has byte pieces. */
  byteFallback?: boolean;
  /** What decode() shows for the unknown token. Default ' ⁇ ' (SentencePiece's unk_surface). */
  unkSurface?: string;
}

/** Options of SentencePieceTokenizer.decoder(). */
export interface SentencePieceDecoderOptions {
  /**
   * The first id pushed starts the text, so the dummy prefix's space is dropped from the first token
   * that shows text (as decode() does). Default false: the ids continue a text decoded elsewhere (a
   * prompt), so nothing is dropped — except right after a BOS pushed to this decoder.
   */
  atStart?: boolean;
}

/** Called for each token: its id and the byte span [start, end) of the original input it covers. */
type Emit = (id: number, start: number, end: number) => void;

export class SentencePieceTokenizer implements Tokenizer {
  readonly kind = 'sentencepiece';
  readonly name: string;
  readonly vocabSize: number;
  readonly specialTokens: SpecialTokens;
  readonly addDummyPrefix: boolean;
  readonly prefixAfterSpecial: boolean;
  readonly removeExtraWhitespaces: boolean;
  readonly byteFallback: boolean;

  private readonly pieces: readonly string[];
  private readonly types: Uint8Array;
  private readonly scores: Float32Array;
  private readonly pieceToId = new Map<string, number>();
  /** Pieces a merge may produce and a character may start as: normal, user-defined, unused. */
  private readonly mergeable = new Map<string, number>();
  /** Longest mergeable piece, in UTF-16 units: longer candidate pairs are not looked up. */
  private readonly maxPieceLength: number;
  /** BMP character → id of the one-character piece, or -1. */
  private readonly charIds = new Int32Array(0x10000).fill(-1);
  /**
   * A merge is a value v: it produces piece valueResult[v] and ranks valuePri[v] (lower first).
   * Score mode (no merges given): v is the id of the concatenation, looked up by its text as
   * SentencePiece does, ranked by its place among the distinct scores, best first. Rank mode: v is
   * the merge's rank in the file, found by the (left id, right id) pair in `pairs`.
   */
  private readonly pairs: PairTable | null = null;
  private readonly valuePri: Int32Array;
  private readonly valueResult: Int32Array;
  private readonly rankMode: boolean;
  /**
   * True when no piece has a '▁' right after another character (SentencePiece trains with
   * split_by_whitespace, so none does): then no merge crosses the place before a '▁' that follows
   * another character, and the text is merged in word-sized chunks, each cached by its text.
   */
  private readonly chunked: boolean;
  private readonly cache = new Map<string, Int32Array>();
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly unk: number;
  private readonly bos: number;
  /** Decoded bytes of each id ('▁' as a space; control tokens empty): flat[byteStart[id], byteStart[id + 1]). */
  private readonly flat: Uint8Array;
  private readonly byteStart: Int32Array;
  /** 1 where the piece starts with '▁' (whose space decode() may drop at the start of a text). */
  private readonly leadingSpace: Uint8Array;
  /** Matches control and unknown pieces plus user-defined ones; null when there are none. */
  private readonly specialAll: RegExp | null;
  /** Matches user-defined pieces only (always recognised); null when there are none. */
  private readonly specialUser: RegExp | null;

  // Scratch space for the merge loop, grown on demand.
  private cap = 0;
  private symStart = new Int32Array(0);
  private symEnd = new Int32Array(0);
  private symId = new Int32Array(0);
  private symNext = new Int32Array(0);
  private symPrev = new Int32Array(0);
  private heap = new Float64Array(0);

  constructor(options: SentencePieceOptions) {
    const name = options.name ?? 'sentencepiece tokenizer';
    this.name = name;
    const pieces = options.pieces;
    const n = pieces.length;
    if (n === 0) throw new GlassError('BAD_FILE', `${name}: the vocabulary is empty`);
    this.pieces = pieces;
    this.vocabSize = n;
    this.addDummyPrefix = options.addDummyPrefix ?? true;
    this.prefixAfterSpecial = options.prefixAfterSpecial ?? true;
    this.removeExtraWhitespaces = options.removeExtraWhitespaces ?? false;

    for (let id = 0; id < n; id++) {
      const p = pieces[id];
      if (typeof p !== 'string') throw new GlassError('BAD_FILE', `${name}: piece ${id} is not a string`);
      if (p !== '' && !this.pieceToId.has(p)) this.pieceToId.set(p, id);
    }
    const lookup = (s: string): number | undefined => this.pieceToId.get(s);

    // Scores.
    if (options.scores !== undefined) {
      if (options.scores.length !== n) {
        throw new GlassError('BAD_FILE', `${name}: ${options.scores.length} scores for ${n} pieces`);
      }
      this.scores = Float32Array.from(options.scores);
      const bad = this.scores.findIndex((s) => Number.isNaN(s));
      if (bad >= 0) throw new GlassError('BAD_FILE', `${name}: the score of piece ${bad} is NaN`);
    } else if (options.merges !== undefined) this.scores = new Float32Array(n);
    else throw new GlassError('BAD_INPUT', `${name}: a SentencePiece vocabulary needs scores or merges`);

    // Special ids.
    const checkId = (what: string, id: number | null | undefined): number | undefined => {
      if (id === undefined || id === null) return undefined;
      if (!Number.isInteger(id) || id < 0 || id >= n) {
        throw new GlassError('BAD_FILE', `${name}: ${what} id ${id} is outside the vocabulary (size ${n})`);
      }
      return id;
    };
    const optTypes = options.types;
    let unk = checkId('unk', options.unk);
    if (options.unk === undefined) {
      if (optTypes !== undefined) {
        for (let id = 0; id < n && unk === undefined; id++) if (optTypes[id] === PieceType.UNKNOWN) unk = id;
      }
      unk ??= lookup('<unk>');
    }
    const bos = options.bos === undefined ? lookup('<s>') : checkId('bos', options.bos);
    const eos = options.eos === undefined ? lookup('</s>') : checkId('eos', options.eos);
    const pad = checkId('pad', options.pad);
    this.unk = unk ?? -1;
    this.bos = bos ?? -1;
    const special: SpecialTokens = {};
    if (bos !== undefined) special.bos = bos;
    if (eos !== undefined) special.eos = eos;
    if (unk !== undefined) special.unk = unk;
    if (pad !== undefined) special.pad = pad;
    this.specialTokens = special;

    // Types.
    this.types = new Uint8Array(n);
    if (optTypes !== undefined) {
      if (optTypes.length !== n) {
        throw new GlassError('BAD_FILE', `${name}: ${optTypes.length} token types for ${n} pieces`);
      }
      for (let id = 0; id < n; id++) {
        const t = optTypes[id];
        if (!Number.isInteger(t) || t < PieceType.NORMAL || t > PieceType.BYTE) {
          throw new GlassError(
            'BAD_FILE',
            `${name}: piece ${id} ${JSON.stringify(pieces[id])} has token type ${t} (expected 1..6)`,
          );
        }
        this.types[id] = t;
      }
    } else {
      for (let id = 0; id < n; id++) {
        this.types[id] = BYTE_PIECE.test(pieces[id])
          ? PieceType.BYTE
          : id === unk
            ? PieceType.UNKNOWN
            : id === bos || id === eos
              ? PieceType.CONTROL
              : PieceType.NORMAL;
      }
    }

    // Byte pieces, decoded bytes, merge lookup.
    const unkSurface = options.unkSurface ?? ' \u2047 ';
    let bound = 0;
    for (let id = 0; id < n; id++) {
      const t = this.types[id];
      bound +=
        t === PieceType.BYTE ? 1 : t === PieceType.UNKNOWN ? utf8Bound(unkSurface) : utf8Bound(pieces[id]);
    }
    const flat = new Uint8Array(bound);
    this.byteStart = new Int32Array(n + 1);
    this.leadingSpace = new Uint8Array(n);
    let w = 0;
    let maxLen = 0;
    let bytePieces = 0;
    for (let id = 0; id < n; id++) {
      const p = pieces[id];
      const t = this.types[id];
      this.byteStart[id] = w;
      if (t === PieceType.BYTE) {
        const m = BYTE_PIECE.exec(p);
        if (m === null) {
          throw new GlassError(
            'BAD_FILE',
            `${name}: piece ${id} ${JSON.stringify(p)} has the byte type but is not of the form <0xNN>`,
          );
        }
        const b = parseInt(m[1], 16);
        if (this.byteIds[b] < 0) this.byteIds[b] = id;
        bytePieces++;
        flat[w++] = b;
      } else if (t === PieceType.UNKNOWN) {
        w = utf8Into(unkSurface, flat, w);
      } else if (t !== PieceType.CONTROL) {
        w = utf8Into(p.replaceAll(SPACE_SYMBOL, ' '), flat, w);
        if (p.startsWith(SPACE_SYMBOL)) this.leadingSpace[id] = 1;
        if (p !== '' && !this.mergeable.has(p)) {
          this.mergeable.set(p, id);
          if (p.length > maxLen) maxLen = p.length;
        }
      }
    }
    this.byteStart[n] = w;
    this.flat = flat;
    this.maxPieceLength = maxLen;
    const crossing = new RegExp(`[^${SPACE_SYMBOL}]${SPACE_SYMBOL}`, 'u');
    this.chunked = true;
    for (const p of this.mergeable.keys()) if (crossing.test(p)) this.chunked = false;
    this.byteFallback = options.byteFallback ?? bytePieces > 0;
    if (this.unk < 0 && !(this.byteFallback && this.byteIds.every((id) => id >= 0))) {
      throw new GlassError(
        'BAD_FILE',
        `${name}: the vocabulary has no unknown piece and no byte pieces for all 256 bytes, so characters outside it cannot be encoded`,
      );
    }

    for (const [p, id] of this.mergeable) if (p.length === 1) this.charIds[p.charCodeAt(0)] = id;

    this.rankMode = options.merges !== undefined;
    if (options.merges !== undefined) {
      const merges = options.merges;
      const pairs = new PairTable(merges.length);
      const result = new Int32Array(merges.length);
      for (let r = 0; r < merges.length; r++) {
        const [a, b] = merges[r];
        const ab = a + b;
        const missing = !this.pieceToId.has(a)
          ? a
          : !this.pieceToId.has(b)
            ? b
            : !this.pieceToId.has(ab)
              ? ab
              : null;
        if (missing !== null) {
          throw new GlassError(
            'BAD_FILE',
            `${name}: merge ${r} "${a} ${b}": ${JSON.stringify(missing)} is not in the vocabulary`,
          );
        }
        const la = this.mergeable.get(a);
        const lb = this.mergeable.get(b);
        const m = this.mergeable.get(ab);
        // A merge into or out of a control or byte piece can never apply: those are not symbols.
        if (la === undefined || lb === undefined || m === undefined) continue;
        result[r] = m;
        pairs.add(la, lb, r);
      }
      this.pairs = pairs;
      this.valueResult = result;
      this.valuePri = new Int32Array(merges.length);
      for (let r = 0; r < merges.length; r++) this.valuePri[r] = r;
    } else {
      this.valueResult = new Int32Array(n);
      for (let id = 0; id < n; id++) this.valueResult[id] = id;
      // Rank of each id's score among the distinct scores, best first.
      const order = new Int32Array(n);
      for (let id = 0; id < n; id++) order[id] = id;
      const scores = this.scores;
      order.sort((x, y) => scores[y] - scores[x]);
      this.valuePri = new Int32Array(n);
      let place = 0;
      for (let k = 0; k < n; k++) {
        if (k > 0 && scores[order[k]] !== scores[order[k - 1]]) place++;
        this.valuePri[order[k]] = place;
      }
    }

    // Pieces matched verbatim in the text.
    const user: string[] = [];
    const all: string[] = [];
    for (let id = 0; id < n; id++) {
      const t = this.types[id];
      const p = pieces[id];
      if (p === '' || this.pieceToId.get(p) !== id) continue;
      if (t === PieceType.USER_DEFINED) {
        user.push(p);
        all.push(p);
      } else if (t === PieceType.CONTROL || t === PieceType.UNKNOWN) all.push(p);
    }
    const alternation = (list: string[]): RegExp | null => {
      if (list.length === 0) return null;
      const sorted = [...list].sort((x, y) => y.length - x.length);
      return new RegExp(sorted.map((s) => s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')).join('|'), 'gu');
    };
    this.specialAll = alternation(all);
    this.specialUser = alternation(user);
  }

  // -------------------------------------------------------------------------------------------
  // Encoding

  encode(text: string, options?: EncodeOptions): Uint32Array {
    const out = new IdBuffer(text.length >> 1);
    this.run(wellFormed(text), options?.allowSpecial ?? false, (id) => out.push(id));
    return out.toArray();
  }

  /**
   * Tokens with the byte span of the input each covers. The dummy prefix is part of the first token
   * but covers no input bytes, so a first token that is only '▁' has an empty span; a space that
   * became '▁' is covered by the token holding that '▁'. `text` is the token as it decodes on its
   * own (with the space of a leading '▁'); for control tokens, the piece itself.
   */
  encodeWithSpans(text: string, options?: EncodeOptions): TokenSpan[] {
    const spans: TokenSpan[] = [];
    this.run(wellFormed(text), options?.allowSpecial ?? false, (id, start, end) => {
      const t = this.types[id];
      const shown =
        t === PieceType.CONTROL
          ? this.pieces[id]
          : utf8Decoder.decode(this.flat.subarray(this.byteStart[id], this.byteStart[id + 1]));
      spans.push({ id, text: shown, start, end });
    });
    return spans;
  }

  /** Splits out the pieces matched verbatim, and encodes the text between them. */
  private run(text: string, allowSpecial: boolean, emit: Emit): void {
    const re = allowSpecial ? this.specialAll : this.specialUser;
    if (re === null) {
      this.encodeSegment(text, 0, true, emit);
      return;
    }
    re.lastIndex = 0;
    let last = 0;
    let byteAt = 0;
    let first = true;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) {
        const seg = text.slice(last, m.index);
        this.encodeSegment(seg, byteAt, first, emit);
        byteAt += utf8Length(seg);
      }
      const len = utf8Length(m[0]);
      emit(this.pieceToId.get(m[0])!, byteAt, byteAt + len);
      byteAt += len;
      last = m.index + m[0].length;
      first = false;
    }
    if (last < text.length) this.encodeSegment(text.slice(last), byteAt, first, emit);
  }

  /**
   * Normalises one stretch of ordinary text and runs the merges over it. `byteAt` is where the
   * stretch starts in the UTF-8 of the whole input; `first` says it starts the input.
   */
  private encodeSegment(seg: string, byteAt: number, first: boolean, emit: Emit): void {
    // norm: the normalised text; at[i]: the input byte offset where norm[i] comes from.
    let norm = seg;
    let offset = 0; // norm index of seg[0] (1 after a dummy prefix)
    if (this.removeExtraWhitespaces) {
      const keep: number[] = [];
      let s = 0;
      let e = seg.length;
      while (s < e && seg.charCodeAt(s) === 0x20) s++;
      while (e > s && seg.charCodeAt(e - 1) === 0x20) e--;
      for (let i = s; i < e; i++)
        if (!(seg.charCodeAt(i) === 0x20 && seg.charCodeAt(i - 1) === 0x20)) keep.push(i);
      if (keep.length === 0) return;
      norm = keep.map((i) => seg[i]).join('');
      const dummy = this.addDummyPrefix && (first || this.prefixAfterSpecial);
      offset = dummy ? 1 : 0;
      if (dummy) norm = SPACE_SYMBOL + norm;
      norm = norm.replaceAll(' ', SPACE_SYMBOL);
      const segAt = byteOffsets(seg, byteAt);
      const at = new Int32Array(norm.length + 1);
      at[0] = segAt[keep[0]];
      for (let k = 0; k < keep.length; k++) at[k + offset] = segAt[keep[k]];
      at[norm.length] = segAt[keep[keep.length - 1] + 1];
      this.encodeNormalized(norm, at, emit);
      return;
    }
    if (seg.length === 0) return;
    if (this.addDummyPrefix && (first || this.prefixAfterSpecial)) {
      norm = SPACE_SYMBOL + seg;
      offset = 1;
    }
    norm = norm.replaceAll(' ', SPACE_SYMBOL);
    const segAt = byteOffsets(seg, byteAt);
    let at = segAt;
    if (offset === 1) {
      at = new Int32Array(norm.length + 1);
      at[0] = byteAt;
      at.set(segAt, 1);
    }
    this.encodeNormalized(norm, at, emit);
  }

  private grow(n: number): void {
    if (this.cap >= n) return;
    const cap = Math.max(n, this.cap * 2, 64);
    this.cap = cap;
    this.symStart = new Int32Array(cap);
    this.symEnd = new Int32Array(cap);
    this.symId = new Int32Array(cap);
    this.symNext = new Int32Array(cap);
    this.symPrev = new Int32Array(cap);
    // At most n - 1 initial candidates plus 2 per merge (n - 1 merges at most): under 3n.
    this.heap = new Float64Array(3 * cap);
  }

  /** The merge value (see `valuePri`) of adjacent symbols a, b in `norm`, or -1. */
  private pairValue(norm: string, a: number, b: number): number {
    if (this.pairs !== null) {
      const ia = this.symId[a];
      const ib = this.symId[b];
      return ia >= 0 && ib >= 0 ? this.pairs.get(ia, ib) : -1;
    }
    const s = this.symStart[a];
    const e = this.symEnd[b];
    if (e - s > this.maxPieceLength) return -1;
    return this.mergeable.get(norm.slice(s, e)) ?? -1;
  }

  /** Merges one normalised text and emits the resulting tokens with their input spans. */
  private encodeNormalized(norm: string, at: Int32Array, emit: Emit): void {
    const out = new Output(this.byteFallback ? this.byteIds : null, this.unk, norm, at, emit);
    if (!this.chunked) {
      out.symbols(0, this.merge(norm, 0, norm.length));
      out.finish();
      return;
    }
    const SPACE = 0x2581;
    let from = 0;
    for (let i = 1; i <= norm.length; i++) {
      if (i < norm.length && !(norm.charCodeAt(i) === SPACE && norm.charCodeAt(i - 1) !== SPACE)) continue;
      const chunk = norm.slice(from, i);
      let syms = this.cache.get(chunk);
      if (syms === undefined) {
        syms = this.merge(chunk, 0, chunk.length);
        if (chunk.length <= CACHE_MAX_CHUNK) {
          if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
          this.cache.set(chunk, syms);
        }
      }
      out.symbols(from, syms);
      from = i;
    }
    out.finish();
  }

  /**
   * The merge loop over norm[from, to): returns the final symbols as triples (start, end, id)
   * relative to `from`, with id -1 for a character that is not a piece.
   */
  private merge(norm: string, from: number, to: number): Int32Array {
    const L = to - from;
    this.grow(L);
    const start = this.symStart;
    const end = this.symEnd;
    const symId = this.symId;
    const next = this.symNext;
    const prev = this.symPrev;
    const mergeable = this.mergeable;
    const charIds = this.charIds;

    // Symbols: one per code point. Index = position in this list, so a lower index is further left.
    let n = 0;
    for (let i = from; i < to;) {
      const c = norm.charCodeAt(i);
      const w = c >= 0xd800 && c <= 0xdbff && i + 1 < to ? 2 : 1;
      start[n] = i;
      end[n] = i + w;
      symId[n] = w === 1 ? charIds[c] : (mergeable.get(norm.slice(i, i + 2)) ?? -1);
      prev[n] = n - 1;
      next[n] = n + 1;
      n++;
      i += w;
    }
    if (n === 1) return Int32Array.of(0, L, symId[0]);
    next[n - 1] = -1;

    // Min-heap of keys priorityRank * n + left symbol: best merge first, then leftmost (llama2.c,
    // llama.cpp and SentencePiece all take the leftmost of equally good pairs). Entries go stale
    // when a neighbour changes; a popped key is used only if the pair at `left` still ranks so.
    const heap = this.heap;
    const valuePri = this.valuePri;
    const valueResult = this.valueResult;
    let size = 0;
    const push = (key: number): void => {
      let i = size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (heap[parent] <= key) break;
        heap[i] = heap[parent];
        i = parent;
      }
      heap[i] = key;
    };
    for (let i = 0; i + 1 < n; i++) {
      const v = this.pairValue(norm, i, i + 1);
      if (v >= 0) push(valuePri[v] * n + i);
    }
    // Unused pieces may be merged through but are split back at the end (SentencePiece's rev_merge).
    let unusedSplits: Map<string, number> | null = null;
    let count = n;
    while (size > 0) {
      // Pop the minimum.
      const key = heap[0];
      const last = heap[--size];
      let h = 0;
      for (;;) {
        let c = 2 * h + 1;
        if (c >= size) break;
        if (c + 1 < size && heap[c + 1] < heap[c]) c++;
        if (heap[c] >= last) break;
        heap[h] = heap[c];
        h = c;
      }
      heap[h] = last;

      const r = Math.floor(key / n);
      const a = key - r * n;
      const b = next[a];
      if (prev[a] === -2 || b < 0) continue; // a was merged away, or is now the last symbol
      const v = this.pairValue(norm, a, b);
      if (v < 0 || valuePri[v] !== r) continue; // stale: the pair at a changed
      const id = valueResult[v];
      if (this.types[id] === PieceType.UNUSED && !this.rankMode) {
        // Remember where the last merge that made this piece split it (by the left part's length).
        unusedSplits ??= new Map();
        unusedSplits.set(norm.slice(start[a], end[b]), end[a] - start[a]);
      }
      end[a] = end[b];
      symId[a] = id;
      const c = next[b];
      next[a] = c;
      if (c >= 0) prev[c] = a;
      prev[b] = -2;
      count--;
      const p = prev[a];
      if (p >= 0) {
        const vp = this.pairValue(norm, p, a);
        if (vp >= 0) push(valuePri[vp] * n + p);
      }
      if (c >= 0) {
        const vc = this.pairValue(norm, a, c);
        if (vc >= 0) push(valuePri[vc] * n + a);
      }
    }

    const out: number[] = [];
    const add = (s: number, e: number, id: number): void => {
      if (id >= 0 && unusedSplits !== null && this.types[id] === PieceType.UNUSED) {
        const k = unusedSplits.get(norm.slice(s, e));
        if (k !== undefined) {
          add(s, s + k, mergeable.get(norm.slice(s, s + k)) ?? -1);
          add(s + k, e, mergeable.get(norm.slice(s + k, e)) ?? -1);
          return;
        }
      }
      out.push(s - from, e - from, id);
    };
    if (unusedSplits === null) {
      const triples = new Int32Array(3 * count);
      let w = 0;
      for (let i = 0; i >= 0; i = next[i]) {
        triples[w++] = start[i] - from;
        triples[w++] = end[i] - from;
        triples[w++] = symId[i];
      }
      return triples;
    }
    for (let i = 0; i >= 0; i = next[i]) add(start[i], end[i], symId[i]);
    return Int32Array.from(out);
  }

  // -------------------------------------------------------------------------------------------
  // Decoding

  private checkId(id: number): void {
    if (!(Number.isInteger(id) && id >= 0 && id < this.vocabSize)) {
      throw new GlassError(
        'BAD_INPUT',
        `${this.name}: token id ${id} is not in the vocabulary (size ${this.vocabSize})`,
      );
    }
  }

  /**
   * Where the bytes of one token in a stream start: one past the usual start when a text starts
   * here (`state.atStart`) and the token's '▁' gives a space to drop. Updates the state.
   */
  private streamStart(id: number, state: { atStart: boolean }): number {
    this.checkId(id);
    const a = this.byteStart[id];
    if (id === this.bos) {
      state.atStart = this.addDummyPrefix;
      return a;
    }
    if (!state.atStart || this.byteStart[id + 1] === a) return a;
    state.atStart = false;
    return a + this.leadingSpace[id];
  }

  /** The UTF-8 of the ids, with the dummy prefix's space dropped at the start (see the top). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const state = { atStart: this.addDummyPrefix };
    const starts = new Int32Array(ids.length);
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      starts[i] = this.streamStart(ids[i], state);
      total += this.byteStart[ids[i] + 1] - starts[i];
    }
    const out = new Uint8Array(total);
    const flat = this.flat;
    let w = 0;
    for (let i = 0; i < ids.length; i++) {
      const e = this.byteStart[ids[i] + 1];
      for (let k = starts[i]; k < e; k++) out[w++] = flat[k];
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    return utf8Decoder.decode(this.decodeBytes(ids));
  }

  /**
   * Streams ids to text; bytes of a character split over byte-fallback tokens are held back until
   * the character is complete. See SentencePieceDecoderOptions for the leading space: by default
   * the ids continue a text (generated tokens after a prompt), so their spaces are all kept.
   */
  decoder(options: SentencePieceDecoderOptions = {}): IncrementalDecoder {
    const stream = utf8Stream();
    const state = { atStart: this.addDummyPrefix && (options.atStart ?? false) };
    return {
      push: (id: number): string =>
        stream.push(this.flat.subarray(this.streamStart(id, state), this.byteStart[id + 1])),
      flush: (): string => stream.flush(),
    };
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize ? this.pieces[id] : undefined;
  }

  tokenToId(token: string): number | undefined {
    return this.pieceToId.get(token);
  }

  /** The piece type of an id (PieceType), or undefined outside the vocabulary. */
  tokenType(id: number): number | undefined {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize ? this.types[id] : undefined;
  }

  /** The score of an id (0 for every piece when the file gave merges instead). */
  score(id: number): number | undefined {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize ? this.scores[id] : undefined;
  }
}

/** The chunk cache is cleared when it reaches this many entries; longer chunks are not cached. */
const CACHE_LIMIT = 200_000;
const CACHE_MAX_CHUNK = 256;

/**
 * Turns merged symbols into tokens: a piece is its id; a character that is not a piece becomes
 * byte-fallback tokens, or `<unk>` (one for a whole run of such characters, as SentencePiece does).
 */
class Output {
  private unkStart = -1;
  private unkEnd = -1;
  constructor(
    /** Byte → byte-fallback id (-1: none), or null without byte fallback. */
    private readonly byteIds: Int32Array | null,
    private readonly unk: number,
    private readonly norm: string,
    private readonly at: Int32Array,
    private readonly emit: Emit,
  ) {}

  /** Symbols as triples (start, end, id) relative to norm index `base`. */
  symbols(base: number, triples: Int32Array): void {
    const at = this.at;
    for (let k = 0; k < triples.length; k += 3) {
      const s = base + triples[k];
      const e = base + triples[k + 1];
      const id = triples[k + 2];
      if (id >= 0) {
        if (this.unkStart >= 0) this.flushUnk();
        this.emit(id, at[s], at[e]);
      } else this.unknown(s, e);
    }
  }

  private unknown(s: number, e: number): void {
    const a = this.at[s];
    const z = this.at[e];
    if (this.byteIds !== null) {
      const bytes = encodeUtf8(this.norm.slice(s, e));
      for (let k = 0; k < bytes.length; k++) {
        const bid = this.byteIds[bytes[k]];
        const bs = Math.min(a + k, z);
        const be = k === bytes.length - 1 ? z : Math.min(a + k + 1, z);
        if (bid >= 0) {
          if (this.unkStart >= 0) this.flushUnk();
          this.emit(bid, bs, be);
        } else {
          if (this.unkStart < 0) this.unkStart = bs;
          this.unkEnd = be;
        }
      }
      return;
    }
    if (this.unkStart < 0) this.unkStart = a;
    this.unkEnd = z;
  }

  private flushUnk(): void {
    this.emit(this.unk, this.unkStart, this.unkEnd);
    this.unkStart = -1;
  }

  finish(): void {
    if (this.unkStart >= 0) this.flushUnk();
  }
}

/** Number of UTF-8 bytes of a well-formed string. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * at[i] = byte offset (from `base`) in the UTF-8 of `s` where UTF-16 unit i starts, for i in
 * [0, s.length]; the low half of a surrogate pair gets the offset after the pair (never a boundary).
 */
function byteOffsets(s: string, base: number): Int32Array {
  const at = new Int32Array(s.length + 1);
  let pos = base;
  for (let i = 0; i < s.length; i++) {
    at[i] = pos;
    const c = s.charCodeAt(i);
    if (c < 0x80) pos += 1;
    else if (c < 0x800) pos += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      pos += 4;
      at[++i] = pos;
    } else pos += 3;
  }
  at[s.length] = pos;
  return at;
}
