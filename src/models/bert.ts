// BERT (and MiniLM, BGE, all-MiniLM-L6-v2...): learned positions + segment embeddings, post-LayerNorm
// blocks, bidirectional multi-head attention, exact-GELU MLP. Only the mapping config + names → nn blocks.
// XLM-RoBERTa (HF modeling_xlm_roberta.py; multilingual-e5, paraphrase-multilingual-MiniLM) is this
// network under the same weight names (a "roberta." prefix instead of "bert."), its positions counted
// from the padding id (LearnedPositional's `padding`): rows padding_idx + 1, padding_idx + 2, …
// nomic-bert (nomic-embed-text-v1.5, modeling_hf_nomic_bert.py) is it too, under its own names: no position
// table but RoPE on q and k in every attention (half-split pairs), a fused Wqkv, a SwiGLU MLP
// fc2(fc11·x ⊙ silu(fc12·x)), no biases:
//   x = LN(E[ids] + T[types]);  per block: x = LN1(x + Attn_rope(x));  x = LN2(x + SwiGLU(x))
import type { BertConfig } from '../formats/hf-config.js';
import { readChecked, type WeightSource } from '../formats/weights.js';
import { Attention } from '../nn/attention.js';
import { Block } from '../nn/block.js';
import { Embedding } from '../nn/embedding.js';
import { FeedForward } from '../nn/feedforward.js';
import { Linear } from '../nn/linear.js';
import { LayerNorm } from '../nn/norm.js';
import { LearnedPositional, RotaryEmbedding } from '../nn/positional.js';
import { matrixF32 } from '../tensor/index.js';
import { Encoder } from './encoder.js';

/** Where a family keeps each weight (names without ".weight" / ".bias"; `l` is the layer). */
interface BertNames {
  prefix: string;
  word: string;
  types: string;
  /** The position table; null: rotary positions. */
  positions: string | null;
  embeddingNorm: string;
  /** One fused [3·dim, dim] projection, or query, key, value apart. */
  qkv: (l: number) => string | [string, string, string];
  out: (l: number) => string;
  norm1: (l: number) => string;
  up: (l: number) => string;
  /** SwiGLU's gate (nomic-bert); null: a plain GELU MLP. */
  gate: ((l: number) => string) | null;
  down: (l: number) => string;
  norm2: (l: number) => string;
}

const HF_BERT = (prefix: string): BertNames => ({
  prefix,
  word: 'embeddings.word_embeddings',
  types: 'embeddings.token_type_embeddings',
  positions: 'embeddings.position_embeddings',
  embeddingNorm: 'embeddings.LayerNorm',
  qkv: (l) =>
    ['query', 'key', 'value'].map((p) => `encoder.layer.${l}.attention.self.${p}`) as [
      string,
      string,
      string,
    ],
  out: (l) => `encoder.layer.${l}.attention.output.dense`,
  norm1: (l) => `encoder.layer.${l}.attention.output.LayerNorm`,
  up: (l) => `encoder.layer.${l}.intermediate.dense`,
  gate: null,
  down: (l) => `encoder.layer.${l}.output.dense`,
  norm2: (l) => `encoder.layer.${l}.output.LayerNorm`,
});

const NOMIC_BERT: BertNames = {
  prefix: 'bert', // NomicBertForPreTraining's names
  word: 'embeddings.word_embeddings',
  types: 'embeddings.token_type_embeddings',
  positions: null,
  embeddingNorm: 'emb_ln',
  qkv: (l) => `encoder.layers.${l}.attn.Wqkv`,
  out: (l) => `encoder.layers.${l}.attn.out_proj`,
  norm1: (l) => `encoder.layers.${l}.norm1`,
  up: (l) => `encoder.layers.${l}.mlp.fc11`,
  gate: (l) => `encoder.layers.${l}.mlp.fc12`,
  down: (l) => `encoder.layers.${l}.mlp.fc2`,
  norm2: (l) => `encoder.layers.${l}.norm2`,
};

const NAMES: Record<BertConfig['family'], BertNames> = {
  bert: HF_BERT('bert'),
  'xlm-roberta': HF_BERT('roberta'),
  'nomic-bert': NOMIC_BERT,
};

export async function buildBert(config: BertConfig, src: WeightSource): Promise<Encoder> {
  const { dim, nHeads, nLayers, vocabSize, contextLength, ffnDim, layerNormEps: eps, typeVocabSize } = config;
  const headDim = dim / nHeads;
  const positions = contextLength + config.positionOffset; // rows of the position table
  const n = NAMES[config.family];
  // sentence-transformers saves names without the "bert." / "roberta." prefix; BertForX checkpoints have it.
  const resolve = (name: string) => [name, `${n.prefix}.${name}`].find((x) => src.has(x));
  const get = (name: string, shape: number[]): Promise<Float32Array> =>
    readChecked(src, resolve(name) ?? name, shape, 'config.json', undefined, name);
  const linear = async (name: string, out: number, inp: number, bias: boolean) =>
    new Linear(
      matrixF32(out, inp, await get(`${name}.weight`, [out, inp])),
      bias ? await get(`${name}.bias`, [out]) : null,
    );
  const norm = async (name: string) =>
    new LayerNorm(await get(`${name}.weight`, [dim]), await get(`${name}.bias`, [dim]), eps);
  const { biases } = config;
  const rope = config.rope
    ? new RotaryEmbedding(headDim, contextLength, config.rope.theta, config.rope.style)
    : null;

  const blocks: Block[] = [];
  for (let l = 0; l < nLayers; l++) {
    const names = n.qkv(l);
    let qkv: Linear;
    if (typeof names === 'string') qkv = await linear(names, 3 * dim, dim, biases.attention);
    else {
      // q, k, v stacked: [3·dim, dim]
      const qkvW = new Float32Array(3 * dim * dim);
      const qkvB = biases.attention ? new Float32Array(3 * dim) : null;
      for (const [i, part] of names.entries()) {
        qkvW.set(await get(`${part}.weight`, [dim, dim]), i * dim * dim);
        qkvB?.set(await get(`${part}.bias`, [dim]), i * dim);
      }
      qkv = new Linear(matrixF32(3 * dim, dim, qkvW), qkvB);
    }
    const attention = new Attention(
      { nHeads, nKvHeads: nHeads, headDim },
      qkv,
      await linear(n.out(l), dim, dim, biases.attention),
      rope,
      false, // bidirectional: every token sees every token
    );
    const up = await linear(n.up(l), ffnDim, dim, biases.up);
    const down = await linear(n.down(l), dim, ffnDim, biases.down);
    const ffn = n.gate
      ? new FeedForward('swiglu', up, down, await linear(n.gate(l), ffnDim, dim, biases.up))
      : new FeedForward(config.activation === 'gelu' ? 'gelu_erf' : 'gelu', up, down);
    blocks.push(new Block(await norm(n.norm1(l)), attention, await norm(n.norm2(l)), ffn, 'post-norm'));
  }
  return new Encoder({
    embedding: new Embedding(await get(`${n.word}.weight`, [vocabSize, dim]), vocabSize, dim),
    positional: n.positions
      ? new LearnedPositional(
          await get(`${n.positions}.weight`, [positions, dim]),
          positions,
          dim,
          config.family === 'xlm-roberta' ? { id: config.padTokenId } : null,
        )
      : null,
    tokenTypes: resolve(`${n.types}.weight`)
      ? new Embedding(await get(`${n.types}.weight`, [typeVocabSize, dim]), typeVocabSize, dim)
      : null,
    embeddingNorm: await norm(n.embeddingNorm),
    blocks,
    contextLength,
  });
}
