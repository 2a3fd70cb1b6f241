// The explorer API's answers, computed from a loaded model: shared by the server (app.ts, over HTTP)
// and the in-browser engine (web/src/engine/worker.ts, over postMessage), so both say the same.
// Browser-safe: no node: imports here or in what this pulls in.
import { encodePrompt } from '../generate/generate.js';
import type { LanguageModel } from '../models/model.js';
import { roundTo } from '../trace/recorder.js';
import type { TraceToken } from '../trace/schema.js';

/** The prompt's tokens as the model sees them (BOS included), with byte spans. */
export function promptTokens(model: LanguageModel, text: string): TraceToken[] {
  const tok = model.tokenizer;
  const ids = encodePrompt({ decoder: model.decoder, tokenizer: tok, addBos: model.addBos }, text);
  const spans = text ? tok.encodeWithSpans(text) : [];
  const out: TraceToken[] = [];
  for (let i = 0; i < ids.length - spans.length; i++)
    out.push({ id: ids[i], text: tok.idToToken(ids[i]) ?? '', start: 0, end: 0 });
  for (const s of spans) out.push({ id: s.id, text: s.text, start: s.start, end: s.end });
  return out;
}

/** POST /api/tokenize's answer. */
export function tokenizeAnswer(model: LanguageModel, text: string) {
  const tokens = promptTokens(model, text);
  return { tokens, count: tokens.length, contextLength: model.decoder.contextLength };
}

/**
 * A word's embedding: the mean of its tokens' rows of the embedding table. Byte-level BPE tokenizers
 * get a leading space (" leap", as the word appears mid-sentence); SentencePiece adds its own "▁".
 */
export function wordEmbedding(model: LanguageModel, word: string) {
  const tok = model.tokenizer;
  const emb = model.decoder.embedding;
  const text = tok.kind === 'bpe' && !/^\s/.test(word) ? ' ' + word : word;
  const spans = tok.encodeWithSpans(text, { allowSpecial: false });
  const vector = new Float64Array(emb.dim);
  for (const s of spans) {
    const row = emb.weight.subarray(s.id * emb.dim, (s.id + 1) * emb.dim);
    for (let i = 0; i < emb.dim; i++) vector[i] += row[i] / spans.length;
  }
  return {
    word,
    tokens: spans.map((s) => ({ id: s.id, text: s.text })),
    vector: Array.from(vector, (v) => roundTo(v, 5)),
  };
}

/** POST /api/embeddings' answer. */
export function embeddingsAnswer(model: LanguageModel, words: string[]) {
  return { dim: model.decoder.dim, words: words.map((w) => wordEmbedding(model, w)) };
}
