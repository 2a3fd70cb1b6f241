// Llama models in GGUF: the LlamaSpec from `llama.*` metadata, and tensor names mapped to Hugging Face's
// (so models/llama.ts reads a GGUF file by the names it reads a safetensors folder by). Pure: no Node APIs.
import { MAX_CONTEXT_LENGTH } from '../nn/positional.js';
import { GlassError } from '../util/errors.js';
import { ggufCount, ggufNumber, ggufString, ggufStringArray, type GgufFile } from './gguf.js';
import { checkLlamaSpec, type LlamaSpec } from './llama-spec.js';
import { tensorNotFound, type WeightSource } from './weights.js';

/**
 * The LlamaSpec of GGUF `llama.*` metadata, with what else the header says. ropeStyle is 'interleaved'
 * (llama.cpp's converter permutes HF's q/k rows); tieWordEmbeddings is true when the file has no
 * `output.weight`.
 */
export interface GgufLlamaConfig extends LlamaSpec {
  arch: 'llama';
  /** Rotated dimensions per head (`llama.rope.dimension_count`, default headDim). */
  ropeDim: number;
  bosTokenId: number | undefined;
  eosTokenId: number | undefined;
}

/** Reads `llama.*` metadata (BAD_FILE naming the key when one is missing or wrong; UNSUPPORTED for other architectures). */
export function ggufLlamaConfig(file: GgufFile): GgufLlamaConfig {
  const arch = ggufString(file, 'general.architecture');
  if (arch !== 'llama') {
    throw new GlassError('UNSUPPORTED', `${file.name}: general.architecture is "${arch}" (expected "llama")`);
  }
  const k = (s: string) => `llama.${s}`;
  const dim = positive(file, k('embedding_length'));
  const nLayers = positive(file, k('block_count'));
  const ffnDim = positive(file, k('feed_forward_length'));
  const nHeads = positive(file, k('attention.head_count'));
  const nKvHeads = positive(file, k('attention.head_count_kv'), nHeads);
  const contextLength = positive(file, k('context_length'));
  if (dim % nHeads !== 0) {
    throw new GlassError(
      'BAD_FILE',
      `${file.name}: llama.embedding_length ${dim} is not divisible by llama.attention.head_count ${nHeads}`,
    );
  }
  if (nHeads % nKvHeads !== 0) {
    throw new GlassError(
      'BAD_FILE',
      `${file.name}: llama.attention.head_count ${nHeads} is not divisible by llama.attention.head_count_kv ${nKvHeads}`,
    );
  }
  const headDim = dim / nHeads;
  const ropeDim = positive(file, k('rope.dimension_count'), headDim);
  const ropeTheta = ggufNumber(file, k('rope.freq_base'), 10000);
  const badKey = (key: string, v: number, expected: string) =>
    new GlassError('BAD_FILE', `${file.name}: metadata "${key}" is ${v} (expected ${expected})`);
  if (contextLength > MAX_CONTEXT_LENGTH)
    throw badKey(k('context_length'), contextLength, `at most ${MAX_CONTEXT_LENGTH} positions`);
  if (headDim % 2 !== 0)
    throw badKey(k('embedding_length'), dim, `an even head dim for RoPE; it gives ${headDim} per head`);
  if (ropeDim % 2 !== 0 || ropeDim > headDim)
    throw badKey(k('rope.dimension_count'), ropeDim, `an even number of at most the head dim ${headDim}`);
  if (!(Number.isFinite(ropeTheta) && ropeTheta > 1))
    throw badKey(k('rope.freq_base'), ropeTheta, 'a finite number above 1');
  const normEps = ggufNumber(file, k('attention.layer_norm_rms_epsilon'), 1e-5);
  let vocabSize: number;
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  if (tokens !== undefined) vocabSize = ggufStringArray(file, 'tokenizer.ggml.tokens').length;
  else if (file.metadata.has(k('vocab_size'))) vocabSize = positive(file, k('vocab_size'));
  else if (file.has('token_embd.weight')) vocabSize = file.tensorInfo('token_embd.weight').shape[0];
  else
    throw new GlassError(
      'BAD_FILE',
      `${file.name}: cannot tell the vocabulary size (no tokenizer.ggml.tokens, llama.vocab_size or token_embd.weight)`,
    );
  const optId = (key: string) => (file.metadata.has(key) ? ggufCount(file, key) : undefined);
  const spec: GgufLlamaConfig = {
    arch,
    dim,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    ffnDim,
    vocabSize,
    contextLength,
    normEps,
    ropeTheta,
    ropeDim,
    ropeStyle: 'interleaved',
    tieWordEmbeddings: !file.has('output.weight'),
    bosTokenId: optId('tokenizer.ggml.bos_token_id'),
    eosTokenId: optId('tokenizer.ggml.eos_token_id'),
  };
  checkLlamaSpec(spec, file.name, 'the GGUF metadata');
  return spec;
}

