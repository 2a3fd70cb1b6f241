// SentencePiece-style BPE (Llama 2, llama2.c's tinyllamas) against ground truth: llama.cpp's
// llama-spm test vectors with the real 32k vocabulary from tokenizer.model, tokenizer.bin and a
// tokenizer.json converted the way Hugging Face converts it; llama2.c's algorithm transliterated
// naively (O(n²)) on seeded random strings; the stories260K reference output for decoding; and the
// errors a user sees for broken or unsupported files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizerFromJson } from '../../src/tokenizers/load.js';
import { loadTokenizerFromFile, loadTokenizerFromFolder } from '../../src/tokenizers/load-node.js';
import { PieceType, SentencePieceTokenizer } from '../../src/tokenizers/sentencepiece.js';
import {
  loadLlama2cTokenizer,
  loadSentencePieceModel,
  sniffTokenizerBytes,
} from '../../src/tokenizers/sentencepiece-load.js';
import { prng, readVocabVectors } from './gpt2-files.js';

const utf8 = new TextEncoder();
const shared = new URL('../../../shared/', import.meta.url);
const llamaModelPath = fileURLToPath(new URL('tokenizers/llama2/tokenizer.model', shared));
const llamaBinPath = fileURLToPath(new URL('tokenizers/llama2/tokenizer.bin', shared));
const tok512Path = fileURLToPath(new URL('models/stories260K-llama2c/tok512.bin', shared));
const greedyIdsPath = fileURLToPath(new URL('models/stories260K-llama2c/expected-greedy-ids.json', shared));
const greedyTextPath = fileURLToPath(new URL('models/stories260K-llama2c/expected-greedy.txt', shared));
const opusSpmPath = fileURLToPath(new URL('tokenizers/opus-mt-en-mg/source.spm', shared));

const llamaAbsent = !existsSync(llamaModelPath) || !existsSync(llamaBinPath);
const llamaAbsentMessage = `Llama 2 tokenizer files absent (${llamaModelPath}, tokenizer.bin): skipping`;
const tok512Absent = !existsSync(tok512Path);
const tok512AbsentMessage = `stories260K vocabulary absent (${tok512Path}): skipping`;

let llamaModel: SentencePieceTokenizer | undefined;
let llamaBin: SentencePieceTokenizer | undefined;
let tok512: SentencePieceTokenizer | undefined;
const fromModel = (): SentencePieceTokenizer =>
  (llamaModel ??= loadSentencePieceModel(readFileSync(llamaModelPath), llamaModelPath));
const fromBin = (): SentencePieceTokenizer =>
  (llamaBin ??= loadLlama2cTokenizer(readFileSync(llamaBinPath), llamaBinPath));
const stories = (): SentencePieceTokenizer =>
  (tok512 ??= loadLlama2cTokenizer(readFileSync(tok512Path), tok512Path));

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * llama2.c's encode(), transliterated as plainly as possible: dummy-prefix space, one symbol per
 * code point (byte fallback to id byte + 3), then repeatedly merge the best-scoring adjacent pair,
 * the first one on ties. O(n²): an independent check of the heap, the chunking and the cache.
 */
function llama2cEncode(tok: SentencePieceTokenizer, text: string): number[] {
  const lookup = (s: string): number | undefined => {
    const id = tok.tokenToId(s);
    // llama2.c looks every vocabulary string up; the <0xNN>, <unk>, <s> strings can only be
    // reached through text spelling them, which the random strings here never do.
    return id !== undefined && tok.tokenType(id) === PieceType.NORMAL ? id : undefined;
  };
  if (text === '') return [];
  const norm = '▁' + text.replaceAll(' ', '▁');
  const tokens: number[] = [];
  for (const ch of norm) {
    const id = lookup(ch);
    if (id !== undefined) tokens.push(id);
    else for (const b of utf8.encode(ch)) tokens.push(b + 3);
  }
  for (;;) {
    let best = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = lookup(tok.idToToken(tokens[i])! + tok.idToToken(tokens[i + 1])!);
      if (id !== undefined && tok.score(id)! > best) {
        best = tok.score(id)!;
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx < 0) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return tokens;
}

const FRAGMENTS = [
  'the',
  'The',
  ' quick',
  'brown',
  'fox',
  "don't",
  'naïve',
  'café',
  'Ünïcödé',
  'hello',
  'World',
  '42',
  '3.14159',
  '2024',
  '!!',
  '?',
  '...',
  '"',
  "'",
  '(',
  ')',
  '{',
  '}',
  '<',
  '>',
  '/',
  '\\',
  '#',
  '@',
  ' ',
  ' ',
  ' ',
  '  ',
  '   ',
  '\t',
  '\n',
  '\n\n',
  '\r\n',
  ' \n ',
  '\u00a0',
  '\u3000',
  '😀',
  '👍🏽',
  '👨‍👩‍👧',
  '🏳️‍🌈',
  '🇫🇷',
  '🤖',
  '中文',
  '日本語',
  '漢字',
  '한국어',
  '𠀀',
  '𝔘𝔫𝔦',
  'e\u0301',
  'a\u0308',
  'n\u0303\u0323',
  'Ελλάδα',
  'Москва',
  'مرحبا',
  'שלום',
  'हिन्दी',
  'ไทย',
  '\u200b',
  '\ufeff',
  '\u0000',
  '\u007f',
  'ǅ',
  'ﬁ',
  'Ⅻ',
];

/** A seeded random string of fragments, at most `maxLen` fragments long; never contains '▁'. */
function randomString(rand: () => number, maxLen = 24): string {
  const n = 1 + Math.floor(rand() * maxLen);
  let s = '';
  for (let i = 0; i < n; i++) {
    if (rand() < 0.15) {
      // A random code point (BMP or astral), skipping surrogates and U+2581.
      let cp = rand() < 0.8 ? Math.floor(rand() * 0xd800) : 0x10000 + Math.floor(rand() * 0x30000);
      if (cp === 0x2581) cp = 0x41;
      s += String.fromCodePoint(cp);
    } else s += FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)];
  }
  return s;
}

