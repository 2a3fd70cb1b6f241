// Stage 1 — small pieces shared by the tokenizers: UTF-8 helpers (well-formed input, a streaming
// decoder that never emits half a character), a growable id buffer, and the hash table of
// (left id, right id) pairs the merge loops look merges up in.

import { GlassError } from '../util/errors.js';

/** How far token ids may run past the number of tokens (gaps): tables are sized by the largest id. */
export const MAX_ID_GAP = 65536;

/**
 * Refuses a largest token id far beyond the number of tokens: id tables are sized by it, so a 1 KB file
 * saying "id 2^31" must not cost gigabytes (ids are 0..n-1 in real files, give or take a few gaps).
 */
export function checkIdSpan(maxId: number, tokens: number, where: string): void {
  if (maxId >= tokens + MAX_ID_GAP)
    throw new GlassError(
      'BAD_FILE',
      `${where}: token id ${maxId} is far past the ${tokens} tokens there are (expected ids 0..${tokens - 1}, give or take gaps)`,
    );
}

// ignoreBOM: a leading U+FEFF is text to keep, not a byte-order mark to strip.
export const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
export const utf8Encoder = new TextEncoder();

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const LONE_SURROGATES = /[\uD800-\uDFFF]/gu;

/** Lone UTF-16 surrogates become U+FFFD, exactly as TextEncoder would encode them. */
export function wellFormed(text: string): string {
  return LONE_SURROGATE.test(text) ? text.replace(LONE_SURROGATES, '\uFFFD') : text;
}

/** Upper bound of the UTF-8 length of a string (3 bytes per UTF-16 unit). */
export function utf8Bound(s: string): number {
  return 3 * s.length;
}

/**
 * Writes the UTF-8 of `s` into `out` at `at` (room for utf8Bound(s) bytes needed) and returns the
 * end; lone surrogates become U+FFFD, as TextEncoder does. Plain JS because TextEncoder's per-call
 * cost dominates for the many short strings of a vocabulary or a merge loop.
 */
export function utf8Into(s: string, out: Uint8Array, at: number): number {
  let w = at;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) out[w++] = c;
    else if (c < 0x800) {
      out[w++] = 0xc0 | (c >> 6);
      out[w++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      out[w++] = 0xf0 | (c >> 18);
      out[w++] = 0x80 | ((c >> 12) & 0x3f);
      out[w++] = 0x80 | ((c >> 6) & 0x3f);
      out[w++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      out[w++] = 0xe0 | (c >> 12);
      out[w++] = 0x80 | ((c >> 6) & 0x3f);
      out[w++] = 0x80 | (c & 0x3f);
    }
  }
  return w;
}

/** The UTF-8 of a (short) string; see utf8Into. */
export function encodeUtf8(s: string): Uint8Array {
  const out = new Uint8Array(utf8Bound(s));
  return out.subarray(0, utf8Into(s, out, 0));
}

/** Bytes in, text out, holding back an incomplete UTF-8 sequence until its last byte arrives. */
export interface Utf8Stream {
  /** Returns the text completed by these bytes (possibly ''). */
  push(bytes: Uint8Array): string;
  /** Returns whatever is still buffered (incomplete bytes become U+FFFD) and resets. */
  flush(): string;
}

export function utf8Stream(): Utf8Stream {
  // TextDecoder in streaming mode holds back an incomplete UTF-8 sequence until its last byte
  // arrives, and turns bytes that can never complete into U+FFFD right away.
  const td = new TextDecoder('utf-8', { ignoreBOM: true });
  return {
    push: (bytes) => td.decode(bytes, { stream: true }),
    flush: () => td.decode(),
  };
}

/** Growable output buffer of ids. */
export class IdBuffer {
  data: Uint32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Uint32Array(Math.max(16, capacity));
  }
  push(id: number): void {
    if (this.length === this.data.length) {
      const next = new Uint32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = id;
  }
  toArray(): Uint32Array {
    return this.data.slice(0, this.length);
  }
}

/** Open-addressing hash table from a (left id, right id) pair of non-negative ids to a value. */
export class PairTable {
  private readonly mask: number;
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly value: Int32Array;

  constructor(count: number) {
    let cap = 16;
    while (cap < count * 2) cap *= 2;
    this.mask = cap - 1;
    this.left = new Int32Array(cap).fill(-1);
    this.right = new Int32Array(cap);
    this.value = new Int32Array(cap);
  }

  private static hash(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0;
  }

  /** Inserts when absent; returns false when the pair was already there (the first value wins). */
  add(a: number, b: number, v: number): boolean {
    let i = PairTable.hash(a, b) & this.mask;
    for (;;) {
      const l = this.left[i];
      if (l === -1) {
        this.left[i] = a;
        this.right[i] = b;
        this.value[i] = v;
        return true;
      }
      if (l === a && this.right[i] === b) return false;
      i = (i + 1) & this.mask;
    }
  }

  /** The value for (a, b), or -1. */
  get(a: number, b: number): number {
    let i = PairTable.hash(a, b) & this.mask;
    for (;;) {
      const l = this.left[i];
      if (l === -1) return -1;
      if (l === a && this.right[i] === b) return this.value[i];
      i = (i + 1) & this.mask;
    }
  }
}
