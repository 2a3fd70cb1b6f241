// Llama-shaped models in GGUF (llama.cpp archs `llama`, `phi3`, `qwen3`, `gemma2`, `gemma3`): the LlamaSpec
// from `<arch>.*` metadata, and tensor names mapped to Hugging Face's (so models/llama.ts reads a GGUF file
// by the names it reads a safetensors folder by). Pure: no Node APIs.
// RoPE scaling as llama.cpp stores it: `rope_freqs.weight` (per-pair frequency divisors, what its converter
// writes for Llama 3.1's llama3 scaling), `<arch>.rope.scaling.type` "linear" with `.factor`, and Phi-3's
// LongRoPE as `rope_factors_short.weight` / `rope_factors_long.weight` with
// `phi3.rope.scaling.original_context_length` and `.attn_factor`.
// The architectures other than `llama` follow llama.cpp's conventions: their q/k rows are not permuted (RoPE
// half-split), Gemma's norm weights are stored as 1 + w (the converter adds the 1), its embeddings are
// scaled by √dim in float32, Gemma 2 windows every other layer from the first, Gemma 3 all but every 6th
// (or `gemma3.attention.sliding_window_pattern`), its local layers rotating by `rope.freq_base_swa`
// (default 10000). Gemma's attention scale is `attention.scale` where the file has it, else llama.cpp's
// rule: 1/√head_dim, but (hidden / heads)^−½ for the 27B models (46 / 62 layers).
import { longropeAttentionFactor, MAX_CONTEXT_LENGTH } from '../nn/positional.js';
import { GlassError } from '../util/errors.js';
import {
  ggufCount,
  ggufNumber,
  ggufString,
  ggufStringArray,
  type GgufFile,
  type GgufTypedValue,
} from './gguf.js';
import { checkLlamaSpec, type LlamaSpec } from './llama-spec.js';
import { renamedSource, type WeightSource } from './weights.js';

/**
 * The LlamaSpec of GGUF `<arch>.*` metadata, with what else the header says. ropeStyle is 'interleaved'
 * for llama (llama.cpp's converter permutes HF's q/k rows) and 'half' for the others (llama.cpp's NEOX
 * rope: rows as HF has them); tieWordEmbeddings is true when the file has no `output.weight`.
 */
export interface GgufLlamaConfig extends LlamaSpec {
  arch: GgufLlamaArch;
  /** Rotated dimensions per head (`llama.rope.dimension_count`, default headDim). */
  ropeDim: number;
  bosTokenId: number | undefined;
  eosTokenId: number | undefined;
}

/** The general.architecture values read as Llama-shaped. */
export const GGUF_LLAMA_ARCHS = ['llama', 'phi3', 'qwen3', 'gemma2', 'gemma3'] as const;
export type GgufLlamaArch = (typeof GGUF_LLAMA_ARCHS)[number];

