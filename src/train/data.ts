// Training — the data: a corpus tokenized once into one long id stream, split into train and validation,
// and served as random windows (inputs ids[s..s+T), targets ids[s+1..s+T]) picked by a seeded RNG.
import { Rng } from '../generate/rng.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { GlassError } from '../util/errors.js';

export type TokenIds = Uint16Array | Uint32Array;

export interface EncodeCorpusOptions {
  /** Start each document with BOS (SentencePiece-era models, which see BOS at the start of every text). */
  addBos?: boolean;
}

/**
 * Tokenizes a corpus. Documents are separated by the literal `<|endoftext|>` (TinyStories' convention). A
 * byte-level tokenizer that has that token keeps it in the stream (GPT-2 trains on it as the separator);
 * with addBos each document is encoded on its own, after a BOS. Ids are stored in 16 bits when they fit.
 */
export function encodeCorpus(
  tokenizer: Tokenizer,
  text: string,
  options: EncodeCorpusOptions = {},
): TokenIds {
  const parts: ArrayLike<number>[] = [];
  let total = 0;
  const bos = tokenizer.specialTokens.bos;
  if (options.addBos && bos !== undefined) {
    for (const doc of text.split('<|endoftext|>')) {
      const t = doc.trim();
      if (!t) continue;
      const ids = tokenizer.encode(t);
      parts.push([bos], ids);
      total += ids.length + 1;
    }
  } else {
    const ids = tokenizer.encode(text);
    parts.push(ids);
    total = ids.length;
  }
  const out = tokenizer.vocabSize <= 65536 ? new Uint16Array(total) : new Uint32Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The last `valFraction` of the stream is held out for validation (a view, no copy). */
export function splitTrainVal(ids: TokenIds, valFraction = 0.1): { train: TokenIds; val: TokenIds } {
  const nVal = Math.floor(ids.length * valFraction);
  return { train: ids.subarray(0, ids.length - nVal), val: ids.subarray(ids.length - nVal) };
}

export interface Batch {
  /** [batch·seqLen] input ids, window after window. */
  inputs: Int32Array;
  /** The ids that follow each input (the next-token targets). */
  targets: Int32Array;
  batch: number;
  seqLen: number;
}

/** A seed for step `step` of a run seeded `seed`: batches depend on (seed, step) only, so resuming repeats them. */
export function stepSeed(seed: number, step: number, stream = 0): number {
  let h =
    Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^
    Math.imul(step + 1, 0xc2b2ae35) ^
    Math.imul(stream + 1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/** Throws unless `ids` holds at least one window of seqLen tokens and its target. */
export function checkEnoughTokens(ids: TokenIds, seqLen: number, what = 'the data'): void {
  if (ids.length < seqLen + 1) {
    throw new GlassError(
      'BAD_INPUT',
      `${what} has ${ids.length} tokens, too few for one window of ${seqLen} (+1 target); use a shorter --context or more text`,
    );
  }
}

/** `batch` windows of seqLen at uniformly random starts (the same starts for the same rng state). */
export function randomBatch(ids: TokenIds, batch: number, seqLen: number, rng: Rng): Batch {
  checkEnoughTokens(ids, seqLen);
  const inputs = new Int32Array(batch * seqLen);
  const targets = new Int32Array(batch * seqLen);
  const span = ids.length - seqLen; // starts 0..span-1 leave room for the last target
  for (let b = 0; b < batch; b++) {
    const s = Math.floor(rng.next() * span);
    for (let t = 0; t < seqLen; t++) {
      inputs[b * seqLen + t] = ids[s + t];
      targets[b * seqLen + t] = ids[s + t + 1];
    }
  }
  return { inputs, targets, batch, seqLen };
}
