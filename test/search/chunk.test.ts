// Chunking: paragraphs packed within the token budget, overlap between neighbours, and spans (chars,
// UTF-8 bytes, lines) that map back to the exact text of the document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chunkText, type Chunk } from '../../src/search/chunk.js';
import { loadTokenizerFromFolder } from '../../src/tokenizers/load-node.js';
import { SHARED_MINILM } from '../fixtures/make-bert.js';
import { paragraph, Rng } from './helpers.js';

const words = (t: string) => (t.match(/\S+/g) ?? []).length;

function assertSpans(content: string, chunks: Chunk[]): void {
  const bytes = Buffer.from(content, 'utf8');
  for (const c of chunks) {
    assert.equal(content.slice(c.startChar, c.endChar), c.text, `chunk ${c.ord}: char span`);
    assert.equal(
      bytes.subarray(c.startByte, c.endByte).toString('utf8'),
      c.text,
      `chunk ${c.ord}: byte span`,
    );
    assert.equal(c.startLine, content.slice(0, c.startChar).split('\n').length, `chunk ${c.ord}: first line`);
    assert.equal(c.endLine, content.slice(0, c.endChar).split('\n').length, `chunk ${c.ord}: last line`);
    assert.equal(c.text, c.text.trim(), 'no leading or trailing whitespace');
  }
}

test('chunks: paragraphs packed within the budget, one paragraph of overlap, exact spans', () => {
  const r = new Rng(5);
  const paras = Array.from({ length: 30 }, () => paragraph(r, 5 + r.int(30)));
  const content = '\n' + paras.join('\n\n') + '\n\n\n';
  const chunks = chunkText(content, words, { maxTokens: 80, overlap: 1 });
  assertSpans(content, chunks);
  chunks.forEach((c, i) => {
    assert.equal(c.ord, i);
    assert.ok(c.tokens <= 80, `chunk ${i}: ${c.tokens} tokens`);
    assert.equal(c.tokens, words(c.text));
  });
  // Every paragraph is whole in some chunk; chunks start and end at paragraph boundaries.
  for (const p of paras)
    assert.ok(
      chunks.some((c) => c.text.includes(p)),
      'paragraph kept whole',
    );
  for (const c of chunks) {
    const ps = c.text.split('\n\n');
    for (const p of ps) assert.ok(paras.includes(p), 'made of whole paragraphs');
  }
  // Neighbours share exactly their boundary paragraph (when two fit together, which they do here).
  for (let i = 1; i < chunks.length; i++) {
    const prev = chunks[i - 1].text.split('\n\n');
    const cur = chunks[i].text.split('\n\n');
    assert.equal(cur[0], prev[prev.length - 1], `chunk ${i} starts with the last paragraph of ${i - 1}`);
    assert.ok(cur.length >= 2, 'and adds something new');
  }
  // Packing is greedy: adding the next paragraph would have broken the budget.
  for (let i = 0; i + 1 < chunks.length; i++) {
    const ps = chunks[i].text.split('\n\n');
    const next = paras[paras.indexOf(ps[ps.length - 1]) + 1];
    assert.ok(words(chunks[i].text) + words(next) > 80, `chunk ${i} is full`);
  }
  // The last paragraph is in the last chunk; without overlap, chunks tile the paragraphs.
  assert.ok(chunks[chunks.length - 1].text.endsWith(paras[paras.length - 1]));
  const tiled = chunkText(content, words, { maxTokens: 80, overlap: 0 });
  assert.deepEqual(
    tiled.flatMap((c) => c.text.split('\n\n')),
    paras,
  );
});

test('chunks: an over-long paragraph is cut at sentences, then words, then characters', () => {
  const r = new Rng(9);
  const long = paragraph(r, 200); // sentences of 8 words
  const giant = 'x'.repeat(500);
  const content = `Intro line.\n\n${long}\n\n${giant}\n\nTail paragraph here.`;
  // One token per word of up to 10 characters, one more per 10 characters beyond.
  const count = (t: string) => (t.match(/\S+/g) ?? []).reduce((a, w) => a + Math.ceil(w.length / 10), 0);
  const chunks = chunkText(content, count, { maxTokens: 30, overlap: 0 });
  assertSpans(content, chunks);
  for (const c of chunks) assert.ok(c.tokens <= 30 && count(c.text) <= 30, `${c.tokens} tokens`);
  const fromLong = chunks.filter((c) => long.includes(c.text));
  assert.ok(fromLong.length >= 7, 'the long paragraph became several chunks');
  for (const c of fromLong) assert.match(c.text, /\.$/, 'cut at a sentence end');
  const xs = chunks.map((c) => /x+/.exec(c.text)?.[0] ?? '');
  assert.ok(xs.filter(Boolean).length >= 2, 'the giant word was cut');
  assert.equal(xs.join(''), giant, 'nothing of it lost');
  assert.ok(chunks[chunks.length - 1].text.endsWith('Tail paragraph here.'));
});

test('chunks: multi-byte text, CRLF line ends, and empty documents', () => {
  const content =
    'Ünïcödé 😀 paragraph one.\r\n\r\n  Second — with “quotes” 𝒳.\r\nStill second.\r\n\r\n\r\nThird.';
  const chunks = chunkText(content, words, { maxTokens: 7, overlap: 1 });
  assertSpans(content, chunks);
  assert.deepEqual(
    chunks.map((c) => c.text),
    ['Ünïcödé 😀 paragraph one.', 'Second — with “quotes” 𝒳.\r\nStill second.', 'Third.'],
  );
  assert.deepEqual(
    chunks.map((c) => [c.startLine, c.endLine]),
    [
      [1, 1],
      [3, 4],
      [7, 7],
    ],
  );
  assert.deepEqual(chunkText('', words, { maxTokens: 10, overlap: 1 }), []);
  assert.deepEqual(chunkText(' \n\n \n', words, { maxTokens: 10, overlap: 1 }), []);
  assert.throws(() => chunkText('x', words, { maxTokens: 0, overlap: 0 }), /positive/);
});

test("chunks: the budget is counted with the embedder's WordPiece tokenizer", async (t) => {
  if (!existsSync(`${SHARED_MINILM}/tokenizer.json`)) return t.skip(`${SHARED_MINILM} is absent`);
  const tok = await loadTokenizerFromFolder(SHARED_MINILM);
  const count = (s: string) => tok.encode(s).length;
  const r = new Rng(2);
  const content = Array.from({ length: 40 }, () => paragraph(r, 4 + r.int(40))).join('\n\n');
  const chunks = chunkText(content, count, { maxTokens: 64, overlap: 1 });
  assertSpans(content, chunks);
  assert.ok(chunks.length > 5);
  for (const c of chunks) {
    assert.equal(c.tokens, count(c.text));
    assert.ok(c.tokens <= 64, `${c.tokens} WordPiece tokens`);
  }
});
