// A loaded language model: its config, tokenizer and network, with the library API
// (`forward`, `generate`) that the CLI, server and tests all use.
import type { ModelConfig } from '../formats/hf-config.js';
import {
  generate,
  type GenerateOptions,
  type Generation,
  type GenerationDefaults,
} from '../generate/generate.js';

import { tensor, type Tensor } from '../tensor/index.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { KVCache } from '../nn/kv-cache.js';
import type { Decoder } from './decoder.js';
import type { Seq2Seq } from './seq2seq.js';
import type { Trace, TraceOptions } from '../trace/schema.js';
import { traceModel, type TraceHooks } from '../trace/trace.js';

export interface LanguageModelParts {
  config: ModelConfig;
  tokenizer: Tokenizer;
  /** The decoder (of an encoder-decoder: its decoder half, the one that generates). */
  decoder: Decoder;
  /** An encoder-decoder (Marian): the prompt is the source the encoder reads; null for decoder-only models. */
  seq2seq?: Seq2Seq | null;
  /** Where it was loaded from (folder or file), for messages. */
  source: string;
  /** Prepend BOS to prompts (SentencePiece-era models); GPT-2 does not. */
  addBos?: boolean;
  /** The model's Jinja chat template, when it ships one. */
  chatTemplate?: string;
  /** Sampling defaults the model ships (generation_config.json); options given to generate() win. */
  generationDefaults?: GenerationDefaults;
}

export class LanguageModel {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  readonly decoder: Decoder;
  readonly seq2seq: Seq2Seq | null;
  readonly source: string;
  readonly addBos: boolean;
  readonly chatTemplate: string | undefined;
  readonly generationDefaults: GenerationDefaults;

  constructor(parts: LanguageModelParts) {
    this.config = parts.config;
    this.tokenizer = parts.tokenizer;
    this.decoder = parts.decoder;
    this.seq2seq = parts.seq2seq ?? null;
    this.source = parts.source;
    this.addBos = parts.addBos ?? false;
    this.chatTemplate = parts.chatTemplate;
    this.generationDefaults = parts.generationDefaults ?? {};
  }

  get contextLength(): number {
    return this.decoder.contextLength;
  }

  /** Logits [ids.length, vocab] for every position (a fresh cache unless one is given). */
  forward(ids: ArrayLike<number>, cache?: KVCache): Tensor {
    const logits = this.decoder.forward(ids, cache);
    return tensor([ids.length, this.decoder.vocabSize], logits);
  }

  newCache(): KVCache {
    return this.decoder.newCache();
  }

  /** Records every stage of a forward pass over `prompt` (and optionally generated steps) as a Trace. */
  trace(prompt: string, options?: TraceOptions, hooks?: TraceHooks): Trace {
    return traceModel(this, prompt, options, hooks);
  }

  /**
   * Streams the continuation of `prompt` (text or ids) piece by piece. Sampling options left undefined
   * take the model's generationDefaults (its generation_config.json), then the library's.
   */
  generate(prompt: string | ArrayLike<number>, options: GenerateOptions = {}): Generation {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    // An explicit temperature or greedy choice replaces the model's whole choice between them.
    const defaults = { ...this.generationDefaults };
    if (given.greedy !== undefined || given.temperature !== undefined) {
      delete defaults.greedy;
      delete defaults.temperature;
    }
    const ctx = {
      decoder: this.decoder,
      seq2seq: this.seq2seq,
      tokenizer: this.tokenizer,
      addBos: this.addBos,
    };
    return generate(ctx, prompt, {
      ...defaults,
      ...given,
    });
  }
}
