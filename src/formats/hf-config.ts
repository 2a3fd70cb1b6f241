// Hugging Face `config.json` → a typed, validated ModelConfig. Pure: no Node APIs.
//
// ModelConfig is a discriminated union on `modelType`; each architecture gets its own variant with
// HF's field names translated to ours and HF's defaults filled in. To add one (llama, bert, t5...):
// add an interface extending BaseModelConfig, add it to the ModelConfig union, and add its parser to
// PARSERS — the compiler then insists that every `switch (config.modelType)` handles it.
import { longropeAttentionFactor, yarnAttentionFactor, type RopeScaling } from '../nn/positional.js';
import { GlassError } from '../util/errors.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../util/half.js';
import { checkLlamaSpec, type LlamaSpec } from './llama-spec.js';

/** Fields every architecture has, under the same names. */
export interface BaseModelConfig {
  /** Which architecture (HF `model_type`). */
  modelType: string;
  vocabSize: number;
  /** Maximum sequence length the model was trained for. */
  contextLength: number;
  /** Width of the residual stream (hidden size). */
  dim: number;
  nLayers: number;
  nHeads: number;
  /** dim / nHeads. */
  headDim: number;
  /** Width of the MLP's hidden layer. */
  ffnDim: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | undefined;
  eosTokenId: number | undefined;
  /** The config.json object as read, for display and for fields not translated here. */
  raw: Readonly<Record<string, unknown>>;
}

export interface Gpt2Config extends BaseModelConfig {
  modelType: 'gpt2';
  /** HF `layer_norm_epsilon`. */
  layerNormEps: number;
  /** HF `activation_function`: 'gelu_new' (tanh approximation) for the released models. */
  activation: string;
  /** HF `scale_attn_weights`: divide attention scores by sqrt(headDim) (default true). */
  scaleAttnWeights: boolean;
  /** HF `scale_attn_by_inverse_layer_idx`: also divide scores by (layer index + 1) (default false). */
  scaleAttnByInverseLayerIdx: boolean;
}

/**
 * Llama-shaped decoders: Llama 2/3, TinyLlama, SmolLM, Mistral, Qwen2, Qwen3, Phi-3, Gemma 2, Gemma 3 (HF
 * `model_type` in `family`). The dimensions are the LlamaSpec's (nKvHeads from `num_key_value_heads`,
 * normEps from `rms_norm_eps`, ropeTheta from `rope_theta`, ropeScaling from `rope_scaling`, ropeDim from
 * Phi-3's `partial_rotary_factor`); HF checkpoints use the half-split RoPE pairing (see hfLlamaSpec). The
 * LlamaSpec's options carry the sliding windows (llamaWindows), Qwen3's q/k norms and Gemma's differences
 * (parseGemma).
 */
export interface LlamaConfig extends BaseModelConfig, Omit<LlamaSpec, 'ropeStyle' | 'attentionBias'> {
  modelType: 'llama';
  /** The HF model_type it came from: 'llama', 'mistral', 'qwen2' or 'phi3'. */
  family: string;
  /** Biases on the q, k, v projections (Qwen2; HF `attention_bias` for Llama). */
  attentionBias: boolean;
}

/** The LlamaSpec of an HF Llama config: its fields, with HF's half-split RoPE pairing. */
export function hfLlamaSpec(config: LlamaConfig): LlamaSpec {
  return { ...config, ropeStyle: 'half' };
}

/**
 * BERT-family encoders (BERT, MiniLM, BGE...; XLM-RoBERTa: multilingual-e5, paraphrase-multilingual):
 * post-LayerNorm blocks, bidirectional attention. XLM-RoBERTa is BERT with its positions counted from
 * padding_idx + 1 (see `positionOffset`) and, in practice, one segment type.
 */
export interface BertConfig extends BaseModelConfig {
  modelType: 'bert';
  /** The HF model_type it came from: 'bert', 'xlm-roberta' or 'nomic_bert' (as 'nomic-bert'). */
  family: 'bert' | 'xlm-roberta' | 'nomic-bert';
  /**
   * nomic-bert: rotary positions in every attention (HF rotary_emb_base; rotary_emb_interleaved false:
   * the half-split pairing) instead of a position table; null for BERT and XLM-R.
   */
  rope: { theta: number; style: 'half' | 'interleaved' } | null;
  /** Biases on q/k/v and the attention output; on the MLP's first layer(s); on its last. BERT: all three. */
  biases: { attention: boolean; up: boolean; down: boolean };
  /**
   * XLM-RoBERTa: position ids are padding_idx + 1 + t (HF create_position_ids_from_input_ids), so the
   * first padding_idx + 1 rows of the position table are never read by a real token and `contextLength`
   * is max_position_embeddings − positionOffset. 0 for BERT (positions from 0).
   */
  positionOffset: number;
  /** HF `layer_norm_eps`. */
  layerNormEps: number;
  /**
   * HF `hidden_act`: 'gelu' (erf) or 'gelu_new' / 'gelu_pytorch_tanh' (tanh approximation); nomic-bert's
   * `activation_function` 'swiglu': fc2(fc11·x ⊙ silu(fc12·x)).
   */
  activation: string;
  /** HF `type_vocab_size`: segment (token type) embeddings. */
  typeVocabSize: number;
  padTokenId: number;
}

