// The training side of nn/ops.ts: each op is recorded on the autograd tape (its backward pass sits beside
// its forward in autograd.ts), against the parameters that own the module's weights. One TapeOps serves one
// forward pass over a batch: `batch` sequences of `seqLen` rows laid end to end, each starting at
// position 0, with optional padding (validLengths) for the encoders' batches of unequal texts.
import type { AttentionShape, Ops } from '../nn/ops.js';
import type { RotaryEmbedding } from '../nn/positional.js';
import type { Matrix } from '../tensor/index.js';
import { GlassError } from '../util/errors.js';
import type { Tape, Var } from './autograd.js';
import type { Parameters } from './params.js';

export interface Batching {
  batch: number;
  seqLen: number;
  /** Per sequence: rows from this one on are padding (no key there gets weight). Default: none. */
  validLengths?: ArrayLike<number>;
  /** An encoder-decoder's source batch (same `batch`): its rows per sequence and their valid lengths. */
  source?: { seqLen: number; validLengths?: ArrayLike<number> };
}

export class TapeOps implements Ops<Var> {
  readonly batch: number;
  readonly seqLen: number;
  private readonly validLengths: ArrayLike<number> | undefined;
  private readonly source: Batching['source'];

  constructor(
    readonly tape: Tape,
    readonly params: Parameters,
    b: Batching,
  ) {
    if (tape.dtype !== params.dtype)
      throw new Error(`training: a ${tape.dtype} tape for ${params.dtype} parameters`);
    const context = params.model.contextLength;
    if (b.seqLen > context) {
      throw new GlassError(
        'BAD_INPUT',
        `a window of ${b.seqLen} tokens is longer than the model's context length (${context})`,
      );
    }
    this.batch = b.batch;
    this.seqLen = b.seqLen;
    this.validLengths = b.validLengths;
    this.source = b.source;
  }

  /** The tape's leaf for a module's weight (gradients accumulate into its parameter). */
  private v(value: Float32Array | Matrix): Var {
    const p = this.params.of(value);
    if (this.params.fixed.has(p)) return this.tape.constant(p.data, p.shape);
    return this.tape.param(p.data, p.shape, p.grad);
  }

  gather(table: Float32Array | Matrix, _dim: number, ids: ArrayLike<number>): Var {
    return this.tape.embedding(this.v(table), ids);
  }

  positions(rows: number): Int32Array {
    const p = new Int32Array(rows);
    for (let t = 0; t < rows; t++) p[t] = t % this.seqLen;
    return p;
  }

  relativePositions(_rows: number, _causal: boolean): Int32Array {
    // one window's pairs (query i, key j < seqLen), shared by every sequence of the batch: the mask
    // (causal, padding) is attention's business, not the bias's
    const T = this.seqLen;
    const out = new Int32Array(T * T); // [T·T]
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) out[i * T + j] = j - i;
    return out;
  }

  matmul(x: Var, w: Matrix, bias: Float32Array | null): Var {
    return this.tape.matmul(x, this.v(w), bias ? this.v(bias) : null);
  }

  layerNorm(x: Var, gamma: Float32Array, beta: Float32Array, eps: number): Var {
    return this.tape.layerNorm(x, this.v(gamma), this.v(beta), eps);
  }

  rmsNorm(x: Var, gamma: Float32Array, eps: number): Var {
    return this.tape.rmsNorm(x, this.v(gamma), eps);
  }

  add(a: Var, b: Var): Var {
    return this.tape.add(a, b);
  }

  mul(a: Var, b: Var): Var {
    return this.tape.mul(a, b);
  }

  scale(x: Var, c: number): Var {
    return this.tape.scale(x, c);
  }

  relu(x: Var): Var {
    return this.tape.relu(x);
  }

  geluTanh(x: Var): Var {
    return this.tape.gelu(x);
  }

  geluErf(x: Var): Var {
    return this.tape.geluErf(x);
  }

  silu(x: Var): Var {
    return this.tape.silu(x);
  }

  rotate(qkv: Var, rope: RotaryEmbedding, s: AttentionShape): Var {
    return this.tape.rope(qkv, rope, this.seqLen, [
      { offset: 0, nHeads: s.nHeads },
      { offset: s.nHeads * s.headDim, nHeads: s.nKvHeads },
    ]);
  }

  softcap(): Var {
    throw new GlassError('UNSUPPORTED', 'training a model with soft-capped logits is not supported yet');
  }

  headRmsNorm(): Var {
    throw new GlassError(
      'UNSUPPORTED',
      'training a model with q/k norms (q_norm, k_norm) is not supported yet',
    );
  }

  attend(qkv: Var, s: AttentionShape, _layer: number, bias: Var | null = null): Var {
    const { nHeads, nKvHeads, headDim, causal } = s;
    if (s.window || s.softcap)
      throw new GlassError(
        'UNSUPPORTED',
        `training attention with ${s.window ? 'a sliding window' : 'soft-capped scores'} is not supported yet`,
      );
    return this.tape.attention(qkv, {
      batch: this.batch,
      seqLen: this.seqLen,
      nHeads,
      nKvHeads,
      headDim,
      ...(causal && !this.validLengths ? {} : { causal, validLengths: this.validLengths }),
      ...(s.scale !== undefined && { scale: s.scale }),
      ...(bias && { bias }),
    });
  }

  sourceKV(_layer: number, compute: () => Var): Var {
    return compute();
  }

  crossAttend(q: Var, kv: Var, s: AttentionShape): Var {
    const src = this.source;
    if (!src) throw new Error('crossAttend: this pass has no source batching (an encoder-decoder needs one)');
    return this.tape.crossAttention(q, kv, {
      batch: this.batch,
      tq: this.seqLen,
      tk: src.seqLen,
      srcLengths: src.validLengths,
      nHeads: s.nHeads,
      nKvHeads: s.nKvHeads,
      headDim: s.headDim,
      scale: s.scale,
    });
  }

  look(): void {}
}
