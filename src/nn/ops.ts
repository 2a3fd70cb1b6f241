// The operations a module's forward pass is written in. Every nn module has ONE forward, generic over an
// `Ops`: the same lines run inference and training.
//   - Inference (nn/infer.ts, `InferOps`): plain Float32Arrays, the backend's kernels, the KV cache,
//     nothing recorded; `add`/`mul`/activations may overwrite their first operand, as inference always did.
//   - Training (train/tape-ops.ts, `TapeOps`): the same calls recorded on the autograd tape, each with its
//     backward pass beside it, against the module's own weight arrays (registered as parameters).
// A module passes its weights by reference (a Matrix, a Float32Array): inference reads them, the tape looks
// up the parameter that owns them. Positions, the KV cache, padding and batching belong to the ops, so a
// module never asks which of the two it is running in.
import type { Matrix } from '../tensor/index.js';
import type { RotaryEmbedding } from './positional.js';

/** A matrix of activations: `rows` rows of `cols` values, row-major. */
export interface Act {
  readonly data: Float32Array | Float64Array;
  readonly rows: number;
  readonly cols: number;
}

/** The head layout of a fused q|k|v projection, and whether a query sees later positions. */
export interface AttentionShape {
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  /** true: position t sees keys 0..t (decoders); false: every key (encoders). */
  readonly causal: boolean;
  /** What q·k is multiplied by: 1/√headDim when absent (T5: 1, its scale is folded into its weights). */
  readonly scale?: number;
  /** Sliding window (causal): the query at position p sees keys p − window < j ≤ p; absent: all. */
  readonly window?: number;
  /** Scores soft-capped to c·tanh(S/c) before the mask (Gemma 2); absent: none. */
  readonly softcap?: number;
}

/** What a trace can look at inside block `layer` (see nn/tap.ts). */
export type Stage = 'residualIn' | 'attentionOut' | 'ffnHidden' | 'ffnOut' | 'residualOut';

export interface Ops<T extends Act> {
  /** Rows of a [n, dim] table: out[t] = table[ids[t]]. The table is an array or a float matrix's rows. */
  gather(table: Float32Array | Matrix, dim: number, ids: ArrayLike<number>): T;
  /** The absolute position of each of `rows` rows (inference: pos0…; training: within each window). */
  positions(rows: number): Int32Array;
  /**
   * key position − query position of every (query row, key) pair that `attend` scores in a pass over
   * `rows` rows, in the order its `bias` is read: per query row, per key 0..n−1, where n counts the keys
   * the row's sequence holds (causal: its cached positions and these; bidirectional: its rows). Inference
   * lists the sequences of a batched pass one after the other; training gives one window's pairs, which
   * every sequence of the batch shares.
   */
  relativePositions(rows: number, causal: boolean): Int32Array;
  /** x·Wᵀ + b: [rows, in] → [rows, W.rows]. */
  matmul(x: T, w: Matrix, bias: Float32Array | null): T;
  /** (x − mean) / √(var + ε) · γ + β, per row. */
  layerNorm(x: T, gamma: Float32Array, beta: Float32Array, eps: number): T;
  /** x / √(mean(x²) + ε) · γ, per row. */
  rmsNorm(x: T, gamma: Float32Array, eps: number): T;
  /** a + b, elementwise (may overwrite a). */
  add(a: T, b: T): T;
  /** a ⊙ b, elementwise (may overwrite a). */
  mul(a: T, b: T): T;
  /** c·x (may overwrite x). */
  scale(x: T, c: number): T;
  /** GELU, tanh approximation (GPT-2's gelu_new); may work in place. */
  geluTanh(x: T): T;
  /** GELU, exact (BERT's erf form); may work in place. */
  geluErf(x: T): T;
  /** x·σ(x); may work in place. */
  silu(x: T): T;
  /** max(x, 0); may work in place. */
  relu(x: T): T;
  /** c·tanh(x/c) (Gemma 2's final logits); may work in place. */
  softcap(x: T, c: number): T;
  /**
   * RMSNorm of `heads` runs of `headDim` values starting at column `offset` of every row (q or k heads of
   * fused q|k|v rows), each by γ [headDim]; may work in place.
   */
  headRmsNorm(x: T, offset: number, heads: number, headDim: number, gamma: Float32Array, eps: number): T;
  /** RoPE on the q heads and the k heads of fused q|k|v rows, at the rows' positions. */
  rotate(qkv: T, rope: RotaryEmbedding, shape: AttentionShape): T;
  /**
   * Scaled-dot-product attention of fused q|k|v rows, [rows, (H + 2·Hkv)·hd] → [rows, H·hd]: each query head
   * mixes the values of the keys it may see (causal or not; padding and, in inference, the cached keys
   * of earlier positions included). `layer` names the block (its KV cache, its trace tap). `bias` (T5's
   * relative position bias), [pairs, nHeads] in relativePositions' order, is added to the scores.
   */
  attend(qkv: T, shape: AttentionShape, layer: number, bias?: T | null): T;
  /**
   * The source's keys and values for the cross-attention of decoder block `layer`, [srcRows, 2·Hkv·hd]
   * (k | v per row): `compute` projects the encoder's output; inference computes it once per source and
   * keeps it for every later step (and every beam), training computes it in each pass.
   */
  sourceKV(layer: number, compute: () => T): T;
  /**
   * Cross-attention: every query row sees every source key (no mask, padding excluded), q [rows, H·hd],
   * kv from sourceKV → [rows, H·hd]. The trace sees the weights (the alignment).
   */
  crossAttend(q: T, kv: T, shape: AttentionShape, layer: number): T;
  /** Shows a trace what block `layer` computed at `stage` (nothing when no trace is recording). */
  look(layer: number, stage: Stage, x: T): void;
}
