// The Llama family (Llama 2/3, TinyLlama, SmolLM, Qwen2, Mistral, llama2.c's tinyllamas): no positional
// table — rotary embeddings inside attention —, RMSNorm, SwiGLU feed-forward, grouped-query attention and
// (usually) an untied LM head. The same Decoder and nn blocks as GPT-2; only this mapping is new.
// Weights are read by their Hugging Face names; the llama2.c and GGUF readers expose those names too.
import { readInto, type WeightSource } from '../formats/safetensors.js';
import { Attention } from '../nn/attention.js';
import { Block } from '../nn/block.js';
import { embeddingAndHead } from '../nn/embedding.js';
import { FeedForward } from '../nn/feedforward.js';
import { Linear } from '../nn/linear.js';
import { RMSNorm } from '../nn/norm.js';
import { RotaryEmbedding, type RopeStyle } from '../nn/positional.js';
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

async function get(
  src: WeightSource,
  name: string,
  shape: number[],
  source: string,
  into?: Float32Array,
): Promise<Float32Array> {
  if (!src.has(name))
    throw new GlassError('NOT_FOUND', `${src.name}: tensor "${name}" is missing (expected shape [${shape}])`);
  const info = src.info(name);
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    throw new GlassError(
      'BAD_FILE',
      `${info.file}: tensor "${name}" has shape [${info.shape}], but ${source} implies [${shape}]`,
    );
  }
  return readInto(src, name, into);
}

export async function buildLlama(
  spec: LlamaSpec,
  src: WeightSource,
  source = 'the config',
  dtype: WeightDtype = 'f32',
): Promise<Decoder> {
  const { dim, nLayers, nHeads, nKvHeads, headDim, ffnDim, vocabSize, contextLength, normEps: eps } = spec;
  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  const w = (name: string, shape: number[], into?: Float32Array) => get(src, name, shape, source, into);
  /** A weight matrix, read straight into the storage it keeps (see weightStorage). */
  const mat = async (name: string, rows: number, cols: number) =>
    weightMatrix(rows, cols, await w(name, [rows, cols], weightStorage(rows * cols, cols, dtype)), dtype);
  const rope = new RotaryEmbedding(
    headDim,
    contextLength,
    spec.ropeTheta,
    spec.ropeStyle,
    spec.ropeDim ?? headDim,
  );
  // The table is also the LM head when tied: then read into the head's storage.
  const tied = !src.has('lm_head.weight') && spec.tieWordEmbeddings;
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
