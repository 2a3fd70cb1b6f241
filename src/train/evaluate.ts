// Training — how well a model predicts a text: mean next-token cross-entropy (nats per token) and its
// exponential, the perplexity, through the inference path itself (Decoder.forward, any weight kind).
import type { Decoder } from '../models/decoder.js';
import type { TokenIds } from './data.js';

export interface TextLoss {
  /** Mean −log p(next token), in nats. */
  loss: number;
  /** exp(loss): the model is as unsure as a uniform choice among this many tokens. */
  perplexity: number;
  /** Tokens scored (every token after the first of each window). */
  tokens: number;
}

/**
 * Scores every token of `ids` in consecutive windows of up to seqLen + 1 ids: each window's first id is
 * context only (and the last id of one window is the first of the next, so every token after the first
 * is predicted exactly once).
 */
export function decoderLoss(
  decoder: Decoder,
  ids: TokenIds | ArrayLike<number>,
  seqLen: number,
  onProgress?: (done: number, total: number) => void,
): TextLoss {
  const total = ids.length - 1;
  const V = decoder.vocabSize;
  let sum = 0;
  let count = 0;
  for (let s = 0; s < total; s += seqLen) {
    const len = Math.min(seqLen, total - s);
    const window = Array.from({ length: len }, (_, t) => ids[s + t]);
    const logits = decoder.forward(window);
    for (let t = 0; t < len; t++) {
      const o = t * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (logits[o + j] > max) max = logits[o + j];
      let z = 0;
      for (let j = 0; j < V; j++) z += Math.exp(logits[o + j] - max);
      sum += max + Math.log(z) - logits[o + ids[s + t + 1]];
      count++;
    }
    onProgress?.(count, total);
  }
  const loss = count > 0 ? sum / count : NaN;
  return { loss, perplexity: Math.exp(loss), tokens: count };
}
