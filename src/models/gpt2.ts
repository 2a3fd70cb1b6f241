// GPT-2: learned positions, pre-LayerNorm blocks, causal multi-head attention, GELU(tanh) MLP, and an
// LM head tied to the token embedding. This file is only the mapping config + weight names → nn blocks.
import type { Gpt2Config } from '../formats/hf-config.js';
import { checkShape, readChecked, type WeightSource } from '../formats/weights.js';
import { Attention } from '../nn/attention.js';
import { Block } from '../nn/block.js';
import { embeddingAndHead } from '../nn/embedding.js';
import { FeedForward } from '../nn/feedforward.js';
import { Linear } from '../nn/linear.js';
import { LayerNorm } from '../nn/norm.js';
import { LearnedPositional } from '../nn/positional.js';
import { transpose, weightMatrix, weightStorage, type WeightDtype } from '../tensor/index.js';
import { GlassError } from '../util/errors.js';
import { Decoder } from './decoder.js';

/** Reads tensors by their GPT-2 name, with or without the `transformer.` prefix, checking shapes. */
class Gpt2Weights {
  constructor(
    readonly src: WeightSource,
    readonly dtype: WeightDtype = 'f32',
  ) {}

  resolve(name: string): string | undefined {
    for (const n of [name, `transformer.${name}`]) if (this.src.has(n)) return n;
    return undefined;
  }

  /** Reads a tensor after checking its shape (into `into` when given: see WeightSource.read). */
  async get(name: string, shape: number[], into?: Float32Array): Promise<Float32Array> {
    return readChecked(this.src, this.resolve(name) ?? name, shape, 'config.json', into, name);
  }

  /**
   * The tensor's full name after checking that it exists with `shape`: call before sizing a buffer for
   * it, so buffers come from shapes the file holds, not from config.json's numbers alone.
   */
  check(name: string, shape: number[]): string {
    const full = this.resolve(name) ?? name;
    checkShape(this.src, full, shape, 'config.json', name);
    return full;
  }

  /** One buffer for the Conv1D weights as stored, reused from layer to layer (they are transposed out of it). */
  private staging = new Float32Array(0);

  /** HF GPT-2 stores its projections as Conv1D [in, out]; the kernels want [out, in]. */
  async conv1d(name: string, inDim: number, outDim: number): Promise<Linear> {
    this.check(`${name}.weight`, [inDim, outDim]);
    const n = inDim * outDim;
    if (this.staging.length < n) this.staging = new Float32Array(n);
    const w = await this.get(`${name}.weight`, [inDim, outDim], this.staging.subarray(0, n));
    const b = await this.get(`${name}.bias`, [outDim]);
    const wt = transpose(w, inDim, outDim, weightStorage(n, inDim, this.dtype));
    return new Linear(weightMatrix(outDim, inDim, wt, this.dtype), b);
  }

  async layerNorm(name: string, dim: number, eps: number): Promise<LayerNorm> {
    return new LayerNorm(await this.get(`${name}.weight`, [dim]), await this.get(`${name}.bias`, [dim]), eps);
  }
}

export async function buildGpt2(
  config: Gpt2Config,
  src: WeightSource,
  dtype: WeightDtype = 'f32',
): Promise<Decoder> {
  const { dim, nHeads, nLayers, vocabSize, contextLength, ffnDim, layerNormEps: eps } = config;
  if (
    config.activation !== 'gelu_new' &&
    config.activation !== 'gelu_pytorch_tanh' &&
    config.activation !== 'gelu'
  ) {
    throw new GlassError(
      'UNSUPPORTED',
      `activation_function "${config.activation}" is not supported yet: ${config.activation}`,
    );
  }
  if (!config.scaleAttnWeights || config.scaleAttnByInverseLayerIdx) {
    throw new GlassError(
      'UNSUPPORTED',
      'scale_attn_weights=false / scale_attn_by_inverse_layer_idx=true is not supported yet: attention scaling',
    );
  }
  const w = new Gpt2Weights(src, dtype);
  // The table is also the LM head unless the file has its own: then read into the head's storage.
  const tied = !src.has('lm_head.weight');
  w.check('wte.weight', [vocabSize, dim]);
  if (!tied) w.check('lm_head.weight', [vocabSize, dim]);
  const wte = await w.get(
    'wte.weight',
    [vocabSize, dim],
    tied ? weightStorage(vocabSize * dim, dim, dtype) : undefined,
  );
  // made now: a matrix adopts its storage at once (a plain wasm memory that grows detaches raw arrays)
  const tiedHead = tied ? weightMatrix(vocabSize, dim, wte, dtype) : null;
  const wpe = await w.get('wpe.weight', [contextLength, dim]);
  const headDim = dim / nHeads;
  const blocks: Block[] = [];
  for (let l = 0; l < nLayers; l++) {
    const p = `h.${l}`;
    const attention = new Attention(
      { nHeads, nKvHeads: nHeads, headDim },
      await w.conv1d(`${p}.attn.c_attn`, dim, 3 * dim),
      await w.conv1d(`${p}.attn.c_proj`, dim, dim),
    );
    const ffn = new FeedForward(
      'gelu',
      await w.conv1d(`${p}.mlp.c_fc`, dim, ffnDim),
      await w.conv1d(`${p}.mlp.c_proj`, ffnDim, dim),
    );
    blocks.push(
      new Block(
        await w.layerNorm(`${p}.ln_1`, dim, eps),
        attention,
        await w.layerNorm(`${p}.ln_2`, dim, eps),
        ffn,
      ),
    );
  }
  const finalNorm = await w.layerNorm('ln_f', dim, eps);
  // A separate lm_head.weight (HF saves one in some checkpoints) wins over tying; otherwise the head
  // is the embedding table itself — the same memory, not a copy.
  const head =
    tiedHead ??
    weightMatrix(
      vocabSize,
      dim,
      await w.get('lm_head.weight', [vocabSize, dim], weightStorage(vocabSize * dim, dim, dtype)),
      dtype,
    );
  return new Decoder({
    ...embeddingAndHead(wte, head, tied),
    positional: new LearnedPositional(wpe, contextLength, dim),
    blocks,
    finalNorm,
    contextLength,
  });
}
