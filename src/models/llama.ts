// The Llama family (Llama 2/3, TinyLlama, SmolLM, Qwen2/3, Mistral, Phi-3, llama2.c's tinyllamas, Gemma
// 2/3): no positional table — rotary embeddings inside attention (scaled as the config says:
// nn/positional.ts) —, RMSNorm, SwiGLU feed-forward, grouped-query attention and (usually) an untied LM
// head. The same Decoder and nn blocks as GPT-2; only this mapping is new. The LlamaSpec's options switch
// on what the other families add, each an option of a shared block:
//   sliding windows per layer (Mistral, Qwen2/3, Gemma's local layers; their own RoPE base in Gemma 3),
//   q/k norms (Qwen3, Gemma 3), and Gemma's √dim-scaled embeddings, (1 + w) norms, sandwich norms, GeGLU,
//   query_pre_attn_scalar and soft-capped scores and logits (Gemma 2).
// Weights are read by their Hugging Face names; the llama2.c and GGUF readers expose those names too.
// Phi-3 stores q|k|v as one `qkv_proj` (rows q, k, v: our fused projection as it is) and gate|up as one
// `gate_up_proj` (rows: gate, then up — HF's chunk(2)).
import { checkLlamaSpec, type LlamaSpec } from '../formats/llama-spec.js';
import { checkShape, readChecked, renamedSource, type WeightSource } from '../formats/weights.js';
import { Attention } from '../nn/attention.js';
import { Block, type PostNorms } from '../nn/block.js';
import { embeddingAndHead } from '../nn/embedding.js';
import { FeedForward } from '../nn/feedforward.js';
import { Linear } from '../nn/linear.js';
import { HeadNorm, RMSNorm } from '../nn/norm.js';
import { RotaryEmbedding } from '../nn/positional.js';
import {
  matrixQuant,
  QUANT_TYPES,
  weightMatrix,
  weightStorage,
  type Matrix,
  type QuantPart,
  type QuantType,
  type WeightDtype,
} from '../tensor/index.js';
import { GlassError } from '../util/errors.js';
import { Decoder } from './decoder.js';

