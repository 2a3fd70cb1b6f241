// Byte-level BPE against ground truth: llama.cpp's GPT-2 test vectors, and tiktoken's `gpt2`
// encoding on a megabyte of mixed text and on seeded random strings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { get_encoding, type Tiktoken } from 'tiktoken';
import { compilePretokenizerPattern, GPT2_PATTERN, BYTE_TO_UNICODE } from '../../src/tokenizers/bpe.js';
import type { Tokenizer } from '../../src/tokenizers/tokenizer.js';
import { gpt2, gpt2Absent, gpt2AbsentMessage, prng, vectorsDir } from './gpt2-files.js';

const utf8 = new TextEncoder();

function withTiktoken<T>(f: (enc: Tiktoken) => T): T {
  const enc = get_encoding('gpt2');
  try {
    return f(enc);
  } finally {
    enc.free();
  }
}

/** Compares our ids with tiktoken's chunk by chunk, reporting the first chunk that differs. */
function compareChunks(
  tok: Tokenizer,
  enc: Tiktoken,
  text: string,
  label: string,
  chunkChars = 10_000,
): number {
  let tokens = 0;
  for (let at = 0; at < text.length; at += chunkChars) {
    let end = Math.min(text.length, at + chunkChars);
    // Do not cut a surrogate pair in half (that would compare two lone surrogates, a different test).
    if (end < text.length && /[\uD800-\uDBFF]/.test(text[end - 1])) end++;
    const chunk = text.slice(at, end);
    const ours = tok.encode(chunk, { allowSpecial: false });
    const theirs = enc.encode_ordinary(chunk);
    if (ours.length !== theirs.length || ours.some((id, i) => id !== theirs[i])) {
      let i = 0;
      while (i < ours.length && ours[i] === theirs[i]) i++;
      assert.fail(
        `${label}: chunk at char ${at} differs at token ${i}: ours ${JSON.stringify(Array.from(ours.slice(i, i + 8)))} ` +
          `tiktoken ${JSON.stringify(Array.from(theirs.slice(i, i + 8)))} near ${JSON.stringify(tok.decode(theirs.slice(Math.max(0, i - 3), i + 5)))}`,
      );
    }
    tokens += ours.length;
    at = end - chunkChars;
  }
  return tokens;
}

test('GPT-2: the byte-to-unicode map', () => {
  assert.equal(BYTE_TO_UNICODE.length, 256);
  assert.equal(new Set(BYTE_TO_UNICODE).size, 256);
  assert.equal(BYTE_TO_UNICODE[0x20], 'Ġ');
  assert.equal(BYTE_TO_UNICODE[0x0a], 'Ċ');
  assert.equal(BYTE_TO_UNICODE[0x41], 'A');
  assert.equal(BYTE_TO_UNICODE[0xad], 'Ń');
  assert.equal(BYTE_TO_UNICODE[0xff], 'ÿ');
});

test('GPT-2: all 46 llama.cpp test vectors', async (t) => {
  const inp = join(vectorsDir, 'ggml-vocab-gpt-2.gguf.inp');
  const out = join(vectorsDir, 'ggml-vocab-gpt-2.gguf.out');
  if (gpt2Absent || !existsSync(inp) || !existsSync(out)) {
    t.skip(`${gpt2AbsentMessage} (or test vectors absent at ${inp})`);
    return;
  }
  const tok = await gpt2();
  // Every string is followed by "\n__ggml_vocab_test__\n", the last one included.
  const sep = '\n__ggml_vocab_test__\n';
  const raw = readFileSync(inp, 'utf8');
  assert.ok(raw.endsWith(sep), 'the .inp file ends with the separator');
  const inputs = raw.slice(0, -sep.length).split(sep);
  const expected = readFileSync(out, 'utf8').replace(/\n$/, '').split('\n');
  assert.equal(inputs.length, 46);
  assert.equal(expected.length, 46);
  for (let i = 0; i < inputs.length; i++) {
    const want = expected[i].trim() === '' ? [] : expected[i].trim().split(' ').map(Number);
    assert.deepEqual(
      Array.from(tok.encode(inputs[i])),
      want,
      `vector ${i + 1}: ${JSON.stringify(inputs[i])}`,
    );
    assert.equal(tok.decode(tok.encode(inputs[i])), inputs[i], `round trip of vector ${i + 1}`);
  }
});