/**
 * Marian (Helsinki-NLP opus-mt) encoder-decoders: sinusoidal positions, √d-scaled shared embeddings,
 * post-LayerNorm blocks, SiLU ("swish") MLPs, a tied head plus `final_logits_bias`. The base fields
 * (nLayers, nHeads, ffnDim) are the decoder's; the encoder's have their own.
 */
export interface MarianConfig extends BaseModelConfig {
  modelType: 'marian';
  encoderLayers: number;
  encoderHeads: number;
  encoderFfnDim: number;
  /** HF `activation_function`: 'swish' (= SiLU) for the released models; 'gelu', 'relu' also read. */
  activation: string;
  /** HF `scale_embedding`: embeddings × √d_model. */
  scaleEmbedding: boolean;
  padTokenId: number;
  /** The decoder's first input (Marian: the pad id). */
  decoderStartTokenId: number;
}

/**
 * T5 and Flan-T5 encoder-decoders: a relative position bias (bucketed, learned in each stack's first
 * block) instead of positions, unscaled attention, pre-RMSNorm blocks without biases and a final norm on
 * both stacks, ReLU ("relu") or gated GELU ("gated-gelu") MLPs; the head is the shared table with the
 * decoder's output × d_model^−½ when tied, lm_head otherwise. The base fields are the decoder's; headDim
 * is `d_kv`, which need not be d_model / num_heads.
 */
export interface T5Config extends BaseModelConfig {
  modelType: 't5';
  encoderLayers: number;
  /** HF `feed_forward_proj`: 'relu' or 'gated-gelu' (GELU's tanh approximation gating a linear map). */
  activation: 'relu' | 'gated-gelu';
  /** HF `relative_attention_num_buckets`. */
  relativeBuckets: number;
  /** HF `relative_attention_max_distance`. */
  relativeMaxDistance: number;
  /** HF `layer_norm_epsilon`. */
  normEps: number;
  padTokenId: number;
  decoderStartTokenId: number;
}

/** Every supported architecture. */
export type ModelConfig = Gpt2Config | LlamaConfig | BertConfig | MarianConfig | T5Config;

export type ModelType = ModelConfig['modelType'];

type Parser<T extends ModelType> = (f: Fields) => Extract<ModelConfig, { modelType: T }>;

const PARSERS: { [T in ModelType]: Parser<T> } = {
  gpt2: parseGpt2,
  llama: parseLlama,
  bert: parseBert,
  marian: parseMarian,
  t5: parseT5,
};

/** model_types read by another one's parser (Llama-shaped decoders; BERT-shaped encoders). */
const ALIASES: Record<string, ModelType> = {
  mistral: 'llama',
  qwen2: 'llama',
  qwen3: 'llama',
  phi3: 'llama',
  gemma2: 'llama',
  gemma3_text: 'llama',
  gemma3: 'llama',
  'xlm-roberta': 'bert',
  nomic_bert: 'bert',
};

export const SUPPORTED_MODEL_TYPES = Object.keys(PARSERS) as ModelType[];

export function isSupportedModelType(t: string): t is ModelType {
  return Object.prototype.hasOwnProperty.call(PARSERS, t);
}

/**
 * Validates a parsed config.json. `name` (the file's path or the repo id) is used in error messages.
 * Throws GlassError BAD_FILE for missing or invalid fields and UNSUPPORTED for an unknown model_type.
 */
