// Training — stage 1 learned from data: a byte-level BPE vocabulary, as GPT-2's was made. The corpus is cut
// into pre-tokens by GPT-2's regex (so merges never cross a word boundary), each pre-token starts as its
// UTF-8 bytes, and the most frequent adjacent pair is merged into a new token, again and again, until the
// vocabulary has N entries: 256 bytes + (N − 257) merges + <|endoftext|>.
//
// Efficiency: pairs are counted over the unique pre-tokens weighted by their counts (a few MB of text holds
// only tens of thousands of distinct words); each pair remembers the words it occurs in, so a merge only
// revisits those words and adjusts the counts it changes; a max-heap with lazy deletion finds the next pair.
// Ties go to the pair with the smaller (left id, right id): the same corpus always gives the same merges.
import { BYTE_TO_UNICODE, compilePretokenizerPattern, GPT2_PATTERN } from '../tokenizers/bpe.js';
import { GlassError } from '../util/errors.js';

export const END_OF_TEXT = '<|endoftext|>';

export interface BpeTrainOptions {
  /** Total vocabulary: 256 byte tokens + merges + <|endoftext|>. 256 or 257 means bytes only (257 ids). */
  vocabSize: number;
  /** Pairs seen fewer times than this are not merged (default 2): training stops early instead. */
  minFrequency?: number;
  /** Called now and then with the number of merges learned so far. */
  onProgress?: (merges: number, target: number) => void;
}

export interface TrainedBpe {
  /** Merges in rank order, as pairs of token ids (byte b has id b; new tokens follow in order of creation). */
  merges: Array<[number, number]>;
  /** The byte sequence of every token id (before <|endoftext|>). */
  tokens: Uint8Array[];
  /** Id of <|endoftext|> (the last id). */
  endOfText: number;
  vocabSize: number;
}

const SHIFT = 2 ** 21; // pair key = left · 2²¹ + right (ids < 2²¹)

/** Counts GPT-2 pre-tokens of the text (the text is cut on <|endoftext|>, which is never merged into). */
export function countWords(text: string, counts = new Map<string, number>()): Map<string, number> {
  const re = compilePretokenizerPattern(GPT2_PATTERN);
  for (const part of text.split(END_OF_TEXT)) {
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(part)) !== null) {
      const w = m[0];
      if (w.length === 0) {
        re.lastIndex++;
        continue;
      }
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return counts;
}

