// Marian (Helsinki-NLP opus-mt, HF MarianMTModel): an encoder-decoder with sinusoidal positions (computed
// when the checkpoint does not store them), one embedding table shared by the encoder, the decoder and the
// LM head, scaled by √d_model; post-LayerNorm blocks with biases everywhere; SiLU ("swish") MLPs; the head
// adds `final_logits_bias`; the pad id starts the decoder and is never generated. Only the mapping
// config + weight names → nn blocks.
import type { MarianConfig } from '../formats/hf-config.js';
import { checkShape, readChecked, type WeightSource } from '../formats/weights.js';
import { Attention } from '../nn/attention.js';
import { Block } from '../nn/block.js';
import { CrossAttention } from '../nn/cross-attention.js';
import { Embedding } from '../nn/embedding.js';
import { FeedForward, type FeedForwardKind } from '../nn/feedforward.js';
import { Linear } from '../nn/linear.js';
import { LayerNorm } from '../nn/norm.js';
import { SinusoidalPositional } from '../nn/positional.js';
import { matrixF32, weightMatrix, weightStorage, type WeightDtype } from '../tensor/index.js';
import { Decoder } from './decoder.js';
import { Encoder } from './encoder.js';
import { Seq2Seq } from './seq2seq.js';

const ACTIVATIONS: Record<string, FeedForwardKind> = {
  swish: 'silu',
  silu: 'silu',
  gelu: 'gelu_erf',
  relu: 'relu',
};

export async function buildMarian(
  config: MarianConfig,
  src: WeightSource,
  dtype: WeightDtype = 'f32',
): Promise<Seq2Seq> {
  const { dim, vocabSize, contextLength, headDim } = config;
  const eps = 1e-5; // nn.LayerNorm's default: Marian's config has no field for it
  // sentence names with or without the "model." prefix (MarianMTModel vs MarianModel)
  const resolve = (name: string) => [`model.${name}`, name].find((n) => src.has(n)) ?? `model.${name}`;
  const get = (name: string, shape: number[], into?: Float32Array) =>
    readChecked(src, resolve(name), shape, 'config.json', into, name);
  const cat = async (names: string[], rows: number, cols: number) => {
    // several [rows, cols] projections stacked into one matrix (q|k|v, k|v)
    for (const n of names)
      checkShape(src, resolve(`${n}.weight`), [rows, cols], 'config.json', `${n}.weight`);
    const w = weightStorage(names.length * rows * cols, cols, dtype);
    const b = new Float32Array(names.length * rows);
    for (const [i, n] of names.entries()) {
      await get(`${n}.weight`, [rows, cols], w.subarray(i * rows * cols, (i + 1) * rows * cols));
      b.set(await get(`${n}.bias`, [rows]), i * rows);
    }
    return new Linear(weightMatrix(names.length * rows, cols, w, dtype), b);
  };
  const linear = (name: string, out: number, inp: number) => cat([name], out, inp);
  const norm = async (name: string) =>
    new LayerNorm(await get(`${name}.weight`, [dim]), await get(`${name}.bias`, [dim]), eps);
  const act = ACTIVATIONS[config.activation];
  const positions = async (part: string) =>
    new SinusoidalPositional(
      contextLength,
      dim,
      src.has(resolve(`${part}.embed_positions.weight`))
        ? await get(`${part}.embed_positions.weight`, [contextLength, dim])
        : null,
    );

  // one table: the embeddings of both halves and the LM head
  checkShape(src, resolve('shared.weight'), [vocabSize, dim], 'config.json', 'shared.weight');
  const table = matrixF32(
    vocabSize,
    dim,
    await get('shared.weight', [vocabSize, dim], weightStorage(vocabSize * dim, dim)),
  );
  const scale = config.scaleEmbedding ? Math.sqrt(dim) : 1;
  const embedding = new Embedding(table, vocabSize, dim, scale);
  const nHeads = config.nHeads;
  const shape = { nHeads, nKvHeads: nHeads, headDim };

  // a layer's self-attention (fused q|k|v) and MLP, the same in both halves
  const selfAttention = async (p: string, causal: boolean) =>
    new Attention(
      shape,
      await cat([`${p}.self_attn.q_proj`, `${p}.self_attn.k_proj`, `${p}.self_attn.v_proj`], dim, dim),
      await linear(`${p}.self_attn.out_proj`, dim, dim),
      null,
      causal,
    );
  const mlp = async (p: string, ffnDim: number) =>
    new FeedForward(act, await linear(`${p}.fc1`, ffnDim, dim), await linear(`${p}.fc2`, dim, ffnDim));

  const encoderBlocks: Block[] = [];
  for (let l = 0; l < config.encoderLayers; l++) {
    const p = `encoder.layers.${l}`;
    encoderBlocks.push(
      new Block(
        await norm(`${p}.self_attn_layer_norm`),
        await selfAttention(p, false), // bidirectional
        await norm(`${p}.final_layer_norm`),
        await mlp(p, config.encoderFfnDim),
        'post-norm',
      ),
    );
  }
  const encoder = new Encoder({
    embedding,
    positional: await positions('encoder'),
    tokenTypes: null,
    embeddingNorm: null,
    blocks: encoderBlocks,
    contextLength,
  });

  const decoderBlocks: Block[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const p = `decoder.layers.${l}`;
    decoderBlocks.push(
      new Block(
        await norm(`${p}.self_attn_layer_norm`),
        await selfAttention(p, true), // causal
        await norm(`${p}.final_layer_norm`),
        await mlp(p, config.ffnDim),
        'post-norm',
        {
          norm: await norm(`${p}.encoder_attn_layer_norm`),
          attention: new CrossAttention(
            shape,
            await linear(`${p}.encoder_attn.q_proj`, dim, dim),
            await cat([`${p}.encoder_attn.k_proj`, `${p}.encoder_attn.v_proj`], dim, dim),
            await linear(`${p}.encoder_attn.out_proj`, dim, dim),
          ),
        },
      ),
    );
  }
  // final_logits_bias is stored [1, vocab] at the top level (not under "model.")
  const biasName = ['final_logits_bias', 'model.final_logits_bias'].find((n) => src.has(n));
  const bias = biasName
    ? await readChecked(src, biasName, [1, vocabSize], 'config.json', undefined, 'final_logits_bias')
    : new Float32Array(vocabSize);
  const decoder = new Decoder({
    embedding,
    positional: await positions('decoder'),
    blocks: decoderBlocks,
    finalNorm: null,
    lmHead: new Linear(table, bias),
    contextLength,
  });
  return new Seq2Seq(encoder, decoder, config.decoderStartTokenId, [config.padTokenId]);
}