export function parseHfConfig(json: unknown, name: string): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new GlassError('BAD_FILE', `${name}: expected a JSON object (a Hugging Face config.json)`);
  }
  const f = new Fields(json as Record<string, unknown>, name);
  const given = f.str('model_type', undefined, 'a string such as "gpt2"');
  const type = Object.hasOwn(ALIASES, given) ? ALIASES[given] : given;
  if (!isSupportedModelType(type)) {
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: model_type "${type}" is not supported yet: ${type} (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`,
    );
  }
  return PARSERS[type](f);
}

function parseMarian(f: Fields): MarianConfig {
  const dim = f.posInt('d_model');
  const nHeads = f.posInt('decoder_attention_heads');
  const encoderHeads = f.posInt('encoder_attention_heads');
  for (const [key, h] of [
    ['decoder_attention_heads', nHeads],
    ['encoder_attention_heads', encoderHeads],
  ] as const) {
    if (dim % h !== 0)
      throw new GlassError('BAD_FILE', `${f.name}: field "d_model" ${dim} is not divisible by "${key}" ${h}`);
  }
  if (nHeads !== encoderHeads) {
    throw new GlassError(
      'UNSUPPORTED',
      `${f.name}: encoder and decoder with different head counts (${encoderHeads}, ${nHeads}) are not supported yet`,
    );
  }
  const activation = f.str('activation_function', 'swish');
  if (!['swish', 'silu', 'gelu', 'relu'].includes(activation)) {
    throw new GlassError(
      'UNSUPPORTED',
      `${f.name}: activation_function "${activation}" is not supported yet`,
    );
  }
  const vocabSize = f.posInt('vocab_size');
  if (f.has('decoder_vocab_size') && f.posInt('decoder_vocab_size') !== vocabSize) {
    throw new GlassError(
      'UNSUPPORTED',
      `${f.name}: a decoder vocabulary apart from the encoder's is not supported yet`,
    );
  }
  if (!f.bool('share_encoder_decoder_embeddings', true)) {
    throw new GlassError(
      'UNSUPPORTED',
      `${f.name}: unshared encoder/decoder embeddings are not supported yet`,
    );
  }
  const padTokenId = f.tokenId('pad_token_id', undefined);
  if (padTokenId === undefined)
    throw new GlassError('BAD_FILE', `${f.name}: field "pad_token_id" is missing`);
  return {
    modelType: 'marian',
    vocabSize,
    contextLength: f.posInt('max_position_embeddings'),
    dim,
    nLayers: f.posInt('decoder_layers'),
    nHeads,
    headDim: dim / nHeads,
    ffnDim: f.posInt('decoder_ffn_dim'),
    encoderLayers: f.posInt('encoder_layers'),
    encoderHeads,
    encoderFfnDim: f.posInt('encoder_ffn_dim'),
    activation,
    scaleEmbedding: f.bool('scale_embedding', false),
    padTokenId,
    decoderStartTokenId: f.tokenId('decoder_start_token_id', padTokenId) ?? padTokenId,
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    bosTokenId: f.tokenId('bos_token_id', undefined),
    eosTokenId: f.tokenId('eos_token_id', undefined),
    raw: f.raw,
  };
}

/**
 * T5's config.json (HF T5Config and its defaults). T5 has no position limit of its own (the bias buckets
 * cover any distance): `n_positions` (512 in the released configs) is taken as the context length.
 */
function parseT5(f: Fields): T5Config {
  const dim = f.posInt('d_model');
  const nHeads = f.posInt('num_heads');
  const nLayers = f.posInt('num_layers');
  // HF: "gated-gelu" is a legacy name for gelu_new gating; "gated-relu" etc. are not implemented
  const proj = f.str('feed_forward_proj', 'relu');
  if (proj !== 'relu' && proj !== 'gated-gelu') {
    throw new GlassError(
      'UNSUPPORTED',
      `${f.name}: field "feed_forward_proj" "${proj}" is not supported yet (relu, gated-gelu are)`,
    );
  }
  // fields that would change the maths and are not implemented
  if (f.has('is_decoder') && f.bool('is_decoder'))
    throw new GlassError(
      'UNSUPPORTED',
      `${f.name}: field "is_decoder" true (a decoder-only T5) is not supported yet`,
    );
  if (f.has('is_encoder_decoder') && !f.bool('is_encoder_decoder'))
    throw new GlassError(
      'UNSUPPORTED',
      `${f.name}: field "is_encoder_decoder" false (an encoder-only T5) is not supported yet`,
    );
  const padTokenId = f.tokenId('pad_token_id', 0) ?? 0;
  return {
    modelType: 't5',
    vocabSize: f.posInt('vocab_size'),
    contextLength: f.posInt('n_positions', 512),
    dim,
    nLayers: f.posInt('num_decoder_layers', nLayers),
    nHeads,
    headDim: f.posInt('d_kv', Math.floor(dim / nHeads)),
    ffnDim: f.posInt('d_ff'),
    encoderLayers: nLayers,
    activation: proj,
    relativeBuckets: f.posInt('relative_attention_num_buckets', 32),
    relativeMaxDistance: f.posInt('relative_attention_max_distance', 128),
    normEps: f.posNum('layer_norm_epsilon', 1e-6),
    padTokenId,
    decoderStartTokenId: f.tokenId('decoder_start_token_id', padTokenId) ?? padTokenId,
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    bosTokenId: undefined,
    eosTokenId: f.tokenId('eos_token_id', 1),
    raw: f.raw,
  };
}

/**
 * nomic-bert (nomic-ai/nomic-embed-text-v1.5, its own modeling_hf_nomic_bert.py; GPT-2-style field names):
 * BERT's post-norm encoder with rotary positions, a fused Wqkv, SwiGLU MLPs and, in the released models, no
 * biases. Fields that would change the maths and are not implemented are refused by name.
 */