/** Learns byte-level BPE merges from pre-token counts (see countWords). */
export function trainBpe(wordCounts: Map<string, number>, options: BpeTrainOptions): TrainedBpe {
  const target = Math.max(0, options.vocabSize - 257);
  if (!Number.isInteger(options.vocabSize) || options.vocabSize < 256) {
    throw new GlassError('BAD_INPUT', `vocabulary size ${options.vocabSize}: must be an integer >= 256`);
  }
  if (options.vocabSize + 1 >= SHIFT)
    throw new GlassError('BAD_INPUT', `vocabulary size ${options.vocabSize} is too large`);
  const minFrequency = options.minFrequency ?? 2;
  const enc = new TextEncoder();

  // Words as arrays of token ids (start: bytes), with their counts.
  const words: Int32Array[] = [];
  const lens: number[] = [];
  const freq: number[] = [];
  for (const [w, c] of wordCounts) {
    const bytes = enc.encode(w);
    if (bytes.length < 2) continue; // nothing to merge
    words.push(Int32Array.from(bytes));
    lens.push(bytes.length);
    freq.push(c);
  }

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  for (let w = 0; w < words.length; w++) {
    const s = words[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i] * SHIFT + s[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + freq[w]);
      let set = pairWords.get(key);
      if (!set) pairWords.set(key, (set = new Set()));
      set.add(w);
    }
  }

  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, key);

  const tokens: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) tokens.push(Uint8Array.of(b));
  // Two merge paths can spell the same bytes ("a"+"bc", "ab"+"c"): both then make the one token.
  const idOf = new Map<string, number>();
  const keyOf = (bytes: Uint8Array) => String.fromCharCode(...bytes);
  const merges: Array<[number, number]> = [];
  const delta = new Map<number, number>();

  while (tokens.length < 256 + target) {
    // The most frequent pair whose heap entry is current.
    let best = -1;
    let bestCount = 0;
    while (heap.size > 0) {
      const { count, key } = heap.pop();
      if (pairCount.get(key) === count) {
        best = key;
        bestCount = count;
        break;
      }
    }
    if (best < 0 || bestCount < minFrequency) break;
    const a = Math.floor(best / SHIFT);
    const b = best - a * SHIFT;
    merges.push([a, b]);
    const ta = tokens[a];
    const tb = tokens[b];
    const joined = new Uint8Array(ta.length + tb.length);
    joined.set(ta);
    joined.set(tb, ta.length);
    const k = keyOf(joined);
    let id = idOf.get(k);
    if (id === undefined) {
      id = tokens.length;
      idOf.set(k, id);
      tokens.push(joined);
    }

    // Rewrite each word holding the pair; record how every pair count changes.
    delta.clear();
    const bump = (key: number, by: number, w: number) => {
      delta.set(key, (delta.get(key) ?? 0) + by);
      if (by > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(w);
      }
    };
    for (const w of pairWords.get(best) ?? []) {
      const s = words[w];
      let n = lens[w];
      const f = freq[w];
      let i = 0;
      let changed = false;
      while (i + 1 < n) {
        if (s[i] !== a || s[i + 1] !== b) {
          i++;
          continue;
        }
        changed = true;
        if (i > 0) {
          bump(s[i - 1] * SHIFT + a, -f, w);
          bump(s[i - 1] * SHIFT + id, f, w);
        }
        if (i + 2 < n) {
          bump(b * SHIFT + s[i + 2], -f, w);
          bump(id * SHIFT + s[i + 2], f, w);
        }
        bump(best, -f, w);
        s[i] = id;
        s.copyWithin(i + 1, i + 2, n);
        n--;
        i++;
      }
      if (changed) lens[w] = n;
    }
    pairWords.delete(best);
    for (const [key, d] of delta) {
      if (d === 0) continue;
      const c = (pairCount.get(key) ?? 0) + d;
      if (c <= 0) pairCount.delete(key);
      else {
        pairCount.set(key, c);
        heap.push(c, key);
      }
    }
    if (options.onProgress && merges.length % 64 === 0) options.onProgress(tokens.length - 256, target);
  }
  options.onProgress?.(tokens.length - 256, target);
  const endOfText = tokens.length;
  return { merges, tokens, endOfText, vocabSize: endOfText + 1 };
}

/** The learned vocabulary as a Hugging Face tokenizer.json (GPT-2 layout: ByteLevel pre-tokenizer and decoder). */
export function bpeTokenizerJson(bpe: TrainedBpe): Record<string, unknown> {
  const str = (id: number) => {
    let s = '';
    for (const byte of bpe.tokens[id]) s += BYTE_TO_UNICODE[byte];
    return s;
  };
  const vocab: Record<string, number> = {};
  for (let id = 0; id < bpe.tokens.length; id++) vocab[str(id)] = id;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: bpe.endOfText,
        content: END_OF_TEXT,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: bpe.merges.map(([a, b]) => `${str(a)} ${str(b)}`),
    },
  };
}

export const PAD = '<pad>';

/**
 * A learned vocabulary for an encoder-decoder as a tokenizer.json: the BPE one (256 bytes + merges +
 * <|endoftext|>, which ends every target) and <pad> after it, the decoder's start token (Marian's way).
 */
export function seq2seqTokenizerJson(bpe: TrainedBpe): {
  json: Record<string, unknown>;
  eos: number;
  pad: number;
  vocabSize: number;
} {
  const json = bpeTokenizerJson(bpe);
  const pad = bpe.vocabSize;
  const added = json.added_tokens as Array<Record<string, unknown>>;
  added.push({ ...added[0], id: pad, content: PAD });
  return { json, eos: bpe.endOfText, pad, vocabSize: pad + 1 };
}

/** Max-heap of (count, pair key): higher count first, then the smaller key. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  get size(): number {
    return this.counts.length;
  }
  private above(i: number, j: number): boolean {
    const ci = this.counts[i];
    const cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }
  private swap(i: number, j: number): void {
    const c = this.counts[i];
    this.counts[i] = this.counts[j];
    this.counts[j] = c;
    const k = this.keys[i];
    this.keys[i] = this.keys[j];
    this.keys[j] = k;
  }
  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): { count: number; key: number } {
    const top = { count: this.counts[0], key: this.keys[0] };
    const lastC = this.counts.pop()!;
    const lastK = this.keys.pop()!;
    if (this.counts.length > 0) {
      this.counts[0] = lastC;
      this.keys[0] = lastK;
      let i = 0;
      const n = this.counts.length;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < n && this.above(l, m)) m = l;
        if (r < n && this.above(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}
