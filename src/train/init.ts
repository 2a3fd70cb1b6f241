// Training — a new model from nothing: a GPT-2 config, weights drawn as GPT-2 draws them, assembled by the
// same buildGpt2 that loads a downloaded checkpoint (so a trained model is an ordinary GPT-2 Decoder); and
// random Llama and BERT models of any shape for tests, built by the loaders' own buildLlama / buildBert.
import { parseHfConfig, type BertConfig, type Gpt2Config, type MarianConfig } from '../formats/hf-config.js';
import type { WeightSource } from '../formats/weights.js';
import { buildBert } from '../models/bert.js';
import type { Decoder } from '../models/decoder.js';
import type { Encoder } from '../models/encoder.js';
import { buildGpt2 } from '../models/gpt2.js';
import { buildLlama, type LlamaSpec } from '../models/llama.js';
import { buildMarian } from '../models/marian.js';
import type { Seq2Seq } from '../models/seq2seq.js';
import { Rng } from '../generate/rng.js';
import { GlassError } from '../util/errors.js';

/** Named tensors held in memory, read through the same interface as a safetensors file. */
export function memoryWeights(
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
  name = 'memory',
): WeightSource {
  const get = (n: string) => {
    const t = tensors.get(n);
    if (!t) throw new GlassError('NOT_FOUND', `${name}: no tensor "${n}"`);
    return t;
  };
  return {
    name,
    names: () => [...tensors.keys()],
    has: (n) => tensors.has(n),
    info: (n) => ({ name: n, dtype: 'F32', shape: get(n).shape.slice(), file: name }),
    read: async (n, into) => {
      const data = get(n).data;
      if (!into) return data;
      into.set(data);
      return into;
    },
    close: async () => {},
  };
}

/** Normal samples (Box–Muller over the seeded mulberry32): the same weights for the same seed everywhere. */
export class Gaussian {
  private readonly rng: Rng;
  private spare: number | null = null;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }
  next(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u1 = 1 - this.rng.next();
    const u2 = this.rng.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
  fill(n: number, std: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = std * this.next();
    return out;
  }
}

/** Named tensors for memoryWeights, drawn in the order they are added from one seeded Gaussian. */
class RandomTensors {
  readonly map = new Map<string, { shape: number[]; data: Float32Array }>();
  private readonly g: Gaussian;
  constructor(
    seed: number,
    private readonly std: number,
  ) {
    this.g = new Gaussian(seed);
  }
  /** Values of `shape` drawn from N(mean, sd²). */
  normal = (name: string, shape: number[], sd = this.std, mean = 0): void => {
    const data = this.g.fill(
      shape.reduce((a, b) => a * b, 1),
      sd,
    );
    if (mean !== 0) for (let i = 0; i < data.length; i++) data[i] += mean;
    this.map.set(name, { shape, data });
  };
  /** n copies of v. */
  fill = (name: string, n: number, v: number): void => {
    this.map.set(name, { shape: [n], data: new Float32Array(n).fill(v) });
  };
}

export interface Gpt2Shape {
  nLayers: number;
  nHeads: number;
  dim: number;
  contextLength: number;
  vocabSize: number;
  /** Id of <|endoftext|> (bos and eos in config.json), if the vocabulary has one. */
  eosTokenId?: number;
}

/** config.json of a GPT-2 (the fields Hugging Face's GPT2Config writes that matter to loading it). */
export function gpt2ConfigJson(s: Gpt2Shape): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    vocab_size: s.vocabSize,
    n_positions: s.contextLength,
    n_ctx: s.contextLength,
    n_embd: s.dim,
    n_layer: s.nLayers,
    n_head: s.nHeads,
    n_inner: null,
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    scale_attn_weights: true,
    tie_word_embeddings: true,
    bos_token_id: s.eosTokenId ?? null,
    eos_token_id: s.eosTokenId ?? null,
    torch_dtype: 'float32',
  };
}

/**
 * A freshly initialised GPT-2, as GPT-2/nanoGPT initialise one: weights ~ N(0, 0.02²), the projections
 * that write into the residual stream (attn.c_proj, mlp.c_proj) ~ N(0, (0.02/√(2·layers))²), biases 0,
 * LayerNorm γ = 1, β = 0; the LM head is tied to the token embedding.
 */