function parseNomicBert(f: Fields): BertConfig {
  const dim = f.posInt('n_embd');
  const nHeads = f.posInt('n_head');
  if (dim % nHeads !== 0)
    throw new GlassError(
      'BAD_FILE',
      `${f.name}: field "n_embd" ${dim} is not divisible by "n_head" ${nHeads}`,
    );
  const refuse = (key: string, what: string): never => {
    throw new GlassError('UNSUPPORTED', `${f.name}: field "${key}" ${what} is not supported yet: ${key}`);
  };
  const act = f.str('activation_function', 'swiglu');
  if (act !== 'swiglu') refuse('activation_function', JSON.stringify(act));
  for (const key of ['prenorm', 'causal', 'use_rms_norm']) if (f.has(key) && f.bool(key)) refuse(key, 'true');
  if (f.has('rotary_emb_fraction') && f.raw.rotary_emb_fraction !== 1)
    refuse('rotary_emb_fraction', JSON.stringify(f.raw.rotary_emb_fraction));
  for (const key of ['rotary_emb_scale_base', 'rotary_scaling_factor', 'moe_every_n_layers'])
    if (f.has(key)) refuse(key, JSON.stringify(f.raw[key]));
  if (f.has('num_heads_kv') && f.posInt('num_heads_kv') !== nHeads)
    refuse('num_heads_kv', String(f.raw.num_heads_kv));
  return {
    modelType: 'bert',
    family: 'nomic-bert',
    positionOffset: 0,
    rope: {
      theta: f.posNum('rotary_emb_base', 10000),
      style: f.bool('rotary_emb_interleaved', false) ? 'interleaved' : 'half',
    },
    biases: {
      attention: f.bool('qkv_proj_bias', true),
      up: f.bool('mlp_fc1_bias', true),
      down: f.bool('mlp_fc2_bias', true),
    },
    vocabSize: f.posInt('vocab_size'),
    contextLength: f.posInt('n_positions'),
    dim,
    nLayers: f.posInt('n_layer'),
    nHeads,
    headDim: dim / nHeads,
    ffnDim: f.posInt('n_inner'),
    layerNormEps: f.posNum('layer_norm_epsilon', 1e-5),
    activation: act,
    typeVocabSize: f.posInt('type_vocab_size', 2),
    padTokenId: f.tokenId('pad_token_id', 0) ?? 0,
    tieWordEmbeddings: false,
    bosTokenId: undefined,
    eosTokenId: undefined,
    raw: f.raw,
  };
}

function parseBert(f: Fields): BertConfig {
  if (f.str('model_type') === 'nomic_bert') return parseNomicBert(f);
  const family = f.str('model_type') === 'xlm-roberta' ? 'xlm-roberta' : 'bert';
  const dim = f.posInt('hidden_size');
  const nHeads = f.posInt('num_attention_heads');
  if (dim % nHeads !== 0) {
    throw new GlassError(
      'BAD_FILE',
      `${f.name}: field "hidden_size" ${dim} is not divisible by "num_attention_heads" ${nHeads}`,
    );
  }
  const pos = f.str('position_embedding_type', 'absolute');
  if (pos !== 'absolute') {
    throw new GlassError(
      'UNSUPPORTED',
      `${f.name}: position_embedding_type "${pos}" is not supported yet: ${pos}`,
    );
  }
  const activation = f.str('hidden_act', 'gelu');
  if (!['gelu', 'gelu_new', 'gelu_pytorch_tanh'].includes(activation)) {
    throw new GlassError(
      'UNSUPPORTED',
      `${f.name}: hidden_act "${activation}" is not supported yet: ${activation}`,
    );
  }
  // fields that would change the maths and are not implemented: causal (decoder) self-attention
  for (const key of ['is_decoder', 'add_cross_attention']) {
    if (f.has(key) && f.bool(key))
      throw new GlassError(
        'UNSUPPORTED',
        `${f.name}: field "${key}" true (a BERT-family decoder) is not supported yet: ${key}`,
      );
  }
  const maxPositions = f.posInt('max_position_embeddings');
  // HF's XLMRobertaConfig defaults pad_token_id to 1 and BertConfig to 0
  const padTokenId = f.tokenId('pad_token_id', family === 'xlm-roberta' ? 1 : 0) ?? 0;
  const positionOffset = family === 'xlm-roberta' ? padTokenId + 1 : 0;
  if (positionOffset >= maxPositions)
    throw new GlassError(
      'BAD_FILE',
      `${f.name}: field "max_position_embeddings" ${maxPositions} leaves no position after padding_idx + 1 = ${positionOffset}`,
    );
  return {
    modelType: 'bert',
    family,
    positionOffset,
    rope: null,
    biases: { attention: true, up: true, down: true },
    vocabSize: f.posInt('vocab_size'),
    contextLength: maxPositions - positionOffset,
    dim,
    nLayers: f.posInt('num_hidden_layers'),
    nHeads,
    headDim: dim / nHeads,
    ffnDim: f.posInt('intermediate_size'),
    layerNormEps: f.posNum('layer_norm_eps', 1e-12),
    activation,
    typeVocabSize: f.posInt('type_vocab_size', 2),
    padTokenId,
    tieWordEmbeddings: false,
    bosTokenId: undefined,
    eosTokenId: undefined,
    raw: f.raw,
  };
}