/** The King James Bible as plain text, from Debian's bible-kjv(-text) packages, or undefined. */
function kjvText(): string | undefined {
  if (!existsSync('/usr/lib/bible.data')) return undefined;
  try {
    // The data file is compressed in the package's own format; its `bible` program prints it.
    // -f turns pretty-printing off: one verse per line.
    return execFileSync('bible', ['-f', 'Gen1:1-Rev22:21'], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      timeout: 20_000,
    });
  } catch {
    return undefined;
  }
}

test('GPT-2 equals tiktoken: English prose (King James Bible, 1 MB)', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const text = kjvText();
  if (text === undefined || text.length < 1_000_000) {
    t.skip(
      'bible text absent: Debian packages bible-kjv-text and bible-kjv (/usr/lib/bible.data, /usr/bin/bible) are not installed',
    );
    return;
  }
  const tok = await gpt2();
  // 1 MB from the start and a slice from the middle (psalms: short lines, lots of punctuation).
  const prose = text.slice(0, 700_000) + text.slice(2_000_000, 2_350_000);
  const n = withTiktoken((enc) => compareChunks(tok, enc, prose, 'KJV'));
  assert.ok(n > 200_000, `${n} tokens compared`);
});

/** Code, numbers, whitespace runs and text in many scripts; about 1 MB. */
function mixedText(): string {
  const parts: string[] = [];
  const require = createRequire(import.meta.url);
  const tsLib = dirname(require.resolve('typescript'));
  const code = readFileSync(join(tsLib, 'typescript.js'), 'utf8');
  parts.push(code.slice(0, 350_000), code.slice(4_000_000, 4_250_000));
  for (const f of readdirSync(tsLib)
    .filter((x) => /^lib\.es20\d\d\..*\.d\.ts$/.test(x))
    .slice(0, 40)) {
    parts.push(readFileSync(join(tsLib, f), 'utf8'));
  }
  const rand = prng(2024);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const scripts = [
    'Съешь же ещё этих мягких французских булок, да выпей чаю. ',
    'В чащах юга жил бы цитрус? Да, но фальшивый экземпляр! ',
    'نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق. ',
    'الْحَمْدُ لِلَّهِ رَبِّ الْعَالَمِينَ ',
    '我能吞下玻璃而不伤身体。天地玄黄，宇宙洪荒。日月盈昃，辰宿列张。',
    '色は匂へど散りぬるを、我が世誰ぞ常ならむ。カタカナとひらがな。',
    '키스의 고유조건은 입술끼리 만나야 하고 특별한 기술은 필요치 않다. ',
    'Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. ',
    'नमस्ते दुनिया, यह एक परीक्षण है। ',
    'ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ ',
    'Z\u0351\u0364\u0346a\u036b\u0310l\u0308g\u0301o\u0300 cafe\u0301 n\u0303 A\u030a ',
    'emoji 😀😃😄 👨‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇫🇷🇯🇵 ❤️‍🔥 ',
    "I'm sure they've said 'tis what we'd do, you'll see, it's THEY'RE. ",
    'naïve façade Ærøskøbing straße İstanbul ǅemal ',
  ];
  let size = parts.reduce((n, p) => n + p.length, 0);
  while (size < 1_150_000) {
    const r = rand();
    let s: string;
    if (r < 0.45) s = pick(scripts);
    else if (r < 0.6)
      s = String(Math.floor(rand() * 10 ** Math.floor(rand() * 15))) + pick([' ', ', ', '.', '\n', '-', '']);
    else if (r < 0.7) s = (rand() * 1e6).toFixed(Math.floor(rand() * 6)) + ' ';
    else if (r < 0.85)
      s = pick([
        ' ',
        '  ',
        '\t',
        '\n',
        '\n\n',
        '   \n',
        ' \t \n  ',
        '\r\n',
        '\u00a0',
        '\u3000',
        '\u2003',
      ]).repeat(1 + Math.floor(rand() * 4));
    else
      s =
        pick([
          '(',
          ')',
          '{',
          '}',
          '=>',
          '===',
          '!==',
          '//',
          '/*',
          '*/',
          '"',
          "'",
          '`',
          '${',
          '#',
          '@',
          '$$',
        ]) + pick(['x', ' ', 'foo', '']);
    parts.push(s);
    size += s.length;
  }
  return parts.join('');
}