/** Reads `llama.*` metadata (BAD_FILE naming the key when one is missing or wrong; UNSUPPORTED for other architectures). */
export function ggufLlamaConfig(file: GgufFile): GgufLlamaConfig {
  const arch = ggufString(file, 'general.architecture') as GgufLlamaArch;
  if (!GGUF_LLAMA_ARCHS.includes(arch)) {
    throw new GlassError(
      'UNSUPPORTED',
      `${file.name}: general.architecture is "${arch}" (expected one of ${GGUF_LLAMA_ARCHS.join(', ')})`,
    );
  }
  const k = (s: string) => `${arch}.${s}`;
  const dim = positive(file, k('embedding_length'));
  const nLayers = positive(file, k('block_count'));
  const ffnDim = positive(file, k('feed_forward_length'));
  const nHeads = positive(file, k('attention.head_count'));
  const nKvHeads = positive(file, k('attention.head_count_kv'), nHeads);
  let contextLength = positive(file, k('context_length'));
  if (!file.metadata.has(k('attention.key_length')) && dim % nHeads !== 0) {
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
  const headDim = positive(file, k('attention.key_length'), dim / nHeads);
  const valueLength = positive(file, k('attention.value_length'), headDim);
  if (valueLength !== headDim)
    throw new GlassError(
      'UNSUPPORTED',
      `${file.name}: metadata "${k('attention.value_length')}" ${valueLength} differs from the key length ${headDim}`,
    );
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
  const scalingType = ggufString(file, k('rope.scaling.type'), 'none');
  if (scalingType !== 'none' && scalingType !== 'linear')
    throw new GlassError(
      'UNSUPPORTED',
      `${file.name}: metadata "${k('rope.scaling.type')}" "${scalingType}" is not supported yet (none, linear are)`,
    );
  // Phi-3's window: within it, windowed attention is full attention (windows are not implemented here)
  if (arch === 'phi3' && file.metadata.has(k('attention.sliding_window')))
    contextLength = Math.min(contextLength, positive(file, k('attention.sliding_window')));
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
    ropeStyle: arch === 'llama' ? 'interleaved' : 'half',
    ...(scalingType === 'linear' && {
      ropeScaling: { type: 'linear' as const, factor: ggufNumber(file, k('rope.scaling.factor')) },
    }),
    tieWordEmbeddings: !file.has('output.weight'),
    bosTokenId: optId('tokenizer.ggml.bos_token_id'),
    eosTokenId: optId('tokenizer.ggml.eos_token_id'),
  };
  if (arch === 'qwen3') spec.qkNorm = true;
  if (arch === 'gemma2' || arch === 'gemma3') Object.assign(spec, ggufGemmaOptions(file, arch, spec));
  checkLlamaSpec(spec, file.name, 'the GGUF metadata');
  return spec;
}

/** Gemma's options from `gemma2.*` / `gemma3.*` metadata, as llama.cpp reads them (see the header). */
function ggufGemmaOptions(file: GgufFile, arch: 'gemma2' | 'gemma3', spec: LlamaSpec): Partial<LlamaSpec> {
  const k = (s: string) => `${arch}.${s}`;
  const window = positive(file, k('attention.sliding_window'), 4096);
  const pattern = arch === 'gemma2' ? 2 : positive(file, k('attention.sliding_window_pattern'), 6);
  const opt = (key: string) => (file.metadata.has(key) ? ggufNumber(file, key) : undefined);
  const big = spec.nLayers === (arch === 'gemma2' ? 46 : 62); // llama.cpp's 27B rule
  return {
    slidingWindows: Array.from({ length: spec.nLayers }, (_, i) => ((i + 1) % pattern !== 0 ? window : 0)),
    qkNorm: arch === 'gemma3',
    normOffset: 0,
    sandwichNorms: true,
    ffn: 'geglu',
    embedScale: Math.fround(Math.sqrt(spec.dim)),
    attnScale: opt(k('attention.scale')) ?? (big ? spec.dim / spec.nHeads : spec.headDim) ** -0.5,
    attnSoftcap: opt(k('attn_logit_softcapping')),
    finalSoftcap: opt(k('final_logit_softcapping')),
    ...(arch === 'gemma3' && { localRopeTheta: opt(k('rope.freq_base_swa')) ?? 10000 }),
  };
}

/**
 * The metadata a GGUF file of `arch` carries for a LlamaSpec (what ggufLlamaConfig reads back), for
 * glasslm's writer. The tensors go under hfToGgufLlamaName's names, Gemma's norms as 1 + w (ggufNormValues);
 * llama's q/k rows would need llama.cpp's permutation (not done here: qwen3 / gemma only).
 */
