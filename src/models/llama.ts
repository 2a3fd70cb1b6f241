// The Llama family (Llama 2/3, TinyLlama, SmolLM, Qwen2, Mistral, llama2.c's tinyllamas): no positional
// table — rotary embeddings inside attention —, RMSNorm, SwiGLU feed-forward, grouped-query attention and
// (usually) an untied LM head. The same Decoder and nn blocks as GPT-2; only this mapping is new.
// Weights are read by their Hugging Face names; the llama2.c and GGUF readers expose those names too.
import { checkShape, readChecked, type WeightSource } from '../formats/weights.js';
import { Attention } from '../nn/attention.js';
import { Block } from '../nn/block.js';
import { embeddingAndHead } from '../nn/embedding.js';
import { FeedForward } from '../nn/feedforward.js';
import { Linear } from '../nn/linear.js';
import { RMSNorm } from '../nn/norm.js';
import { MAX_CONTEXT_LENGTH, RotaryEmbedding, type RopeStyle } from '../nn/positional.js';
import { weightMatrix, weightStorage, type WeightDtype } from '../tensor/index.js';
import { GlassError } from '../util/errors.js';
import { Decoder } from './decoder.js';

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

export async function buildLlama(
  spec: LlamaSpec,
  src: WeightSource,
  source = 'the config',
  dtype: WeightDtype = 'f32',
): Promise<Decoder> {
  checkLlamaSpec(spec, src.name, source);
  const { dim, nLayers, nHeads, nKvHeads, headDim, ffnDim, vocabSize, contextLength, normEps: eps } = spec;
  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  const w = (name: string, shape: number[], into?: Float32Array) => readChecked(src, name, shape, source, into);
  /** A weight matrix, read straight into the storage it keeps (see weightStorage). */
  const mat = async (name: string, rows: number, cols: number) => {
    checkShape(src, name, [rows, cols], source);
    return weightMatrix(
      rows,
      cols,
      await w(name, [rows, cols], weightStorage(rows * cols, cols, dtype)),
      dtype,
    );
  };
  const rope = new RotaryEmbedding(
    headDim,
    contextLength,
    spec.ropeTheta,
    spec.ropeStyle,
    spec.ropeDim ?? headDim,
  );
  // The table is also the LM head when tied: then read into the head's storage.
  const tied = !src.has('lm_head.weight') && spec.tieWordEmbeddings;
  checkShape(src, 'model.embed_tokens.weight', [vocabSize, dim], source);
  const embed = await w(
    'model.embed_tokens.weight',
    [vocabSize, dim],
    tied ? weightStorage(vocabSize * dim, dim, dtype) : undefined,
  );
  // made now: a matrix adopts its storage at once (a plain wasm memory that grows detaches raw arrays)
  const tiedHead = tied ? weightMatrix(vocabSize, dim, embed, dtype) : null;
  const blocks: Block[] = [];
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}`;
    // q, k, v stacked row-wise into one [qDim + 2·kvDim, dim] projection: one pass over x for all three.
    checkShape(src, `${p}.self_attn.q_proj.weight`, [qDim, dim], source);
    checkShape(src, `${p}.self_attn.k_proj.weight`, [kvDim, dim], source);
    checkShape(src, `${p}.self_attn.v_proj.weight`, [kvDim, dim], source);
    const qkv = weightStorage((qDim + 2 * kvDim) * dim, dim, dtype);
    await w(`${p}.self_attn.q_proj.weight`, [qDim, dim], qkv.subarray(0, qDim * dim));
    await w(`${p}.self_attn.k_proj.weight`, [kvDim, dim], qkv.subarray(qDim * dim, (qDim + kvDim) * dim));
    await w(`${p}.self_attn.v_proj.weight`, [kvDim, dim], qkv.subarray((qDim + kvDim) * dim));
    let qkvBias: Float32Array | null = null;
    if (spec.attentionBias) {
      qkvBias = new Float32Array(qDim + 2 * kvDim);
      qkvBias.set(await w(`${p}.self_attn.q_proj.bias`, [qDim]), 0);
      qkvBias.set(await w(`${p}.self_attn.k_proj.bias`, [kvDim]), qDim);
      qkvBias.set(await w(`${p}.self_attn.v_proj.bias`, [kvDim]), qDim + kvDim);
    }
    const attention = new Attention(
      { nHeads, nKvHeads, headDim },
      new Linear(weightMatrix(qDim + 2 * kvDim, dim, qkv, dtype), qkvBias),
      new Linear(await mat(`${p}.self_attn.o_proj.weight`, dim, qDim)),
      rope,
    );
    const ffn = new FeedForward(
      'swiglu',
      new Linear(await mat(`${p}.mlp.up_proj.weight`, ffnDim, dim)),
      new Linear(await mat(`${p}.mlp.down_proj.weight`, dim, ffnDim)),
      new Linear(await mat(`${p}.mlp.gate_proj.weight`, ffnDim, dim)),
    );
    blocks.push(
      new Block(
        new RMSNorm(await w(`${p}.input_layernorm.weight`, [dim]), eps),
        attention,
        new RMSNorm(await w(`${p}.post_attention_layernorm.weight`, [dim]), eps),
        ffn,
      ),
    );
  }
  if (!tied && !src.has('lm_head.weight'))
    throw new GlassError(
      'NOT_FOUND',
      `${src.name}: tensor "lm_head.weight" is missing and the embeddings are not tied`,
    );
  const head = tiedHead ?? (await mat('lm_head.weight', vocabSize, dim));
  return new Decoder({
    ...embeddingAndHead(embed, head, tied),
    positional: null,
    blocks,
    finalNorm: new RMSNorm(await w('model.norm.weight', [dim]), eps),
    contextLength,
  });
}
