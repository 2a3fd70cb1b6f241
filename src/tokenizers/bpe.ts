// Stage 1 — byte-level BPE (GPT-2 and its descendants). Text becomes UTF-8 bytes, bytes are split
// into "pre-tokens" by a regex, and each pre-token's bytes are merged pairwise, lowest merge rank
// first, until no listed merge applies. The vocabulary stores every token as a printable string via
// GPT-2's byte-to-unicode map (a space byte is 'Ġ'), which is why idToToken(220) is 'Ġ'.
//
// Speed notes: the merge loop works on integer ids; merge ranks live in an open-addressing hash
// table keyed by the (left id, right id) pair; every pre-token's result is cached by its text, so
// common words cost one Map lookup; words longer than LONG_WORD use a heap over a linked list so
// a long run of digits or whitespace stays O(n log n).

import { GlassError } from '../util/errors.js';
import {
  checkIdSpan,
  IdBuffer,
  PairTable,
  utf8Decoder,
  utf8Encoder,
  utf8Stream,
  wellFormed,
} from './common.js';
import type { EncodeOptions, IncrementalDecoder, SpecialTokens, TokenSpan, Tokenizer } from './tokenizer.js';

/** GPT-2's pre-tokenization regex, in the syntax of the original (Python `regex` / Rust) files. */
export const GPT2_PATTERN = `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`;

/** A token added on top of the BPE vocabulary (HF `added_tokens`), matched verbatim in the text. */
export interface AddedToken {
  id: number;
  content: string;
  /** Special tokens (`<|endoftext|>`) are only recognised when EncodeOptions.allowSpecial is true. */
  special: boolean;
}

export interface BpeTokenizerOptions {
  /** Shown in error messages (a file name or model name). */
  name?: string;
  /** Token string (in GPT-2's byte-to-unicode form) → id. */
  vocab: Map<string, number>;
  /** Merges in rank order (rank 0 first), each a pair of token strings present in the vocabulary. */
  merges: ReadonlyArray<readonly [string, string]>;
  addedTokens?: readonly AddedToken[];
  specialTokens?: SpecialTokens;
  /**
   * Pre-tokenization regex. A string is read in the Python/Rust syntax of tokenizer files (`\s` means
   * Unicode White_Space, `(?i:...)` groups are allowed) and compiled with the `u` flag; a RegExp is
   * used as is (with `g` and `u` added). Default: GPT2_PATTERN.
   */
  pattern?: string | RegExp;
  /** Llama-3 style: a pre-token that is itself a vocabulary token is emitted without merging. */
  ignoreMerges?: boolean;
}

// ---------------------------------------------------------------------------------------------
// GPT-2's byte ↔ unicode map: printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in order, so every byte has a visible, non-whitespace character.

function buildByteToUnicode(): string[] {
  const keep: boolean[] = new Array<boolean>(256).fill(false);
  for (let b = 0x21; b <= 0x7e; b++) keep[b] = true;
  for (let b = 0xa1; b <= 0xac; b++) keep[b] = true;
  for (let b = 0xae; b <= 0xff; b++) keep[b] = true;
  const out: string[] = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(keep[b] ? b : 256 + n++);
  return out;
}

/** byte → the character GPT-2 vocabularies use for it. */
export const BYTE_TO_UNICODE: readonly string[] = buildByteToUnicode();
const UNICODE_TO_BYTE = new Map<number, number>(BYTE_TO_UNICODE.map((c, b) => [c.charCodeAt(0), b]));

