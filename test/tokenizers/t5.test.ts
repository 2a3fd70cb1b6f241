// T5's tokenizer.json (a Unigram model, Metaspace, "$A </s>") through unigram.ts and the Marian tokenizer,
// on the fixture's small hand-written vocabulary (make-t5.ts). No real T5 tokenizer and no sentencepiece
// are available here: the expected pieces are checked by hand against the scores — each word of the
// vocabulary beats any split of it into shorter pieces (scores −2 − 0.25·index for words, about −12 per
// character), a character no piece has is <unk>, </s> is appended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTokenizerFromJson } from '../../src/tokenizers/load.js';
import { t5TokenizerJson } from '../fixtures/make-t5.js';

const tok = loadTokenizerFromJson(t5TokenizerJson(), 'tokenizer.json');

test('T5 tokenizer.json: pieces, ids and spans as the unigram model segments them', () => {
  assert.equal(tok.kind, 'unigram');
  assert.deepEqual(tok.specialTokens, { eos: 1, unk: 2, pad: 0 });
  const cases: [string, number[]][] = [
    // ▁translate ▁English ▁to ▁German : ▁the ▁house ▁is ▁wonderful . </s>
    ['translate English to German: the house is wonderful.', [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1]],
    // extra whitespace goes (WhitespaceSplit); every word gets its ▁
    ['  Hello   world  ', [23, 24, 1]],
    // the longest word wins, then single characters: ▁wonderful l y
    ['wonderfully', [11, 44, 57, 1]],
    // no "▁c" piece: ▁ c a f, and é (no piece) is <unk>
    ['café', [33, 36, 34, 38, 2, 1]],
    // special added tokens are split out of the text first
    ['<extra_id_0> house', [96, 9, 1]],
    ['', [1]],
  ];
  for (const [text, ids] of cases) assert.deepEqual(Array.from(tok.encode(text)), ids, JSON.stringify(text));
  assert.deepEqual(
    tok.encodeWithSpans('the house.').map((s) => [s.text, s.start, s.end]),
    [
      [' the', 0, 3],
      [' house', 3, 9],
      ['.', 9, 10],
      ['</s>', 10, 10],
    ],
  );
});

test('T5 tokenizer.json: decoding joins the pieces, skips special tokens, drops ids past the vocabulary', () => {
  assert.equal(tok.decode([0, 13, 14, 15, 16, 12, 1]), 'Das Haus ist wunderbar.');
  assert.equal(tok.decode([96, 9, 10]), 'house is', '<extra_id_0> is special');
  // the model's 128 rows outnumber the tokenizer's 97 pieces: HF's tokenizers drop such ids
  assert.equal(tok.decode([9, 120, 10]), 'house is');
  const d = tok.decoder();
  assert.equal([0, 13, 14, 1].map((id) => d.push(id)).join('') + d.flush(), 'Das Haus');
});
