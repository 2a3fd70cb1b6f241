// Training — a model's weights back under Hugging Face names, the inverse of models/gpt2.ts, llama.ts and
// bert.ts, so a trained or fine-tuned model is saved as an ordinary HF folder that glasslm (and transformers) load.
//   GPT-2: Conv1D projections are stored [in, out]: our [out, in] matrices are transposed back.
//   Llama: q, k, v are split out of the fused projection; checkpoints whose RoPE pairs (2i, 2i+1)
//   (llama2.c, GGUF) get their q/k rows permuted to HF's half-split pairing (i, i + d/2), as HF's
//   convert_llama_weights_to_hf.py does — attention scores are unchanged by it.
//   BERT: query, key, value are split out of the fused projection; names bare, as sentence-transformers saves.
//   Marian: q|k|v and the cross-attention's k|v split back, the shared table once, final_logits_bias.
import { hfLlamaSpec, parseHfConfig, type LlamaConfig, type ModelConfig } from '../formats/hf-config.js';
import type { TensorToWrite } from '../formats/safetensors.js';
import type { Decoder } from '../models/decoder.js';
import type { Encoder } from '../models/encoder.js';
import type { Seq2Seq } from '../models/seq2seq.js';
import { buildLlama } from '../models/llama.js';
import type { Linear } from '../nn/linear.js';
import type { LayerNorm, Norm, RMSNorm } from '../nn/norm.js';
import { transpose } from '../tensor/index.js';
import { GlassError } from '../util/errors.js';
import { memoryWeights } from './init.js';
import { sameValues } from './params.js';

function weightOf(l: Linear, what: string): Float32Array {
  if (l.weight.kind !== 'f32')
    throw new GlassError('UNSUPPORTED', `${what}: only float weights can be saved`);
  return l.weight.data;
}

function layerNorm(n: Norm | null, what: string): LayerNorm {
  if (n?.kind !== 'layernorm') throw new GlassError('UNSUPPORTED', `${what}: expected a LayerNorm`);
  return n;
}

function rmsNorm(n: Norm | null, what: string): RMSNorm {
  if (n?.kind !== 'rmsnorm') throw new GlassError('UNSUPPORTED', `${what}: expected an RMSNorm`);
  return n;
}

/** True when the LM head is the embedding table — the same memory, or a copy of it (one tensor saved). */
export function isTied(d: Decoder): boolean {
  const w = d.lmHead.weight;
  return w.kind === 'f32' && (w.data === d.embedding.weight || sameValues(w.data, d.embedding.weight));
}

/** Tensors to write, in order, with the helpers every family's export uses. */
class TensorList {
  readonly out: TensorToWrite[] = [];
  add(name: string, shape: number[], data: Float32Array): void {
    this.out.push({ name, dtype: 'F32', shape, data });
  }
  /** `${name}.weight` (gamma) and `${name}.bias` (beta) of a LayerNorm. */
  layerNorm(name: string, n: Norm | null): void {
    const x = layerNorm(n, name);
    this.add(`${name}.weight`, [x.dim], x.gamma);
    this.add(`${name}.bias`, [x.dim], x.beta);
  }
}

/** GPT-2 tensors in HF names (bare, as openai-community/gpt2 stores them), Conv1D weights [in, out]. */
export function gpt2Tensors(d: Decoder): TensorToWrite[] {
  const dim = d.dim;
  const t = new TensorList();
  const add = t.add.bind(t);
  const conv1d = (name: string, l: Linear) => {
    add(`${name}.weight`, [l.inDim, l.outDim], transpose(weightOf(l, name), l.outDim, l.inDim));
    if (!l.bias) throw new GlassError('UNSUPPORTED', `${name}: GPT-2 projections have biases`);
    add(`${name}.bias`, [l.outDim], l.bias);
  };
  const ln = t.layerNorm.bind(t);
  add('wte.weight', [d.vocabSize, dim], d.embedding.weight);
  if (d.positional?.kind !== 'learned') throw new GlassError('UNSUPPORTED', 'GPT-2 needs learned positions');
  add('wpe.weight', [d.positional.maxPositions, dim], d.positional.weight);
  d.blocks.forEach((b, l) => {
    const p = `h.${l}`;
    ln(`${p}.ln_1`, b.norm1);
    conv1d(`${p}.attn.c_attn`, b.attention.qkv);
    conv1d(`${p}.attn.c_proj`, b.attention.out);
    ln(`${p}.ln_2`, b.norm2);
    conv1d(`${p}.mlp.c_fc`, b.ffn.up);
    conv1d(`${p}.mlp.c_proj`, b.ffn.down);
  });
  ln('ln_f', d.finalNorm);
  if (!isTied(d)) add('lm_head.weight', [d.vocabSize, dim], weightOf(d.lmHead, 'lm_head'));
  return t.out;
}