export function ggufLlamaMetadata(spec: LlamaSpec, arch: GgufLlamaArch): Array<[string, GgufTypedValue]> {
  if (arch === 'llama')
    throw new Error('ggufLlamaMetadata: llama files need permuted q/k rows (not written here)');
  const u32 = (v: number): GgufTypedValue => ({ type: 'uint32', value: v });
  const f32 = (v: number): GgufTypedValue => ({ type: 'float32', value: v });
  const k = (s: string) => `${arch}.${s}`;
  const m: Array<[string, GgufTypedValue]> = [
    ['general.architecture', { type: 'string', value: arch }],
    [k('vocab_size'), u32(spec.vocabSize)],
    [k('context_length'), u32(spec.contextLength)],
    [k('embedding_length'), u32(spec.dim)],
    [k('block_count'), u32(spec.nLayers)],
    [k('feed_forward_length'), u32(spec.ffnDim)],
    [k('attention.head_count'), u32(spec.nHeads)],
    [k('attention.head_count_kv'), u32(spec.nKvHeads)],
    [k('attention.key_length'), u32(spec.headDim)],
    [k('attention.value_length'), u32(spec.headDim)],
    [k('attention.layer_norm_rms_epsilon'), f32(spec.normEps)],
    [k('rope.freq_base'), f32(spec.ropeTheta)],
  ];
  if (arch === 'qwen3') return m;
  const windows = spec.slidingWindows ?? [];
  const window = windows.find((w) => w > 0);
  if (window !== undefined) m.push([k('attention.sliding_window'), u32(window)]);
  if (arch === 'gemma3') {
    const pattern = windows.findIndex((w) => w === 0) + 1;
    if (pattern > 0) m.push([k('attention.sliding_window_pattern'), u32(pattern)]);
    if (spec.localRopeTheta !== undefined) m.push([k('rope.freq_base_swa'), f32(spec.localRopeTheta)]);
  }
  if (spec.attnScale !== undefined) m.push([k('attention.scale'), f32(spec.attnScale)]);
  if (spec.attnSoftcap !== undefined) m.push([k('attn_logit_softcapping'), f32(spec.attnSoftcap)]);
  if (spec.finalSoftcap !== undefined) m.push([k('final_logit_softcapping'), f32(spec.finalSoftcap)]);
  return m;
}

/** A norm weight as `arch`'s GGUF stores it: Gemma's HF w as 1 + w (llama.cpp's converter does the same). */
export function ggufNormValues(hfName: string, data: Float32Array, arch: GgufLlamaArch): Float32Array {
  const gemma = arch === 'gemma2' || arch === 'gemma3';
  return gemma && /norm\.weight$/.test(hfName) ? data.map((v) => v + 1) : data;
}

/**
 * ggufLlamaConfig plus the RoPE scaling a file keeps in tensors: `rope_freqs.weight` (ropeDim/2 divisors of
 * the frequencies: freq-factors) and Phi-3's `rope_factors_short/long.weight` (longrope, the original context
 * from `phi3.rope.scaling.original_context_length`, the attention factor from `.attn_factor` or, absent,
 * LongRoPE's default for context_length / original).
 */