test('GPT-2 equals tiktoken: code, numbers, whitespace, emoji, CJK, Arabic, Cyrillic, combining marks (1 MB)', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const tok = await gpt2();
  const text = mixedText();
  assert.ok(utf8.encode(text).length >= 1_000_000);
  const n = withTiktoken((enc) => compareChunks(tok, enc, text, 'mixed'));
  assert.ok(n > 200_000, `${n} tokens compared`);
});

/** Random strings from pieces that stress the pre-tokenizer and the merge loop. */
function randomString(rand: () => number, allowLoneSurrogates: boolean): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const pieces: (() => string)[] = [
    () => String.fromCharCode(0x20 + Math.floor(rand() * 95)), // printable ASCII
    () =>
      pick(['the', ' the', 'The', ' cat', 'ing', ' tokenization', 'ABC', 'xyz', "'s", "'ll", "'VE", "n't"]),
    () =>
      pick([
        ' ',
        '  ',
        '   ',
        '\t',
        '\n',
        '\r\n',
        '\n\n\n',
        ' \n ',
        '\u00a0',
        '\u0085',
        '\ufeff',
        '\u2028',
        '\u3000',
        '\u000b',
        '\u000c',
      ]),
    () => pick(['😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '❤️‍🔥', '🇫🇷', '🧑🏿‍💻', '\u200d', '\ufe0f']),
    () => pick(['中', '文', '日本語', '한국어', 'ひらがな', '漢字', '𠀀', '𝔘𝔫𝔦']),
    () => pick(['e\u0301', 'a\u0308\u0304', '\u0301', '\u0327c', 'ก\u0e34', 'न\u093f', '\u064e', 'ﷺ']),
    () => pick(['Привет', 'مرحبا', 'שלום', 'Ελλάδα', 'ǅ', 'ß', 'İ', 'ﬁ']),
    () => String(Math.floor(rand() * 1e9)),
    () => String.fromCodePoint(0x80 + Math.floor(rand() * 0x2f80)), // assorted BMP letters/marks/symbols
    // Long words (over the 64-byte threshold) to exercise the heap merge path.
    () => pick(['a', 'ab', 'the', 'x', 'é', '中']).repeat(20 + Math.floor(rand() * 60)),
    () => '9'.repeat(30 + Math.floor(rand() * 100)),
    () => ' '.repeat(30 + Math.floor(rand() * 100)),
    () => '!?-=*'.charAt(Math.floor(rand() * 5)).repeat(70 + Math.floor(rand() * 40)),
    () => {
      let s = '';
      const n = 70 + Math.floor(rand() * 100);
      for (let i = 0; i < n; i++) s += String.fromCharCode(0x61 + Math.floor(rand() * 26));
      return s;
    },
  ];
  if (allowLoneSurrogates) pieces.push(() => pick(['\uD800', '\uDBFF', '\uDC00', '\uDFFF', 'a\uDC00b']));
  const count = 1 + Math.floor(rand() * 12);
  let s = '';
  for (let i = 0; i < count; i++) s += pick(pieces)();
  return s;
}

test('GPT-2 property: random strings round-trip and equal tiktoken (seeded)', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const tok = await gpt2();
  const seed = 12345;
  const rand = prng(seed);
  withTiktoken((enc) => {
    for (let k = 0; k < 3000; k++) {
      const lone = k % 3 === 2;
      const s = randomString(rand, lone);
      const ids = tok.encode(s);
      const wellFormed = s.replace(/[\uD800-\uDFFF]/gu, '\uFFFD');
      const label = `case ${k} (seed ${seed}): ${JSON.stringify(s)}`;
      assert.equal(tok.decode(ids), wellFormed, `round trip, ${label}`);
      assert.deepEqual(tok.decodeBytes(ids), utf8.encode(s), `bytes, ${label}`);
      assert.deepEqual(Array.from(ids), Array.from(enc.encode_ordinary(s)), `ids vs tiktoken, ${label}`);
    }
  });
});

