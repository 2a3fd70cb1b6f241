// BERT-family encoders in GGUF — llama.cpp's `bert` architecture: BERT / MiniLM / BGE, and XLM-RoBERTa
// embedders (multilingual-e5, paraphrase-multilingual-MiniLM), which llama.cpp's converter stores as
// `bert` with a SentencePiece Unigram tokenizer (tokenizer.ggml.model "t5", tokenizers/from-gguf.ts) and
// its position table cut to start at padding_idx + 1 (so in the file, as in BERT, the token at t reads
// row t: no offset is left to apply). The BertConfig from `bert.*` metadata, and tensor names mapped to
// Hugging Face's so models/bert.ts reads a GGUF file by the names it reads a safetensors folder by. Pure.
//
// Not in the file, hence fixed here: the MLP's GELU is the exact (erf) one, as HF's "gelu" (llama.cpp
// itself computes ggml_gelu, the tanh approximation, which differs from it by ~1e-3 at most per unit).
import type { PoolingMode } from '../embed/pooling.js';
import { GlassError } from '../util/errors.js';
import { ggufBool, ggufCount, ggufNumber, ggufString, ggufStringArray, type GgufFile } from './gguf.js';
import { renamedSource } from './weights.js';
import type { BertConfig } from './hf-config.js';
import type { WeightSource } from './weights.js';

/** GGUF name ↔ HF name, `{l}` standing for the layer index. */
const BERT_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['token_embd', 'embeddings.word_embeddings'],
  ['token_types', 'embeddings.token_type_embeddings'],
  ['position_embd', 'embeddings.position_embeddings'],
  ['token_embd_norm', 'embeddings.LayerNorm'],
  ['blk.{l}.attn_q', 'encoder.layer.{l}.attention.self.query'],
  ['blk.{l}.attn_k', 'encoder.layer.{l}.attention.self.key'],
  ['blk.{l}.attn_v', 'encoder.layer.{l}.attention.self.value'],
  ['blk.{l}.attn_output', 'encoder.layer.{l}.attention.output.dense'],
  ['blk.{l}.attn_output_norm', 'encoder.layer.{l}.attention.output.LayerNorm'],
  ['blk.{l}.ffn_up', 'encoder.layer.{l}.intermediate.dense'],
  ['blk.{l}.ffn_down', 'encoder.layer.{l}.output.dense'],
  ['blk.{l}.layer_output_norm', 'encoder.layer.{l}.output.LayerNorm'],
];

/** `from` pattern (with {l}) → a regex over full tensor names, and the rename to `to`. */
function renamer(pairs: ReadonlyArray<readonly [string, string]>): (name: string) => string | undefined {
  const rules = pairs.map(([from, to]) => {
    const re = new RegExp(`^${from.replaceAll('.', '\\.').replace('{l}', '(\\d+)')}\\.(weight|bias)$`);
    return { re, to, layered: from.includes('{l}') };
  });
  return (name) => {
    for (const { re, to, layered } of rules) {
      const m = re.exec(name);
      if (!m) continue;
      return layered ? `${to.replace('{l}', String(Number(m[1])))}.${m[2]}` : `${to}.${m[1]}`;
    }
    return undefined;
  };
}

/** GGUF BERT tensor name → HF name (`blk.0.ffn_up.weight` → `encoder.layer.0.intermediate.dense.weight`). */
export const ggufToHfBertName = renamer(BERT_NAMES);
/** HF BERT tensor name (no "bert." / "roberta." prefix) → GGUF name. */
export const hfToGgufBertName = renamer(BERT_NAMES.map(([g, h]) => [h, g] as const));

/** The file's tensors under HF BERT names. */
export function ggufAsHfBert(file: GgufFile): WeightSource {
  return renamedSource(file, ggufToHfBertName);
}

/** llama.cpp's enum llama_pooling_type, as `bert.pooling_type` stores it. */
const POOLING: Record<number, PoolingMode | string> = {
  0: 'none (one vector per token)',
  1: 'mean',
  2: 'cls',
  3: 'last',
  4: 'rank (a reranker)',
};

/** The sentence pooling `bert.pooling_type` asks for (mean when absent). */
export function ggufBertPooling(file: GgufFile): PoolingMode {
  if (!file.metadata.has('bert.pooling_type')) return 'mean';
  const t = ggufCount(file, 'bert.pooling_type');
  const mode = POOLING[t];
  if (mode !== 'mean' && mode !== 'cls')
    throw new GlassError(
      'UNSUPPORTED',
      `${file.name}: metadata "bert.pooling_type" ${t} (${mode ?? 'unknown'}) is not supported yet: bert.pooling_type (mean 1 and cls 2 are)`,
    );
  return mode;
}

/** The BertConfig of a GGUF file's `bert.*` metadata (UNSUPPORTED for other architectures). */
export function ggufBertConfig(file: GgufFile): BertConfig {
  const arch = ggufString(file, 'general.architecture');
  if (arch !== 'bert')
    throw new GlassError(
      'UNSUPPORTED',
      `${file.name}: general.architecture "${arch}" is not supported as an embedding model yet (expected "bert")`,
    );
  const positive = (key: string, fallback?: number): number => {
    const v = ggufCount(file, key, fallback);
    if (v <= 0)
      throw new GlassError(
        'BAD_FILE',
        `${file.name}: metadata "${key}" is ${v} (expected a positive integer)`,
      );
    return v;
  };
  if (ggufBool(file, 'bert.attention.causal', false))
    throw new GlassError(
      'UNSUPPORTED',
      `${file.name}: metadata "bert.attention.causal" true (causal attention) is not supported yet: bert.attention.causal`,
    );
  const dim = positive('bert.embedding_length');
  const nHeads = positive('bert.attention.head_count');
  if (dim % nHeads !== 0)
    throw new GlassError(
      'BAD_FILE',
      `${file.name}: bert.embedding_length ${dim} is not divisible by bert.attention.head_count ${nHeads}`,
    );
  const vocabSize = file.metadata.has('tokenizer.ggml.tokens')
    ? ggufStringArray(file, 'tokenizer.ggml.tokens').length
    : file.tensorInfo('token_embd.weight').shape[0];
  const typeVocabSize = file.has('token_types.weight')
    ? file.tensorInfo('token_types.weight').shape[0]
    : positive('tokenizer.ggml.token_type_count', 2);
  const optId = (key: string) => (file.metadata.has(key) ? ggufCount(file, key) : undefined);
  return {
    modelType: 'bert',
    family: 'bert', // positions from 0: an XLM-R table was cut to start at padding_idx + 1
    positionOffset: 0,
    rope: null,
    biases: { attention: true, up: true, down: true },
    vocabSize,
    contextLength: positive('bert.context_length'),
    dim,
    nLayers: positive('bert.block_count'),
    nHeads,
    headDim: dim / nHeads,
    ffnDim: positive('bert.feed_forward_length'),
    layerNormEps: ggufNumber(file, 'bert.attention.layer_norm_epsilon', 1e-12),
    activation: 'gelu',
    typeVocabSize,
    padTokenId: optId('tokenizer.ggml.padding_token_id') ?? 0,
    tieWordEmbeddings: false,
    bosTokenId: optId('tokenizer.ggml.bos_token_id'),
    eosTokenId: optId('tokenizer.ggml.eos_token_id'),
    raw: {
      'general.architecture': arch,
      'tokenizer.ggml.model': file.metadata.get('tokenizer.ggml.model'),
    },
  };
}
