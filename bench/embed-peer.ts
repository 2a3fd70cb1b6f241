// For `npm run bench:embed`: a BERT sentence-transformers folder written as a GGUF file llama.cpp reads
// (its `bert` architecture: tensor names and bert.* keys as llama.cpp's convert_hf_to_gguf.py writes
// them, the WordPiece vocabulary as tokenizer.ggml.model "bert"), and llama.cpp's embedding path through
// node-llama-cpp (getLlama → loadModel → createEmbeddingContext → getEmbeddingFor), imported only when
// present: it is not a dependency of glasslm.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SentenceEmbedder } from '../src/embed/embedder.js';
import type { GgufTypedValue } from '../src/formats/gguf.js';
import type { GgufTensorToWrite } from '../src/formats/gguf-write.js';
import { writeGgufFile } from '../src/formats/gguf-node.js';
import { openSafetensorsFolder } from '../src/formats/safetensors-node.js';
import { loadOrExplain, openLlamaCpp, type PeerInfo } from './peer.js';

const u32 = (value: number): GgufTypedValue => ({ type: 'uint32', value });
const f32 = (value: number): GgufTypedValue => ({ type: 'float32', value });
const str = (value: string): GgufTypedValue => ({ type: 'string', value });
const bool = (value: boolean): GgufTypedValue => ({ type: 'bool', value });

/** llama.cpp's enum llama_pooling_type for sentence-transformers' pooling modes it has. */
const POOLING_TYPE: Partial<Record<SentenceEmbedder['pooling'], number>> = { mean: 1, cls: 2 };

/** HF BERT names (without the "bert." prefix) → llama.cpp's bert names, for one layer's prefix. */
function ggufName(hf: string): string | null {
  const fixed: Record<string, string> = {
    'embeddings.word_embeddings.weight': 'token_embd.weight',
    'embeddings.token_type_embeddings.weight': 'token_types.weight',
    'embeddings.position_embeddings.weight': 'position_embd.weight',
    'embeddings.LayerNorm.weight': 'token_embd_norm.weight',
    'embeddings.LayerNorm.bias': 'token_embd_norm.bias',
  };
  if (fixed[hf]) return fixed[hf];
  const m = /^encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$/.exec(hf);
  if (!m) return null; // pooler.*, embeddings.position_ids: llama.cpp's converter drops them too
  const part: Record<string, string> = {
    'attention.self.query': 'attn_q',
    'attention.self.key': 'attn_k',
    'attention.self.value': 'attn_v',
    'attention.output.dense': 'attn_output',
    'attention.output.LayerNorm': 'attn_output_norm',
    'intermediate.dense': 'ffn_up',
    'output.dense': 'ffn_down',
    'output.LayerNorm': 'layer_output_norm',
  };
  const p = part[m[2]];
  return p ? `blk.${m[1]}.${p}.${m[3]}` : null;
}

/**
 * The WordPiece vocabulary as llama.cpp stores it (convert_hf_to_gguf.py's "phantom space" form): special
 * tokens as they are (type 3, control), "##x" continuations as "x", word starts as "▁x" (type 1, normal).
 */
function bertVocabMetadata(emb: SentenceEmbedder, dir: string): Array<[string, GgufTypedValue]> {
  const tok = emb.tokenizer;
  // Special tokens and the normaliser's options from tokenizer.json (BertNormalizer), else lower-cased.
  const special = new Set<number>();
  let lowercase = true;
  let stripAccents: boolean | null = null;
  const tj = join(dir, 'tokenizer.json');
  if (existsSync(tj)) {
    const j = JSON.parse(readFileSync(tj, 'utf8')) as {
      added_tokens?: Array<{ id: number; special?: boolean }>;
      normalizer?: { type?: string; lowercase?: boolean; strip_accents?: boolean | null } | null;
    };
    for (const a of j.added_tokens ?? []) if (a.special) special.add(a.id);
    if (j.normalizer?.type === 'BertNormalizer') {
      lowercase = j.normalizer.lowercase ?? true;
      stripAccents = j.normalizer.strip_accents ?? null;
    }
  }
  const tokens: string[] = [];
  const types = new Int32Array(emb.config.vocabSize);
  for (let i = 0; i < emb.config.vocabSize; i++) {
    const t = tok.idToToken(i) ?? `[unused-${i}]`;
    if (special.has(i) || (special.size === 0 && /^\[(PAD|UNK|CLS|SEP|MASK)\]$/.test(t))) {
      tokens.push(t);
      types[i] = 3;
    } else {
      tokens.push(t.startsWith('##') ? t.slice(2) : `\u2581${t}`);
      types[i] = 1;
    }
  }
  const id = (t: string) => tokens.indexOf(t);
  const { bos: cls, eos: sep, unk, pad } = tok.specialTokens;
  const meta: Array<[string, GgufTypedValue]> = [
    ['tokenizer.ggml.model', str('bert')],
    ['tokenizer.ggml.pre', str('default')],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: types }],
    ['tokenizer.ggml.token_type_count', u32(emb.config.typeVocabSize)],
    ['tokenizer.ggml.normalizer.lowercase', bool(lowercase)],
    ['tokenizer.ggml.normalizer.strip_accents', bool(stripAccents ?? lowercase)],
  ];
  if (cls !== undefined)
    meta.push(['tokenizer.ggml.bos_token_id', u32(cls)], ['tokenizer.ggml.cls_token_id', u32(cls)]);
  if (sep !== undefined) meta.push(['tokenizer.ggml.seperator_token_id', u32(sep)]);
  if (unk !== undefined) meta.push(['tokenizer.ggml.unknown_token_id', u32(unk)]);
  if (pad !== undefined) meta.push(['tokenizer.ggml.padding_token_id', u32(pad)]);
  const mask = id('[MASK]');
  if (mask >= 0) meta.push(['tokenizer.ggml.mask_token_id', u32(mask)]);
  return meta;
}