function parseLlama(f: Fields): LlamaConfig {
  const family = f.str('model_type');
  if (family === 'gemma3') return parseGemma(gemma3TextFields(f), family);
  if (family === 'gemma2' || family === 'gemma3_text') return parseGemma(f, family);
  const vocabSize = f.posInt('vocab_size');
  const dim = f.posInt('hidden_size');
  const nHeads = f.posInt('num_attention_heads');
  const nKvHeads = f.posInt('num_key_value_heads', nHeads);
  if (nHeads % nKvHeads !== 0) {
    throw new GlassError(
      'BAD_FILE',
      `${f.name}: field "num_attention_heads" ${nHeads} is not a multiple of "num_key_value_heads" ${nKvHeads}`,
    );
  }
  if (!f.has('head_dim') && dim % nHeads !== 0) {
    throw new GlassError(
      'BAD_FILE',
      `${f.name}: field "hidden_size" ${dim} is not divisible by "num_attention_heads" ${nHeads}`,
    );
  }
  const act = f.str('hidden_act', 'silu');
  if (act !== 'silu')
    throw new GlassError('UNSUPPORTED', `${f.name}: hidden_act "${act}" is not supported yet: ${act}`);
  const headDim = f.posInt('head_dim', dim / nHeads);
  const rope = hfRope(f, family, headDim);
  const config: LlamaConfig = {
    modelType: 'llama',
    family,
    vocabSize,
    contextLength: rope.contextLength,
    dim,
    nLayers: f.posInt('num_hidden_layers'),
    nHeads,
    nKvHeads,
    headDim,
    ffnDim: f.posInt('intermediate_size'),
    normEps: f.posNum('rms_norm_eps', 1e-6),
    ropeTheta: rope.theta,
    ...(rope.ropeDim !== headDim && { ropeDim: rope.ropeDim }),
    ...(rope.scaling && { ropeScaling: rope.scaling }),
    // Phi-3's qkv_proj has no bias (HF ignores attention_bias there)
    attentionBias: family !== 'phi3' && f.bool('attention_bias', family === 'qwen2'),
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    bosTokenId: f.tokenId('bos_token_id', undefined),
    eosTokenId: f.tokenId('eos_token_id', undefined),
    raw: f.raw,
  };
  const slidingWindows = llamaWindows(f, family, config.nLayers);
  if (slidingWindows) config.slidingWindows = slidingWindows;
  if (family === 'qwen3') config.qkNorm = true; // q_norm, k_norm on every layer
  checkLlamaSpec(hfLlamaSpec(config), f.name, 'config.json');
  return config;
}

/** The rope_scaling keys each method reads (HF modeling_rope_utils.py); any other key is refused. */
const ROPE_SCALING_KEYS: Record<string, string[]> = {
  linear: ['factor'],
  dynamic: ['factor', 'original_max_position_embeddings'],
  llama3: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
  yarn: [
    'factor',
    'original_max_position_embeddings',
    'beta_fast',
    'beta_slow',
    'attention_factor',
    'mscale',
    'mscale_all_dim',
    'truncate',
  ],
  longrope: ['short_factor', 'long_factor', 'factor', 'attention_factor', 'original_max_position_embeddings'],
};

/**
 * The RoPE of a Llama-shaped config.json: θ, the rotated dims (Phi-3: ⌊head_dim · partial_rotary_factor⌋),
 * `rope_scaling` (or v5's `rope_parameters`; `rope_type` or legacy `type`; "su" is LongRoPE's old name) as
 * a RopeScaling, and the context length that gives: max_position_embeddings, except dynamic
 * (⌊s · max_position_embeddings⌋, the length NTK scaling is for) and yarn (⌊s · L₀⌋ when longer, as Qwen2.5's
 * "factor 4 over 32768" means 131072). Phi-3's `sliding_window` shorter than that becomes the context length:
 * within the window, windowed attention is full attention (windows are not implemented here).
 */
