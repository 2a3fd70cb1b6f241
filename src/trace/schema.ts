// The trace: a typed, versioned JSON record of one forward pass (and optionally of each generated step),
// stage by stage — what the CLI prints, the server sends, and the explorer draws.
// Shapes are noted as [rows × cols]; T = prompt tokens, H = query heads, L = layers recorded, S = source
// tokens (encoder-decoders).
// Bump TRACE_VERSION on any incompatible change. (Optional fields added since version 1, which older
// readers may ignore: `beams`, the beam tree of a trace run with numBeams > 1; `embeddings.rope`'s
// `rotaryDim`, `scaling` and `attentionFactor`.)
//
// Version 2: encoder-decoders (Marian). Their trace has `source` (the tokens the encoder read, their
// embeddings and the encoder's self-attention); `tokens`, `embeddings` and `layers` are then the decoder's
// prompt pass over its start token, and each decoder layer and step adds `crossAttention` (the alignment to
// the source). A decoder-only trace is as in version 1.

import type { RopeScaling } from '../nn/positional.js';
export const TRACE_VERSION = 2;

export interface TraceModelInfo {
  /** Where the model was loaded from. */
  source: string;
  /** HF model_type family: 'gpt2', 'llama', ... */
  family: string;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  dim: number;
  ffnDim: number;
  vocabSize: number;
  contextLength: number;
  /**
   * How positions enter: a learned or sinusoidal table added to the embeddings, rotary (RoPE) inside
   * attention, or 'relative' (T5: a learned bias per bucketed distance on every attention score; no
   * positional vectors to show).
   */
  positional: 'learned' | 'sinusoidal' | 'rope' | 'relative';
  norm: 'layernorm' | 'rmsnorm';
  ffn: 'gelu' | 'gelu_erf' | 'silu' | 'relu' | 'swiglu' | 'geglu';
  /** An encoder-decoder's encoder (the fields above describe its decoder); absent for decoder-only models. */
  encoder?: { nLayers: number; nHeads: number; positional: 'learned' | 'sinusoidal' | 'relative' };
  /** Gemma 2: the logits are soft-capped, c·tanh(z / c); absent: not capped. */
  logitSoftcap?: number;
}

export interface TraceToken {
  id: number;
  /** The token's text (spaces shown as they are). */
  text: string;
  /** UTF-8 byte span in the prompt; [0, 0) for tokens not from the text (e.g. BOS). */
  start: number;
  end: number;
}

export interface TopToken {
  id: number;
  text: string;
  prob: number;
  logit: number;
}

/** Summary statistics of a set of numbers. */
export interface Stats {
  mean: number;
  std: number;
  min: number;
  max: number;
  /** Fraction of values > 0 (for activations: how many units fire). */
  positive: number;
}

export interface TraceEmbeddings {
  /** Token embedding vectors [T × dim] (present when vectors = 'full'). */
  token?: number[][];
  /** L2 norm of each token's embedding [T]. */
  tokenNorms: number[];
  /** Learned or sinusoidal positional vectors [T × dim] (additive positions, vectors = 'full'). */
  positional?: number[][];
  positionalNorms?: number[];
  /** Rotary models: base θ, pairing style, and the rotation angle of each pair at each position [T × headDim/2]. */
  rope?: {
    theta: number;
    style: 'interleaved' | 'half';
    angles: number[][];
    /** Rotated dims per head, when fewer than the head dim (partial rotary: Phi-3 with partial_rotary_factor). */
    rotaryDim?: number;
    /** The frequencies' scaling (HF rope_scaling: llama3, linear, dynamic, yarn, longrope; GGUF rope_freqs). */
    scaling?: RopeScaling;
    /** What cos and sin were multiplied by in this pass (yarn, longrope; 1 otherwise). */
    attentionFactor?: number;
  };
  /**
   * T5's relative position bias (nothing is added to the vectors): what each head adds to an attention
   * score for each distance key − query among these T positions, `bias[h][d]` for `distances[d]` (the
   * encoder's run −(T−1)..T−1; the decoder's, causal, −(T−1)..0), and the bucket each distance falls in.
   */
  relative?: {
    nBuckets: number;
    maxDistance: number;
    bidirectional: boolean;
    distances: number[];
    buckets: number[];
    bias: number[][];
  };
}

export interface TraceLayer {
  layer: number;
  /**
   * This layer's sliding window (Mistral, Qwen2/3, Gemma's local layers): token i attends only to
   * positions i − window < j ≤ i, the weights of the others are 0. Absent: every earlier position.
   */
  window?: number;
  /** Gemma 2: this layer's attention scores are soft-capped, c·tanh(s / c), before the softmax. */
  softcap?: number;
  /** Residual stream entering / leaving the block [T × dim] (vectors = 'full'). */
  residualIn?: number[][];
  residualOut?: number[][];
  /** L2 norms per token of the residual stream before and after [T]. */
  residualInNorms: number[];
  residualOutNorms: number[];
  /** Attention weights [H × T × (pos0 + T)]: row i = how much token i attends to each earlier position. */
  attention?: number[][][];
  /**
   * Encoder-decoders: cross-attention weights [H × T × S]: row i = how much decoder token i attends to each
   * source token (each row sums to 1 over the source).
   */
  crossAttention?: number[][][];
  /** L2 norm of each head's output per token [T × H]. */
  headNorms: number[][];
  /** L2 norm of what attention / the feed-forward network added to each token's residual [T]. */
  attentionAddedNorms: number[];
  ffnAddedNorms: number[];
  /** Statistics of the FFN hidden activations per token [T] (after GELU / silu⊙up). */
  ffnActivations: Stats[];
  /** Logit lens: top-k next tokens this layer's residual would predict (through the final norm and LM head), per lens position. */
  lens: TopToken[][];
}

