// Stage 1 for BERT-family encoders: WordPiece. Normalise (clean control characters, space out CJK
// ideographs, strip accents, lower-case), split on whitespace and punctuation, then cut each word into
// the longest vocabulary pieces from the left, continuations marked "##" — [UNK] when a word can't be cut.
import { GlassError } from '../util/errors.js';
import { utf8Decoder, utf8Encoder, wellFormed } from './common.js';
import type { EncodeOptions, IncrementalDecoder, SpecialTokens, TokenSpan, Tokenizer } from './tokenizer.js';

export interface WordPieceOptions {
  name?: string;
  /** Pieces by id (vocab.txt order). */
  vocab: readonly string[];
  lowercase?: boolean;
  /** Default: the same as lowercase (HF BertNormalizer with strip_accents null). */
  stripAccents?: boolean;
  handleChineseChars?: boolean;
  cleanText?: boolean;
  continuingSubwordPrefix?: string;
  maxInputCharsPerWord?: number;
  unkToken?: string;
}

const CONTROL = /\p{C}/u;
const WHITESPACE = /\p{White_Space}/u;
const PUNCT = /\p{P}/u;
const MARK_NONSPACING = /\p{Mn}/u;

function isAsciiPunct(cp: number): boolean {
  return (
    (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)
  );
}

