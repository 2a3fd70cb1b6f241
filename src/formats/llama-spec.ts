// The one description of a Llama-shaped network, whichever file it comes from: each reader maps its own
// field names to a LlamaSpec in one place (hf-config.ts: config.json; gguf.ts: `llama.*` metadata;
// llama2c.ts: the header) and checks it with checkLlamaSpec before anything is sized from it.
import { MAX_CONTEXT_LENGTH, type RopeScaling, type RopeStyle } from '../nn/positional.js';
import { GlassError } from '../util/errors.js';

/** Everything needed to assemble a Llama-shaped network, whichever file it came from. */
export interface LlamaSpec {
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ffnDim: number;
  vocabSize: number;
  contextLength: number;
  normEps: number;
  ropeTheta: number;
  /** 'half' for HF checkpoints, 'interleaved' for llama2.c and GGUF. */
  ropeStyle: RopeStyle;
  /** Use the embedding table as the LM head when no lm_head.weight is present. */
  tieWordEmbeddings: boolean;
  /** Rotated dimensions per head (default: all of them). */
  ropeDim?: number;
  /** Qwen2 has biases on q, k, v. */
  attentionBias?: boolean;
  /** RoPE frequency scaling (HF rope_scaling; GGUF rope_freqs / rope factors); absent: none. */
  ropeScaling?: RopeScaling | null;
  // --- options of the shared blocks some Llama-shaped families turn on (absent: Llama's behaviour)
  /**
   * Each layer's sliding window (0: it attends to every earlier key): Mistral's `sliding_window`, Qwen2/3's
   * `use_sliding_window` from `max_window_layers` on, Gemma's local layers. Absent: no window anywhere.
   */
  slidingWindows?: number[];
  /** RMSNorm over each q and k head before RoPE (Qwen3, Gemma 3: `q_norm`, `k_norm`, weights [headDim]). */
  qkNorm?: boolean;
  /** Added to every RMSNorm weight (Gemma's (1 + w) in HF checkpoints: 1; GGUF stores 1 + w: 0). */
  normOffset?: number;
  /** Gemma: norms before and after both attention and the feed-forward network (sandwich norms). */
  sandwichNorms?: boolean;
  /** The feed-forward network: 'swiglu' (default) or 'geglu' (Gemma: GELU's tanh form gating). */
  ffn?: 'swiglu' | 'geglu';
  /** The embeddings are multiplied by this (Gemma: √dim in the checkpoint's dtype); default 1. */
  embedScale?: number;
  /** What q·k is multiplied by (Gemma: query_pre_attn_scalar^−½); default 1/√headDim. */
  attnScale?: number;
  /** Attention scores soft-capped to c·tanh(S/c) (Gemma 2: attn_logit_softcapping). */
  attnSoftcap?: number;
  /** Logits soft-capped to c·tanh(z/c) (Gemma 2: final_logit_softcapping). */
  finalSoftcap?: number;
  /** RoPE base of the sliding-window layers (Gemma 3: rope_local_base_freq); default ropeTheta. */
  localRopeTheta?: number;
}

/** Bounds on any one dimension of a Llama-shaped model (far above every released model). */
const MAX_DIM = 2 ** 20;
const MAX_LAYERS = 4096;

/**
 * Validates a spec before anything is sized from it: every dimension a positive integer within sane
 * bounds, even head dims for RoPE, heads dividing evenly. Sizes then come from the tensors' shapes, which
 * the file readers bound by the file's length.
 */
export function checkLlamaSpec(spec: LlamaSpec, file: string, source: string): void {
  const bad = (msg: string) => new GlassError('BAD_FILE', `${file}: ${source}: ${msg}`);
  const int = (what: string, v: number, max: number) => {
    if (!Number.isSafeInteger(v) || v <= 0 || v > max)
      throw bad(`${what} is ${v} (expected an integer in 1..${max})`);
  };
  int('the width (dim)', spec.dim, MAX_DIM);
  int('the layer count', spec.nLayers, MAX_LAYERS);
  int('the head count', spec.nHeads, MAX_DIM);
  int('the key/value head count', spec.nKvHeads, MAX_DIM);
  int('the head dim', spec.headDim, MAX_DIM);
  int('the feed-forward width', spec.ffnDim, 16 * MAX_DIM);
  int('the vocabulary size', spec.vocabSize, 2 ** 24);
  int('the context length', spec.contextLength, MAX_CONTEXT_LENGTH);
  if (spec.nHeads % spec.nKvHeads !== 0)
    throw bad(`${spec.nHeads} heads are not a multiple of ${spec.nKvHeads} key/value heads`);
  if (spec.headDim % 2 !== 0)
    throw bad(`the head dim ${spec.headDim} is odd (RoPE rotates pairs: expected even)`);
  const ropeDim = spec.ropeDim ?? spec.headDim;
  if (!Number.isSafeInteger(ropeDim) || ropeDim <= 0 || ropeDim % 2 !== 0 || ropeDim > spec.headDim)
    throw bad(
      `the RoPE dimension count is ${ropeDim} (expected an even integer in 2..${spec.headDim}, the head dim)`,
    );
  if (!(Number.isFinite(spec.ropeTheta) && spec.ropeTheta > 1))
    throw bad(`the RoPE base (theta) is ${spec.ropeTheta} (expected a finite number above 1)`);
  if (!(Number.isFinite(spec.normEps) && spec.normEps >= 0 && spec.normEps < 1))
    throw bad(`the norm epsilon is ${spec.normEps} (expected a number in [0, 1))`);
  checkLlamaOptions(spec, bad);
}

/** The options' bounds: windows per layer, positive finite scales and caps. */
function checkLlamaOptions(spec: LlamaSpec, bad: (msg: string) => GlassError): void {
  const w = spec.slidingWindows;
  if (w !== undefined) {
    if (w.length !== spec.nLayers)
      throw bad(`${w.length} per-layer sliding windows for ${spec.nLayers} layers`);
    for (const v of w)
      if (!Number.isSafeInteger(v) || v < 0)
        throw bad(`a sliding window of ${v} (expected a non-negative integer; 0: none)`);
  }
  const positive: Array<[string, number | undefined]> = [
    ['the embedding scale', spec.embedScale],
    ['the attention scale', spec.attnScale],
    ['the attention soft-cap', spec.attnSoftcap],
    ['the logit soft-cap', spec.finalSoftcap],
  ];
  for (const [what, v] of positive)
    if (v !== undefined && !(Number.isFinite(v) && v > 0))
      throw bad(`${what} is ${v} (expected a positive number)`);
  const local = spec.localRopeTheta;
  if (local !== undefined && !(Number.isFinite(local) && local > 1))
    throw bad(`the local RoPE base is ${local} (expected a finite number above 1)`);
}
