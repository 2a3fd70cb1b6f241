// Embedding models: text → [CLS] tokens [SEP] → encoder → pooled (and normalised) sentence vector.
// The direction of the vector carries the meaning; cosine similarity compares two texts.
import type { BertConfig } from '../formats/hf-config.js';
import type { Encoder } from '../models/encoder.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { GlassError } from '../util/errors.js';
import { buildExplanation, type InputToken, type SimilarityExplanation } from './explain.js';
import type { EmbeddingModel } from './model.js';
import { cosine, l2normalize, pool, type PoolingMode } from './pooling.js';

export interface EmbedderParts {
  config: BertConfig;
  tokenizer: Tokenizer;
  encoder: Encoder;
  source: string;
  pooling: PoolingMode;
  normalize: boolean;
  /** Longest input in tokens, [CLS] and [SEP] included (sentence-transformers' max_seq_length). */
  maxTokens: number;
}

export interface ExplainOptions extends EmbedOptions {
  /** How many of the strongest token pairs to list (default 10). */
  topPairs?: number;
}

export interface EmbedOptions {
  /** Called once per text that had to be cut to maxTokens. */
  onTruncate?: (index: number, tokens: number, kept: number) => void;
  /** Texts per forward pass (default 32; 1: one text at a time). */
  batchSize?: number;
}

/** Texts per forward pass of embed, unless told otherwise. */
export const EMBED_BATCH = 32;

export class SentenceEmbedder implements EmbeddingModel {
  readonly config: BertConfig;
  readonly tokenizer: Tokenizer;
  readonly encoder: Encoder;
  readonly source: string;
  readonly pooling: PoolingMode;
  readonly normalize: boolean;
  readonly maxTokens: number;
  /** [CLS] and [SEP]. */
  readonly addedTokens = 2;

  constructor(p: EmbedderParts) {
    this.config = p.config;
    this.tokenizer = p.tokenizer;
    this.encoder = p.encoder;
    this.source = p.source;
    this.pooling = p.pooling;
    this.normalize = p.normalize;
    this.maxTokens = Math.min(p.maxTokens, p.encoder.contextLength);
  }

  get dim(): number {
    return this.encoder.dim;
  }

  get nLayers(): number {
    return this.encoder.nLayers;
  }

  /** The text's tokens, [CLS] and [SEP] (XLM-RoBERTa: <s>, </s>) not counted. */
  countTokens(text: string): number {
    return this.tokenizer.encode(text, { addSpecialTokens: false }).length;
  }

  /** [CLS] + the text's tokens (cut to fit) + [SEP] (XLM-RoBERTa: <s> … </s>). */
  inputIds(text: string, onTruncate?: (tokens: number, kept: number) => void): number[] {
    const { bos: cls, eos: sep } = this.tokenizer.specialTokens;
    if (cls === undefined || sep === undefined) {
      throw new GlassError('BAD_FILE', `${this.source}: the tokenizer has no [CLS]/[SEP] tokens`);
    }
    let ids = Array.from(this.tokenizer.encode(text, { addSpecialTokens: false }));
    const room = this.maxTokens - 2;
    if (ids.length > room) {
      onTruncate?.(ids.length + 2, this.maxTokens);
      ids = ids.slice(0, room);
    }
    return [cls, ...ids, sep];
  }

  /**
   * The same tokens as inputIds, with their text and UTF-8 byte spans; [CLS] and [SEP] are marked special
   * ([CLS] spans 0..0, [SEP] the end of what was kept).
   */
  inputTokens(text: string, onTruncate?: (tokens: number, kept: number) => void): InputToken[] {
    const { bos: cls, eos: sep } = this.tokenizer.specialTokens;
    if (cls === undefined || sep === undefined) {
      throw new GlassError('BAD_FILE', `${this.source}: the tokenizer has no [CLS]/[SEP] tokens`);
    }
    let spans = this.tokenizer.encodeWithSpans(text, { addSpecialTokens: false });
    const room = this.maxTokens - 2;
    if (spans.length > room) {
      onTruncate?.(spans.length + 2, this.maxTokens);
      spans = spans.slice(0, room);
    }
    const end = spans.length ? spans[spans.length - 1].end : 0;
    const special = (id: number, at: number): InputToken => ({
      id,
      text: this.tokenizer.idToToken(id) ?? String(id),
      start: at,
      end: at,
      special: true,
    });
    return [
      special(cls, 0),
      ...spans.map((s) => ({ id: s.id, text: s.text, start: s.start, end: s.end, special: false })),
      special(sep, end),
    ];
  }

  /**
   * Which tokens of each text drive cos(embed(a), embed(b)): per-token terms through the pooling and a
   * token×token pair matrix, each summing to the cosine (src/embed/explain.ts).
   */
  explain(a: string, b: string, options: ExplainOptions = {}): SimilarityExplanation {
    const one = (text: string, i: number) => {
      let truncatedFrom: number | null = null;
      const tokens = this.inputTokens(text, (n, kept) => {
        truncatedFrom = n;
        options.onTruncate?.(i, n, kept);
      });
      return { text, tokens, hidden: this.encoder.forward(tokens.map((t) => t.id)), truncatedFrom };
    };
    return buildExplanation(one(a, 0), one(b, 1), this.dim, this.pooling, this.normalize, options);
  }

  /** Token vectors [ids × dim] of one text, the inputs to pooling. */
  tokenVectors(text: string): { ids: number[]; hidden: Float32Array } {
    const ids = this.inputIds(text);
    return { ids, hidden: this.encoder.forward(ids) };
  }

  /**
   * One vector per text, in the order given. Texts run batchSize at a time in one forward pass
   * (Encoder.forwardBatch: their rows end to end through every matmul, attention per text), shortest
   * first so that a batch holds texts of similar lengths. Each text is its own length — no padding is
   * computed, and the vectors are those of one text at a time.
   */
  embed(texts: string[], options: EmbedOptions = {}): Float32Array[] {
    const size = Math.max(1, Math.floor(options.batchSize ?? EMBED_BATCH));
    // tokens of every text, then the texts by length (ties in input order)
    const inputs = texts.map((text, i) => this.inputIds(text, (n, kept) => options.onTruncate?.(i, n, kept)));
    const order = inputs.map((_, i) => i).sort((a, b) => inputs[a].length - inputs[b].length || a - b);
    const out = new Array<Float32Array>(texts.length);
    const dim = this.dim;
    for (let b = 0; b < order.length; b += size) {
      // one forward over the batch: hidden [Σ rows, dim], text after text
      const batch = order.slice(b, b + size);
      const hidden = this.encoder.forwardBatch(batch.map((i) => ({ ids: inputs[i] })));
      // each text's rows pooled into its vector, put back at its index
      let row = 0;
      for (const i of batch) {
        const n = inputs[i].length;
        const v = pool(hidden.subarray(row * dim, (row + n) * dim), n, dim, this.pooling);
        out[i] = this.normalize ? l2normalize(v) : v;
        row += n;
      }
    }
    return out;
  }

  similarity(a: string, b: string): number {
    const [va, vb] = this.embed([a, b]);
    return cosine(va, vb);
  }
}