function hfRope(
  f: Fields,
  family: string,
  headDim: number,
): { theta: number; ropeDim: number; scaling: RopeScaling | null; contextLength: number } {
  const unsupported = (field: string, why: string) =>
    new GlassError('UNSUPPORTED', `${f.name}: field "${field}" ${why}`);
  const maxPositions = f.posInt('max_position_embeddings');
  let theta = f.posNum('rope_theta', 10000);
  let ropeDim = headDim;
  if (f.has('partial_rotary_factor')) {
    const p = f.posNum('partial_rotary_factor');
    if (family !== 'phi3' && p !== 1)
      throw unsupported('partial_rotary_factor', `${p} is not supported for ${family} (only phi3 reads it)`);
    ropeDim = Math.floor(headDim * p);
    if (ropeDim % 2 !== 0 || ropeDim <= 0 || p > 1)
      throw new GlassError(
        'BAD_FILE',
        `${f.name}: field "partial_rotary_factor" ${p} gives ${ropeDim} rotary dims of ${headDim} (expected an even number ≥ 2)`,
      );
  }
  let contextLength = maxPositions;
  const window = family === 'phi3' && f.has('sliding_window') ? f.posInt('sliding_window') : Infinity;
  const key = f.has('rope_scaling') ? 'rope_scaling' : f.has('rope_parameters') ? 'rope_parameters' : null;
  if (!key) return { theta, ropeDim, scaling: null, contextLength: Math.min(contextLength, window) };
  const obj = f.raw[key];
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new GlassError('BAD_FILE', `${f.name}: field "${key}" is not an object`);
  const r = new Fields(obj as Record<string, unknown>, `${f.name}: ${key}`);
  let type = r.has('rope_type') ? r.str('rope_type') : r.has('type') ? r.str('type') : 'default';
  if (type === 'su') type = 'longrope';
  if (key === 'rope_parameters' && r.has('rope_theta')) theta = r.posNum('rope_theta');
  if (type === 'default') {
    for (const k of Object.keys(obj)) {
      if (!['rope_type', 'type', 'rope_theta'].includes(k) && r.has(k))
        throw unsupported(`${key}.${k}`, `is not supported for the default RoPE`);
    }
    return { theta, ropeDim, scaling: null, contextLength: Math.min(contextLength, window) };
  }
  const known = ROPE_SCALING_KEYS[type];
  if (!known)
    throw unsupported(
      `${key}.${r.has('rope_type') ? 'rope_type' : 'type'}`,
      `"${type}" is not supported yet (${Object.keys(ROPE_SCALING_KEYS).join(', ')} are)`,
    );
  for (const k of Object.keys(obj)) {
    if (!known.includes(k) && !['rope_type', 'type', 'rope_theta'].includes(k) && r.has(k))
      throw unsupported(`${key}.${k}`, `is not supported for ${type} scaling`);
  }
  // Phi-3 keeps the original context at the top level; newer configs inside rope_scaling
  const original = (fallback: number) =>
    r.posInt('original_max_position_embeddings', f.posInt('original_max_position_embeddings', fallback));
  let scaling: RopeScaling;
  switch (type) {
    case 'linear':
      scaling = { type, factor: r.posNum('factor') };
      break;
    case 'dynamic': {
      // HF's dynamic NTK is relative to max_position_embeddings (it does not read an original context)
      if (r.has('original_max_position_embeddings') && original(maxPositions) !== maxPositions)
        throw unsupported(
          `${key}.original_max_position_embeddings`,
          'differs from max_position_embeddings, which HF dynamic scaling uses',
        );
      scaling = { type, factor: r.posNum('factor'), originalContext: maxPositions };
      contextLength = Math.max(contextLength, Math.floor(scaling.factor * maxPositions));
      break;
    }
    case 'llama3':
      scaling = {
        type,
        factor: r.posNum('factor'),
        lowFreqFactor: r.posNum('low_freq_factor'),
        highFreqFactor: r.posNum('high_freq_factor'),
        originalContext: r.posInt('original_max_position_embeddings'),
      };
      break;
    case 'yarn': {
      const originalContext = original(maxPositions);
      const factor = r.posNum('factor');
      const mscale = r.has('mscale') ? r.posNum('mscale') : undefined;
      const mscaleAllDim = r.has('mscale_all_dim') ? r.posNum('mscale_all_dim') : undefined;
      scaling = {
        type,
        factor,
        originalContext,
        betaFast: r.posNum('beta_fast', 32),
        betaSlow: r.posNum('beta_slow', 1),
        attentionFactor: r.posNum('attention_factor', yarnAttentionFactor(factor, mscale, mscaleAllDim)),
        truncate: r.bool('truncate', true),
      };
      contextLength = Math.max(contextLength, Math.floor(factor * originalContext));
      break;
    }
    default: {
      // longrope: the attention factor's s is max_position_embeddings / L₀ unless `factor` says
      const originalContext = original(maxPositions);
      const factor = r.posNum('factor', maxPositions / originalContext);
      const perDim = (k: string): number[] => {
        const v = r.raw[k];
        if (!Array.isArray(v) || v.length !== ropeDim / 2 || !v.every((x) => typeof x === 'number' && x > 0))
          throw new GlassError(
            'BAD_FILE',
            `${f.name}: field "${key}.${k}" must be ${ropeDim / 2} positive numbers (one per rotated pair)`,
          );
        return v as number[];
      };
      scaling = {
        type: 'longrope',
        shortFactor: perDim('short_factor'),
        longFactor: perDim('long_factor'),
        originalContext,
        attentionFactor: r.posNum('attention_factor', longropeAttentionFactor(factor, originalContext)),
      };
    }
  }
  return { theta, ropeDim, scaling, contextLength: Math.min(contextLength, window) };
}

/**
 * Each layer's sliding window (HF's rules), or undefined when no layer has one. Mistral: `sliding_window`
 * (null: none) on every layer. Qwen2/Qwen3: `sliding_window` only when `use_sliding_window`, on the layers
 * `layer_types` marks "sliding_attention" — by default those from `max_window_layers` on.
 */
function llamaWindows(f: Fields, family: string, nLayers: number): number[] | undefined {
  if (family === 'mistral') {
    if (!f.has('sliding_window')) return undefined;
    return new Array<number>(nLayers).fill(f.posInt('sliding_window'));
  }
  if (family !== 'qwen2' && family !== 'qwen3') return undefined;
  if (!f.bool('use_sliding_window', false) || !f.has('sliding_window')) return undefined;
  const window = f.posInt('sliding_window');
  const from = f.count('max_window_layers', 28);
  const types = layerTypes(f, nLayers) ?? Array.from({ length: nLayers }, (_, i) => i >= from);
  return types.some((t) => t) ? types.map((t) => (t ? window : 0)) : undefined;
}