export async function createGpt2(
  shape: Gpt2Shape,
  seed: number,
): Promise<{ config: Gpt2Config; decoder: Decoder }> {
  const { nLayers, nHeads, dim, contextLength, vocabSize } = shape;
  if (dim % nHeads !== 0)
    throw new GlassError('BAD_INPUT', `--dim ${dim} is not divisible by --heads ${nHeads}`);
  const config = parseHfConfig(gpt2ConfigJson(shape), 'new GPT-2 config') as Gpt2Config;
  const std = 0.02;
  const projStd = std / Math.sqrt(2 * nLayers);
  const t = new RandomTensors(seed, std);
  const { normal, fill } = t;
  normal('wte.weight', [vocabSize, dim], std);
  normal('wpe.weight', [contextLength, dim], std);
  for (let l = 0; l < nLayers; l++) {
    const p = `h.${l}`;
    fill(`${p}.ln_1.weight`, dim, 1);
    fill(`${p}.ln_1.bias`, dim, 0);
    normal(`${p}.attn.c_attn.weight`, [dim, 3 * dim], std);
    fill(`${p}.attn.c_attn.bias`, 3 * dim, 0);
    normal(`${p}.attn.c_proj.weight`, [dim, dim], projStd);
    fill(`${p}.attn.c_proj.bias`, dim, 0);
    fill(`${p}.ln_2.weight`, dim, 1);
    fill(`${p}.ln_2.bias`, dim, 0);
    normal(`${p}.mlp.c_fc.weight`, [dim, 4 * dim], std);
    fill(`${p}.mlp.c_fc.bias`, 4 * dim, 0);
    normal(`${p}.mlp.c_proj.weight`, [4 * dim, dim], projStd);
    fill(`${p}.mlp.c_proj.bias`, dim, 0);
  }
  fill('ln_f.weight', dim, 1);
  fill('ln_f.bias', dim, 0);
  return { config, decoder: await buildGpt2(config, memoryWeights(t.map, 'new GPT-2')) };
}