/** Checks encodeWithSpans against encode and the input's bytes (see encodeWithSpans' doc). */
function checkSpans(tok: SentencePieceTokenizer, text: string): void {
  const bytes = utf8.encode(text);
  const spans = tok.encodeWithSpans(text);
  const label = JSON.stringify(text);
  assert.deepEqual(
    spans.map((s) => s.id),
    Array.from(tok.encode(text)),
    label,
  );
  let pos = 0;
  spans.forEach((s, i) => {
    assert.equal(s.start, pos, `span ${i} starts where the last ended, ${label}`);
    assert.ok(s.end >= s.start, label);
    const covered = bytes.subarray(s.start, s.end);
    if (tok.tokenType(s.id) === PieceType.BYTE) {
      assert.deepEqual(Array.from(covered), Array.from(tok.decodeBytes([s.id])), `byte token ${i}, ${label}`);
    } else if (i === 0) {
      // The dummy prefix is in the first token but not in the input.
      assert.deepEqual(covered, tok.decodeBytes([s.id]), `first token, ${label}`);
    } else assert.deepEqual(covered, utf8.encode(s.text), `token ${i}, ${label}`);
    pos = s.end;
  });
  assert.equal(pos, bytes.length, `spans end at the last byte, ${label}`);
}

/** A tokenizer.json as Hugging Face's converter writes it for Llama 2, built from the SentencePiece model. */
function llamaTokenizerJson(
  tok: SentencePieceTokenizer,
  style: 'normalizer' | 'metaspace',
): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  for (let id = 0; id < tok.vocabSize; id++) vocab[tok.idToToken(id)!] = id;
  // Every way to write a piece as two pieces is a merge; merges ordered by the piece's score,
  // best first (a stable sort), and within one piece by the ids of its halves.
  const merges: { l: string; r: string; score: number }[] = [];
  for (let id = 0; id < tok.vocabSize; id++) {
    const piece = tok.idToToken(id)!;
    const local: { l: string; r: string; score: number }[] = [];
    const chars = Array.from(piece);
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join('');
      const r = chars.slice(k).join('');
      if (l in vocab && r in vocab) local.push({ l, r, score: tok.score(id)! });
    }
    local.sort((x, y) => vocab[x.l] - vocab[y.l] || vocab[x.r] - vocab[y.r]);
    merges.push(...local);
  }
  merges.sort((x, y) => y.score - x.score);
  const special = (id: number, content: string): Record<string, unknown> => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer:
      style === 'normalizer'
        ? {
            type: 'Sequence',
            normalizers: [
              { type: 'Prepend', prepend: '▁' },
              { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
            ],
          }
        : null,
    pre_tokenizer:
      style === 'metaspace'
        ? { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false }
        : null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges: merges.map((m) => `${m.l} ${m.r}`),
    },
  };
}

/** llama2.c's tokenizer.bin layout from pieces (with '▁') and scores, as its export script writes it. */
function llama2cBytes(pieces: string[], scores: number[]): Uint8Array {
  const strs = pieces.map((p, i) =>
    utf8.encode(i === 1 ? '\n<s>\n' : i === 2 ? '\n</s>\n' : p.replaceAll('▁', ' ')),
  );
  const maxLen = Math.max(...strs.map((s) => s.length));
  const out = new Uint8Array(4 + strs.reduce((n, s) => n + 8 + s.length, 0));
  const view = new DataView(out.buffer);
  view.setInt32(0, maxLen, true);
  let pos = 4;
  strs.forEach((s, i) => {
    view.setFloat32(pos, scores[i], true);
    view.setInt32(pos + 4, s.length, true);
    out.set(s, pos + 8);
    pos += 8 + s.length;
  });
  return out;
}

// A minimal protobuf writer for synthetic tokenizer.model files.
function varint(v: number): number[] {
  const out: number[] = [];
  let x = BigInt.asUintN(64, BigInt(v));
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return out;
}
const pbVarint = (field: number, v: number): number[] => [...varint(field << 3), ...varint(v)];
const pbBytes = (field: number, payload: ArrayLike<number>): number[] => [
  ...varint((field << 3) | 2),
  ...varint(payload.length),
  ...Array.from(payload),
];
const pbFloat = (field: number, v: number): number[] => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v, true);
  return [...varint((field << 3) | 5), ...b];
};

/** A ModelProto with these pieces; trainer/normalizer fields given as [field, value] varints. */
function modelProto(
  pieces: [string, number, number][],
  trainer: [number, number][] | null,
  normalizer: [number, number][] | null,
): Uint8Array {
  const out: number[] = [];
  for (const [piece, score, type] of pieces) {
    out.push(...pbBytes(1, [...pbBytes(1, utf8.encode(piece)), ...pbFloat(2, score), ...pbVarint(3, type)]));
  }
  if (trainer)
    out.push(
      ...pbBytes(
        2,
        trainer.flatMap(([f, v]) => pbVarint(f, v)),
      ),
    );
  if (normalizer) {
    out.push(
      ...pbBytes(3, [
        ...pbBytes(1, utf8.encode('identity')),
        ...normalizer.flatMap(([f, v]) => pbVarint(f, v)),
      ]),
    );
  }
  return Uint8Array.from(out);
}

/** A small BPE vocabulary: <unk> <s> </s>, the 256 byte pieces, then ordinary pieces by score. */
function smallVocab(ordinary: [string, number][]): [string, number, number][] {
  const pieces: [string, number, number][] = [
    ['<unk>', 0, PieceType.UNKNOWN],
    ['<s>', 0, PieceType.CONTROL],
    ['</s>', 0, PieceType.CONTROL],
  ];
  for (let b = 0; b < 256; b++)
    pieces.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0, PieceType.BYTE]);
  for (const [p, s] of ordinary) pieces.push([p, s, PieceType.NORMAL]);
  return pieces;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'glasslm-spm-'));
}