/** `layer_types` ("sliding_attention" / "full_attention" per layer) as true where sliding; undefined if absent. */
function layerTypes(f: Fields, nLayers: number): boolean[] | undefined {
  if (!f.has('layer_types')) return undefined;
  const v = f.raw.layer_types;
  const ok = (t: unknown) => t === 'sliding_attention' || t === 'full_attention';
  if (!Array.isArray(v) || v.length !== nLayers || !v.every(ok))
    throw new GlassError(
      'UNSUPPORTED',
      `${f.name}: field "layer_types" is ${JSON.stringify(v)} (expected ${nLayers} entries, each "sliding_attention" or "full_attention")`,
    );
  return v.map((t) => t === 'sliding_attention');
}

/** Gemma's activations: GELU's tanh approximation (HF's gelu_pytorch_tanh) is what the released models use. */
const GEMMA_ACTIVATIONS = ['gelu_pytorch_tanh', 'gelu_new', 'gelu_fast'];

/**
 * Gemma 2 (`gemma2`) and Gemma 3's text model (`gemma3_text`), HF's Gemma2Config / Gemma3TextConfig and
 * their defaults: √hidden_size-scaled embeddings (rounded to `torch_dtype`, as HF's normalizer is), RMSNorm
 * by (1 + w), sandwich norms, GeGLU (tanh GELU), scores × query_pre_attn_scalar^−½, sliding windows on
 * the local layers (Gemma 2: every other layer from the first; Gemma 3: all but every
 * `sliding_window_pattern`-th, or `layer_types`), soft-capped scores and logits (Gemma 2's defaults 50 and
 * 30; null: none), Gemma 3's q/k norms and its local layers' RoPE base `rope_local_base_freq`, a tied head.
 */
function parseGemma(f: Fields, family: string): LlamaConfig {
  const gemma3 = family !== 'gemma2'; // gemma3_text, or gemma3's text_config
  const dim = f.posInt('hidden_size');
  const nHeads = f.posInt('num_attention_heads');
  const nKvHeads = f.posInt('num_key_value_heads', nHeads);
  const nLayers = f.posInt('num_hidden_layers');
  const headDim = f.posInt('head_dim', 256);
  const act = f.has('hidden_activation')
    ? f.str('hidden_activation')
    : f.str('hidden_act', 'gelu_pytorch_tanh');
  if (!GEMMA_ACTIVATIONS.includes(act))
    throw new GlassError('UNSUPPORTED', `${f.name}: hidden_activation "${act}" is not supported yet: ${act}`);
  // fields that would change the maths and are not implemented
  if (f.has('rope_scaling'))
    throw new GlassError('UNSUPPORTED', `${f.name}: field "rope_scaling" is not supported yet: rope_scaling`);
  if (f.has('attention_bias') && f.bool('attention_bias'))
    throw new GlassError('UNSUPPORTED', `${f.name}: field "attention_bias" true is not supported yet`);
  if (f.has('use_bidirectional_attention') && f.bool('use_bidirectional_attention'))
    throw new GlassError(
      'UNSUPPORTED',
      `${f.name}: field "use_bidirectional_attention" true is not supported yet`,
    );
  const window = f.posInt('sliding_window', 4096);
  const pattern = gemma3 ? f.posInt('sliding_window_pattern', 6) : 2;
  const sliding =
    layerTypes(f, nLayers) ?? Array.from({ length: nLayers }, (_, i) => (i + 1) % pattern !== 0);
  const ropeTheta = f.posNum('rope_theta', gemma3 ? 1_000_000 : 10000);
  const config: LlamaConfig = {
    modelType: 'llama',
    family,
    vocabSize: f.posInt('vocab_size'),
    contextLength: f.posInt('max_position_embeddings', 8192),
    dim,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    ffnDim: f.posInt('intermediate_size'),
    normEps: f.posNum('rms_norm_eps', 1e-6),
    ropeTheta,
    attentionBias: false,
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    bosTokenId: f.tokenId('bos_token_id', 2),
    eosTokenId: f.tokenId('eos_token_id', 1),
    raw: f.raw,
    slidingWindows: sliding.map((s) => (s ? window : 0)),
    qkNorm: gemma3,
    normOffset: 1,
    sandwichNorms: true,
    ffn: 'geglu',
    embedScale: roundToDtype(Math.sqrt(dim), f.raw.torch_dtype ?? f.raw.dtype),
    attnScale: f.posNum('query_pre_attn_scalar', 256) ** -0.5,
    attnSoftcap: f.optionalPosNum('attn_logit_softcapping', gemma3 ? undefined : 50),
    finalSoftcap: f.optionalPosNum('final_logit_softcapping', gemma3 ? undefined : 30),
    ...(gemma3 && { localRopeTheta: f.posNum('rope_local_base_freq', 10000) }),
  };
  checkLlamaSpec(hfLlamaSpec(config), f.name, 'config.json');
  return config;
}

