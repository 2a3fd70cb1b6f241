// Byte-level BPE training: the merges equal a naive recount-everything trainer's, the tokenizer.json loads
// with loadTokenizerFromJson at exactly the asked size and round-trips any text, and a few MB train quickly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/generate/rng.js';
import { loadTokenizerFromJson } from '../../src/tokenizers/load.js';
import { bpeTokenizerJson, countWords, trainBpe, type TrainedBpe } from '../../src/train/bpe-trainer.js';

/** The textbook algorithm: recount every pair of every word after each merge. Same tie rule (smaller ids). */
function naiveBpe(counts: Map<string, number>, vocabSize: number): Array<[number, number]> {
  const words = [...counts].map(([w, c]) => ({ s: Array.from(new TextEncoder().encode(w)), c }));
  const tokens: string[] = [];
  for (let b = 0; b < 256; b++) tokens.push(String.fromCharCode(b));
  const merges: Array<[number, number]> = [];
  while (tokens.length < vocabSize - 1) {
    const pairs = new Map<string, number>();
    for (const { s, c } of words)
      for (let i = 0; i + 1 < s.length; i++)
        pairs.set(`${s[i]},${s[i + 1]}`, (pairs.get(`${s[i]},${s[i + 1]}`) ?? 0) + c);
    let best: [number, number] | null = null;
    let bestCount = 0;
    for (const [k, c] of pairs) {
      const [a, b] = k.split(',').map(Number);
      if (c > bestCount || (c === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestCount = c;
      }
    }
    if (!best || bestCount < 2) break;
    merges.push(best);
    const joined = tokens[best[0]] + tokens[best[1]];
    let id = tokens.indexOf(joined);
    if (id < 0) {
      id = tokens.length;
      tokens.push(joined);
    }
    for (const w of words) {
      const out: number[] = [];
      for (let i = 0; i < w.s.length; i++) {
        if (i + 1 < w.s.length && w.s[i] === best[0] && w.s[i + 1] === best[1]) {
          out.push(id);
          i++;
        } else out.push(w.s[i]);
      }
      w.s = out;
    }
  }
  return merges;
}

const WORDS = [
  'the',
  'river',
  'bank',
  'of',
  'banks',
  'rivers',
  'lower',
  'lowest',
  'newer',
  'wider',
  'aaaa',
  'é',
  'naïve',
  '42',
  '1999',
  '!',
  '?!',
  ' ',
  '\n',
];

function corpus(seed: number, n: number): string {
  const rng = new Rng(seed);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    parts.push(WORDS[Math.floor(rng.next() * WORDS.length)]);
    parts.push(rng.next() < 0.8 ? ' ' : rng.next() < 0.5 ? '\n' : ', ');
  }
  return parts.join('');
}

test('the merges equal a naive trainer that recounts every pair after every merge', () => {
  for (const seed of [1, 2, 3]) {
    const counts = countWords(corpus(seed, 3000));
    const fast = trainBpe(counts, { vocabSize: 330 });
    assert.deepEqual(fast.merges, naiveBpe(counts, 330), `seed ${seed}`);
  }
});

test('runs of one letter ("aaaa": overlapping pairs) merge as the naive trainer does', () => {
  const counts = new Map([
    ['aaaa', 10],
    ['aaa', 7],
    [' abc', 5],
    ['abc', 3],
    ['ab', 2],
    ['bc', 9],
  ]);
  const bpe = trainBpe(counts, { vocabSize: 270 });
  assert.deepEqual(bpe.merges, naiveBpe(counts, 270));
  const tok = loadTokenizerFromJson(bpeTokenizerJson(bpe), 'small');
  for (const w of ['aaaa', 'aaa', 'abc', ' abc', 'aaaaaaa']) assert.equal(tok.decode(tok.encode(w)), w);
  assert.equal(tok.encode('aaaa').length, 1);
});

function check(bpe: TrainedBpe, vocabSize: number) {
  const json = bpeTokenizerJson(bpe);
  const tok = loadTokenizerFromJson(JSON.parse(JSON.stringify(json)), 'trained.json');
  assert.equal(tok.vocabSize, vocabSize);
  assert.equal(bpe.endOfText, vocabSize - 1);
  assert.equal(tok.specialTokens.eos, vocabSize - 1);
  assert.equal(tok.specialTokens.bos, vocabSize - 1);
  return tok;
}

test('tokenizer.json: loads at exactly the asked size (256 bytes + merges + <|endoftext|>) and round-trips', () => {
  const text = corpus(5, 5000);
  const tok = check(trainBpe(countWords(text), { vocabSize: 300 }), 300);
  for (const s of [text.slice(0, 500), 'Unseen: Grüße 😀 日本語 \t tabs  and  spaces\r\n', '']) {
    assert.equal(tok.decode(tok.encode(s)), s);
  }
  assert.deepEqual(Array.from(tok.encode('the river<|endoftext|>')).slice(-1), [299]);
  assert.ok(
    tok.encode(text).length < new TextEncoder().encode(text).length / 2,
    'merges compress the corpus',
  );
  // Bytes only.
  const bytes = check(trainBpe(countWords(text), { vocabSize: 256 }), 257);
  assert.equal(bytes.encode('the').length, 3);
});

test('merges never cross a GPT-2 pre-token boundary (a space only ever starts a token)', () => {
  const bpe = trainBpe(countWords(corpus(9, 5000)), { vocabSize: 400 });
  for (const t of bpe.tokens) {
    const s = new TextDecoder().decode(t);
    assert.ok(!/\S /.test(s), `token ${JSON.stringify(s)} has a space after another character`);
    assert.ok(!/[a-z][0-9]|[0-9][a-z]/i.test(s), `token ${JSON.stringify(s)} joins letters and digits`);
  }
});

/** Text in a made-up language: 40k distinct words of 1–4 syllables, drawn with Zipf-like frequencies. */
function bigCorpus(seed: number, words: number): string {
  const rng = new Rng(seed);
  const syl = [
    'ka',
    'lo',
    'mi',
    'tun',
    'ser',
    'a',
    'o',
    'ble',
    'dra',
    'quo',
    'ix',
    'ne',
    'th',
    'ing',
    'st',
    'pr',
  ];
  const lexicon: string[] = [];
  for (let i = 0; i < 40_000; i++) {
    let w = '';
    const n = 1 + Math.floor(rng.next() * 4);
    for (let k = 0; k < n; k++) w += syl[Math.floor(rng.next() * syl.length)];
    lexicon.push(rng.next() < 0.1 ? w[0].toUpperCase() + w.slice(1) : w);
  }
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    out.push(lexicon[Math.floor(lexicon.length * Math.pow(rng.next(), 3))]);
    out.push(rng.next() < 0.9 ? ' ' : rng.next() < 0.5 ? '.\n' : ', ');
  }
  return out.join('');
}

test('efficiency: 4 MB of text trains a 2048-token vocabulary in seconds', (t) => {
  const text = bigCorpus(11, 600_000);
  const t0 = performance.now();
  const counts = countWords(text);
  const bpe = trainBpe(counts, { vocabSize: 2048, minFrequency: 1 });
  const s = (performance.now() - t0) / 1000;
  t.diagnostic(
    `${(text.length / 1e6).toFixed(1)} MB, ${counts.size} distinct pre-tokens → ${bpe.vocabSize} tokens in ${s.toFixed(2)} s`,
  );
  assert.ok(s < 20, `${s} s`);
});