// ---------------------------------------------------------------------------------------------
// Real vocabularies against llama.cpp

const VECTORS = 'ggml-vocab-llama-spm.gguf';

function checkVectors(
  tok: SentencePieceTokenizer | ReturnType<typeof loadTokenizerFromJson>,
  label: string,
): void {
  const v = readVocabVectors(VECTORS)!;
  assert.equal(v.inputs.length, 46);
  assert.equal(v.expected.length, 46);
  for (let i = 0; i < v.inputs.length; i++) {
    const text = v.inputs[i];
    assert.deepEqual(
      Array.from(tok.encode(text)),
      v.expected[i],
      `${label}: vector ${i + 1}: ${JSON.stringify(text)}`,
    );
    assert.equal(tok.decode(tok.encode(text)), text, `${label}: round trip of vector ${i + 1}`);
  }
}

test('llama-spm vectors: no BOS in the expected ids, and the dummy prefix applies', (t) => {
  const v = readVocabVectors(VECTORS);
  if (llamaAbsent || v === undefined) return void t.skip(`${llamaAbsentMessage} (or test vectors absent)`);
  const tok = fromModel();
  // llama.cpp tokenized without adding BOS: no line starts with 1 (or has it anywhere).
  assert.ok(v.expected.every((ids) => !ids.includes(1)));
  // The empty string is no tokens (no dummy prefix on empty text).
  assert.deepEqual(v.expected[v.inputs.indexOf('')], []);
  // "Hello world" starts with "▁Hello": the dummy prefix; " Hello world" adds a lone "▁".
  const hello = v.expected[v.inputs.indexOf('Hello world')];
  assert.deepEqual(
    hello.map((id) => tok.idToToken(id)),
    ['▁Hello', '▁world'],
  );
  assert.deepEqual(
    v.expected[v.inputs.indexOf(' Hello world')].map((id) => tok.idToToken(id)),
    ['▁', '▁Hello', '▁world'],
  );
});

test('Llama 2 tokenizer.model: all 46 llama.cpp llama-spm vectors', (t) => {
  if (llamaAbsent || !readVocabVectors(VECTORS))
    return void t.skip(`${llamaAbsentMessage} (or test vectors absent)`);
  const tok = fromModel();
  assert.equal(tok.kind, 'sentencepiece');
  assert.equal(tok.vocabSize, 32000);
  assert.deepEqual(tok.specialTokens, { bos: 1, eos: 2, unk: 0 });
  assert.equal(tok.addDummyPrefix, true);
  assert.equal(tok.byteFallback, true);
  assert.equal(tok.removeExtraWhitespaces, false);
  checkVectors(tok, 'tokenizer.model');
});

test('Llama 2 tokenizer.bin (llama2.c export): all 46 llama.cpp llama-spm vectors', (t) => {
  if (llamaAbsent || !readVocabVectors(VECTORS))
    return void t.skip(`${llamaAbsentMessage} (or test vectors absent)`);
  const tok = fromBin();
  assert.equal(tok.vocabSize, 32000);
  assert.deepEqual(tok.specialTokens, { bos: 1, eos: 2, unk: 0 });
  assert.equal(tok.idToToken(1), '<s>');
  assert.equal(tok.idToToken(2), '</s>');
  assert.equal(tok.idToToken(13), '<0x0A>');
  assert.equal(tok.tokenType(13), PieceType.BYTE);
  checkVectors(tok, 'tokenizer.bin');
});

test('Llama 2 tokenizer.json (as Hugging Face converts it, both generations): all 46 vectors', (t) => {
  if (llamaAbsent || !readVocabVectors(VECTORS))
    return void t.skip(`${llamaAbsentMessage} (or test vectors absent)`);
  const model = fromModel();
  for (const style of ['normalizer', 'metaspace'] as const) {
    const json = llamaTokenizerJson(model, style);
    const tok = loadTokenizerFromJson(JSON.parse(JSON.stringify(json)), `tokenizer.json (${style})`);
    assert.equal(tok.kind, 'sentencepiece');
    assert.equal(tok.vocabSize, 32000);
    assert.deepEqual(tok.specialTokens, { bos: 1, eos: 2, unk: 0 });
    checkVectors(tok, `tokenizer.json (${style})`);
    // Rank order from the merges list agrees with score order on random text too.
    const rand = prng(11);
    for (let i = 0; i < 200; i++) {
      const s = randomString(rand);
      assert.deepEqual(tok.encode(s), model.encode(s), `${style}: ${JSON.stringify(s)}`);
    }
  }
  // Prepend normalizer: every stretch of text gets the dummy prefix, also after a special token
  // (as llama.cpp does); Metaspace with prepend_scheme "first": only the start of the text.
  const always = loadTokenizerFromJson(llamaTokenizerJson(model, 'normalizer'), 'a.json');
  const first = loadTokenizerFromJson(llamaTokenizerJson(model, 'metaspace'), 'f.json');
  assert.deepEqual(Array.from(always.encode('<s>Hello', { allowSpecial: true })), [1, 15043]);
  assert.deepEqual(
    Array.from(first.encode('<s>Hello', { allowSpecial: true })).map((id) => first.idToToken(id)),
    ['<s>', 'Hello'],
  );
});

