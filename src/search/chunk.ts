// Chunking: a document → passages small enough for the embedder. Paragraphs (text between blank lines) are
// packed in order while the passage stays within a token budget (counted by the embedder's own tokenizer);
// consecutive passages share `overlap` paragraphs, so a thought that spans a boundary is whole in one of
// them. A paragraph longer than the budget is cut at sentence ends, then between words, then (a single
// giant "word") between characters. Every chunk is an exact slice of the document: its char span, UTF-8
// byte span and line numbers map straight back to the file.
import { createHash } from 'node:crypto';
import { GlassError } from '../util/errors.js';

export interface ChunkOptions {
  /** Most tokens in one chunk (the model's special tokens not counted). */
  maxTokens: number;
  /** Paragraphs repeated at the start of the next chunk (0 = none). Shrunk where the budget needs. */
  overlap: number;
}

export const DEFAULT_CHUNK_TOKENS = 200;
export const DEFAULT_OVERLAP = 1;

export interface Chunk {
  /** 0-based position in the document. */
  ord: number;
  /** The passage: exactly `content.slice(startChar, endChar)`. */
  text: string;
  /** UTF-16 offsets into the document string: [startChar, endChar). */
  startChar: number;
  endChar: number;
  /** Byte offsets into the document's UTF-8 bytes: [startByte, endByte). */
  startByte: number;
  endByte: number;
  /** 1-based lines of the first and the last character. */
  startLine: number;
  endLine: number;
  tokens: number;
  /** sha256 of the text: chunks with the same text share one vector. */
  sha256: string;
}

interface Span {
  start: number;
  end: number;
  tokens: number;
}

/** How the chunks were made, recorded per file: a file chunked differently is chunked again. */
export function chunkingLabel(o: ChunkOptions): string {
  return `paragraphs-v1/${o.maxTokens}t/${o.overlap}p`;
}

export function sha256(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

const WS = /\s/;

/** [start, end) narrowed to exclude leading and trailing whitespace; null if nothing is left. */
function trim(content: string, start: number, end: number): [number, number] | null {
  while (start < end && WS.test(content[start])) start++;
  while (end > start && WS.test(content[end - 1])) end--;
  return start < end ? [start, end] : null;
}

/** The spans between the matches of `sep` (global) in [start, end), trimmed, empty ones dropped. */
function splitSpans(content: string, start: number, end: number, sep: RegExp): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const part = content.slice(start, end);
  let from = 0;
  sep.lastIndex = 0;
  for (let m = sep.exec(part); m; m = sep.exec(part)) {
    if (m[0].length === 0) {
      sep.lastIndex++;
      continue;
    }
    const cut = m.index + m[0].length;
    const t = trim(content, start + from, start + m.index + (m[0].trimEnd().length || 0));
    if (t) out.push(t);
    from = cut;
  }
  const t = trim(content, start + from, end);
  if (t) out.push(t);
  return out;
}

// Paragraphs end at a blank line; sentences at . ! ? (plus closing quotes/brackets) or a line break.
const PARAGRAPH = /\n[^\S\n]*\n/g;
const SENTENCE = /[.!?。！？]["'”’)\]]*\s+|\n/g;
const WORD = /\s+/g;

export function chunkText(
  content: string,
  countTokens: (text: string) => number,
  options: ChunkOptions,
): Chunk[] {
  const budget = options.maxTokens;
  if (!Number.isInteger(budget) || budget < 1) {
    throw new GlassError('BAD_INPUT', `chunk budget must be a positive number of tokens (got ${budget})`);
  }
  const overlap = Math.max(0, Math.floor(options.overlap));
  const count = (s: number, e: number) => countTokens(content.slice(s, e));

  // The longest prefix of [start, end) within the budget, cut between characters (never inside a pair).
  const cutChars = (start: number, end: number): Span[] => {
    const out: Span[] = [];
    let s = start;
    while (s < end) {
      let lo = s + 1;
      let hi = end;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (count(s, mid) <= budget) lo = mid;
        else hi = mid - 1;
      }
      let e = lo;
      const c = content.charCodeAt(e - 1);
      if (e < end && c >= 0xd800 && c <= 0xdbff && e - 1 > s) e--; // keep surrogate pairs whole
      out.push({ start: s, end: e, tokens: count(s, e) });
      s = e;
    }
    return out;
  };

  // Pieces of [start, end) within the budget: whole if it fits, else cut at each level's separators and
  // packed back together greedily, pieces still too long going down a level.
  const levels = [SENTENCE, WORD];
  const fit = (start: number, end: number, level: number): Span[] => {
    const tokens = count(start, end);
    if (tokens <= budget) return [{ start, end, tokens }];
    if (level >= levels.length) return cutChars(start, end);
    const pieces = splitSpans(content, start, end, levels[level]).flatMap(([s, e]) => fit(s, e, level + 1));
    return pack(pieces, 0).map((g) => g.span);
  };

  // Greedy packing of consecutive spans: groups [i, j] whose joined slice is within the budget.
  const group = (spans: Span[], i: number): { j: number; span: Span } => {
    let j = i;
    let span = spans[i];
    let estimate = span.tokens;
    while (j + 1 < spans.length && estimate + spans[j + 1].tokens <= budget) {
      const next = spans[j + 1];
      const tokens = count(span.start, next.end);
      if (tokens > budget) break;
      j++;
      span = { start: span.start, end: next.end, tokens };
      estimate = tokens;
    }
    return { j, span };
  };
  function pack(spans: Span[], over: number): Array<{ span: Span; i: number; j: number }> {
    const out: Array<{ span: Span; i: number; j: number }> = [];
    let i = 0;
    while (i < spans.length) {
      const g = group(spans, i);
      out.push({ ...g, i });
      if (g.j === spans.length - 1) break;
      // The next group starts `over` spans back, but always takes at least one new span.
      let next = Math.max(i + 1, g.j + 1 - over);
      while (next <= g.j && count(spans[next].start, spans[g.j + 1].end) > budget) next++;
      i = next;
    }
    return out;
  }

  const units = splitSpans(content, 0, content.length, PARAGRAPH).flatMap(([s, e]) => fit(s, e, 0));
  const groups = pack(units, overlap);

  // Line numbers and byte offsets, computed once for the document.
  const lineStarts = [0];
  for (let k = content.indexOf('\n'); k >= 0; k = content.indexOf('\n', k + 1)) lineStarts.push(k + 1);
  const lineOf = (charIdx: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (lineStarts[mid] <= charIdx) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  let byteAt = 0;
  let charAt = 0;
  const byteOf = (charIdx: number) => {
    if (charIdx < charAt) {
      byteAt = 0;
      charAt = 0;
    }
    byteAt += Buffer.byteLength(content.slice(charAt, charIdx));
    charAt = charIdx;
    return byteAt;
  };

  return groups.map(({ span }, ord) => {
    const text = content.slice(span.start, span.end);
    const startByte = byteOf(span.start);
    const endByte = startByte + Buffer.byteLength(text);
    return {
      ord,
      text,
      startChar: span.start,
      endChar: span.end,
      startByte,
      endByte,
      startLine: lineOf(span.start),
      endLine: lineOf(span.end - 1),
      tokens: span.tokens,
      sha256: sha256(text),
    };
  });
}