/**
 * Writes the folder's weights (as float32) and `emb`'s config, pooling and vocabulary as a llama.cpp `bert`
 * GGUF file with glasslm's GGUF writer. Returns the file's size in bytes.
 */
export async function writeBertGguf(dir: string, emb: SentenceEmbedder, path: string): Promise<number> {
  const c = emb.config;
  const pooling = POOLING_TYPE[emb.pooling];
  if (pooling === undefined) throw new Error(`llama.cpp has no ${emb.pooling} pooling`);
  const tensors: GgufTensorToWrite[] = [];
  const src = await openSafetensorsFolder(dir);
  try {
    for (const name of src.names()) {
      const to = ggufName(name.startsWith('bert.') ? name.slice(5) : name);
      if (!to) continue;
      tensors.push({ name: to, shape: src.info(name).shape, type: 'F32', data: await src.read(name) });
    }
  } finally {
    await src.close();
  }
  const metadata: Array<[string, GgufTypedValue]> = [
    ['general.architecture', str('bert')],
    ['general.name', str('glasslm bench:embed (random MiniLM-shaped weights)')],
    ['general.file_type', u32(0)], // all F32
    ['bert.context_length', u32(c.contextLength)],
    ['bert.embedding_length', u32(c.dim)],
    ['bert.feed_forward_length', u32(c.ffnDim)],
    ['bert.block_count', u32(c.nLayers)],
    ['bert.attention.head_count', u32(c.nHeads)],
    ['bert.attention.layer_norm_epsilon', f32(c.layerNormEps)],
    ['bert.attention.causal', bool(false)],
    ['bert.pooling_type', u32(pooling)],
    ...bertVocabMetadata(emb, dir),
  ];
  return writeGgufFile(path, { metadata, tensors });
}

// ---- node-llama-cpp's embedding context ------------------------------------------------------------------

// The few parts of node-llama-cpp's API used here (typed locally: the package may be absent).
interface NlcEmbeddingContext {
  getEmbeddingFor(input: number[] | string): Promise<{ vector: readonly number[] }>;
  dispose(): Promise<void>;
}
interface NlcModel {
  tokenize(text: string): number[];
  createEmbeddingContext(options: {
    contextSize: number;
    batchSize: number;
    threads: number;
  }): Promise<NlcEmbeddingContext>;
  dispose(): Promise<void>;
}

export interface EmbedPeerModel {
  /** llama.cpp's own WordPiece ids for `text` ([CLS]/[SEP] not included). */
  tokenize(text: string): number[];
  /** An embedding context on `threads` threads (one text per llama_decode, as getEmbeddingFor does). */
  context(threads: number): Promise<NlcEmbeddingContext>;
  dispose(): Promise<void>;
}

export interface EmbedPeer {
  info: PeerInfo;
  load(path: string, contextSize: number): Promise<EmbedPeerModel>;
  close(): Promise<void>;
}

/** node-llama-cpp when installed (its native build when one was made, else the prebuilt binary), else null. */
export async function openEmbedPeer(): Promise<EmbedPeer | null> {
  const opened = await openLlamaCpp<NlcModel>();
  if (!opened) return null;
  const { llama, info, log } = opened;
  return {
    info,
    async load(path, contextSize) {
      const model = await loadOrExplain(llama, path, log);
      return {
        tokenize: (text) => model.tokenize(text),
        context: (threads) => model.createEmbeddingContext({ contextSize, batchSize: contextSize, threads }),
        dispose: () => model.dispose(),
      };
    },
    close: () => llama.dispose(),
  };
}