/** Rows of a [nHeads·hd, cols] projection, pairs (2i, 2i+1) of each head moved to (i, i + hd/2). */
function interleavedToHalf(
  w: Float32Array,
  nHeads: number,
  hd: number,
  cols: number,
): Float32Array<ArrayBuffer> {
  const out = new Float32Array(w.length);
  const half = hd / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let p = 0; p < 2; p++) {
        const src = (h * hd + 2 * i + p) * cols;
        const dst = (h * hd + p * half + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

function interleavedToHalfVector(b: Float32Array, nHeads: number, hd: number): Float32Array<ArrayBuffer> {
  return interleavedToHalf(b, nHeads, hd, 1);
}

/** Llama tensors in HF names (model.layers.N.self_attn.q_proj.weight ...), q/k in HF's half-split RoPE order. */
export function llamaTensors(d: Decoder): TensorToWrite[] {
  const dim = d.dim;
  const out: TensorToWrite[] = [];
  const add = (name: string, shape: number[], data: Float32Array) =>
    out.push({ name, dtype: 'F32', shape, data });
  add('model.embed_tokens.weight', [d.vocabSize, dim], d.embedding.weight);
  d.blocks.forEach((b, l) => {
    const p = `model.layers.${l}`;
    const a = b.attention;
    const { nHeads, nKvHeads, headDim } = a.config;
    const rope = a.rotation;
    if (!rope) throw new GlassError('UNSUPPORTED', `${p}: Llama attention needs RoPE`);
    if (rope.rotaryDim !== headDim) {
      throw new GlassError(
        'UNSUPPORTED',
        `${p}: partial rotary embeddings cannot be saved as an HF Llama checkpoint`,
      );
    }
    if (rope.scaling) {
      throw new GlassError(
        'UNSUPPORTED',
        `${p}: RoPE ${rope.scaling.type} scaling cannot be saved as an HF Llama checkpoint yet`,
      );
    }
    const permute = rope.style === 'interleaved';
    const qkv = weightOf(a.qkv, `${p}.self_attn`);
    const qDim = a.qDim;
    const kvDim = a.kvDim;
    let q: Float32Array = qkv.slice(0, qDim * dim);
    let k: Float32Array = qkv.slice(qDim * dim, (qDim + kvDim) * dim);
    const v = qkv.slice((qDim + kvDim) * dim, (qDim + 2 * kvDim) * dim);
    if (permute) {
      q = interleavedToHalf(q, nHeads, headDim, dim);
      k = interleavedToHalf(k, nKvHeads, headDim, dim);
    }
    add(`${p}.input_layernorm.weight`, [dim], rmsNorm(b.norm1, `${p}.input_layernorm`).gamma);
    add(`${p}.self_attn.q_proj.weight`, [qDim, dim], q);
    add(`${p}.self_attn.k_proj.weight`, [kvDim, dim], k);
    add(`${p}.self_attn.v_proj.weight`, [kvDim, dim], v);
    if (a.qkv.bias) {
      const bias = a.qkv.bias;
      let bq: Float32Array = bias.slice(0, qDim);
      let bk: Float32Array = bias.slice(qDim, qDim + kvDim);
      if (permute) {
        bq = interleavedToHalfVector(bq, nHeads, headDim);
        bk = interleavedToHalfVector(bk, nKvHeads, headDim);
      }
      add(`${p}.self_attn.q_proj.bias`, [qDim], bq);
      add(`${p}.self_attn.k_proj.bias`, [kvDim], bk);
      add(`${p}.self_attn.v_proj.bias`, [kvDim], bias.slice(qDim + kvDim));
    }
    if (a.out.bias) throw new GlassError('UNSUPPORTED', `${p}: o_proj has a bias, which HF Llama does not`);
    add(`${p}.self_attn.o_proj.weight`, [dim, qDim], weightOf(a.out, `${p}.self_attn.o_proj`));
    add(
      `${p}.post_attention_layernorm.weight`,
      [dim],
      rmsNorm(b.norm2, `${p}.post_attention_layernorm`).gamma,
    );
    const f = b.ffn;
    if (f.kind !== 'swiglu' || !f.gate)
      throw new GlassError('UNSUPPORTED', `${p}: Llama needs a SwiGLU feed-forward`);
    add(`${p}.mlp.gate_proj.weight`, [f.hiddenDim, dim], weightOf(f.gate, `${p}.mlp.gate_proj`));
    add(`${p}.mlp.up_proj.weight`, [f.hiddenDim, dim], weightOf(f.up, `${p}.mlp.up_proj`));
    add(`${p}.mlp.down_proj.weight`, [dim, f.hiddenDim], weightOf(f.down, `${p}.mlp.down_proj`));
  });
  add('model.norm.weight', [dim], rmsNorm(d.finalNorm, 'model.norm').gamma);
  if (!isTied(d)) add('lm_head.weight', [d.vocabSize, dim], weightOf(d.lmHead, 'lm_head'));
  return out;
}

/** BERT tensors in HF names (embeddings.*, encoder.layer.N.*), without the "bert." prefix, as sentence-transformers saves them. */
export function bertTensors(e: Encoder): TensorToWrite[] {
  const dim = e.dim;
  const t = new TensorList();
  const add = t.add.bind(t);
  const linear = (name: string, l: Linear) => {
    add(`${name}.weight`, [l.outDim, l.inDim], weightOf(l, name));
    if (!l.bias) throw new GlassError('UNSUPPORTED', `${name}: BERT projections have biases`);
    add(`${name}.bias`, [l.outDim], l.bias);
  };
  const ln = t.layerNorm.bind(t);
  add('embeddings.word_embeddings.weight', [e.embedding.vocabSize, dim], e.embedding.weight);
  if (e.positional?.kind !== 'learned') throw new GlassError('UNSUPPORTED', 'BERT needs learned positions');
  add('embeddings.position_embeddings.weight', [e.positional.maxPositions, dim], e.positional.weight);
  if (e.tokenTypes)
    add('embeddings.token_type_embeddings.weight', [e.tokenTypes.vocabSize, dim], e.tokenTypes.weight);
  ln('embeddings.LayerNorm', e.embeddingNorm);
  e.blocks.forEach((b, l) => {
    const p = `encoder.layer.${l}`;
    const a = b.attention;
    const qkv = weightOf(a.qkv, `${p}.attention.self`);
    const bias = a.qkv.bias;
    if (!bias) throw new GlassError('UNSUPPORTED', `${p}.attention.self: BERT projections have biases`);
    for (const [i, part] of ['query', 'key', 'value'].entries()) {
      add(`${p}.attention.self.${part}.weight`, [dim, dim], qkv.slice(i * dim * dim, (i + 1) * dim * dim));
      add(`${p}.attention.self.${part}.bias`, [dim], bias.slice(i * dim, (i + 1) * dim));
    }
    linear(`${p}.attention.output.dense`, a.out);
    ln(`${p}.attention.output.LayerNorm`, b.norm1);
    linear(`${p}.intermediate.dense`, b.ffn.up);
    linear(`${p}.output.dense`, b.ffn.down);
    ln(`${p}.output.LayerNorm`, b.norm2);
  });
  return t.out;
}

/** config.json of an HF Llama for a LlamaConfig (from a config.json, a GGUF header or a llama2.c header). */
export function llamaConfigJson(c: LlamaConfig, tied: boolean): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dim,
    intermediate_size: c.ffnDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.contextLength,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    hidden_act: 'silu',
    attention_bias: c.attentionBias,
    vocab_size: c.vocabSize,
    tie_word_embeddings: tied,
    bos_token_id: c.bosTokenId ?? null,
    eos_token_id: c.eosTokenId ?? null,
    torch_dtype: 'float32',
  };
}

