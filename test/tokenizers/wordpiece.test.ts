// WordPiece (BERT, all-MiniLM-L6-v2) vs llama.cpp's bert-bge vectors and HF's tokenizer.json settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { loadTokenizerFromFolder } from '../../src/tokenizers/load-node.js';
import { WordPieceTokenizer, parseVocabTxt } from '../../src/tokenizers/wordpiece.js';
import { prng, readVocabVectors, sharedDir } from './gpt2-files.js';

const MINILM = `${sharedDir}tokenizers/all-MiniLM-L6-v2/`;
const absent = !existsSync(`${MINILM}vocab.txt`);
const SKIP = `${MINILM}vocab.txt is absent`;

function fromVocabTxt(): WordPieceTokenizer {
  return new WordPieceTokenizer({
    name: 'vocab.txt',
    vocab: parseVocabTxt(readFileSync(`${MINILM}vocab.txt`), 'vocab.txt'),
  });
}

test('wordpiece: all llama.cpp bert-bge vectors match (vocab.txt and the tokenizer.json folder)', async (t) => {
  const v = readVocabVectors('ggml-vocab-bert-bge.gguf');
  if (absent || !v) return t.skip(SKIP);
  const fromFolder = await loadTokenizerFromFolder(MINILM);
  assert.equal(fromFolder.kind, 'wordpiece');
  for (const tok of [fromVocabTxt(), fromFolder]) {
    v.inputs.forEach((s, i) =>
      assert.deepEqual(Array.from(tok.encode(s)), v.expected[i], `vector ${i}: ${JSON.stringify(s)}`),
    );
  }
  assert.equal(v.inputs.length, 46);
});

test('wordpiece: lower-casing, accents, punctuation, CJK, ## continuations, [UNK]', (t) => {
  if (absent) return t.skip(SKIP);
  const tok = fromVocabTxt();
  const pieces = (s: string) => tok.encodeWithSpans(s).map((x) => x.text);
  assert.deepEqual(pieces('Héllo, WORLD!'), ['hello', ',', 'world', '!']);
  assert.deepEqual(pieces('unaffable'), ['una', '##ffa', '##ble']);
  assert.deepEqual(pieces('中文'), ['中', '文']);
  assert.deepEqual(pieces('x'.repeat(101)), ['[UNK]']);
  assert.deepEqual(Array.from(tok.encode('[CLS] hi [SEP]', { allowSpecial: true })), [101, 7632, 102]);
  assert.equal(
    tok.decode(tok.encode('The bank of the river, unaffable!')),
    'the bank of the river , unaffable !',
  );
});

test('wordpiece: byte spans point at the original text', (t) => {
  if (absent) return t.skip(SKIP);
  const tok = fromVocabTxt();
  const rng = prng(3);
  const alphabet = ['a', 'B', 'é', ' ', '  ', ',', '中', 'naïve', 'Straße', '🙂', '\t', 'x', 'unaffable'];
  for (let n = 0; n < 200; n++) {
    let s = '';
    for (let i = 0; i < 12; i++) s += alphabet[Math.floor(rng() * alphabet.length)];
    const bytes = new TextEncoder().encode(s);
    let last = 0;
    for (const sp of tok.encodeWithSpans(s)) {
      assert.ok(
        sp.start >= last && sp.end > sp.start && sp.end <= bytes.length,
        `span order in ${JSON.stringify(s)}`,
      );
      last = sp.start;
      const src = new TextDecoder().decode(bytes.subarray(sp.start, sp.end));
      assert.ok(!/\s/.test(src), `span of ${sp.text} covers no whitespace`);
    }
  }
});
