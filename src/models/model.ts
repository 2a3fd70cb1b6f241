// A loaded language model: its config, tokenizer and network, with the library API
// (`forward`, `generate`) that the CLI, server and tests all use.
import type { ModelConfig } from '../formats/hf-config.js';
import { generate, type GenerateOptions, type Generation } from '../generate/generate.js';
import { tensor, type Tensor } from '../tensor/index.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { KVCache } from '../nn/kv-cache.js';
import type { Decoder } from './decoder.js';

export class LanguageModel {
  constructor(
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    readonly decoder: Decoder,
    /** Where it was loaded from (folder or file), for messages. */
    readonly source: string,
    readonly addBos = false,
  ) {}

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

  /** Streams the continuation of `prompt` (text or ids) piece by piece. */
  generate(prompt: string | ArrayLike<number>, options?: GenerateOptions): Generation {
    return generate(
      { decoder: this.decoder, tokenizer: this.tokenizer, addBos: this.addBos },
      prompt,
      options,
    );
  }
}