export { checkLlamaSpec, type LlamaSpec } from '../formats/llama-spec.js';

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
  const w = (name: string, shape: number[], into?: Float32Array) =>
    readChecked(src, name, shape, source, into);
  /** The matrix's blocks as the file stores them, when they are a type kept quantized (else undefined). */
  const kept = async (name: string, rows: number): Promise<QuantPart | undefined> => {
    const type = src.info(name).dtype as QuantType;
    if (!src.readRaw || !QUANT_TYPES.includes(type)) return undefined;
    return { type, rows, bytes: (await src.readRaw(name)).bytes };
  };
  /**
   * A weight matrix: kept in its ggml blocks when the file stores it as Q4_0 / Q4_K / Q5_K / Q6_K (whatever
   * the dtype: expanding them would only cost memory), else read straight into the storage it keeps (see
   * weightStorage).
   */
  const mat = async (name: string, rows: number, cols: number): Promise<Matrix> => {
    checkShape(src, name, [rows, cols], source);
    const q = await kept(name, rows);
    if (q) return matrixQuant(rows, cols, [q]);
    return weightMatrix(
      rows,
      cols,
      await w(name, [rows, cols], weightStorage(rows * cols, cols, dtype)),
      dtype,
    );
  };
  /** A fused [2·ffnDim, dim] matrix's two halves of rows (kept in their blocks, whole rows each: split by bytes). */
  const halves = async (name: string): Promise<[Matrix, Matrix]> => {
    checkShape(src, name, [2 * ffnDim, dim], source);
    const q = await kept(name, 2 * ffnDim);
    if (q) {
      const n = q.bytes.length / 2;
      const part = (b: Uint8Array) => matrixQuant(ffnDim, dim, [{ type: q.type, rows: ffnDim, bytes: b }]);
      return [part(q.bytes.slice(0, n)), part(q.bytes.slice(n))];
    }
    const both = await w(name, [2 * ffnDim, dim]);
    const half = (from: number) => {
      const m = weightStorage(ffnDim * dim, dim, dtype);
      m.set(both.subarray(from, from + ffnDim * dim));
      return weightMatrix(ffnDim, dim, m, dtype);
    };
    return [half(0), half(ffnDim * dim)];
  };
  const rope = new RotaryEmbedding(
    headDim,
    contextLength,
    spec.ropeTheta,
    spec.ropeStyle,
    spec.ropeDim ?? headDim,
    spec.ropeScaling ?? null,
  );
  // Gemma 3: the sliding-window layers rotate by their own base
  const localRope =
    spec.localRopeTheta === undefined || spec.localRopeTheta === spec.ropeTheta
      ? rope
      : new RotaryEmbedding(
          headDim,
          contextLength,
          spec.localRopeTheta,
          spec.ropeStyle,
          spec.ropeDim ?? headDim,
        );
  /** An RMSNorm of `n` values (Gemma's HF weights: γ = 1 + w). */
  const norm = async (name: string, n = dim) => new RMSNorm(await w(name, [n]), eps, spec.normOffset ?? 0);
  // The table is also the LM head when tied: then read into the head's storage.
  const tied = !src.has('lm_head.weight') && spec.tieWordEmbeddings;
  checkShape(src, 'model.embed_tokens.weight', [vocabSize, dim], source);
  const embed = await w(
    'model.embed_tokens.weight',
    [vocabSize, dim],
    tied ? weightStorage(vocabSize * dim, dim, dtype) : undefined,
  );
  // made now: a matrix adopts its storage at once (a plain wasm memory that grows detaches raw arrays)
  const keptHead = tied ? await kept('model.embed_tokens.weight', vocabSize) : undefined;
  const tiedHead = keptHead
    ? matrixQuant(vocabSize, dim, [keptHead])
    : tied
      ? weightMatrix(vocabSize, dim, embed, dtype)
      : null;
  const blocks: Block[] = [];
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}`;
    // q, k, v stacked row-wise into one [qDim + 2·kvDim, dim] projection: one pass over x for all three.
    let qkvMatrix: Matrix;
    if (src.has(`${p}.self_attn.qkv_proj.weight`)) {
      qkvMatrix = await mat(`${p}.self_attn.qkv_proj.weight`, qDim + 2 * kvDim, dim); // Phi-3: fused already
    } else {
      checkShape(src, `${p}.self_attn.q_proj.weight`, [qDim, dim], source);
      checkShape(src, `${p}.self_attn.k_proj.weight`, [kvDim, dim], source);
      checkShape(src, `${p}.self_attn.v_proj.weight`, [kvDim, dim], source);
      // Kept in their blocks when all three are kept types (a Q4_K_M file: q, k Q4_K, v often Q6_K — one
      // part per run of one type), else float32 (or the dtype) as one array.
      const names = ['q_proj', 'k_proj', 'v_proj'].map((n) => `${p}.self_attn.${n}.weight`);
      const qkvParts = await Promise.all(names.map((n, i) => kept(n, i === 0 ? qDim : kvDim)));
      if (qkvParts.every((q) => q !== undefined)) {
        qkvMatrix = matrixQuant(qDim + 2 * kvDim, dim, mergeParts(qkvParts as QuantPart[]));
      } else {
        const qkv = weightStorage((qDim + 2 * kvDim) * dim, dim, dtype);
        await w(names[0], [qDim, dim], qkv.subarray(0, qDim * dim));
        await w(names[1], [kvDim, dim], qkv.subarray(qDim * dim, (qDim + kvDim) * dim));
        await w(names[2], [kvDim, dim], qkv.subarray((qDim + kvDim) * dim));
        qkvMatrix = weightMatrix(qDim + 2 * kvDim, dim, qkv, dtype);
      }
    }
    let qkvBias: Float32Array | null = null;
    if (spec.attentionBias) {
      qkvBias = new Float32Array(qDim + 2 * kvDim);
      qkvBias.set(await w(`${p}.self_attn.q_proj.bias`, [qDim]), 0);
      qkvBias.set(await w(`${p}.self_attn.k_proj.bias`, [kvDim]), qDim);
      qkvBias.set(await w(`${p}.self_attn.v_proj.bias`, [kvDim]), qDim + kvDim);
    }
    const window = spec.slidingWindows?.[l] || undefined; // 0: this layer sees every earlier key
    const qkNorm = spec.qkNorm
      ? new HeadNorm(
          await norm(`${p}.self_attn.q_norm.weight`, headDim),
          await norm(`${p}.self_attn.k_norm.weight`, headDim),
        )
      : null;
    const attention = new Attention(
      { nHeads, nKvHeads, headDim, scale: spec.attnScale, window, softcap: spec.attnSoftcap },
      new Linear(qkvMatrix, qkvBias),
      new Linear(await mat(`${p}.self_attn.o_proj.weight`, dim, qDim)),
      window ? localRope : rope,
      true,
      qkNorm,
    );
    const [gate, up] = src.has(`${p}.mlp.gate_up_proj.weight`)
      ? await halves(`${p}.mlp.gate_up_proj.weight`) // Phi-3: [2·ffnDim, dim], gate rows first
      : [
          await mat(`${p}.mlp.gate_proj.weight`, ffnDim, dim),
          await mat(`${p}.mlp.up_proj.weight`, ffnDim, dim),
        ];
    const ffn = new FeedForward(
      spec.ffn ?? 'swiglu',
      new Linear(up),
      new Linear(await mat(`${p}.mlp.down_proj.weight`, dim, ffnDim)),
      new Linear(gate),
    );
    // Llama's post_attention_layernorm is the norm before the feed-forward; Gemma's (sandwich norms) is
    // the one after attention, pre_feedforward_layernorm the one before the feed-forward.
    const sandwich = spec.sandwichNorms === true;
    const post: PostNorms | null = sandwich
      ? {
          attention: await norm(`${p}.post_attention_layernorm.weight`),
          ffn: await norm(`${p}.post_feedforward_layernorm.weight`),
        }
      : null;
    const norm2 = await norm(`${p}.${sandwich ? 'pre_feedforward' : 'post_attention'}_layernorm.weight`);
    blocks.push(
      new Block(await norm(`${p}.input_layernorm.weight`), attention, norm2, ffn, 'pre-norm', null, post),
    );
  }
  if (!tied && !src.has('lm_head.weight'))
    throw new GlassError(
      'NOT_FOUND',
      `${src.name}: tensor "lm_head.weight" is missing and the embeddings are not tied`,
    );
  const head = tiedHead ?? (await mat('lm_head.weight', vocabSize, dim));
  return new Decoder({
    ...embeddingAndHead(embed, head, tied, spec.embedScale),
    positional: null,
    blocks,
    finalNorm: await norm('model.norm.weight'),
    logitSoftcap: spec.finalSoftcap,
    contextLength,
  });
}

/** Consecutive parts of one type joined into one (their bytes back to back): fewer kernel calls. */
function mergeParts(parts: QuantPart[]): QuantPart[] {
  const out: QuantPart[] = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if (last?.type !== p.type) {
      out.push(p);
      continue;
    }
    const bytes = new Uint8Array(last.bytes.length + p.bytes.length);
    bytes.set(last.bytes);
    bytes.set(p.bytes, last.bytes.length);
    out[out.length - 1] = { type: p.type, rows: last.rows + p.rows, bytes };
  }
  return out;
}

/**
 * A `gemma3` (multimodal) folder's text model under a text model's names: its checkpoints store it as
 * `language_model.model.*` (and `language_model.lm_head.*`), or `model.language_model.*` (newer saves).
 * The vision tower's tensors keep their names (nothing reads them).
 */
export function gemma3TextWeights(src: WeightSource): WeightSource {
  return renamedSource(src, (n) =>
    n.startsWith('language_model.')
      ? n.slice('language_model.'.length)
      : n.startsWith('model.language_model.')
        ? `model.${n.slice('model.language_model.'.length)}`
        : undefined,
  );
}
