// A tiny Llama-shaped model built in memory for the server's tests (no files, no ../shared): random
// weights, a byte-level BPE tokenizer trained on one sentence, and a context as long as asked (2^20 by
// default: the KV cache must grow with the tokens used, not with the context). Generation never stops
// early: the end-of-text token is not treated as one, so `steps` tokens always come.
import { LanguageModel } from '../../src/models/model.js';
import type { Tokenizer } from '../../src/tokenizers/tokenizer.js';
import { loadTokenizerFromJson } from '../../src/tokenizers/load.js';
import { bpeTokenizerJson, countWords, trainBpe } from '../../src/train/bpe-trainer.js';
import { createLlama } from '../../src/train/init.js';

const TEXT = 'the quick brown fox jumps over the lazy dog by the bank of the river ';

export async function tinyModel(contextLength = 2 ** 20, source = '/models/private/tiny-llama.bin') {
  const bpe = trainBpe(countWords(TEXT.repeat(4)), { vocabSize: 300 });
  const tok = loadTokenizerFromJson(bpeTokenizerJson(bpe), 'tiny');
  const tokenizer: Tokenizer = Object.create(tok, {
    specialTokens: { value: { ...tok.specialTokens, eos: undefined } },
  });
  const decoder = await createLlama(
    {
      dim: 32,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 2,
      headDim: 8,
      ffnDim: 48,
      vocabSize: tok.vocabSize,
      contextLength,
      normEps: 1e-5,
      ropeTheta: 10000,
      ropeStyle: 'half',
      tieWordEmbeddings: true,
    },
    7,
    0.3,
  );
  const config = { modelType: 'llama', family: 'llama' } as unknown as LanguageModel['config'];
  return new LanguageModel({ config, tokenizer, decoder, source });
}