test('Llama 2 tokenizer.json: unsupported normalizer, pre-tokenizer and decoder parts are named', (t) => {
  if (llamaAbsent) return void t.skip(llamaAbsentMessage);
  const model = fromModel();
  const base = (): Record<string, unknown> => llamaTokenizerJson(model, 'normalizer');
  const nfkc = base();
  (nfkc.normalizer as { normalizers: unknown[] }).normalizers.push({ type: 'NFKC' });
  assert.throws(() => loadTokenizerFromJson(nfkc, 'n.json'), {
    name: 'GlassError',
    code: 'UNSUPPORTED',
    message: /^n\.json: normalizer\.normalizers\[2\] \{"type":"NFKC"\} is not supported/,
  });
  const split = base();
  split.normalizer = null;
  split.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  assert.throws(() => loadTokenizerFromJson(split, 's.json'), {
    code: 'UNSUPPORTED',
    message: /s\.json: pre_tokenizer Metaspace with split = true/,
  });
  const byteLevel = base();
  byteLevel.pre_tokenizer = { type: 'ByteLevel' };
  assert.throws(() => loadTokenizerFromJson(byteLevel, 'b.json'), {
    code: 'UNSUPPORTED',
    message: /b\.json: pre_tokenizer "ByteLevel" is not supported for SentencePiece-style BPE/,
  });
  const noReplace = base();
  noReplace.normalizer = { type: 'Prepend', prepend: '▁' };
  assert.throws(() => loadTokenizerFromJson(noReplace, 'r.json'), {
    code: 'UNSUPPORTED',
    message: /r\.json: .*spaces are not turned into "▁"/,
  });
  const badMerge = base();
  (badMerge.model as { merges: string[] }).merges[3] = '▁ zzqqxx';
  assert.throws(() => loadTokenizerFromJson(badMerge, 'm.json'), {
    code: 'BAD_FILE',
    message: /m\.json: model\.merges\[3\] "▁ zzqqxx": token "zzqqxx" is not in the vocabulary/,
  });
  // No Prepend: no dummy prefix (as Gemma-style files do).
  const noPrefix = base();
  (noPrefix.normalizer as { normalizers: unknown[] }).normalizers.shift();
  const np = loadTokenizerFromJson(noPrefix, 'np.json');
  assert.deepEqual(
    Array.from(np.encode('Hello world')).map((id) => np.idToToken(id)),
    ['Hello', '▁world'],
  );
  assert.equal(np.decode(np.encode(' Hello')), ' Hello');
});

test('Llama 2: tokenizer.model and tokenizer.bin agree; both equal llama2.c’s naive encoder (seeded)', (t) => {
  if (llamaAbsent) return void t.skip(llamaAbsentMessage);
  const m = fromModel();
  const b = fromBin();
  for (let id = 0; id < m.vocabSize; id++) {
    assert.equal(b.idToToken(id), m.idToToken(id), `piece ${id}`);
    assert.equal(b.score(id), m.score(id), `score ${id}`);
    assert.equal(b.tokenType(id), m.tokenType(id), `type ${id}`);
  }
  const rand = prng(1);
  for (let i = 0; i < 300; i++) {
    const s = randomString(rand);
    const want = llama2cEncode(m, s);
    assert.deepEqual(Array.from(m.encode(s)), want, JSON.stringify(s));
    assert.deepEqual(Array.from(b.encode(s)), want, JSON.stringify(s));
  }
});

test('Llama 2 property: decode(encode(s)) === s and the incremental decoder never emits U+FFFD (seeded)', (t) => {
  if (llamaAbsent) return void t.skip(llamaAbsentMessage);
  const tok = fromModel();
  const rand = prng(2024);
  let byteTokens = 0;
  for (let i = 0; i < 500; i++) {
    const s = randomString(rand, 40);
    const ids = tok.encode(s);
    assert.equal(tok.decode(ids), s, JSON.stringify(s));
    const dec = tok.decoder({ atStart: true });
    let out = '';
    for (const id of ids) {
      if (tok.tokenType(id) === PieceType.BYTE) byteTokens++;
      const piece = dec.push(id);
      // U+FFFD appears in none of the inputs, so any in the output would be half a character.
      assert.ok(!piece.includes('\uFFFD'), `no U+FFFD mid-stream (${JSON.stringify(s)})`);
      out += piece;
    }
    out += dec.flush();
    assert.equal(out, s, `incremental = whole, ${JSON.stringify(s)}`);
  }
  assert.ok(byteTokens > 500, `byte fallback exercised (${byteTokens} byte tokens)`);
});

test('Llama 2: encodeWithSpans covers the input bytes in order; the dummy prefix is in the first token', (t) => {
  if (llamaAbsent) return void t.skip(llamaAbsentMessage);
  const tok = fromModel();
  const rand = prng(9);
  for (const s of [
    '',
    'Hello world',
    ' Hello',
    '  Hello',
    '\tx',
    '😀 中文 e\u0301',
    ...Array.from({ length: 200 }, () => randomString(rand)),
  ]) {
    checkSpans(tok, s);
  }
  assert.deepEqual(
    tok.encodeWithSpans(' Hello').map((s) => [s.text, s.start, s.end]),
    [
      [' ', 0, 0], // the dummy prefix alone: no input bytes
      [' Hello', 0, 6],
    ],
  );
  assert.deepEqual(
    tok.encodeWithSpans('Hi 😀').map((s) => [s.id, s.text, s.start, s.end]),
    [
      [6324, ' Hi', 0, 2],
      [29871, ' ', 2, 3],
      [243, '\uFFFD', 3, 4],
      [162, '\uFFFD', 4, 5],
      [155, '\uFFFD', 5, 6],
      [131, '\uFFFD', 6, 7],
    ],
  );
  assert.deepEqual(
    tok.encodeWithSpans('a<s>b', { allowSpecial: true }).map((s) => [s.text, s.start, s.end]),
    [
      [' a', 0, 1],
      ['<s>', 1, 4],
      [' b', 4, 5],
    ],
  );
});

