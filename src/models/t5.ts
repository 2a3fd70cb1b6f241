// T5 and Flan-T5 (HF T5ForConditionalGeneration): an encoder-decoder whose positions enter as a learned
// bias on every self-attention score, by bucketed relative distance (nn/positional.ts
// RelativePositionBias; each stack's table sits in its first block), with no 1/√d scaling of the scores;
// pre-RMSNorm blocks without biases, a final RMSNorm on both stacks; ReLU (T5) or gated-GELU (Flan-T5)
// MLPs; one embedding table for both halves, unscaled. The head is that table again with the decoder's
// output × d_model^−½ (tied, T5) or its own lm_head (untied, Flan-T5). The pad id starts the decoder.
// Only the mapping config + weight names → nn blocks:
//   shared.weight; {encoder,decoder}.block.{i}.layer.0.SelfAttention.{q,k,v,o}.weight (+ block 0's
//   .relative_attention_bias.weight [buckets, heads]), .layer.0.layer_norm.weight; decoder .layer.1 =
//   EncDecAttention (same names); the FFN .layer.{1 enc, 2 dec}.DenseReluDense.{wi | wi_0, wi_1}, wo;
//   {encoder,decoder}.final_layer_norm.weight; lm_head.weight (untied).
import type { T5Config } from '../formats/hf-config.js';
import { checkShape, readChecked, type WeightSource } from '../formats/weights.js';
import { Attention } from '../nn/attention.js';
import { Block } from '../nn/block.js';
import { CrossAttention } from '../nn/cross-attention.js';
import { Embedding } from '../nn/embedding.js';
import { FeedForward } from '../nn/feedforward.js';
import { Linear } from '../nn/linear.js';
import { RMSNorm } from '../nn/norm.js';
import { RelativePositionBias } from '../nn/positional.js';
import { matrixF32, weightMatrix, weightStorage, type WeightDtype } from '../tensor/index.js';
import { Decoder } from './decoder.js';
import { Encoder } from './encoder.js';
import { Seq2Seq } from './seq2seq.js';

export async function buildT5(
  config: T5Config,
  src: WeightSource,
  dtype: WeightDtype = 'f32',
): Promise<Seq2Seq> {
  const { dim, vocabSize, contextLength, headDim, nHeads } = config;
  const inner = nHeads * headDim; // d_kv · num_heads, the width of q, k, v
  const get = (name: string, shape: number[], into?: Float32Array) =>
    readChecked(src, name, shape, 'config.json', into);
  // several [rows, cols] projections stacked into one bias-free matrix (q|k|v, k|v)
  const cat = async (names: string[], rows: number, cols: number) => {
    for (const n of names) checkShape(src, `${n}.weight`, [rows, cols], 'config.json');
    const w = weightStorage(names.length * rows * cols, cols, dtype);
    for (const [i, n] of names.entries())
      await get(`${n}.weight`, [rows, cols], w.subarray(i * rows * cols, (i + 1) * rows * cols));
    return new Linear(weightMatrix(names.length * rows, cols, w, dtype));
  };
  const linear = (name: string, out: number, inp: number) => cat([name], out, inp);
  const norm = async (name: string) => new RMSNorm(await get(`${name}.weight`, [dim]), config.normEps);
  // T5 does not scale q·k by 1/√d (its initialisation folds the factor into the weights)
  const shape = { nHeads, nKvHeads: nHeads, headDim, scale: 1 };
  const bias = async (part: string, bidirectional: boolean) =>
    new RelativePositionBias(
      await get(`${part}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`, [
        config.relativeBuckets,
        nHeads,
      ]),
      config.relativeBuckets,
      config.relativeMaxDistance,
      nHeads,
      bidirectional,
    );

  // one table for both halves (and, tied, the head)
  checkShape(src, 'shared.weight', [vocabSize, dim], 'config.json');
  const table = matrixF32(
    vocabSize,
    dim,
    await get('shared.weight', [vocabSize, dim], weightStorage(vocabSize * dim, dim)),
  );
  const embedding = new Embedding(table, vocabSize, dim);

  // a layer's self-attention (fused q|k|v) and MLP, the same in both halves
  const selfAttention = async (p: string, causal: boolean) =>
    new Attention(
      shape,
      await cat([`${p}.SelfAttention.q`, `${p}.SelfAttention.k`, `${p}.SelfAttention.v`], inner, dim),
      await linear(`${p}.SelfAttention.o`, dim, inner),
      null,
      causal,
    );
  const mlp = async (p: string) => {
    const d = `${p}.DenseReluDense`;
    const ff = config.ffnDim;
    if (config.activation === 'relu')
      return new FeedForward('relu', await linear(`${d}.wi`, ff, dim), await linear(`${d}.wo`, dim, ff));
    // gated-gelu: gelu_tanh(wi_0·x) ⊙ wi_1·x → wo
    return new FeedForward(
      'geglu',
      await linear(`${d}.wi_1`, ff, dim),
      await linear(`${d}.wo`, dim, ff),
      await linear(`${d}.wi_0`, ff, dim),
    );
  };

  const encoderBlocks: Block[] = [];
  for (let l = 0; l < config.encoderLayers; l++) {
    const p = `encoder.block.${l}.layer`;
    encoderBlocks.push(
      new Block(
        await norm(`${p}.0.layer_norm`),
        await selfAttention(`${p}.0`, false), // bidirectional
        await norm(`${p}.1.layer_norm`),
        await mlp(`${p}.1`),
        'pre-norm',
      ),
    );
  }
  const encoder = new Encoder({
    embedding,
    positional: null,
    positionBias: await bias('encoder', true),
    tokenTypes: null,
    embeddingNorm: null,
    blocks: encoderBlocks,
    finalNorm: await norm('encoder.final_layer_norm'),
    contextLength,
  });

  const decoderBlocks: Block[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const p = `decoder.block.${l}.layer`;
    decoderBlocks.push(
      new Block(
        await norm(`${p}.0.layer_norm`),
        await selfAttention(`${p}.0`, true), // causal
        await norm(`${p}.2.layer_norm`),
        await mlp(`${p}.2`),
        'pre-norm',
        {
          norm: await norm(`${p}.1.layer_norm`),
          attention: new CrossAttention(
            shape,
            await linear(`${p}.1.EncDecAttention.q`, inner, dim),
            await cat([`${p}.1.EncDecAttention.k`, `${p}.1.EncDecAttention.v`], inner, dim),
            await linear(`${p}.1.EncDecAttention.o`, dim, inner),
          ),
        },
      ),
    );
  }
  const tied = config.tieWordEmbeddings;
  const decoder = new Decoder({
    embedding,
    positional: null,
    positionBias: await bias('decoder', false),
    blocks: decoderBlocks,
    finalNorm: await norm('decoder.final_layer_norm'),
    lmHead: tied ? new Linear(table) : await linear('lm_head', vocabSize, dim),
    // HF: a tied head reads the decoder's output rescaled by d_model^−½ (T5's "Mesh TensorFlow" convention)
    headScale: tied ? dim ** -0.5 : 1,
    contextLength,
  });
  // nothing is suppressed: T5 may generate its pad id (HF sets no bad_words_ids)
  return new Seq2Seq(encoder, decoder, config.decoderStartTokenId);
}
