// Stage 1 from a GGUF file: the tokenizer llama.cpp stores in metadata (`tokenizer.ggml.*`) —
// SentencePiece-style ('llama') or byte-level BPE ('gpt2') — loaded into our Tokenizer classes.
import { ggufBool, ggufNumberArray, ggufString, ggufStringArray, type GgufFile } from '../formats/gguf.js';
import { GlassError } from '../util/errors.js';
import { BpeTokenizer, type AddedToken } from './bpe.js';
import { PieceType, SentencePieceTokenizer } from './sentencepiece.js';
import { unigramTokenizer } from './load.js';
import type { Tokenizer } from './tokenizer.js';
import { UnigramModel } from './unigram.js';

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
  if (model === 't5') return ugmFromGguf(file, tokens, types, { bos, eos, unk, pad });
  throw new GlassError(
    'UNSUPPORTED',
    `${file.name}: tokenizer.ggml.model "${model}" is not supported yet: ${model}`,
  );
}

/**
 * llama.cpp's "t5" (UGM) vocabulary — T5, and the XLM-RoBERTa embedders its converter stores as `bert` —
 * as a SentencePiece Unigram model (unigram.ts): pieces, scores and types (SentencePiece's numbering), the
 * normaliser's precompiled charsmap (tokenizer.ggml.precompiled_charsmap, nmt_nfkc's for XLM-R),
 * add_space_prefix, remove_extra_whitespaces; control pieces are matched whole in the text. `</s>` ends
 * every input; the bos piece starts it when tokenizer.ggml.add_bos_token is true (XLM-R's "<s> $A </s>").
 */
function ugmFromGguf(
  file: GgufFile,
  pieces: string[],
  types: number[] | undefined,
  ids: { bos?: number; eos?: number; unk?: number; pad?: number },
): Tokenizer {
  const n = pieces.length;
  const pieceTypes = Uint8Array.from(types ?? new Array<number>(n).fill(PieceType.NORMAL));
  if (ids.unk !== undefined) pieceTypes[ids.unk] = PieceType.UNKNOWN;
  const scores = file.metadata.has('tokenizer.ggml.scores')
    ? Float32Array.from(ggufNumberArray(file, 'tokenizer.ggml.scores'))
    : new Float32Array(n);
  let charsmap: Uint8Array | null = null;
  if (file.metadata.has('tokenizer.ggml.precompiled_charsmap')) {
    const a = ggufNumberArray(file, 'tokenizer.ggml.precompiled_charsmap');
    if (!(a instanceof Uint8Array || a instanceof Int8Array))
      throw new GlassError(
        'BAD_FILE',
        `${file.name}: metadata "tokenizer.ggml.precompiled_charsmap" is not an array of bytes`,
      );
    charsmap = a.length ? new Uint8Array(a.buffer, a.byteOffset, a.length).slice() : null;
  }
  const unigram = new UnigramModel(
    {
      pieces,
      scores,
      types: pieceTypes,
      modelType: 1,
      treatWhitespaceAsSuffix: false,
      normalizer: {
        name: 'gguf',
        charsmap,
        addDummyPrefix: ggufBool(file, 'tokenizer.ggml.add_space_prefix', true),
        removeExtraWhitespaces: ggufBool(file, 'tokenizer.ggml.remove_extra_whitespaces', false),
        escapeWhitespaces: true,
      },
    },
    file.name,
  );
  const specials = new Map<string, number>();
  pieceTypes.forEach((t, id) => {
    if (t === PieceType.CONTROL) specials.set(pieces[id], id);
  });
  const addBos = ids.bos !== undefined && ggufBool(file, 'tokenizer.ggml.add_bos_token', false);
  return unigramTokenizer(
    unigram,
    specials,
    {
      bosToken: addBos ? pieces[ids.bos!] : undefined,
      eosToken: ids.eos === undefined ? undefined : pieces[ids.eos],
      padToken: ids.pad === undefined ? undefined : pieces[ids.pad],
    },
    file.name,
  );
}