/** The raw bytes of a vocabulary string, or undefined when it has a character outside the byte map. */
export function byteLevelToBytes(token: string): Uint8Array | undefined {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = UNICODE_TO_BYTE.get(token.charCodeAt(i));
    if (b === undefined) return undefined;
    out[i] = b;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Regex translation: tokenizer files use Rust/Oniguruma regex syntax. Two differences matter:
// `\s` there is Unicode White_Space (JS's \s adds U+FEFF and lacks U+0085), and `(?i:...)` groups,
// which V8 in Node 20 does not accept.

/** Longer pre-tokenizer patterns are refused (the longest real ones are a few hundred characters). */
const MAX_PATTERN_LENGTH = 4096;

/**
 * Refuses patterns that a backtracking engine (V8's) can take exponential time on. The rule, checked on
 * the pattern's syntax: a group under a repetition (`*`, `+`, `{n,}`, `{n,m}` with m ≥ 2) may hold no
 * quantifier and no alternation — star height at most one, no ambiguous alternatives under a loop —,
 * and there are no backreferences. `(a+)+$`, `(a*)*`, `(a|a)*` and `(\w|\d)+` are refused; every
 * released pre-tokenizer (GPT-2, Llama 3, Qwen2, GPT-4o) passes, since they repeat only single atoms and
 * character classes. Polynomial backtracking (say `\s+(?!\S)` over a run of spaces) remains possible, as
 * in the released patterns themselves.
 */
export function checkPatternComplexity(pattern: string, where: string): void {
  const refuse = (why: string) =>
    new GlassError(
      'UNSUPPORTED',
      `${where}: ${why}, which can take exponential time to match; refused (a group under *, + or {n,m} may not itself repeat or alternate)`,
    );
  if (pattern.length > MAX_PATTERN_LENGTH)
    throw new GlassError(
      'UNSUPPORTED',
      `${where}: the pattern is ${pattern.length} characters long (at most ${MAX_PATTERN_LENGTH} accepted)`,
    );
  interface Frame {
    start: number;
    quantified: boolean;
    alternates: boolean;
  }
  const stack: Frame[] = [{ start: 0, quantified: false, alternates: false }];
  /** The quantifier at i: its length and whether it repeats (max ≥ 2); length 0 when none. */
  const quantifierAt = (i: number): { len: number; repeats: boolean } => {
    const c = pattern[i];
    let len = 0;
    let repeats = false;
    if (c === '*' || c === '+') [len, repeats] = [1, true];
    else if (c === '?') len = 1;
    else if (c === '{') {
      const m = /^\{(\d*)(,?)(\d*)\}/.exec(pattern.slice(i, i + 24));
      if (m && (m[1] !== '' || m[3] !== '')) {
        len = m[0].length;
        const max = m[2] === '' ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
        repeats = max >= 2;
      }
    }
    if (len > 0 && (pattern[i + len] === '?' || pattern[i + len] === '+')) len++; // lazy / possessive
    return { len, repeats };
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    const top = stack[stack.length - 1];
    let atomEnd: number; // where a quantifier following this atom would start
    if (c === '\\') {
      const d = pattern[i + 1];
      if (d !== undefined && (/[1-9]/.test(d) || d === 'k')) throw refuse('the pattern has a backreference');
      if ((d === 'p' || d === 'P') && pattern[i + 2] === '{') i = Math.max(i + 1, pattern.indexOf('}', i));
      else i++;
      atomEnd = i + 1;
    } else if (c === '[') {
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      for (; j < pattern.length && pattern[j] !== ']'; j++) if (pattern[j] === '\\') j++;
      i = j;
      atomEnd = j + 1;
    } else if (c === '(') {
      stack.push({ start: i, quantified: false, alternates: false });
      continue;
    } else if (c === '|') {
      top.alternates = true;
      continue;
    } else if (c === ')') {
      if (stack.length === 1) continue; // unbalanced: new RegExp reports it
      const group = stack.pop()!;
      const q = quantifierAt(i + 1);
      if (q.repeats && (group.quantified || group.alternates)) {
        const shown = pattern.slice(group.start, i + 1 + q.len);
        throw refuse(
          `${JSON.stringify(shown.length > 40 ? shown.slice(0, 40) + '…' : shown)} repeats a group that itself ${group.quantified ? 'repeats' : 'alternates'}`,
        );
      }
      const parent = stack[stack.length - 1];
      parent.quantified ||= group.quantified || q.len > 0;
      parent.alternates ||= group.alternates;
      i += q.len;
      continue;
    } else {
      atomEnd = i + 1;
    }
    const q = quantifierAt(atomEnd);
    if (q.len > 0) {
      top.quantified = true;
      i = atomEnd + q.len - 1;
    }
  }
}

/**
 * Compiles a pre-tokenizer pattern written in tokenizer-file syntax into a global, unicode JS RegExp.
 * Throws GlassError('UNSUPPORTED') when the pattern cannot be expressed.
 */
export function compilePretokenizerPattern(pattern: string, where = 'pre-tokenizer pattern'): RegExp {
  checkPatternComplexity(pattern, where);
  let out = '';
  let inClass = false;
  // Depth of (?i: groups we are inside; entries on the stack say whether a group is case-insensitive.
  const groups: boolean[] = [];
  const ci = (): boolean => groups.includes(true);
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const d = pattern[i + 1];
      if (d === undefined)
        throw new GlassError('UNSUPPORTED', `${where}: pattern ends with a lone backslash`);
      i++;
      if (d === 's') out += '\\p{White_Space}';
      else if (d === 'S') out += '\\P{White_Space}';
      else if (d === 'd') out += '\\p{Nd}';
      else if (d === 'D') out += '\\P{Nd}';
      else if (d === 'w' || d === 'W') {
        throw new GlassError('UNSUPPORTED', `${where}: \\${d} (Unicode word characters) is not supported`);
      } else if (d === 'p' || d === 'P') {
        // \p{L} or \pL
        if (pattern[i + 1] === '{') {
          const close = pattern.indexOf('}', i);
          if (close < 0) throw new GlassError('UNSUPPORTED', `${where}: unterminated \\${d}{`);
          out += '\\' + d + pattern.slice(i + 1, close + 1);
          i = close;
        } else {
          out += '\\' + d + '{' + pattern[i + 1] + '}';
          i++;
        }
      } else out += '\\' + d;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (pattern[i + 1] === '^') {
        out += '^';
        i++;
      }
      // A ']' right after '[' or '[^' is a literal in Rust/PCRE syntax.
      if (pattern[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(') {
      if (pattern.startsWith('(?i:', i)) {
        groups.push(true);
        out += '(?:';
        i += 3;
      } else if (pattern.startsWith('(?', i) && /^\(\?[a-zA-Z-]+[:)]/.test(pattern.slice(i))) {
        throw new GlassError(
          'UNSUPPORTED',
          `${where}: inline flags ${pattern.slice(i, i + 6)}... are not supported`,
        );
      } else {
        groups.push(false);
        out += c;
      }
      continue;
    }
    if (c === ')') {
      groups.pop();
      out += c;
      continue;
    }
    if (ci() && /[a-zA-Z]/.test(c)) {
      out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
      continue;
    }
    out += c;
  }
  try {
    return new RegExp(out, 'gu');
  } catch (e) {
    throw new GlassError(
      'UNSUPPORTED',
      `${where}: cannot compile ${JSON.stringify(pattern)} as a JavaScript regex`,
      {
        cause: e,
      },
    );
  }
}

const NO_RANK = 0x7fffffff;
/** Words with more initial symbols than this use the heap; shorter ones the simple O(n²) scan. */
const LONG_WORD = 64;
/** The word cache is cleared when it reaches this many entries; longer words are not cached. */
const CACHE_LIMIT = 200_000;
const CACHE_MAX_WORD = 256;

type Cached = number | Uint32Array;

export class BpeTokenizer implements Tokenizer {
  readonly kind = 'bpe';
  readonly name: string;
  readonly vocabSize: number;
  readonly specialTokens: SpecialTokens;

  private readonly idToString: (string | undefined)[];
  private readonly stringToId: Map<string, number>;
  private readonly tokenBytes: (Uint8Array | undefined)[];
  private readonly byteIds = new Int32Array(256);
  private readonly pairs: PairTable;
  private readonly mergeResult: Int32Array;
  private readonly pattern: RegExp;
  private readonly ignoreMerges: boolean;
  /** Matches every added token (longest first); null when there are none. */
  private readonly addedAll: RegExp | null;
  /** Matches the non-special added tokens only; null when there are none. */
  private readonly addedPlain: RegExp | null;
  private readonly addedIds = new Map<string, number>();
  private readonly cache = new Map<string, Cached>();
  /** Text of a vocabulary token → id, for ignoreMerges. */
  private readonly wholeWord: Map<string, number> | null;

  // Scratch space for the merge loop, grown on demand.
  private scratchSym = new Int32Array(256);
  private scratchRank = new Int32Array(256);
  private scratchBytes = new Uint8Array(1024);

  constructor(options: BpeTokenizerOptions) {
    const name = options.name ?? 'bpe tokenizer';
    this.name = name;
    this.ignoreMerges = options.ignoreMerges ?? false;

    let maxId = -1;
    for (const id of options.vocab.values()) if (id > maxId) maxId = id;
    for (const t of options.addedTokens ?? []) if (t.id > maxId) maxId = t.id;
    checkIdSpan(maxId, options.vocab.size + (options.addedTokens?.length ?? 0), name);
    this.vocabSize = maxId + 1;

    this.idToString = new Array<string | undefined>(this.vocabSize);
    this.tokenBytes = new Array<Uint8Array | undefined>(this.vocabSize);
    this.stringToId = new Map(options.vocab);
    for (const [tok, id] of options.vocab) {
      if (!Number.isInteger(id) || id < 0)
        throw new GlassError('BAD_FILE', `${name}: token ${JSON.stringify(tok)} has invalid id ${id}`);
      if (this.idToString[id] !== undefined) {
        throw new GlassError(
          'BAD_FILE',
          `${name}: tokens ${JSON.stringify(this.idToString[id])} and ${JSON.stringify(tok)} share id ${id}`,
        );
      }
      this.idToString[id] = tok;
      // A byte-level vocabulary string maps back to bytes; anything else (a plain special token with
      // characters outside the byte map) stands for its own UTF-8.
      this.tokenBytes[id] = byteLevelToBytes(tok) ?? utf8Encoder.encode(tok);
    }

    this.byteIds.fill(-1);
    for (let b = 0; b < 256; b++) {
      const id = options.vocab.get(BYTE_TO_UNICODE[b]);
      if (id !== undefined) this.byteIds[b] = id;
    }
    const missing: string[] = [];
    for (let b = 0; b < 256; b++)
      if (this.byteIds[b] < 0) missing.push('0x' + b.toString(16).padStart(2, '0'));
    if (missing.length > 0) {
      throw new GlassError(
        'BAD_FILE',
        `${name}: a byte-level BPE vocabulary needs a token for each of the 256 bytes; missing ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` and ${missing.length - 8} more` : ''}`,
      );
    }

    // Merges: rank r merges (left, right) into mergeResult[r].
    const merges = options.merges;
    this.pairs = new PairTable(merges.length);
    this.mergeResult = new Int32Array(merges.length);
    for (let r = 0; r < merges.length; r++) {
      const [a, b] = merges[r];
      const la = options.vocab.get(a);
      const lb = options.vocab.get(b);
      const m = options.vocab.get(a + b);
      if (la === undefined || lb === undefined || m === undefined) {
        const what = la === undefined ? a : lb === undefined ? b : a + b;
        throw new GlassError(
          'BAD_FILE',
          `${name}: merge ${r + 1} "${a} ${b}": token ${JSON.stringify(what)} is not in the vocabulary`,
        );
      }
      this.mergeResult[r] = m;
      this.pairs.add(la, lb, r);
    }

    // Added tokens.
    const added = options.addedTokens ?? [];
    for (const t of added) {
      if (!Number.isInteger(t.id) || t.id < 0) {
        throw new GlassError(
          'BAD_FILE',
          `${name}: added token ${JSON.stringify(t.content)} has invalid id ${t.id}`,
        );
      }
      if (t.content === '')
        throw new GlassError('BAD_FILE', `${name}: added token ${t.id} has empty content`);
      const existing = this.idToString[t.id];
      if (existing !== undefined && existing !== t.content) {
        throw new GlassError(
          'BAD_FILE',
          `${name}: added token ${JSON.stringify(t.content)} has id ${t.id}, already used by ${JSON.stringify(existing)}`,
        );
      }
      this.idToString[t.id] = t.content;
      this.tokenBytes[t.id] = utf8Encoder.encode(t.content);
      this.stringToId.set(t.content, t.id);
      this.addedIds.set(t.content, t.id);
    }
    const alternation = (all: readonly AddedToken[]): RegExp | null => {
      const tokens = all.filter((t) => t.content !== ''); // an empty one would match everywhere
      if (tokens.length === 0) return null;
      const sorted = [...tokens].sort((x, y) => y.content.length - x.content.length);
      return new RegExp(sorted.map((t) => t.content.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')).join('|'), 'gu');
    };
    this.addedAll = alternation(added);
    this.addedPlain = alternation(added.filter((t) => !t.special));

    this.specialTokens = { ...(options.specialTokens ?? {}) };
    for (const [k, v] of Object.entries(this.specialTokens)) {
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v >= this.vocabSize)) {
        throw new GlassError('BAD_FILE', `${name}: special token ${k} has id ${v}, outside the vocabulary`);
      }
    }

    const p = options.pattern ?? GPT2_PATTERN;
    if (typeof p === 'string') this.pattern = compilePretokenizerPattern(p, `${name}: pre-tokenizer pattern`);
    else {
      const flags = new Set(p.flags.replace('y', '').split(''));
      flags.add('g');
      flags.add('u');
      this.pattern = new RegExp(p.source, [...flags].join(''));
    }

    if (this.ignoreMerges) {
      this.wholeWord = new Map();
      const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
      for (const [tok, id] of options.vocab) {
        const bytes = byteLevelToBytes(tok);
        if (!bytes) continue;
        try {
          this.wholeWord.set(strict.decode(bytes), id);
        } catch {
          // Not valid UTF-8 on its own, so it can never be a whole pre-token.
        }
      }
    } else this.wholeWord = null;
  }

  // -------------------------------------------------------------------------------------------
  // Encoding

  encode(text: string, options?: EncodeOptions): Uint32Array {
    const out = new IdBuffer(text.length >> 1);
    this.run(wellFormed(text), options?.allowSpecial ?? true, (ids) => {
      if (typeof ids === 'number') out.push(ids);
      else for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    });
    return out.toArray();
  }

  encodeWithSpans(text: string, options?: EncodeOptions): TokenSpan[] {
    const spans: TokenSpan[] = [];
    let pos = 0;
    const emit = (id: number): void => {
      const bytes = this.tokenBytes[id]!;
      spans.push({ id, text: utf8Decoder.decode(bytes), start: pos, end: pos + bytes.length });
      pos += bytes.length;
    };
    this.run(wellFormed(text), options?.allowSpecial ?? true, (ids) => {
      if (typeof ids === 'number') emit(ids);
      else for (let i = 0; i < ids.length; i++) emit(ids[i]);
    });
    return spans;
  }

  /** Splits out added tokens, pre-tokenizes the rest, and hands each piece's ids to `sink`. */
  private run(text: string, allowSpecial: boolean, sink: (ids: Cached) => void): void {
    const addedRe = allowSpecial ? this.addedAll : this.addedPlain;
    if (addedRe === null) {
      this.encodeOrdinary(text, 0, text.length, sink);
      return;
    }
    addedRe.lastIndex = 0;
    let last = 0;
    let m: RegExpExecArray | null;
    while ((m = addedRe.exec(text)) !== null) {
      if (m.index > last) this.encodeOrdinary(text, last, m.index, sink);
      sink(this.addedIds.get(m[0])!);
      last = m.index + m[0].length;
    }
    if (last < text.length) this.encodeOrdinary(text, last, text.length, sink);
  }

  private encodeOrdinary(text: string, start: number, end: number, sink: (ids: Cached) => void): void {
    if (start >= end) return;
    const segment = start === 0 && end === text.length ? text : text.slice(start, end);
    const re = this.pattern;
    re.lastIndex = 0;
    let last = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(segment)) !== null) {
      const piece = m[0];
      if (piece.length === 0) {
        // step over one code point: a unicode regex put back inside a surrogate pair restarts at its
        // first half, so `lastIndex++` would match the same empty string there forever
        re.lastIndex = m.index + ((segment.codePointAt(m.index) ?? 0) > 0xffff ? 2 : 1);
        continue;
      }
      // Text the pattern does not match (possible with a custom pattern) is a piece of its own.
      if (m.index > last) sink(this.encodeWord(segment.slice(last, m.index)));
      sink(this.encodeWord(piece));
      last = m.index + piece.length;
    }
    if (last < segment.length) sink(this.encodeWord(segment.slice(last)));
  }

  /** The ids of one pre-token (cached). */
  private encodeWord(word: string): Cached {
    const hit = this.cache.get(word);
    if (hit !== undefined) return hit;
    const result = this.bpe(word);
    if (word.length <= CACHE_MAX_WORD) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, result);
    }
    return result;
  }

  private bpe(word: string): Cached {
    // UTF-8 bytes of the word into scratch.
    let bytes = this.scratchBytes;
    if (bytes.length < word.length * 3) bytes = this.scratchBytes = new Uint8Array(word.length * 3);
    const n = utf8Encoder.encodeInto(word, bytes).written;
    if (n === 1) return this.byteIds[bytes[0]];
    if (this.wholeWord !== null) {
      const id = this.wholeWord.get(word);
      if (id !== undefined) return id;
    }
    if (this.scratchSym.length < n) {
      this.scratchSym = new Int32Array(n);
      this.scratchRank = new Int32Array(n);
    }
    const sym = this.scratchSym;
    for (let i = 0; i < n; i++) sym[i] = this.byteIds[bytes[i]];
    const len = n > LONG_WORD ? this.mergeLong(sym, n) : this.mergeShort(sym, n);
    return len === 1 ? sym[0] : new Uint32Array(sym.subarray(0, len));
  }

  /** Simple merge loop: scan for the lowest rank, merge there, update the two neighbouring ranks. */
  private mergeShort(sym: Int32Array, n: number): number {
    const rank = this.scratchRank;
    const pairs = this.pairs;
    for (let i = 0; i < n - 1; i++) {
      const r = pairs.get(sym[i], sym[i + 1]);
      rank[i] = r < 0 ? NO_RANK : r;
    }
    let len = n;
    while (len > 1) {
      let best = NO_RANK;
      let at = -1;
      for (let i = 0; i < len - 1; i++) {
        if (rank[i] < best) {
          best = rank[i];
          at = i;
        }
      }
      if (at < 0) break;
      sym[at] = this.mergeResult[best];
      // Remove symbol at+1 and pair rank at (the pair just merged).
      for (let i = at + 1; i < len - 1; i++) sym[i] = sym[i + 1];
      for (let i = at; i < len - 2; i++) rank[i] = rank[i + 1];
      len--;
      if (at > 0) {
        const r = pairs.get(sym[at - 1], sym[at]);
        rank[at - 1] = r < 0 ? NO_RANK : r;
      }
      if (at < len - 1) {
        const r = pairs.get(sym[at], sym[at + 1]);
        rank[at] = r < 0 ? NO_RANK : r;
      }
    }
    return len;
  }

  /** Heap + linked list merge for long words; same result as mergeShort (lowest rank, then leftmost). */
  private mergeLong(sym: Int32Array, n: number): number {
    const pairs = this.pairs;
    const next = new Int32Array(n);
    const prev = new Int32Array(n); // -2 marks a symbol merged into its left neighbour
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // Min-heap of keys rank * n + position: lowest rank first, leftmost among equals. Stale entries
    // are skipped when popped. At most n - 1 initial entries plus 2 per merge: < 3n in all.
    const heap = new Float64Array(3 * n);
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
    const pop = (): number => {
      const top = heap[0];
      const key = heap[--size];
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= size) break;
        if (c + 1 < size && heap[c + 1] < heap[c]) c++;
        if (heap[c] >= key) break;
        heap[i] = heap[c];
        i = c;
      }
      heap[i] = key;
      return top;
    };
    for (let i = 0; i < n - 1; i++) {
      const r = pairs.get(sym[i], sym[i + 1]);
      if (r >= 0) push(r * n + i);
    }
    let len = n;
    while (size > 0) {
      const key = pop();
      const r = Math.floor(key / n);
      const i = key - r * n;
      const j = next[i];
      // Stale: i was merged away, or the pair starting at i is no longer the one this entry ranked.
      if (prev[i] === -2 || j < 0 || pairs.get(sym[i], sym[j]) !== r) continue;
      sym[i] = this.mergeResult[r];
      const k = next[j];
      next[i] = k;
      if (k >= 0) prev[k] = i;
      prev[j] = -2;
      len--;
      const p = prev[i];
      if (p >= 0) {
        const rp = pairs.get(sym[p], sym[i]);
        if (rp >= 0) push(rp * n + p);
      }
      if (k >= 0) {
        const rk = pairs.get(sym[i], sym[k]);
        if (rk >= 0) push(rk * n + i);
      }
    }
    // Compact the surviving symbols to the front (in list order, which is position order).
    let w = 0;
    for (let i = 0; i >= 0; i = next[i]) sym[w++] = sym[i];
    return len;
  }

  // -------------------------------------------------------------------------------------------
  // Decoding

  private bytesOf(id: number): Uint8Array {
    const b = Number.isInteger(id) ? this.tokenBytes[id] : undefined;
    if (b === undefined) {
      throw new GlassError(
        'BAD_INPUT',
        `${this.name}: token id ${id} is not in the vocabulary (size ${this.vocabSize})`,
      );
    }
    return b;
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    let total = 0;
    for (let i = 0; i < ids.length; i++) total += this.bytesOf(ids[i]).length;
    const out = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = this.tokenBytes[ids[i]]!;
      out.set(b, at);
      at += b.length;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    return utf8Decoder.decode(this.decodeBytes(ids));
  }

  decoder(): IncrementalDecoder {
    const stream = utf8Stream();
    return {
      push: (id: number): string => stream.push(this.bytesOf(id)),
      flush: (): string => stream.flush(),
    };
  }

  idToToken(id: number): string | undefined {
    return this.idToString[id];
  }

  tokenToId(token: string): number | undefined {
    return this.stringToId.get(token);
  }
}
