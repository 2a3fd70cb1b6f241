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
}