/** A randomly initialised Llama-shaped Decoder (tests: grouped-query attention, RoPE, SwiGLU, RMSNorm). */
export async function createLlama(spec: LlamaSpec, seed: number, std = 0.02): Promise<Decoder> {
  const { dim, nLayers, nHeads, nKvHeads, headDim, ffnDim, vocabSize } = spec;
  const t = new RandomTensors(seed, std);
  const { normal } = t;
  const ones = (name: string, n: number) => normal(name, [n], 0.1, 1);
  normal('model.embed_tokens.weight', [vocabSize, dim]);
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}`;
    ones(`${p}.input_layernorm.weight`, dim);
    normal(`${p}.self_attn.q_proj.weight`, [nHeads * headDim, dim]);
    normal(`${p}.self_attn.k_proj.weight`, [nKvHeads * headDim, dim]);
    normal(`${p}.self_attn.v_proj.weight`, [nKvHeads * headDim, dim]);
    if (spec.attentionBias) {
      normal(`${p}.self_attn.q_proj.bias`, [nHeads * headDim]);
      normal(`${p}.self_attn.k_proj.bias`, [nKvHeads * headDim]);
      normal(`${p}.self_attn.v_proj.bias`, [nKvHeads * headDim]);
    }
    normal(`${p}.self_attn.o_proj.weight`, [dim, nHeads * headDim]);
    ones(`${p}.post_attention_layernorm.weight`, dim);
    normal(`${p}.mlp.gate_proj.weight`, [ffnDim, dim]);
    normal(`${p}.mlp.up_proj.weight`, [ffnDim, dim]);
    normal(`${p}.mlp.down_proj.weight`, [dim, ffnDim]);
  }
  ones('model.norm.weight', dim);
  if (!spec.tieWordEmbeddings) normal('lm_head.weight', [vocabSize, dim]);
  return buildLlama(spec, memoryWeights(t.map, 'new Llama'));
}

export interface BertShape {
  nLayers: number;
  nHeads: number;
  dim: number;
  ffnDim: number;
  vocabSize: number;
  contextLength: number;
}

/** config.json of a BERT of this shape (exact GELU, two segment types), as Hugging Face's BertConfig writes it. */
export function bertConfigJson(shape: BertShape): Record<string, unknown> {
  return {
    architectures: ['BertModel'],
    model_type: 'bert',
    hidden_size: shape.dim,
    num_hidden_layers: shape.nLayers,
    num_attention_heads: shape.nHeads,
    intermediate_size: shape.ffnDim,
    vocab_size: shape.vocabSize,
    max_position_embeddings: shape.contextLength,
    type_vocab_size: 2,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-12,
    pad_token_id: 0,
  };
}

/**
 * A randomly initialised BERT-shaped Encoder (tests and fine-tuning checks: post-norm blocks, bidirectional
 * attention, exact GELU, segment embeddings), built by the same buildBert that loads MiniLM.
 */
export async function createBert(shape: BertShape, seed: number, std = 0.02): Promise<Encoder> {
  const { nLayers, dim, ffnDim, vocabSize, contextLength } = shape;
  const config = parseHfConfig(bertConfigJson(shape), 'new BERT config') as BertConfig;
  const t = new RandomTensors(seed, std);
  const { normal } = t;
  const norm = (name: string) => {
    normal(`${name}.weight`, [dim], 0.1, 1);
    normal(`${name}.bias`, [dim], 0.05);
  };
  normal('embeddings.word_embeddings.weight', [vocabSize, dim]);
  normal('embeddings.position_embeddings.weight', [contextLength, dim]);
  normal('embeddings.token_type_embeddings.weight', [2, dim]);
  norm('embeddings.LayerNorm');
  for (let l = 0; l < nLayers; l++) {
    const p = `encoder.layer.${l}`;
    for (const part of ['query', 'key', 'value']) {
      normal(`${p}.attention.self.${part}.weight`, [dim, dim]);
      normal(`${p}.attention.self.${part}.bias`, [dim]);
    }
    normal(`${p}.attention.output.dense.weight`, [dim, dim]);
    normal(`${p}.attention.output.dense.bias`, [dim]);
    norm(`${p}.attention.output.LayerNorm`);
    normal(`${p}.intermediate.dense.weight`, [ffnDim, dim]);
    normal(`${p}.intermediate.dense.bias`, [ffnDim]);
    normal(`${p}.output.dense.weight`, [dim, ffnDim]);
    normal(`${p}.output.dense.bias`, [dim]);
    norm(`${p}.output.LayerNorm`);
  }
  return buildBert(config, memoryWeights(t.map, 'new BERT'));
}

export interface MarianShape {
  dim: number;
  encoderLayers: number;
  decoderLayers: number;
  nHeads: number;
  ffnDim: number;
  vocabSize: number;
  contextLength: number;
  /** The decoder's start token, never generated (Marian: the pad id). */
  padTokenId: number;
  eosTokenId: number;
}

/** The config.json of a new Marian-shaped encoder-decoder (SiLU MLPs, √d-scaled embeddings). */
export function marianConfigJson(s: MarianShape): Record<string, unknown> {
  return {
    architectures: ['MarianMTModel'],
    model_type: 'marian',
    activation_function: 'swish',
    d_model: s.dim,
    encoder_layers: s.encoderLayers,
    decoder_layers: s.decoderLayers,
    encoder_attention_heads: s.nHeads,
    decoder_attention_heads: s.nHeads,
    encoder_ffn_dim: s.ffnDim,
    decoder_ffn_dim: s.ffnDim,
    max_position_embeddings: s.contextLength,
    vocab_size: s.vocabSize,
    pad_token_id: s.padTokenId,
    eos_token_id: s.eosTokenId,
    decoder_start_token_id: s.padTokenId,
    bad_words_ids: [[s.padTokenId]],
    scale_embedding: true,
    static_position_embeddings: true,
  };
}

/**
 * A randomly initialised Marian-shaped encoder-decoder (BART's init: N(0, std) matrices, unit norms), built
 * by the same buildMarian that loads opus-mt checkpoints.
 */
export async function createMarian(
  shape: MarianShape,
  seed: number,
  std = 0.02,
): Promise<{ config: MarianConfig; model: Seq2Seq }> {
  const config = parseHfConfig(marianConfigJson(shape), 'new Marian config') as MarianConfig;
  const { dim, ffnDim, vocabSize } = shape;
  const t = new RandomTensors(seed, std);
  const { normal, fill } = t;
  const linear = (name: string, out: number, inp: number) => {
    normal(`${name}.weight`, [out, inp]);
    fill(`${name}.bias`, out, 0);
  };
  const norm = (name: string) => {
    fill(`${name}.weight`, dim, 1);
    fill(`${name}.bias`, dim, 0);
  };
  const attention = (p: string) => {
    for (const x of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`${p}.${x}`, dim, dim);
  };
  normal('model.shared.weight', [vocabSize, dim]);
  for (let l = 0; l < shape.encoderLayers; l++) {
    const p = `model.encoder.layers.${l}`;
    attention(`${p}.self_attn`);
    norm(`${p}.self_attn_layer_norm`);
    linear(`${p}.fc1`, ffnDim, dim);
    linear(`${p}.fc2`, dim, ffnDim);
    norm(`${p}.final_layer_norm`);
  }
  for (let l = 0; l < shape.decoderLayers; l++) {
    const p = `model.decoder.layers.${l}`;
    attention(`${p}.self_attn`);
    norm(`${p}.self_attn_layer_norm`);
    attention(`${p}.encoder_attn`);
    norm(`${p}.encoder_attn_layer_norm`);
    linear(`${p}.fc1`, ffnDim, dim);
    linear(`${p}.fc2`, dim, ffnDim);
    norm(`${p}.final_layer_norm`);
  }
  t.map.set('final_logits_bias', { shape: [1, vocabSize], data: new Float32Array(vocabSize) });
  return { config, model: await buildMarian(config, memoryWeights(t.map, 'new Marian')) };
}
