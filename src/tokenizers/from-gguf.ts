// Stage 1 from a GGUF file: the tokenizer llama.cpp stores in metadata (`tokenizer.ggml.*`) —
// SentencePiece-style ('llama') or byte-level BPE ('gpt2') — loaded into our Tokenizer classes.
import { ggufBool, ggufNumberArray, ggufString, ggufStringArray, type GgufFile } from '../formats/gguf.js';
import { GlassError } from '../util/errors.js';
import { BpeTokenizer, type AddedToken } from './bpe.js';
import { PieceType, SentencePieceTokenizer } from './sentencepiece.js';
import type { Tokenizer } from './tokenizer.js';

function optionalId(file: GgufFile, key: string): number | undefined {
  const v = file.metadata.get(key);
  return typeof v === 'number' ? v : undefined;
}

export function tokenizerFromGguf(file: GgufFile): Tokenizer {
  const model = ggufString(file, 'tokenizer.ggml.model');
  const tokens = ggufStringArray(file, 'tokenizer.ggml.tokens');
  const types = file.metadata.has('tokenizer.ggml.token_type')
    ? Array.from(ggufNumberArray(file, 'tokenizer.ggml.token_type'))
    : undefined;
  const bos = optionalId(file, 'tokenizer.ggml.bos_token_id');
  const eos = optionalId(file, 'tokenizer.ggml.eos_token_id');
  const unk = optionalId(file, 'tokenizer.ggml.unknown_token_id');
  const pad = optionalId(file, 'tokenizer.ggml.padding_token_id');
  if (model === 'llama') {
    return new SentencePieceTokenizer({
      name: file.name,
      pieces: tokens,
      scores: file.metadata.has('tokenizer.ggml.scores')
        ? Array.from(ggufNumberArray(file, 'tokenizer.ggml.scores'))
        : undefined,
      types,
      // undefined lets the tokenizer find a missing one by piece type or name.
      bos,
      eos,
      unk,
      pad,
      addDummyPrefix: ggufBool(file, 'tokenizer.ggml.add_space_prefix', true),
    });
  }
  if (model === 'gpt2') {
    const vocab = new Map<string, number>();
    tokens.forEach((t, i) => vocab.set(t, i));
    const merges = ggufStringArray(file, 'tokenizer.ggml.merges').map((m, i): [string, string] => {
      const sp = m.indexOf(' ', 1);
      if (sp < 0)
        throw new GlassError('BAD_FILE', `${file.name}: tokenizer.ggml.merges[${i}] "${m}" is not "a b"`);
      return [m.slice(0, sp), m.slice(sp + 1)];
    });
    const addedTokens: AddedToken[] = [];
    types?.forEach((t, id) => {
      if (t === PieceType.CONTROL || t === PieceType.USER_DEFINED) {
        addedTokens.push({ id, content: tokens[id], special: t === PieceType.CONTROL });
      }
    });
    return new BpeTokenizer({
      name: file.name,
      vocab,
      merges,
      addedTokens,
      specialTokens: { bos, eos, unk, pad },
    });
  }
  throw new GlassError(
    'UNSUPPORTED',
    `${file.name}: tokenizer.ggml.model "${model}" is not supported yet: ${model}`,
  );
}