export interface TraceOutput {
  /** Position whose next-token distribution this is (the last prompt token). */
  position: number;
  top: TopToken[];
  /** The token sampled from it (when generation ran). */
  sampled?: TopToken;
}

/** One generated token: its attention row in every recorded layer and head, and its distribution. */
export interface TraceStep {
  token: TraceToken;
  /** Absolute position of the token. */
  position: number;
  /** [L][H][position + 1]: what the new token attends to. */
  attention: number[][][];
  /**
   * Encoder-decoders: [L][H][S]: what the new token (as the decoder's query, computing the distribution
   * after it) attends to in the source. The row that chose step s is the step before's (the prompt pass's
   * `layers[l].crossAttention[h][T - 1]` for step 0).
   */
  crossAttention?: number[][][];
  /** Distribution for the token after it, and what was sampled. */
  output: TraceOutput;
}

/** What an encoder-decoder's encoder read: the source, once, bidirectionally. */
export interface TraceSource {
  /** The prompt's tokens as the encoder reads them (Marian: then `</s>`, an empty span at the end) [S]. */
  tokens: TraceToken[];
  /** The source's token vectors (as the encoder adds them up) and positional vectors [S × dim]. */
  embeddings: TraceEmbeddings;
  /** Encoder layers recorded (all). */
  recordedLayers: number[];
  /** Encoder self-attention per recorded layer [L][H × S × S] (attention on; bidirectional, rows sum to 1). */
  attention?: number[][][][];
}

export interface Trace {
  version: typeof TRACE_VERSION;
  model: TraceModelInfo;
  prompt: string;
  /** Encoder-decoders only: the source the encoder read (then `tokens` is the decoder's start token). */
  source?: TraceSource;
  tokens: TraceToken[];
  /** Which layers `layers` holds (all by default). */
  recordedLayers: number[];
  /** Positions (token indices) the logit lens was computed for. */
  lensPositions: number[];
  embeddings: TraceEmbeddings;
  layers: TraceLayer[];
  output: TraceOutput;
  steps: TraceStep[];
  /** Beam search (numBeams > 1): the tree, step by step, and the hypotheses found (after any forced steps). */
  beams?: TraceBeams;
  /** Milliseconds spent in the traced forward pass. */
  elapsedMs: number;
}

/** One step of beam search: the 2·numBeams best continuations, best first. */
export interface TraceBeamStep {
  /** Position of the tokens the candidates add. */
  position: number;
  candidates: Array<{
    /** The beam extended: its index among the previous step's 'running' candidates, in their order. */
    parent: number;
    token: TraceToken;
    /** Summed log-probability of the beam with this token. */
    logprob: number;
    /** 'running': a beam of the next step; 'finished': a hypothesis (for now); 'dropped'. */
    fate: 'running' | 'finished' | 'dropped';
  }>;
}

export interface TraceBeams {
  steps: TraceBeamStep[];
  /** Best first: generated ids (a final end-of-text included), text, log-prob, score, why it ended. */
  hypotheses: Array<{ ids: number[]; text: string; logprob: number; score: number; stop: string }>;
}

export interface TraceOptions {
  /** Layers to record (default all). */
  layers?: number[];
  /** How many candidates in the logit lens and the output distribution (default 10). */
  topK?: number;
  /** 'full' records whole vectors (embeddings, residuals); 'summary' only norms and statistics (default 'full'). */
  vectors?: 'full' | 'summary';
  /** Record attention weights (default true). */
  attention?: boolean;
  /** Positions for the logit lens: 'last' (default) or 'all'. */
  lens?: 'last' | 'all';
  /** Also generate this many tokens, recording each step (default 0). */
  steps?: number;
  /** Sampling for the steps (default greedy). */
  temperature?: number;
  seed?: number;
  /** Force these token ids as the generated steps instead of sampling (the explorer's "click a token"). */
  forced?: number[];
  /** Stop after a sampled end-of-text step (default true; src/generate/steps.ts has the stop rules). */
  stopAtEos?: boolean;
  /** Stop at the step whose text completes one of these strings. */
  stop?: string[];
  /** Significant digits kept in numbers (default 5): smaller JSON. */
  precision?: number;
  /** Beam search for the steps with this many beams (Trace.beams records the tree; default 1 = off). */
  numBeams?: number;
}

/** How many steps a trace (or /api/generate) records: `steps`, or more when more ids are forced. */
export function stepsOf(o: Pick<TraceOptions, 'steps' | 'forced'>): number {
  return Math.max(o.steps ?? 0, o.forced?.length ?? 0);
}