/** A `gemma3` (multimodal) config.json: its text_config read as a gemma3_text config (family 'gemma3'). */
function gemma3TextFields(f: Fields): Fields {
  const text = f.raw.text_config;
  if (typeof text !== 'object' || text === null || Array.isArray(text))
    throw new GlassError(
      'BAD_FILE',
      `${f.name}: field "text_config" is missing (a gemma3 config holds its text model there)`,
    );
  const t = text as Record<string, unknown>;
  return new Fields(
    { ...t, torch_dtype: t.torch_dtype ?? f.raw.torch_dtype, model_type: 'gemma3_text' },
    `${f.name} (text_config)`,
  );
}

/** x rounded to the float type HF computes a constant in: 'bfloat16', 'float16', else float32. */
function roundToDtype(x: number, dtype: unknown): number {
  if (dtype === 'float16') return f16ToF32(f32ToF16(x));
  if (dtype === 'bfloat16') return bf16ToF32(f32ToBf16(x));
  return Math.fround(x);
}

function parseGpt2(f: Fields): Gpt2Config {
  const vocabSize = f.posInt('vocab_size');
  const contextLength = f.has('n_positions') || !f.has('n_ctx') ? f.posInt('n_positions') : f.posInt('n_ctx');
  const dim = f.posInt('n_embd');
  const nLayers = f.posInt('n_layer');
  const nHeads = f.posInt('n_head');
  if (dim % nHeads !== 0) {
    throw new GlassError(
      'BAD_FILE',
      `${f.name}: field "n_embd" is ${dim}, not divisible by field "n_head" ${nHeads} (expected each head to get n_embd / n_head dimensions)`,
    );
  }
  return {
    modelType: 'gpt2',
    vocabSize,
    contextLength,
    dim,
    nLayers,
    nHeads,
    headDim: dim / nHeads,
    ffnDim: f.posInt('n_inner', 4 * dim),
    layerNormEps: f.posNum('layer_norm_epsilon', 1e-5),
    activation: f.str('activation_function', 'gelu_new'),
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    scaleAttnWeights: f.bool('scale_attn_weights', true),
    scaleAttnByInverseLayerIdx: f.bool('scale_attn_by_inverse_layer_idx', false),
    // transformers' GPT2Config defaults both to 50256 (<|endoftext|>), which only exists in the real vocab.
    bosTokenId: f.tokenId('bos_token_id', vocabSize > 50256 ? 50256 : undefined),
    eosTokenId: f.tokenId('eos_token_id', vocabSize > 50256 ? 50256 : undefined),
    raw: f.raw,
  };
}

/** Typed access to config fields with uniform error messages; `null` counts as absent (HF writes nulls). */
class Fields {
  constructor(
    readonly raw: Record<string, unknown>,
    readonly name: string,
  ) {}

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  private fail(key: string, expected: string): never {
    const v = this.raw[key];
    const what = this.has(key) ? `is ${JSON.stringify(v)}` : 'is missing';
    throw new GlassError('BAD_FILE', `${this.name}: field "${key}" ${what} (expected ${expected})`);
  }

  private get<T>(key: string, fallback: T | undefined, ok: (v: unknown) => boolean, expected: string): T {
    if (!this.has(key)) {
      if (fallback !== undefined) return fallback;
      this.fail(key, expected);
    }
    const v = this.raw[key];
    if (!ok(v)) this.fail(key, expected);
    return v as T;
  }

  posInt(key: string, fallback?: number): number {
    return this.get(key, fallback, (v) => Number.isSafeInteger(v) && (v as number) > 0, 'a positive integer');
  }

  posNum(key: string, fallback?: number): number {
    return this.get(
      key,
      fallback,
      (v) => typeof v === 'number' && Number.isFinite(v) && v > 0,
      'a positive number',
    );
  }

  /** A positive number; absent → fallback, but an explicit null → undefined (Gemma: "no soft-cap"). */
  optionalPosNum(key: string, fallback: number | undefined): number | undefined {
    if (this.raw[key] === null) return undefined;
    return this.has(key) ? this.posNum(key) : fallback;
  }

  /** A non-negative integer (absent → fallback). */
  count(key: string, fallback: number): number {
    return this.get(
      key,
      fallback,
      (v) => Number.isSafeInteger(v) && (v as number) >= 0,
      'a non-negative integer',
    );
  }

  str(key: string, fallback?: string, expected = 'a string'): string {
    return this.get(key, fallback, (v) => typeof v === 'string' && v !== '', expected);
  }

  bool(key: string, fallback?: boolean): boolean {
    return this.get(key, fallback, (v) => typeof v === 'boolean', 'true or false');
  }

  /** A token id, or a list of them (the first one is used); absent → fallback. */
  tokenId(key: string, fallback: number | undefined): number | undefined {
    if (!this.has(key)) return fallback;
    const v = this.raw[key];
    const id = Array.isArray(v) ? v[0] : v;
    if (!Number.isSafeInteger(id) || (id as number) < 0) this.fail(key, 'a non-negative integer token id');
    return id as number;
  }
}