/** The tensors and config.json that save `d` as an HF folder of its family. */
export function hfCheckpoint(
  config: ModelConfig,
  d: Decoder,
): { tensors: TensorToWrite[]; configJson: Record<string, unknown> } {
  const tied = isTied(d);
  const type = config.modelType;
  switch (type) {
    case 'gpt2':
      // The config it was loaded with describes it (tie_word_embeddings as saved).
      return { tensors: gpt2Tensors(d), configJson: { ...config.raw, tie_word_embeddings: tied } };
    case 'llama': {
      // An HF folder's own config.json is kept (mistral/qwen2 fields and all); others get one written.
      const fromHf = typeof config.raw.model_type === 'string';
      return {
        tensors: llamaTensors(d),
        configJson: fromHf ? { ...config.raw, tie_word_embeddings: tied } : llamaConfigJson(config, tied),
      };
    }
    default:
      throw new GlassError('UNSUPPORTED', `saving a ${String(type)} model is not supported yet`);
  }
}

/**
 * The model as an HF folder would hold it: a Llama whose RoPE pairs (2i, 2i+1) (llama2.c, GGUF) is rebuilt
 * with HF's half-split pairing and q/k rows permuted to match — the same function — so the weights that
 * train (and AdamW's moments) are the ones the saved folder holds, and resuming from it continues exactly.
 * Anything else is returned as it is.
 */