function isChinese(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** One normalised character and the UTF-8 byte span of the input character it came from. */
interface NChar {
  ch: string;
  start: number;
  end: number;
}

export class WordPieceTokenizer implements Tokenizer {
  readonly kind = 'wordpiece';
  readonly name: string;
  readonly vocabSize: number;
  readonly specialTokens: SpecialTokens & { cls?: number; sep?: number; mask?: number };
  private readonly pieces: readonly string[];
  private readonly ids = new Map<string, number>();
  private readonly lowercase: boolean;
  private readonly stripAccents: boolean;
  private readonly chinese: boolean;
  private readonly clean: boolean;
  private readonly prefix: string;
  private readonly maxChars: number;
  private readonly unk: number;
  private readonly specials: Map<string, number>;

  constructor(o: WordPieceOptions) {
    this.name = o.name ?? 'wordpiece';
    this.pieces = o.vocab;
    this.vocabSize = o.vocab.length;
    o.vocab.forEach((p, i) => {
      if (!this.ids.has(p)) this.ids.set(p, i);
    });
    this.lowercase = o.lowercase ?? true;
    this.stripAccents = o.stripAccents ?? this.lowercase;
    this.chinese = o.handleChineseChars ?? true;
    this.clean = o.cleanText ?? true;
    this.prefix = o.continuingSubwordPrefix ?? '##';
    this.maxChars = o.maxInputCharsPerWord ?? 100;
    const unkToken = o.unkToken ?? '[UNK]';
    const unk = this.ids.get(unkToken);
    if (unk === undefined)
      throw new GlassError(
        'BAD_FILE',
        `${this.name}: the unknown token ${unkToken} is not in the vocabulary`,
      );
    this.unk = unk;
    const id = (t: string) => this.ids.get(t);
    this.specialTokens = {
      unk,
      pad: id('[PAD]'),
      cls: id('[CLS]'),
      sep: id('[SEP]'),
      mask: id('[MASK]'),
      bos: id('[CLS]'),
      eos: id('[SEP]'),
    };
    this.specials = new Map();
    for (const t of ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']) {
      const i = id(t);
      if (i !== undefined) this.specials.set(t, i);
    }
  }

  /** BertNormalizer: clean → space CJK → NFD + drop accents → lower-case, keeping each char's source span. */
  private normalize(text: string): NChar[] {
    const out: NChar[] = [];
    let byte = 0;
    for (const c of wellFormed(text)) {
      const cp = c.codePointAt(0)!;
      const len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      const start = byte;
      const end = byte + len;
      byte = end;
      if (this.clean) {
        if (c === '\t' || c === '\n' || c === '\r' || WHITESPACE.test(c)) {
          out.push({ ch: ' ', start, end });
          continue;
        }
        if (cp === 0 || cp === 0xfffd || CONTROL.test(c)) continue;
      }
      if (this.chinese && isChinese(cp)) {
        out.push({ ch: ' ', start, end: start }, { ch: c, start, end }, { ch: ' ', start: end, end });
        continue;
      }
      let s = c;
      if (this.stripAccents) s = [...s.normalize('NFD')].filter((x) => !MARK_NONSPACING.test(x)).join('');
      if (this.lowercase) s = s.toLowerCase();
      for (const x of s) out.push({ ch: x, start, end });
    }
    return out;
  }

  /** BertPreTokenizer: words split on whitespace, each punctuation character a word of its own. */
  private words(chars: NChar[]): NChar[][] {
    const words: NChar[][] = [];
    let cur: NChar[] = [];
    const flush = () => {
      if (cur.length) words.push(cur);
      cur = [];
    };
    for (const c of chars) {
      if (WHITESPACE.test(c.ch)) flush();
      else if (isAsciiPunct(c.ch.codePointAt(0)!) || PUNCT.test(c.ch)) {
        flush();
        words.push([c]);
      } else cur.push(c);
    }
    flush();
    return words;
  }

  private pieceWord(word: NChar[], emit: (id: number, start: number, end: number) => void): void {
    if (word.length > this.maxChars) {
      emit(this.unk, word[0].start, word[word.length - 1].end);
      return;
    }
    const found: Array<[number, number, number]> = [];
    let start = 0;
    while (start < word.length) {
      let end = word.length;
      let id: number | undefined;
      while (start < end) {
        let s = '';
        for (let i = start; i < end; i++) s += word[i].ch;
        id = this.ids.get(start > 0 ? this.prefix + s : s);
        if (id !== undefined) break;
        end--;
      }
      if (id === undefined) {
        emit(this.unk, word[0].start, word[word.length - 1].end);
        return;
      }
      found.push([id, word[start].start, word[end - 1].end]);
      start = end;
    }
    for (const [id, s, e] of found) emit(id, s, e);
  }

  private run(
    text: string,
    options: EncodeOptions | undefined,
    emit: (id: number, start: number, end: number) => void,
  ): void {
    // Special tokens written in the text ([CLS], [SEP], [MASK]...) are matched whole when allowed.
    const allow = options?.allowSpecial ?? false;
    const parts: Array<{ text: string; offset: number; special?: number }> = [];
    if (allow && this.specials.size) {
      const re = new RegExp([...this.specials.keys()].map((k) => k.replace(/[[\]]/g, '\\$&')).join('|'), 'g');
      let last = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(text))) {
        parts.push({ text: text.slice(last, m.index), offset: last });
        parts.push({ text: m[0], offset: m.index, special: this.specials.get(m[0]) });
        last = m.index + m[0].length;
      }
      parts.push({ text: text.slice(last), offset: last });
    } else parts.push({ text, offset: 0 });
    for (const p of parts) {
      const base = utf8Encoder.encode(text.slice(0, p.offset)).length;
      if (p.special !== undefined) {
        emit(p.special, base, base + p.text.length);
        continue;
      }
      for (const w of this.words(this.normalize(p.text)))
        this.pieceWord(w, (id, s, e) => emit(id, base + s, base + e));
    }
  }

  encode(text: string, options?: EncodeOptions): Uint32Array {
    const ids: number[] = [];
    this.run(text, options, (id) => ids.push(id));
    return Uint32Array.from(ids);
  }

  encodeWithSpans(text: string, options?: EncodeOptions): TokenSpan[] {
    const out: TokenSpan[] = [];
    this.run(text, options, (id, start, end) => out.push({ id, text: this.pieces[id], start, end }));
    return out;
  }

  /** Pieces joined by spaces, "##" continuations glued on; special tokens skipped. */
  decode(ids: ArrayLike<number>): string {
    const d = this.decoder();
    let s = '';
    for (let i = 0; i < ids.length; i++) s += d.push(ids[i]);
    return s + d.flush();
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    return utf8Encoder.encode(this.decode(ids));
  }

  decoder(): IncrementalDecoder {
    let first = true;
    return {
      push: (id: number): string => {
        const p = this.pieces[id];
        if (p === undefined || (this.specials.has(p) && id !== this.unk)) return '';
        if (p.startsWith(this.prefix) && !first) return p.slice(this.prefix.length);
        const out = first ? p : ' ' + p;
        first = false;
        return out;
      },
      flush: () => '',
    };
  }

  idToToken(id: number): string | undefined {
    return this.pieces[id];
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }
}

/** vocab.txt: one piece per line, the line number is the id. */
export function parseVocabTxt(bytes: Uint8Array | string, name: string): string[] {
  const text = typeof bytes === 'string' ? bytes : utf8Decoder.decode(bytes);
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new GlassError('BAD_FILE', `${name}: the vocabulary is empty`);
  return lines;
}
