// Word-vector files, read from and written to bytes (browser-safe; load-node.ts adds paths).
//
// word2vec text (word2vec.c -binary 0, gensim binary=False): a header line "V dim", then per word a line
//   word v_1 v_2 … v_dim
// word2vec binary (-binary 1, gensim binary=True): the same header, then per word its UTF-8 bytes, one
// space, dim float32 little-endian, and "\n" (word2vec.c writes the "\n"; gensim writes none — the reader
// skips whitespace before each word, so both load).
// GloVe text: as word2vec text without the header line; dim is the first line's count of numbers.
//
// Rows are written in the order given (trainers pass words by count descending, as word2vec.c and gensim
// write them). Text values are the shortest decimals that read back as the same float32, so a text file
// loads back bit-identical to the binary one.
import { GlassError } from '../util/errors.js';
import type { WordVectors } from './vectors.js';

export type VectorFormat = 'text' | 'binary' | 'glove';

const utf8 = new TextDecoder('utf-8');

/** The shortest decimal that parses back to the same float32 (6–9 significant digits). */
function float32Text(x: number): string {
  if (Object.is(x, -0)) return '-0';
  for (let p = 6; p < 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(Number(x.toPrecision(9)));
}

export function writeText(wv: WordVectors): string {
  const lines = [`${wv.words.length} ${wv.dim}`];
  wv.words.forEach((w, i) => {
    const row: string[] = [w];
    for (let k = 0; k < wv.dim; k++) row.push(float32Text(wv.vectors[i * wv.dim + k]!));
    lines.push(row.join(' '));
  });
  return lines.join('\n') + '\n';
}

export function writeBinary(wv: WordVectors): Uint8Array {
  const enc = new TextEncoder();
  const header = enc.encode(`${wv.words.length} ${wv.dim}\n`);
  const names = wv.words.map((w) => enc.encode(w + ' '));
  const size = header.length + names.reduce((s, n) => s + n.length + wv.dim * 4 + 1, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(header, 0);
  let p = header.length;
  names.forEach((n, i) => {
    out.set(n, p);
    p += n.length;
    for (let k = 0; k < wv.dim; k++, p += 4) view.setFloat32(p, wv.vectors[i * wv.dim + k]!, true);
    out[p++] = 10;
  });
  return out;
}

/** Whether bytes are whitespace (space, tab, CR, LF). */
const isSpace = (b: number): boolean => b === 32 || b === 10 || b === 13 || b === 9;

/**
 * Which format the bytes are: a "V dim" first line → word2vec, binary unless the next line is a word and
 * exactly dim numbers; otherwise GloVe.
 */
export function detectFormat(bytes: Uint8Array): VectorFormat {
  const nl = bytes.indexOf(10);
  const first = utf8
    .decode(bytes.subarray(0, nl < 0 ? bytes.length : nl))
    .trim()
    .split(/\s+/);
  if (first.length !== 2 || !first.every((t) => /^\d+$/.test(t))) return 'glove';
  const dim = Number(first[1]);
  const nl2 = bytes.indexOf(10, nl + 1);
  const second = utf8
    .decode(bytes.subarray(nl + 1, nl2 < 0 ? bytes.length : nl2))
    .trim()
    .split(/\s+/);
  const numeric = second.slice(1).every((t) => t !== '' && Number.isFinite(Number(t)));
  return second.length === dim + 1 && numeric ? 'text' : 'binary';
}

/** Reads a vectors file of any of the three formats (detected unless given). */
export function parseVectors(bytes: Uint8Array, format: VectorFormat = detectFormat(bytes)): WordVectors {
  if (format === 'binary') return parseBinary(bytes);
  const lines = utf8.decode(bytes).split('\n');
  let start = 0;
  let count = -1;
  let dim = -1;
  if (format === 'text') {
    [count, dim] = lines[0]!.trim().split(/\s+/).map(Number) as [number, number];
    start = 1;
  }
  const words: string[] = [];
  const values: number[] = [];
  for (let i = start; i < lines.length; i++) {
    const t = lines[i]!.trim().split(/[ \t]+/);
    if (t.length === 1 && t[0] === '') continue; // blank line (the last one)
    if (dim < 0) dim = t.length - 1; // GloVe: the first row tells the size
    if (t.length !== dim + 1) {
      throw new GlassError('BAD_FILE', `vectors: line ${i + 1} has ${t.length - 1} numbers, expected ${dim}`);
    }
    words.push(t[0]!);
    for (let k = 1; k <= dim; k++) values.push(Number(t[k]));
  }
  if (count >= 0 && words.length !== count) {
    throw new GlassError('BAD_FILE', `vectors: the header says ${count} words, the file has ${words.length}`);
  }
  return { words, dim, vectors: Float32Array.from(values) };
}

function parseBinary(bytes: Uint8Array): WordVectors {
  const nl = bytes.indexOf(10);
  const [count, dim] = utf8.decode(bytes.subarray(0, nl)).trim().split(/\s+/).map(Number) as [number, number];
  const vectors = new Float32Array(count * dim);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words: string[] = [];
  let p = nl + 1;
  for (let i = 0; i < count; i++) {
    while (p < bytes.length && isSpace(bytes[p]!)) p++; // the "\n" word2vec.c writes after a vector
    const end = bytes.indexOf(32, p);
    if (end < 0 || end + 1 + dim * 4 > bytes.length) {
      throw new GlassError('BAD_FILE', `vectors: binary file ends inside word ${i + 1} of ${count}`);
    }
    words.push(utf8.decode(bytes.subarray(p, end)));
    p = end + 1;
    for (let k = 0; k < dim; k++, p += 4) vectors[i * dim + k] = view.getFloat32(p, true);
  }
  return { words, dim, vectors };
}

// word2vec.c's vocabulary file (-save-vocab / -read-vocab; gensim's `fvocab`): one word per line, a space,
// its corpus count — "word count". word2vec.c also writes the sentence marker </s> (count = lines) first;
// glasslm's trainer has no such word and writes the real words only, most frequent first. The reader skips
// </s>, so both load.

/** The vocabulary as word2vec.c's -save-vocab writes it: "word count" lines. */
export function writeVocab(words: readonly string[], counts: readonly number[]): string {
  if (words.length !== counts.length) throw new Error('writeVocab: one count per word');
  return words.map((w, i) => `${w} ${counts[i]}\n`).join('');
}

/** Reads "word count" lines (word2vec.c -save-vocab) into word → count; </s> is skipped. */
export function parseVocab(text: string, name = 'vocab'): Map<string, number> {
  const counts = new Map<string, number>();
  text.split('\n').forEach((line, i) => {
    const t = line.trim().split(/[ \t]+/);
    if (t.length === 1 && t[0] === '') return;
    const n = Number(t[1]);
    if (t.length !== 2 || !Number.isInteger(n) || n < 0) {
      throw new GlassError('BAD_FILE', `${name}: line ${i + 1} is not "word count"`);
    }
    if (t[0] !== '</s>') counts.set(t[0]!, n);
  });
  return counts;
}
