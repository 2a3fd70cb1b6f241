// Shared helpers for the tokenizer tests: where the real GPT-2 tokenizer files live, llama.cpp's test
// vectors, a seeded PRNG.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadTokenizerFromFolder } from '../../src/tokenizers/load-node.js';
import type { Tokenizer } from '../../src/tokenizers/tokenizer.js';

/** /work/shared (the clone sits beside ../shared, in CI too). */
export const sharedDir = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const gpt2Dir = fileURLToPath(new URL('../../../shared/tokenizers/gpt2/', import.meta.url));
export const vectorsDir = fileURLToPath(new URL('../../../shared/tokenizers/test-vectors/', import.meta.url));

export const gpt2Absent = !existsSync(gpt2Dir + 'encoder.json') || !existsSync(gpt2Dir + 'vocab.bpe');
export const gpt2AbsentMessage = `GPT-2 tokenizer files absent (${gpt2Dir}encoder.json, vocab.bpe): skipping`;

let cached: Promise<Tokenizer> | undefined;
/** The real GPT-2 tokenizer, loaded once per test file. */
export function gpt2(): Promise<Tokenizer> {
  cached ??= loadTokenizerFromFolder(gpt2Dir);
  return cached;
}

/** mulberry32: a tiny seeded PRNG so a failing random case reproduces. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * llama.cpp's tokenizer test vectors `${vectorsDir}${file}.inp` / `.out`: each input string is
 * followed by "\n__ggml_vocab_test__\n"; the .out file has one line of space-separated ids per
 * string. Undefined when the files are absent.
 */
export function readVocabVectors(file: string): { inputs: string[]; expected: number[][] } | undefined {
  const inp = vectorsDir + file + '.inp';
  const out = vectorsDir + file + '.out';
  if (!existsSync(inp) || !existsSync(out)) return undefined;
  const sep = '\n__ggml_vocab_test__\n';
  const raw = readFileSync(inp, 'utf8');
  if (!raw.endsWith(sep)) throw new Error(`${inp}: does not end with the separator`);
  const inputs = raw.slice(0, -sep.length).split(sep);
  const expected = readFileSync(out, 'utf8')
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => (line.trim() === '' ? [] : line.trim().split(' ').map(Number)));
  return { inputs, expected };
}