test('Llama 2: control tokens are text unless allowSpecial; decode drops them', (t) => {
  if (llamaAbsent) return void t.skip(llamaAbsentMessage);
  const tok = fromModel();
  const plain = Array.from(tok.encode('<s>Hi</s>'));
  assert.ok(!plain.includes(1) && !plain.includes(2));
  assert.equal(tok.decode(plain), '<s>Hi</s>');
  assert.deepEqual(Array.from(tok.encode('<s>Hi</s>', { allowSpecial: true })), [1, 6324, 2]);
  assert.deepEqual(Array.from(tok.encode('Hi <unk>', { allowSpecial: true })), [6324, 29871, 0]);
  assert.equal(tok.decode([1, 6324, 2]), 'Hi');
  assert.equal(tok.decode([6324, 0]), 'Hi ⁇ ');
  assert.throws(() => tok.decode([32000]), { name: 'GlassError', code: 'BAD_INPUT', message: /32000/ });
  assert.throws(() => tok.decoder().push(-1), { name: 'GlassError', code: 'BAD_INPUT' });
  assert.equal(tok.idToToken(32000), undefined);
  assert.equal(tok.tokenToId('▁Hello'), 15043);
  // Lone surrogates encode as U+FFFD (as TextEncoder would).
  assert.deepEqual(tok.encode('a\uD800b'), tok.encode('a\uFFFDb'));
});

test('Llama 2: the leading space of the dummy prefix on decode', (t) => {
  if (llamaAbsent) return void t.skip(llamaAbsentMessage);
  const tok = fromModel();
  // decode() starts a text: one leading space goes, from the first token that shows text.
  assert.equal(tok.decode([15043, 3186]), 'Hello world');
  assert.equal(tok.decode([1, 15043, 3186]), 'Hello world');
  assert.equal(tok.decode([29871, 15043]), ' Hello');
  assert.equal(tok.decode([13, 15043]), '\n Hello'); // a byte token first: nothing to drop
  // After a BOS a new text starts (llama2.c's rule), so its dummy prefix goes too.
  assert.equal(tok.decode([15043, 2, 1, 3186]), 'Helloworld');
  // decoder(): by default the ids continue a text (generated tokens after a prompt).
  const cont = tok.decoder();
  assert.equal(cont.push(15043) + cont.push(3186) + cont.flush(), ' Hello world');
  const fresh = tok.decoder({ atStart: true });
  assert.equal(fresh.push(15043) + fresh.push(3186) + fresh.flush(), 'Hello world');
  const afterBos = tok.decoder();
  assert.equal(afterBos.push(1) + afterBos.push(15043) + afterBos.flush(), 'Hello');
  // A character split over byte tokens: nothing until it is complete; flush shows leftovers as U+FFFD.
  const cut = tok.decoder();
  assert.equal(cut.push(243), '');
  assert.equal(cut.push(162), '');
  assert.equal(cut.flush(), '\uFFFD');
  assert.equal(tok.decode([243]), '\uFFFD');
  assert.deepEqual(Array.from(tok.decodeBytes([29871, 243, 162, 155, 131])), Array.from(utf8.encode('😀')));
});

test('Llama 2: long inputs (merge loop is O(n log n), chunks cached)', (t) => {
  if (llamaAbsent) return void t.skip(llamaAbsentMessage);
  const tok = fromModel();
  const rand = prng(5);
  const parts: string[] = [];
  for (let i = 0; i < 20_000; i++) parts.push(randomString(rand, 4));
  for (const s of [' '.repeat(100_000), 'a'.repeat(100_000), '中'.repeat(50_000), parts.join('')]) {
    const ids = tok.encode(s);
    assert.equal(tok.decode(ids), s);
  }
  // A 300-character word: the heap result equals the naive scan.
  const word = Array.from({ length: 300 }, () => 'abcde'[Math.floor(rand() * 5)]).join('');
  assert.deepEqual(Array.from(tok.encode(word)), llama2cEncode(tok, word));
});

// ---------------------------------------------------------------------------------------------
// stories260K (llama2.c's tok512.bin)

