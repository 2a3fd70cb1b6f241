// XLM-RoBERTa's tokenizer.json (Unigram + Precompiled nmt_nfkc charsmap + Metaspace, "<s> $A </s>") against
// Google's SentencePiece: test/fixtures/xlmr_tokenizer_reference.py trained a small unigram model with
// sentencepiece's trainer, converted it to tokenizer.json in XLMRobertaConverter's layout and wrote the ids
// sentencepiece gives for varied texts (accents composed and not, CJK, Arabic, Devanagari, emoji, odd
// whitespace, full-width letters, ligatures), mapped as HF's XLMRobertaTokenizer maps them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadTokenizerFromJson } from '../../src/tokenizers/load.js';
import { GlassError } from '../../src/util/errors.js';

const dir = new URL('../fixtures/', import.meta.url);
const json = JSON.parse(readFileSync(new URL('xlmr-tokenizer/tokenizer.json', dir), 'utf8')) as Record<
  string,
  unknown
>;
const ref = JSON.parse(readFileSync(new URL('xlmr-tokenizer-ids.json', dir), 'utf8')) as {
  vocab_size: number;
  cases: Array<{ text: string; pieces: string[]; ids: number[] }>;
};

test('XLM-R tokenizer.json: ids equal SentencePiece’s on every reference text', () => {
  const tok = loadTokenizerFromJson(json, 'tokenizer.json');
  assert.equal(tok.kind, 'unigram');
  assert.deepEqual(tok.specialTokens, { bos: 0, eos: 2, unk: 3, pad: 1 });
  assert.equal(tok.vocabSize, ref.vocab_size);
  for (const c of ref.cases) {
    assert.deepEqual(Array.from(tok.encode(c.text)), c.ids, JSON.stringify(c.text));
    // without the template: the text's own tokens
    assert.deepEqual(
      Array.from(tok.encode(c.text, { addSpecialTokens: false })),
      c.ids.slice(1, -1),
      JSON.stringify(c.text),
    );
  }
});

test('XLM-R tokenizer.json: spans, special tokens in the text, decoding', () => {
  const tok = loadTokenizerFromJson(json, 'tokenizer.json');
  const spans = tok.encodeWithSpans('Le café');
  assert.equal(spans[0].id, 0);
  assert.equal(spans.at(-1)!.id, 2);
  assert.deepEqual(
    [spans[0].start, spans[0].end, spans.at(-1)!.start, spans.at(-1)!.end],
    [0, 0, 8, 8], // 'Le café' is 8 UTF-8 bytes
  );
  // special added tokens written in the text are matched whole (HF's fast tokenizer does)
  const mask = tok.tokenToId('<mask>')!;
  assert.ok(Array.from(tok.encode('a <mask> b')).includes(mask));
  assert.equal(tok.decode(tok.encode('Le café est fermé.')), 'Le café est fermé.');
});

test('XLM-R tokenizer.json: the newer converter layout (Strip + Replace " {2,}" → "▁") gives the same ids', () => {
  const newer = structuredClone(json);
  const norm = newer.normalizer as { normalizers: unknown[] };
  norm.normalizers = [
    norm.normalizers[0],
    { type: 'Strip', strip_left: false, strip_right: true, left: false, right: true },
    { type: 'Replace', pattern: { Regex: ' {2,}' }, content: '\u2581' },
  ];
  const tok = loadTokenizerFromJson(newer, 'tokenizer.json');
  for (const c of ref.cases) assert.deepEqual(Array.from(tok.encode(c.text)), c.ids, JSON.stringify(c.text));
});

test('XLM-R tokenizer.json: a template or normalizer it cannot honour is refused by name', () => {
  const bad = structuredClone(json);
  (bad.post_processor as { single: unknown[] }).single.push({ SpecialToken: { id: '</s>', type_id: 0 } });
  assert.throws(
    () => loadTokenizerFromJson(bad, 'tokenizer.json'),
    (e: unknown) => e instanceof GlassError && /<s> \$A <\/s> <\/s>/.test(e.message),
  );
  const strip = structuredClone(json);
  (strip.normalizer as { normalizers: unknown[] }).normalizers = [
    { type: 'Strip', left: false, right: true },
  ];
  assert.throws(
    () => loadTokenizerFromJson(strip, 'tokenizer.json'),
    (e: unknown) => e instanceof GlassError && /Strip/.test(e.message),
  );
});
