// BERT (and MiniLM, BGE, all-MiniLM-L6-v2...): learned positions + segment embeddings, post-LayerNorm
// blocks, bidirectional multi-head attention, exact-GELU MLP. Only the mapping config + names → nn blocks.
// XLM-RoBERTa (HF modeling_xlm_roberta.py; multilingual-e5, paraphrase-multilingual-MiniLM) is this
// network under the same weight names (a "roberta." prefix instead of "bert."), its positions counted
// from the padding id (LearnedPositional's `padding`): rows padding_idx + 1, padding_idx + 2, …
import type { BertConfig } from '../formats/hf-config.js';
import { readChecked, type WeightSource } from '../formats/weights.js';
import { Attention } from '../nn/attention.js';
import { Block } from '../nn/block.js';
import { Embedding } from '../nn/embedding.js';
import { FeedForward } from '../nn/feedforward.js';
import { Linear } from '../nn/linear.js';
import { LayerNorm } from '../nn/norm.js';
import { LearnedPositional } from '../nn/positional.js';
import { matrixF32 } from '../tensor/index.js';
import { Encoder } from './encoder.js';

export async function buildBert(config: BertConfig, src: WeightSource): Promise<Encoder> {
  const { dim, nHeads, nLayers, vocabSize, contextLength, ffnDim, layerNormEps: eps, typeVocabSize } = config;
  const headDim = dim / nHeads;
  const positions = contextLength + config.positionOffset; // rows of the position table
  // sentence-transformers saves names without the "bert." / "roberta." prefix; BertForX checkpoints have it.
  const prefix = config.family === 'xlm-roberta' ? 'roberta' : 'bert';
  const resolve = (name: string) => [name, `${prefix}.${name}`].find((n) => src.has(n));
  const get = (name: string, shape: number[]): Promise<Float32Array> =>
    readChecked(src, resolve(name) ?? name, shape, 'config.json', undefined, name);
  const linear = async (name: string, out: number, inp: number) =>
    new Linear(
      matrixF32(out, inp, await get(`${name}.weight`, [out, inp])),
      await get(`${name}.bias`, [out]),
    );
  const norm = async (name: string) =>
    new LayerNorm(await get(`${name}.weight`, [dim]), await get(`${name}.bias`, [dim]), eps);

  const blocks: Block[] = [];
  for (let l = 0; l < nLayers; l++) {
    const p = `encoder.layer.${l}`;
    const qkvW = new Float32Array(3 * dim * dim);
    const qkvB = new Float32Array(3 * dim);
    for (const [i, part] of ['query', 'key', 'value'].entries()) {
      qkvW.set(await get(`${p}.attention.self.${part}.weight`, [dim, dim]), i * dim * dim);
      qkvB.set(await get(`${p}.attention.self.${part}.bias`, [dim]), i * dim);
    }
    const attention = new Attention(
      { nHeads, nKvHeads: nHeads, headDim },
      new Linear(matrixF32(3 * dim, dim, qkvW), qkvB),
      await linear(`${p}.attention.output.dense`, dim, dim),
      null,
      false, // bidirectional: every token sees every token
    );
    const ffn = new FeedForward(
      config.activation === 'gelu' ? 'gelu_erf' : 'gelu',
      await linear(`${p}.intermediate.dense`, ffnDim, dim),
      await linear(`${p}.output.dense`, dim, ffnDim),
    );
    blocks.push(
      new Block(
        await norm(`${p}.attention.output.LayerNorm`),
        attention,
        await norm(`${p}.output.LayerNorm`),
        ffn,
        'post-norm',
      ),
    );
  }
  return new Encoder({
    embedding: new Embedding(
      await get('embeddings.word_embeddings.weight', [vocabSize, dim]),
      vocabSize,
      dim,
    ),
    positional: new LearnedPositional(
      await get('embeddings.position_embeddings.weight', [positions, dim]),
      positions,
      dim,
      config.family === 'xlm-roberta' ? { id: config.padTokenId } : null,
    ),
    tokenTypes: resolve('embeddings.token_type_embeddings.weight')
      ? new Embedding(
          await get('embeddings.token_type_embeddings.weight', [typeVocabSize, dim]),
          typeVocabSize,
          dim,
        )
      : null,
    embeddingNorm: await norm('embeddings.LayerNorm'),
    blocks,
    contextLength,
  });
}