test('tok512.bin: prompts encode as llama2.c does; greedy reference output decodes exactly', (t) => {
  if (tok512Absent) return void t.skip(tok512AbsentMessage);
  const tok = stories();
  assert.equal(tok.vocabSize, 512);
  assert.deepEqual(tok.specialTokens, { bos: 1, eos: 2, unk: 0 });
  for (let b = 0; b < 256; b++)
    assert.equal(tok.idToToken(3 + b), `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  // llama2.c prepends the dummy-prefix space; the caller adds BOS.
  const once = Array.from(tok.encode('Once upon a time'));
  assert.deepEqual(
    once.map((id) => tok.idToToken(id)),
    ['▁Once', '▁upon', '▁a', '▁time'],
  );
  assert.deepEqual(once, llama2cEncode(tok, 'Once upon a time'));
  const spaced = Array.from(tok.encode(' Once upon a time'));
  assert.deepEqual(spaced, llama2cEncode(tok, ' Once upon a time'));
  assert.deepEqual(
    spaced.map((id) => tok.idToToken(id)),
    ['▁', '▁Once', '▁upon', '▁a', '▁time'],
  );
  assert.equal(tok.decode([1, ...once]), 'Once upon a time');
  assert.equal(tok.decode(spaced), ' Once upon a time');
  // The reference greedy continuation from BOS begins with the same four tokens.
  if (existsSync(greedyIdsPath) && existsSync(greedyTextPath)) {
    const ids = JSON.parse(readFileSync(greedyIdsPath, 'utf8')) as number[];
    assert.deepEqual(ids.slice(0, 4), once);
    assert.equal(tok.decode(ids), readFileSync(greedyTextPath, 'utf8').replace(/\n$/, ''));
    const dec = tok.decoder();
    let out = dec.push(1);
    for (const id of ids) out += dec.push(id);
    assert.equal(out + dec.flush(), tok.decode(ids));
  } else t.diagnostic(`greedy reference absent at ${greedyIdsPath}: not checked`);
});

test('tok512.bin: byte fallback round-trips emoji, CJK and more; equals the naive encoder (seeded)', (t) => {
  if (tok512Absent) return void t.skip(tok512AbsentMessage);
  const tok = stories();
  const emoji = Array.from(tok.encode('😀'));
  assert.deepEqual(
    emoji.map((id) => tok.idToToken(id)),
    ['▁', '<0xF0>', '<0x9F>', '<0x98>', '<0x80>'],
  );
  for (const s of ['😀 中文 👨‍👩‍👧', '日本語のテキスト', 'e\u0301 Ελλάδα 𠀀', 'Tom said: "héllo"\n\n\tbye']) {
    assert.equal(tok.decode(tok.encode(s)), s);
  }
  const rand = prng(3);
  for (let i = 0; i < 300; i++) {
    const s = randomString(rand);
    assert.deepEqual(Array.from(tok.encode(s)), llama2cEncode(tok, s), JSON.stringify(s));
    assert.equal(tok.decode(tok.encode(s)), s);
    checkSpans(tok, s);
  }
});

// ---------------------------------------------------------------------------------------------
// Built from plain arrays (what the GGUF loader does)

test('constructor from arrays: score-ordered merges, leftmost on ties, unk runs, byte fallback', () => {
  const v = smallVocab([
    ['▁', -1],
    ['a', -2],
    ['b', -3],
    ['ab', -10],
    ['ba', -10],
    ['▁ab', -20],
    ['c', -4],
  ]);
  const tok = new SentencePieceTokenizer({
    name: 'tiny',
    pieces: v.map((p) => p[0]),
    scores: v.map((p) => p[1]),
    types: v.map((p) => p[2]),
  });
  const show = (s: string): string[] => Array.from(tok.encode(s)).map((id) => tok.idToToken(id)!);
  // "▁aba": ab and ba score the same; the leftmost (ab) merges first, then ▁ab.
  assert.deepEqual(show('aba'), ['▁ab', 'a']);
  assert.deepEqual(show('bab'), ['▁', 'ba', 'b']);
  // Missing characters fall back to bytes.
  assert.deepEqual(show('é'), ['▁', '<0xC3>', '<0xA9>']);
  assert.equal(tok.decode(tok.encode('abé c')), 'abé c');
  // Without byte fallback: one <unk> for a run of unknown characters (SentencePiece fuses them).
  const noBytes = new SentencePieceTokenizer({
    pieces: v.map((p) => p[0]),
    scores: v.map((p) => p[1]),
    types: v.map((p) => p[2]),
    byteFallback: false,
  });
  assert.deepEqual(
    Array.from(noBytes.encode('aéé€b')).map((id) => noBytes.idToToken(id)),
    ['▁', 'a', '<unk>', 'b'],
  );
  assert.deepEqual(
    noBytes.encodeWithSpans('aéé€b').map((s) => [s.text, s.start, s.end]),
    [
      [' ', 0, 0],
      ['a', 0, 1],
      [' ⁇ ', 1, 8],
      ['b', 8, 9],
    ],
  );
  assert.equal(noBytes.decode(noBytes.encode('aé')), 'a ⁇ ');
  // Types inferred when absent: <0xNN> bytes, <unk>/<s>/</s> by name.
  const inferred = new SentencePieceTokenizer({ pieces: v.map((p) => p[0]), scores: v.map((p) => p[1]) });
  assert.deepEqual(inferred.specialTokens, { bos: 1, eos: 2, unk: 0 });
  assert.deepEqual(
    Array.from({ length: v.length }, (_, id) => inferred.tokenType(id)),
    v.map((p) => p[2]),
  );
});

test('constructor from arrays: user-defined pieces always match; unused pieces are split back', () => {
  const v = smallVocab([
    ['▁', -1],
    ['a', -2],
    ['b', -3],
    ['ab', -4],
    ['▁ab', -5],
  ]);
  v.push(['<|x|>', 0, PieceType.USER_DEFINED]);
  const tok = new SentencePieceTokenizer({
    pieces: v.map((p) => p[0]),
    scores: v.map((p) => p[1]),
    types: v.map((p) => p[2]),
  });
  const show = (s: string, allowSpecial = false): string[] =>
    Array.from(tok.encode(s, { allowSpecial })).map((id) => tok.idToToken(id)!);
  assert.deepEqual(show('ab<|x|>ab'), ['▁ab', '<|x|>', '▁ab']);
  assert.deepEqual(show('<s>ab'), ['▁', '<0x3C>', '<0x73>', '<0x3E>', 'ab']);
  assert.deepEqual(show('<s>ab', true), ['<s>', '▁ab']);
  assert.equal(tok.decode(tok.encode('ab<|x|>ab')), 'ab<|x|> ab');

  // "ab" unused: merged through (so ▁ab can form) but, if it is what remains, split back.
  const types = v.map((p) => p[2]);
  types[v.findIndex((p) => p[0] === 'ab')] = PieceType.UNUSED;
  const unused = new SentencePieceTokenizer({
    pieces: v.map((p) => p[0]),
    scores: v.map((p) => p[1]),
    types,
  });
  const showU = (s: string): string[] => Array.from(unused.encode(s)).map((id) => unused.idToToken(id)!);
  assert.deepEqual(showU('ab'), ['▁ab']);
  assert.deepEqual(showU('aab'), ['▁', 'a', 'a', 'b']);
  assert.equal(unused.decode(unused.encode('aab ab')), 'aab ab');
});

test('constructor from arrays: a vocabulary with "▁" inside pieces is merged whole, not in chunks', () => {
  const v = smallVocab([
    ['▁', -1],
    ['a', -2],
    ['b', -3],
    ['a▁', -4],
    ['a▁b', -5],
  ]);
  const tok = new SentencePieceTokenizer({ pieces: v.map((p) => p[0]), scores: v.map((p) => p[1]) });
  assert.deepEqual(
    Array.from(tok.encode('a b')).map((id) => tok.idToToken(id)),
    ['▁', 'a▁b'],
  );
  checkSpans(tok, 'a b a  b');
});

test('constructor from arrays: removeExtraWhitespaces, no dummy prefix, bad arrays', () => {
  const v = smallVocab([
    ['▁', -1],
    ['a', -2],
    ['▁a', -3],
  ]);
  const pieces = v.map((p) => p[0]);
  const scores = v.map((p) => p[1]);
  const squeeze = new SentencePieceTokenizer({ pieces, scores, removeExtraWhitespaces: true });
  const show = (tok: SentencePieceTokenizer, s: string): string[] =>
    Array.from(tok.encode(s)).map((id) => tok.idToToken(id)!);
  assert.deepEqual(show(squeeze, '   a    a  '), ['▁a', '▁a']);
  assert.deepEqual(show(squeeze, '   '), []);
  assert.deepEqual(
    squeeze.encodeWithSpans('  a   a ').map((s) => [s.start, s.end]),
    [
      [2, 3],
      [3, 7],
    ],
  );
  const bare = new SentencePieceTokenizer({ pieces, scores, addDummyPrefix: false });
  assert.deepEqual(show(bare, 'a a'), ['a', '▁a']);
  assert.equal(bare.decode(bare.encode(' a')), ' a'); // no dummy prefix: no space dropped

  assert.throws(() => new SentencePieceTokenizer({ name: 'x', pieces, scores: scores.slice(1) }), {
    name: 'GlassError',
    code: 'BAD_FILE',
    message: /^x: 261 scores for 262 pieces/,
  });
  assert.throws(() => new SentencePieceTokenizer({ name: 'x', pieces, scores, types: pieces.map(() => 9) }), {
    code: 'BAD_FILE',
    message: /^x: piece 0 "<unk>" has token type 9/,
  });
  assert.throws(() => new SentencePieceTokenizer({ name: 'x', pieces, scores, bos: 999 }), {
    code: 'BAD_FILE',
    message: /^x: bos id 999 is outside the vocabulary/,
  });
  assert.throws(() => new SentencePieceTokenizer({ name: 'x', pieces: ['a', 'b'], scores: [0, 0] }), {
    code: 'BAD_FILE',
    message: /^x: the vocabulary has no unknown piece and no byte pieces/,
  });
});

// ---------------------------------------------------------------------------------------------
// Files: formats, detection, errors

test('tokenizer.model (synthetic protobuf): BPE loads; unigram and others are UNSUPPORTED', (t) => {
  const v = smallVocab([
    ['▁', -1],
    ['a', -2],
    ['▁a', -3],
  ]);
  const bpe = [
    [3, 2],
    [35, 1],
  ] as [number, number][];
  const tok = loadSentencePieceModel(modelProto(v, bpe, [[4, 0]]), 'spm.model');
  assert.deepEqual(
    Array.from(tok.encode('a a')).map((id) => tok.idToToken(id)),
    ['▁a', '▁a'],
  );
  assert.equal(tok.removeExtraWhitespaces, false);
  // No normalizer_spec: the proto defaults, add_dummy_prefix and remove_extra_whitespaces both true.
  const defaults = loadSentencePieceModel(modelProto(v, bpe, null), 'spm.model');
  assert.equal(defaults.addDummyPrefix, true);
  assert.equal(defaults.removeExtraWhitespaces, true);
  const noPrefix = loadSentencePieceModel(
    modelProto(v, bpe, [
      [3, 0],
      [4, 0],
    ]),
    'spm.model',
  );
  assert.deepEqual(
    Array.from(noPrefix.encode('a a')).map((id) => noPrefix.idToToken(id)),
    ['a', '▁a'],
  );
  // pad_id -1 is a 10-byte varint; bos_id -1 means no BOS.
  const noBos = loadSentencePieceModel(modelProto(v, [...bpe, [41, -1], [43, -1]], [[4, 0]]), 'spm.model');
  assert.deepEqual(noBos.specialTokens, { eos: 2, unk: 0 });
  assert.equal(sniffTokenizerBytes(modelProto(v, bpe, null)), 'sentencepiece');

  for (const [trainer, what] of [
    [[[3, 1]], 'unigram'],
    [null, 'unigram'],
    [[[3, 3]], 'word'],
    [[[3, 4]], 'char'],
  ] as [[number, number][] | null, string][]) {
    assert.throws(() => loadSentencePieceModel(modelProto(v, trainer, null), 'uni.model'), {
      name: 'GlassError',
      code: 'UNSUPPORTED',
      message: new RegExp(`^uni\\.model: trainer_spec\\.model_type: not supported yet: ${what}`),
    });
  }
  const good = modelProto(v, bpe, null);
  assert.throws(() => loadSentencePieceModel(good.subarray(0, good.length - 3), 'cut.model'), {
    code: 'BAD_FILE',
    message: /^cut\.model: ModelProto\.trainer_spec: length \d+ at byte \d+ runs past the end of its message/,
  });
  assert.throws(() => loadSentencePieceModel(good.subarray(0, 100), 'cut.model'), {
    code: 'BAD_FILE',
    message: /^cut\.model: ModelProto\.pieces: length \d+ at byte \d+ runs past the end/,
  });
  assert.throws(() => loadSentencePieceModel(utf8.encode('{"model": {}}'), 'x.model'), {
    code: 'BAD_FILE',
    message: /^x\.model: /,
  });
  if (existsSync(opusSpmPath)) {
    // A real unigram model (Marian's opus-mt).
    assert.throws(() => loadSentencePieceModel(readFileSync(opusSpmPath), opusSpmPath), {
      code: 'UNSUPPORTED',
      message: /source\.spm: trainer_spec\.model_type: not supported yet: unigram/,
    });
  } else t.diagnostic(`real unigram model absent at ${opusSpmPath}: synthetic ones only`);
});

test('tokenizer.bin: truncated or malformed files are BAD_FILE naming the file and token', (t) => {
  const v = smallVocab([
    ['▁', -1],
    ['a', -2],
    ['▁a', -3],
  ]);
  const bytes = llama2cBytes(
    v.map((p) => p[0]),
    v.map((p) => p[1]),
  );
  const tok = loadLlama2cTokenizer(bytes, 'tok.bin');
  assert.deepEqual(tok.specialTokens, { bos: 1, eos: 2, unk: 0 });
  assert.deepEqual(Array.from(tok.encode('a')), [261]);
  assert.equal(sniffTokenizerBytes(bytes), 'llama2c');
  assert.throws(() => loadLlama2cTokenizer(bytes, 'tok.bin', { vocabSize: 512 }), {
    code: 'BAD_FILE',
    message: /^tok\.bin: 262 tokens, but the model's vocabulary size is 512/,
  });

  // Token 260 is "▁" (written as one space): score at 4 + ..., find its offset.
  let pos = 4;
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 260; i++) pos += 8 + view.getInt32(pos + 4, true);
  assert.throws(() => loadLlama2cTokenizer(bytes.subarray(0, pos + 5), 'tok.bin'), {
    name: 'GlassError',
    code: 'BAD_FILE',
    message: /^tok\.bin: truncated at token 260 \(byte \d+\)/,
  });
  assert.throws(() => loadLlama2cTokenizer(bytes.subarray(0, bytes.length - 1), 'tok.bin'), {
    code: 'BAD_FILE',
    message: /^tok\.bin: truncated in token 261: its 2 bytes run past the end of the file \(1 left\)/,
  });
  assert.throws(() => loadLlama2cTokenizer(bytes.subarray(0, 2), 'tok.bin'), {
    code: 'BAD_FILE',
    message: /^tok\.bin: 2 bytes, too short/,
  });
  const badLen = bytes.slice();
  new DataView(badLen.buffer).setInt32(pos + 4, 1000, true);
  assert.throws(() => loadLlama2cTokenizer(badLen, 'tok.bin'), {
    code: 'BAD_FILE',
    message: /^tok\.bin: token 260 \(byte \d+\) has length 1000, outside 0\.\.max_token_length 6/,
  });
  const badHeader = bytes.slice();
  new DataView(badHeader.buffer).setInt32(0, -5, true);
  assert.throws(() => loadLlama2cTokenizer(badHeader, 'tok.bin'), {
    code: 'BAD_FILE',
    message: /^tok\.bin: max_token_length is -5/,
  });

  if (tok512Absent) return void t.skip(`${tok512AbsentMessage} (real-file truncation not checked)`);
  const real = readFileSync(tok512Path);
  assert.throws(() => loadLlama2cTokenizer(real.subarray(0, real.length - 3), tok512Path), {
    code: 'BAD_FILE',
    message: /tok512\.bin: truncated in token 511/,
  });
});

test('loadTokenizerFromFile and loadTokenizerFromFolder find SentencePiece files by name and content', async (t) => {
  const dir = tempDir();
  try {
    const v = smallVocab([
      ['▁', -1],
      ['a', -2],
      ['▁a', -3],
    ]);
    const proto = modelProto(
      v,
      [
        [3, 2],
        [35, 1],
      ],
      [[4, 0]],
    );
    const bin = llama2cBytes(
      v.map((p) => p[0]),
      v.map((p) => p[1]),
    );
    writeFileSync(join(dir, 'tokenizer.model'), proto);
    writeFileSync(join(dir, 'mystery1'), proto);
    writeFileSync(join(dir, 'tokenizer.bin'), bin);
    writeFileSync(join(dir, 'mystery2'), bin);
    writeFileSync(join(dir, 'garbage'), 'just some text');
    for (const f of ['tokenizer.model', 'mystery1', 'tokenizer.bin', 'mystery2']) {
      const tok = await loadTokenizerFromFile(join(dir, f));
      assert.equal(tok.kind, 'sentencepiece', f);
      assert.deepEqual(Array.from(tok.encode('a a')), [261, 261], f);
    }
    await assert.rejects(loadTokenizerFromFile(join(dir, 'garbage')), {
      code: 'BAD_FILE',
      message: /garbage: not a tokenizer file/,
    });
    await assert.rejects(loadTokenizerFromFile(join(dir, 'absent.model')), {
      code: 'NOT_FOUND',
      message: /absent\.model: no such file/,
    });
    // The folder: tokenizer.model (there is no tokenizer.json).
    assert.equal((await loadTokenizerFromFolder(dir)).kind, 'sentencepiece');
    rmSync(join(dir, 'tokenizer.model'));
    assert.equal((await loadTokenizerFromFolder(dir)).kind, 'sentencepiece'); // tokenizer.bin
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  if (llamaAbsent || tok512Absent) return void t.skip(`${llamaAbsentMessage} / ${tok512AbsentMessage}`);
  const real = tempDir();
  try {
    assert.equal((await loadTokenizerFromFile(llamaModelPath)).vocabSize, 32000);
    assert.equal((await loadTokenizerFromFile(llamaBinPath)).vocabSize, 32000);
    copyFileSync(tok512Path, join(real, 'tok512.bin'));
    const tok = await loadTokenizerFromFolder(real); // llama2.c's tokNNN.bin naming
    assert.equal(tok.vocabSize, 512);
    writeFileSync(
      join(real, 'tokenizer.json'),
      JSON.stringify(llamaTokenizerJson(fromModel(), 'normalizer')),
    );
    const fromJson = await loadTokenizerFromFolder(real); // tokenizer.json wins
    assert.equal(fromJson.vocabSize, 32000);
    assert.deepEqual(fromJson.encode('Hello world'), fromModel().encode('Hello world'));
  } finally {
    rmSync(real, { recursive: true, force: true });
  }
});
