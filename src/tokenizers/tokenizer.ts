// Stage 1 — tokenization: the one interface every tokenizer format (byte-level BPE, SentencePiece,
// WordPiece) loads into. Models and the CLI only ever see this.

/** One token of an encoded text, with the UTF-8 byte span of the input it came from. */
export interface TokenSpan {
  id: number;
  /** The token's text as the user would read it (bytes decoded; partial UTF-8 shown with U+FFFD). */
  text: string;
  /** Byte offsets into the UTF-8 encoding of the input: [start, end). */
  start: number;
  end: number;
}

/** Streams ids to text without ever emitting half a character (a UTF-8 sequence split across tokens). */
export interface IncrementalDecoder {
  /** Adds one id; returns the text that became complete (possibly ''). */
  push(id: number): string;
  /** Returns whatever is still buffered (incomplete bytes become U+FFFD). */
  flush(): string;
}

export interface SpecialTokens {
  bos?: number;
  eos?: number;
  unk?: number;
  pad?: number;
}

export interface EncodeOptions {
  /**
   * Recognise special tokens such as `<|endoftext|>` written in the text. Default true for byte-level
   * BPE (as HF tokenizers do); false for SentencePiece, where llama2.c and SentencePiece read "<s>" in
   * a prompt as text.
   */
  allowSpecial?: boolean;
  /**
   * Add the tokens the tokenizer's own template puts around a text (T5's `$A </s>`, XLM-RoBERTa's
   * `<s> $A </s>`). Default true for the tokenizers that have one; false gives the text's tokens alone
   * (an embedder adds its [CLS] / [SEP] itself). Tokenizers without a template ignore it.
   */
  addSpecialTokens?: boolean;
}

export interface Tokenizer {
  /** Which algorithm: 'bpe' (byte-level), 'sentencepiece', 'wordpiece', 'marian' (unigram .spm + vocab.json). */
  readonly kind: string;
  readonly vocabSize: number;
  readonly specialTokens: SpecialTokens;
  encode(text: string, options?: EncodeOptions): Uint32Array;
  encodeWithSpans(text: string, options?: EncodeOptions): TokenSpan[];
  decode(ids: ArrayLike<number>): string;
  /** The raw bytes the ids stand for (byte-level tokenizers); decode() is these bytes as UTF-8. */
  decodeBytes(ids: ArrayLike<number>): Uint8Array;
  /** The vocabulary string of one id (as stored in the tokenizer file), or undefined. */
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  decoder(): IncrementalDecoder;
}