test('GPT-2: lone surrogates encode as U+FFFD', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const tok = await gpt2();
  assert.deepEqual(tok.encode('a\uD800b'), tok.encode('a\uFFFDb'));
  assert.deepEqual(tok.encode('\uDC00'), tok.encode('\uFFFD'));
  assert.equal(tok.decode(tok.encode('x\uDBFFy')), 'x\uFFFDy');
});

test('GPT-2: <|endoftext|> is special only with allowSpecial', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const tok = await gpt2();
  assert.equal(tok.tokenToId('<|endoftext|>'), 50256);
  assert.equal(tok.idToToken(50256), '<|endoftext|>');
  assert.deepEqual(tok.specialTokens, { bos: 50256, eos: 50256 });
  assert.deepEqual(Array.from(tok.encode('a<|endoftext|>b')), [64, 50256, 65]);
  assert.deepEqual(Array.from(tok.encode('a<|endoftext|>b', { allowSpecial: true })), [64, 50256, 65]);
  const plain = Array.from(tok.encode('a<|endoftext|>b', { allowSpecial: false }));
  assert.ok(!plain.includes(50256));
  assert.deepEqual(plain, [64, 27, 91, 437, 1659, 5239, 91, 29, 65]);
  assert.equal(tok.decode(plain), 'a<|endoftext|>b');
  assert.deepEqual(Array.from(tok.encode('<|endoftext|><|endoftext|> x')), [50256, 50256, 2124]);
  withTiktoken((enc) => {
    assert.deepEqual(
      Array.from(tok.encode('Hi<|endoftext|> there')),
      Array.from(enc.encode('Hi<|endoftext|> there', 'all')),
    );
  });
  const spans = tok.encodeWithSpans('a<|endoftext|>b');
  assert.deepEqual(
    spans.map((s) => [s.id, s.text, s.start, s.end]),
    [
      [64, 'a', 0, 1],
      [50256, '<|endoftext|>', 1, 14],
      [65, 'b', 14, 15],
    ],
  );
});

test('GPT-2: encodeWithSpans covers the input bytes exactly, in order', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const tok = await gpt2();
  const rand = prng(7);
  const texts = [
    '',
    'Hello, world!',
    'naïve 😀👨‍👩‍👧 中文 \uD800 x  \n\n end',
    ...Array.from({ length: 200 }, () => randomString(rand, true)),
  ];
  for (const text of texts) {
    const bytes = utf8.encode(text);
    const spans = tok.encodeWithSpans(text);
    assert.deepEqual(
      spans.map((s) => s.id),
      Array.from(tok.encode(text)),
      JSON.stringify(text),
    );
    let pos = 0;
    for (const s of spans) {
      assert.equal(s.start, pos, `span start, ${JSON.stringify(text)}`);
      assert.ok(s.end > s.start);
      assert.deepEqual(
        bytes.subarray(s.start, s.end),
        tok.decodeBytes([s.id]),
        `span bytes, ${JSON.stringify(text)}`,
      );
      assert.equal(s.text, tok.decode([s.id]));
      pos = s.end;
    }
    assert.equal(pos, bytes.length, `spans end at the last byte, ${JSON.stringify(text)}`);
  }
  // A token holding part of a character shows U+FFFD in its text.
  const emoji = tok.encodeWithSpans('😀');
  assert.ok(emoji.length > 1 && emoji.every((s) => s.text.includes('\uFFFD')));
});