function positive(file: GgufFile, key: string, fallback?: number): number {
  const v = ggufCount(file, key, fallback);
  if (v <= 0)
    throw new GlassError('BAD_FILE', `${file.name}: metadata "${key}" is ${v} (expected a positive integer)`);
  return v;
}

const LAYER_NAMES: Record<string, string> = {
  attn_norm: 'input_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  ffn_norm: 'post_attention_layernorm',
  ffn_gate: 'mlp.gate_proj',
  ffn_down: 'mlp.down_proj',
  ffn_up: 'mlp.up_proj',
};
const GLOBAL_NAMES: Record<string, string> = {
  token_embd: 'model.embed_tokens',
  output_norm: 'model.norm',
  output: 'lm_head',
};
const HF_LAYER = new Map(Object.entries(LAYER_NAMES).map(([g, h]) => [h, g]));
const HF_GLOBAL = new Map(Object.entries(GLOBAL_NAMES).map(([g, h]) => [h, g]));

/** GGUF Llama tensor name → Hugging Face Llama name (`blk.3.ffn_gate.weight` → `model.layers.3.mlp.gate_proj.weight`); undefined when unknown. */
export function ggufToHfLlamaName(name: string): string | undefined {
  const m = /^(?:blk\.(\d+)\.)?([a-z_]+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const [, layer, base, kind] = m;
  if (layer !== undefined) {
    const h = LAYER_NAMES[base];
    return h === undefined ? undefined : `model.layers.${Number(layer)}.${h}.${kind}`;
  }
  const h = GLOBAL_NAMES[base];
  return h === undefined ? undefined : `${h}.${kind}`;
}

/** Hugging Face Llama tensor name → GGUF name; undefined when unknown. */
export function hfToGgufLlamaName(name: string): string | undefined {
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (m) {
    const g = HF_LAYER.get(m[2]);
    return g === undefined ? undefined : `blk.${Number(m[1])}.${g}.${m[3]}`;
  }
  const n = /^(.+)\.(weight|bias)$/.exec(name);
  if (!n) return undefined;
  const g = HF_GLOBAL.get(n[1]);
  return g === undefined ? undefined : `${g}.${n[2]}`;
}

/**
 * The GGUF file's tensors under Hugging Face Llama names (tensors without a mapping keep their GGUF names),
 * so one Llama loader reads safetensors, llama2.c and GGUF alike. Shapes are in PyTorch order ([out, in]),
 * as HF's are; q/k rows are in GGUF's interleaved RoPE convention (ropeStyle 'interleaved').
 */
export function ggufAsHfLlama(file: GgufFile): WeightSource {
  return ggufRenamed(file, ggufToHfLlamaName);
}

/** The GGUF file's tensors under the names `toHf` gives them (those it does not know keep their GGUF names). */
export function ggufRenamed(file: GgufFile, toHf: (ggufName: string) => string | undefined): WeightSource {
  const toGguf = new Map<string, string>();
  for (const g of file.names()) toGguf.set(toHf(g) ?? g, g);
  const order = [...toGguf.keys()];
  const get = (name: string): string => {
    const g = toGguf.get(name);
    if (g === undefined) throw tensorNotFound(file.name, name, order);
    return g;
  };
  return {
    name: file.name,
    names: () => order.slice(),
    has: (name) => toGguf.has(name),
    info: (name) => ({ ...file.info(get(name)), name }),
    read: (name, into) => file.read(get(name), into),
    readRaw: (name) => file.readRaw(get(name)),
    close: () => file.close(),
  };
}
