// Marian (opus-mt) tokenizer: source.spm (unigram) pieces → vocab.json ids + </s>, decoded with
// target.spm — against ids made independently by test/fixtures/marian_reference.py (Google's
// SentencePiece + vocab.json, following HF's MarianTokenizer) for Helsinki-NLP/opus-mt-en-mg.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadTokenizerFromFolder } from '../../src/tokenizers/load-node.js';
import { loadTokenizerFromFiles } from '../../src/tokenizers/load-files.js';
import { MarianTokenizer, loadMarianTokenizer } from '../../src/tokenizers/marian.js';
import { memoryFiles } from '../../src/util/file-set.js';

const folder = fileURLToPath(new URL('../../../shared/tokenizers/opus-mt-en-mg/', import.meta.url));
const absent = !['source.spm', 'target.spm', 'vocab.json'].every((f) => existsSync(folder + f));
const skip = absent ? `opus-mt-en-mg tokenizer files absent (${folder}): skipping` : false;

interface Fixture {
  padId: number;
  eosId: number;
  unkId: number;
  vocabSize: number;
  encode: { text: string; pieces: string[]; ids: number[] }[];
  decode: { ids: number[]; skipSpecialTokens: boolean; text: string }[];
}
const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/marian-ids.json', import.meta.url), 'utf8'),
) as Fixture;

let cached: MarianTokenizer | undefined;
async function tok(): Promise<MarianTokenizer> {
  if (cached) return cached;
  const t = await loadTokenizerFromFolder(folder);
  assert.ok(t instanceof MarianTokenizer, `expected a MarianTokenizer, got kind ${t.kind}`);
  return (cached = t);
}

test(
  'marian: a model folder with source.spm + target.spm + vocab.json loads as Marian',
  { skip },
  async () => {
    const t = await tok();
    assert.equal(t.kind, 'marian');
    assert.equal(t.vocabSize, fixture.vocabSize);
    assert.equal(t.padId, fixture.padId);
    assert.equal(t.eosId, fixture.eosId);
    assert.equal(t.unkId, fixture.unkId);
    assert.equal(t.decoderStartTokenId, fixture.padId);
    assert.deepEqual(t.specialTokens, { eos: fixture.eosId, unk: fixture.unkId, pad: fixture.padId });
    assert.deepEqual(t.supportedLanguageCodes, []); // en-mg has a single target language
    // config.json agrees: decoder_start_token_id = pad_token_id, eos_token_id.
    const cfg = JSON.parse(readFileSync(folder + 'config.json', 'utf8')) as Record<string, number>;
    assert.equal(t.decoderStartTokenId, cfg.decoder_start_token_id);
    assert.equal(t.eosId, cfg.eos_token_id);
    assert.equal(t.vocabSize, cfg.vocab_size);
  },
);

test('marian: encode equals the reference ids for every sentence', { skip }, async () => {
  const t = await tok();
  assert.ok(fixture.encode.length >= 30);
  for (const c of fixture.encode) {
    assert.deepEqual(t.tokenize(c.text), c.pieces, `pieces of ${JSON.stringify(c.text)}`);
    assert.deepEqual(Array.from(t.encode(c.text)), c.ids, `ids of ${JSON.stringify(c.text)}`);
    const spans = t.encodeWithSpans(c.text);
    assert.deepEqual(
      spans.map((s) => s.id),
      c.ids,
      `span ids of ${JSON.stringify(c.text)}`,
    );
    const n = Buffer.byteLength(c.text);
    for (const s of spans) assert.ok(0 <= s.start && s.start <= s.end && s.end <= n, JSON.stringify(s));
  }
});

test('marian: decode equals the reference text (skipping special tokens or not)', { skip }, async () => {
  const t = await tok();
  for (const c of fixture.decode) {
    assert.equal(
      t.decode(c.ids, { skipSpecialTokens: c.skipSpecialTokens }),
      c.text,
      `decode(${JSON.stringify(c.ids)}, skip ${c.skipSpecialTokens})`,
    );
    if (c.skipSpecialTokens) {
      assert.equal(t.decode(c.ids), c.text);
      // Streaming gives the same text.
      const d = t.decoder();
      let s = '';
      for (const id of c.ids) s += d.push(id);
      s += d.flush();
      assert.equal(s, c.text);
    }
  }
});

test('marian: options and edge cases', { skip }, async () => {
  const t = await tok();
  assert.deepEqual(Array.from(t.encode('Hello, world!', { addEos: false })), [34291, 3, 245, 95]);
  // With allowSpecial false, "</s>" in the text is text, not the end-of-sequence token.
  const asText = Array.from(t.encode('</s>', { allowSpecial: false }));
  assert.notDeepEqual(asText, [t.eosId, t.eosId]);
  assert.equal(asText[asText.length - 1], t.eosId);
  // Round trip on plain text.
  assert.equal(t.decode(t.encode('I would like to buy two tickets.')), 'I would like to buy two tickets.');
  assert.equal(t.idToToken(t.eosId), '</s>');
  assert.equal(t.tokenToId('<pad>'), t.padId);
  assert.throws(() => t.decode([t.vocabSize + 5]), { code: 'BAD_INPUT' });
});

test('marian: the loader works on in-memory files and says what is missing', { skip }, async () => {
  const read = (f: string) => ({ name: f, bytes: readFileSync(folder + f) });
  const all = await loadTokenizerFromFiles(
    memoryFiles(['source.spm', 'target.spm', 'vocab.json', 'tokenizer_config.json'].map(read)),
  );
  assert.ok(all instanceof MarianTokenizer);
  assert.deepEqual(Array.from(all.encode('Hello, world!')), fixture.encode[0].ids);
  await assert.rejects(loadTokenizerFromFiles(memoryFiles(['source.spm', 'vocab.json'].map(read))), {
    code: 'NOT_FOUND',
    message: /target\.spm/,
  });
  const direct = loadMarianTokenizer({
    sourceSpm: readFileSync(folder + 'source.spm'),
    targetSpm: readFileSync(folder + 'target.spm'),
    vocab: JSON.parse(readFileSync(folder + 'vocab.json', 'utf8')),
    name: 'opus-mt-en-mg',
  });
  assert.deepEqual(Array.from(direct.encode('')), [fixture.eosId]);
  assert.throws(
    () =>
      loadMarianTokenizer({
        sourceSpm: readFileSync(folder + 'source.spm'),
        targetSpm: readFileSync(folder + 'target.spm'),
        vocab: { '</s>': 0, '<pad>': 1 },
      }),
    { code: 'BAD_FILE', message: /<unk>/ },
  );
});

test('marian: language codes in the vocabulary are listed and kept as one token', { skip }, async () => {
  const vocab: Record<string, number> = { '</s>': 0, '<unk>': 1, '>>fra<<': 2, '▁Hello': 3, '<pad>': 4 };
  const t = loadMarianTokenizer({
    sourceSpm: readFileSync(folder + 'source.spm'),
    targetSpm: readFileSync(folder + 'target.spm'),
    vocab,
  });
  assert.deepEqual(t.supportedLanguageCodes, ['>>fra<<']);
  assert.deepEqual(Array.from(t.encode('>>fra<< Hello')), [2, 3, 0]);
  assert.deepEqual(Array.from(t.encode('>>deu<< Hello')), [1, 3, 0]);
  assert.deepEqual(Array.from(t.encode('Hello >>fra<<')).slice(0, 1), [3]);
});