test('GPT-2: the incremental decoder never emits half a character', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const tok = await gpt2();
  const text = '😀 👨‍👩‍👧‍👦 中文字符 日本語のテキスト 🏳️‍🌈 한국어 𠀀𝔘𝔫𝔦 Ελλάδα e\u0301 🇫🇷!';
  const ids = tok.encode(text);
  assert.ok(ids.length > text.length / 3, 'emoji and CJK take several tokens each');
  const dec = tok.decoder();
  let out = '';
  for (const id of ids) {
    const piece = dec.push(id);
    assert.ok(!piece.includes('\uFFFD'), `no U+FFFD mid-stream (after id ${id})`);
    out += piece;
  }
  out += dec.flush();
  assert.equal(out, text);

  // A stream cut inside a character: flush shows the leftover bytes as U+FFFD.
  const cut = tok.decoder();
  const emojiIds = tok.encode('😀');
  assert.equal(cut.push(emojiIds[0]), '');
  assert.equal(cut.flush(), '\uFFFD');
  // decode() of a partial character shows U+FFFD; decodeBytes keeps the raw bytes.
  assert.equal(tok.decode([emojiIds[0]]), '\uFFFD');
  assert.deepEqual(Array.from(tok.decodeBytes(emojiIds)), Array.from(utf8.encode('😀')));
});

test('GPT-2: decoding an id outside the vocabulary is a GlassError', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const tok = await gpt2();
  assert.throws(() => tok.decode([50257]), { name: 'GlassError', code: 'BAD_INPUT', message: /50257/ });
  assert.throws(() => tok.decoder().push(-1), { name: 'GlassError', code: 'BAD_INPUT' });
  assert.equal(tok.idToToken(50257), undefined);
  assert.equal(tok.idToToken(220), 'Ġ');
  assert.equal(tok.tokenToId('Ġthe'), 262);
  assert.equal(tok.kind, 'bpe');
  assert.equal(tok.vocabSize, 50257);
});

test('pre-tokenizer patterns: Rust/Python syntax is translated to JS', () => {
  const split = (re: RegExp, s: string): string[] => Array.from(s.matchAll(re), (m) => m[0]);
  const gpt2Re = compilePretokenizerPattern(GPT2_PATTERN);
  assert.deepEqual(split(gpt2Re, "I'll  go 123 héllo!!"), ['I', "'ll", ' ', ' go', ' 123', ' héllo', '!!']);
  // \s is Unicode White_Space: U+0085 is whitespace, U+FEFF is not (unlike JS's own \s).
  assert.deepEqual(split(gpt2Re, 'a\u0085b'), ['a', '\u0085', 'b']);
  assert.deepEqual(split(gpt2Re, 'a \ufeffb'), ['a', ' \ufeff', 'b']);
  // Llama-3's pattern with its case-insensitive group.
  const llama3 = compilePretokenizerPattern(
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  );
  assert.deepEqual(split(llama3, "WE'LL pay 12345$"), ['WE', "'LL", ' pay', ' ', '123', '45', '$']);
  assert.throws(() => compilePretokenizerPattern('(?x)a'), { name: 'GlassError', code: 'UNSUPPORTED' });
  assert.throws(() => compilePretokenizerPattern('\\w+'), { name: 'GlassError', code: 'UNSUPPORTED' });
});