export async function ggufLlamaSpec(file: GgufFile): Promise<GgufLlamaConfig> {
  const spec = ggufLlamaConfig(file);
  const k = (s: string) => `${spec.arch}.${s}`;
  const factors = async (name: string): Promise<number[]> => {
    const v = Array.from(await file.read(name));
    if (v.length !== spec.ropeDim / 2)
      throw new GlassError(
        'BAD_FILE',
        `${file.name}: tensor "${name}" has ${v.length} values (expected ${spec.ropeDim / 2}, one per rotated pair)`,
      );
    return v;
  };
  const both = () =>
    new GlassError(
      'UNSUPPORTED',
      `${file.name}: two RoPE scalings at once (${k('rope.scaling.type')} and rope factors)`,
    );
  if (file.has('rope_freqs.weight')) {
    if (spec.ropeScaling) throw both();
    spec.ropeScaling = { type: 'freq-factors', factors: await factors('rope_freqs.weight') };
  }
  if (file.has('rope_factors_long.weight') || file.has('rope_factors_short.weight')) {
    if (spec.ropeScaling) throw both();
    const originalContext = positive(file, k('rope.scaling.original_context_length'));
    const extended = positive(file, k('context_length'));
    spec.ropeScaling = {
      type: 'longrope',
      shortFactor: await factors('rope_factors_short.weight'),
      longFactor: await factors('rope_factors_long.weight'),
      originalContext,
      attentionFactor: ggufNumber(
        file,
        k('rope.scaling.attn_factor'),
        longropeAttentionFactor(extended / originalContext, originalContext),
      ),
    };
  }
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
  attn_qkv: 'self_attn.qkv_proj',
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
/** Qwen3's and Gemma's per-head q/k norms. */
const QK_NORM_NAMES: Record<string, string> = {
  attn_q_norm: 'self_attn.q_norm',
  attn_k_norm: 'self_attn.k_norm',
};
/** Gemma's sandwich norms: llama.cpp's ffn_norm is the norm before the feed-forward, as in Llama. */
const GEMMA_LAYER_NAMES: Record<string, string> = {
  ...LAYER_NAMES,
  ...QK_NORM_NAMES,
  post_attention_norm: 'post_attention_layernorm',
  ffn_norm: 'pre_feedforward_layernorm',
  post_ffw_norm: 'post_feedforward_layernorm',
};
const ARCH_LAYER_NAMES: Record<GgufLlamaArch, Record<string, string>> = {
  llama: LAYER_NAMES,
  phi3: LAYER_NAMES,
  qwen3: { ...LAYER_NAMES, ...QK_NORM_NAMES },
  gemma2: GEMMA_LAYER_NAMES,
  gemma3: GEMMA_LAYER_NAMES,
};
const HF_GLOBAL = new Map(Object.entries(GLOBAL_NAMES).map(([g, h]) => [h, g]));

/** GGUF Llama tensor name → Hugging Face Llama name (`blk.3.ffn_gate.weight` → `model.layers.3.mlp.gate_proj.weight`); undefined when unknown. */
export function ggufToHfLlamaName(name: string, arch: GgufLlamaArch = 'llama'): string | undefined {
  const m = /^(?:blk\.(\d+)\.)?([a-z_]+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const [, layer, base, kind] = m;
  if (layer !== undefined) {
    const h = ARCH_LAYER_NAMES[arch][base];
    return h === undefined ? undefined : `model.layers.${Number(layer)}.${h}.${kind}`;
  }
  const h = GLOBAL_NAMES[base];
  return h === undefined ? undefined : `${h}.${kind}`;
}

/** Hugging Face Llama tensor name → GGUF name; undefined when unknown. */
export function hfToGgufLlamaName(name: string, arch: GgufLlamaArch = 'llama'): string | undefined {
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (m) {
    // phi3: llama.cpp keeps Phi-3's fused gate|up as ffn_up
    const g =
      m[2] === 'mlp.gate_up_proj'
        ? 'ffn_up'
        : Object.entries(ARCH_LAYER_NAMES[arch]).find(([, h]) => h === m[2])?.[0];
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
 * as HF's are; q/k rows are in GGUF's interleaved RoPE convention for llama (ropeStyle 'interleaved').
 */
export function ggufAsHfLlama(file: GgufFile): WeightSource {
  const arch = file.metadata.get('general.architecture') as GgufLlamaArch;
  const known = GGUF_LLAMA_ARCHS.includes(arch) ? arch : 'llama';
  return renamedSource(file, (g) => {
    const h = ggufToHfLlamaName(g, known);
    // phi3's ffn_up is [2·ffn, dim]: gate rows, then up rows (HF's gate_up_proj)
    return h && known === 'phi3' ? h.replace(/\.mlp\.up_proj\./, '.mlp.gate_up_proj.') : h;
  });
}