export async function inHfLayout(m: {
  config: ModelConfig;
  decoder: Decoder;
}): Promise<{ config: ModelConfig; decoder: Decoder }> {
  const rope = m.decoder.blocks[0]?.attention.rotation;
  if (m.config.modelType !== 'llama' || !rope || rope.style === 'half') return m;
  const { tensors, configJson } = hfCheckpoint(m.config, m.decoder);
  const config = parseHfConfig(configJson, 'config.json') as LlamaConfig;
  const weights = new Map(tensors.map((t) => [t.name, { shape: t.shape, data: t.data }]));
  const decoder = await buildLlama(
    hfLlamaSpec(config),
    memoryWeights(weights, 'model.safetensors'),
    'config.json',
  );
  return { config, decoder };
}

/**
 * Marian tensors in HF names (model.shared.weight, model.encoder.layers.N.*, model.decoder.layers.N.*,
 * final_logits_bias [1, vocab]): the inverse of models/marian.ts — the fused q|k|v and cross-attention k|v
 * projections split back, the one table of both embeddings and the LM head saved once, the head's bias as
 * final_logits_bias. The sinusoidal position tables are left out (fixed: buildMarian computes them).
 */
export function marianTensors(m: Seq2Seq): TensorToWrite[] {
  const { encoder: e, decoder: d } = m;
  const dim = d.dim;
  const table = e.embedding.weight;
  const same = (w: Float32Array) => w === table || sameValues(w, table);
  if (!same(d.embedding.weight) || !same(weightOf(d.lmHead, 'lm_head'))) {
    throw new GlassError(
      'UNSUPPORTED',
      'Marian shares one embedding table between encoder, decoder and head',
    );
  }
  const t = new TensorList();
  const add = t.add.bind(t);
  const ln = t.layerNorm.bind(t);
  /** Splits a fused [parts·dim, dim] projection (and its bias) into one named linear per part. */
  const split = (names: string[], l: Linear, what: string) => {
    const w = weightOf(l, what);
    if (!l.bias) throw new GlassError('UNSUPPORTED', `${what}: Marian projections have biases`);
    const rows = l.outDim / names.length;
    names.forEach((n, i) => {
      add(`${n}.weight`, [rows, l.inDim], w.slice(i * rows * l.inDim, (i + 1) * rows * l.inDim));
      add(`${n}.bias`, [rows], l.bias!.slice(i * rows, (i + 1) * rows));
    });
  };
  const linear = (name: string, l: Linear) => split([name], l, name);
  const selfAttention = (p: string, a: { qkv: Linear; out: Linear }) => {
    split([`${p}.q_proj`, `${p}.k_proj`, `${p}.v_proj`], a.qkv, p);
    linear(`${p}.out_proj`, a.out);
  };
  const ffn = (p: string, f: { up: Linear; down: Linear }) => {
    linear(`${p}.fc1`, f.up);
    linear(`${p}.fc2`, f.down);
  };
  add('model.shared.weight', [d.vocabSize, dim], table);
  e.blocks.forEach((b, l) => {
    const p = `model.encoder.layers.${l}`;
    selfAttention(`${p}.self_attn`, b.attention);
    ln(`${p}.self_attn_layer_norm`, b.norm1);
    ffn(p, b.ffn);
    ln(`${p}.final_layer_norm`, b.norm2);
  });
  d.blocks.forEach((b, l) => {
    const p = `model.decoder.layers.${l}`;
    if (!b.cross) throw new GlassError('UNSUPPORTED', `${p}: a Marian decoder block has cross-attention`);
    selfAttention(`${p}.self_attn`, b.attention);
    ln(`${p}.self_attn_layer_norm`, b.norm1);
    const c = b.cross.attention;
    linear(`${p}.encoder_attn.q_proj`, c.q);
    split([`${p}.encoder_attn.k_proj`, `${p}.encoder_attn.v_proj`], c.kv, `${p}.encoder_attn`);
    linear(`${p}.encoder_attn.out_proj`, c.out);
    ln(`${p}.encoder_attn_layer_norm`, b.cross.norm);
    ffn(p, b.ffn);
    ln(`${p}.final_layer_norm`, b.norm2);
  });
  add('final_logits_bias', [1, d.vocabSize], d.lmHead.bias ?? new Float32Array(d.vocabSize));
  return t.out;
}
