// Training — the network that trains is the network that runs: TrainableGpt reads the weight arrays of a
// Decoder's own blocks (Embedding, Linear, LayerNorm/RMSNorm, Attention, FeedForward), runs the same forward
// pass on the autograd tape, and the optimizer updates those same Float32Arrays in place — so after a step,
// Decoder.forward (inference, generation, the trace) sees the new weights with no conversion.
//
//   x = Embed(ids) (+ Pos)  →  N × [ x += Attn(Norm1 x);  x += FFN(Norm2 x) ]  →  logits = Head(Norm(x))
//
// GPT-2 (LayerNorm, learned positions, GELU MLP, biases) and Llama (RMSNorm, RoPE, SwiGLU, grouped-query
// attention, no biases) are the same code: which branch runs is read off the blocks, as inference does.
import type { Decoder } from '../models/decoder.js';
import type { Linear } from '../nn/linear.js';
import { LayerNorm, RMSNorm, type Norm } from '../nn/norm.js';
import { LearnedPositional, RotaryEmbedding } from '../nn/positional.js';
import { GlassError } from '../util/errors.js';
import { allocF32, Tape, type Arr, type DType, type Ids, type Var } from './autograd.js';

/** One trainable tensor: where its values live (the Decoder's own array) and its gradient. */
export interface Param {
  /** A stable name (optimizer state is saved under it), e.g. "blocks.0.attn.qkv.weight". */
  readonly name: string;
  readonly shape: readonly number[];
  /** Decoupled weight decay applies (matrices of the blocks and an untied head; not norms, biases, embeddings). */
  readonly decay: boolean;
  /** The values: the Decoder's own Float32Array (f32), or a float64 copy (f64 models, for gradient checks). */
  readonly data: Arr;
  /** Accumulated gradient; zeroGrad() clears it. */
  readonly grad: Arr;
}

interface NormParams {
  kind: 'layernorm' | 'rmsnorm';
  gamma: Param;
  beta: Param | null;
  eps: number;
}

interface LinearParams {
  weight: Param;
  bias: Param | null;
}

interface BlockParams {
  norm1: NormParams;
  qkv: LinearParams;
  out: LinearParams;
  norm2: NormParams;
  ffnKind: 'gelu' | 'swiglu';
  up: LinearParams;
  gate: LinearParams | null;
  down: LinearParams;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** The inference module itself: the tape rotates with its tables. */
  rope: RotaryEmbedding | null;
}

export interface TrainableOptions {
  /** 'f64' copies every weight into float64 (gradient checks); the default 'f32' trains the Decoder in place. */
  dtype?: DType;
}

/** A Decoder's weights as autograd parameters, with forward/backward over batches of token windows. */
export class TrainableGpt {
  readonly params: Param[] = [];
  readonly dtype: DType;
  readonly vocabSize: number;
  readonly dim: number;
  readonly contextLength: number;
  /** True when the LM head is the embedding table itself (one parameter, gradients from both uses). */
  readonly tied: boolean;
  private readonly embed: Param;
  private readonly pos: Param | null;
  private readonly blocks: BlockParams[] = [];
  private readonly finalNorm: NormParams;
  private readonly head: Param;
  private readonly byArray = new Map<Float32Array, Param>();
  /** Copies that must follow a parameter after each update (a tied head held in another memory). */
  private readonly mirrors: Array<() => void> = [];

  constructor(
    readonly decoder: Decoder,
    options: TrainableOptions = {},
  ) {
    this.dtype = options.dtype ?? 'f32';
    const d = decoder;
    this.vocabSize = d.vocabSize;
    this.dim = d.dim;
    this.contextLength = d.contextLength;
    this.embed = this.param('embed.weight', d.embedding.weight, [d.embedding.vocabSize, d.dim], false);
    if (d.positional === null) this.pos = null;
    else if (d.positional instanceof LearnedPositional) {
      const p = d.positional;
      this.pos = this.param('pos.weight', p.weight, [p.maxPositions, p.dim], false);
    } else {
      throw new GlassError('UNSUPPORTED', `training: ${d.positional.kind} positions are not trainable yet`);
    }
    d.blocks.forEach((b, l) => {
      const a = b.attention;
      const { nHeads, nKvHeads, headDim } = a.config;
      let rope: RotaryEmbedding | null = null;
      if (a.rotation !== null) {
        if (!(a.rotation instanceof RotaryEmbedding)) {
          throw new GlassError('UNSUPPORTED', `training: block ${l}'s q/k rotation is not a RotaryEmbedding`);
        }
        rope = a.rotation;
      }
      const f = b.ffn;
      if (f.kind !== 'gelu' && f.kind !== 'swiglu') {
        throw new GlassError(
          'UNSUPPORTED',
          `training: block ${l}'s ${f.kind} feed-forward is not trainable yet`,
        );
      }
      this.blocks.push({
        norm1: this.norm(`blocks.${l}.norm1`, b.norm1),
        qkv: this.linear(`blocks.${l}.attn.qkv`, a.qkv, true),
        out: this.linear(`blocks.${l}.attn.out`, a.out, true),
        norm2: this.norm(`blocks.${l}.norm2`, b.norm2),
        ffnKind: f.kind,
        up: this.linear(`blocks.${l}.ffn.up`, f.up, true),
        gate: f.gate ? this.linear(`blocks.${l}.ffn.gate`, f.gate, true) : null,
        down: this.linear(`blocks.${l}.ffn.down`, f.down, true),
        nHeads,
        nKvHeads,
        headDim,
        rope,
      });
    });
    this.finalNorm = this.norm('final_norm', d.finalNorm);
    const headData = matrixData(d.lmHead, 'lm head');
    this.tied = headData === d.embedding.weight;
    if (!this.tied && sameValues(headData, d.embedding.weight)) {
      // Tied in the model, but the head's matrix was copied into a backend's memory (WASM): train the one
      // table and copy it into the head after every update (syncTied), so inference sees one table.
      this.tied = true;
      this.mirrors.push(() => matrixData(d.lmHead, 'lm head').set(this.embed.data));
    }
    this.head = this.tied
      ? this.embed
      : this.param('lm_head.weight', headData, [d.vocabSize, d.dim], true, () =>
          matrixData(d.lmHead, 'lm head'),
        );
  }

  /** The number of trainable values. */
  get numParams(): number {
    return this.params.reduce((s, p) => s + p.data.length, 0);
  }

  /**
   * `read` returns the array as its owner holds it now: a weight matrix placed in a backend's memory (WASM)
   * re-creates its view when that memory grows, so a Linear's weights are read through it, never cached.
   */
  private param(
    name: string,
    data: Float32Array,
    shape: number[],
    decay: boolean,
    read: () => Float32Array = () => data,
  ): Param {
    const seen = this.byArray.get(data);
    if (seen) return seen;
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`${name}: shape [${shape}] needs ${n} values, got ${data.length}`);
    const p: Param =
      this.dtype === 'f64'
        ? { name, shape, decay, data: Float64Array.from(data), grad: new Float64Array(n) }
        : {
            name,
            shape,
            decay,
            get data() {
              return read();
            },
            grad: allocF32(n),
          };
    this.byArray.set(data, p);
    this.params.push(p);
    return p;
  }

  private linear(name: string, l: Linear, decay: boolean): LinearParams {
    return {
      weight: this.param(`${name}.weight`, matrixData(l, name), [l.outDim, l.inDim], decay, () =>
        matrixData(l, name),
      ),
      bias: l.bias ? this.param(`${name}.bias`, l.bias, [l.outDim], false) : null,
    };
  }

  private norm(name: string, n: Norm): NormParams {
    if (n instanceof LayerNorm) {
      return {
        kind: 'layernorm',
        gamma: this.param(`${name}.weight`, n.gamma, [n.dim], false),
        beta: this.param(`${name}.bias`, n.beta, [n.dim], false),
        eps: n.eps,
      };
    }
    if (n instanceof RMSNorm) {
      return {
        kind: 'rmsnorm',
        gamma: this.param(`${name}.weight`, n.gamma, [n.dim], false),
        beta: null,
        eps: n.eps,
      };
    }
    throw new GlassError('UNSUPPORTED', `training: norm ${name} is neither LayerNorm nor RMSNorm`);
  }

  /** Brings copies of tied weights up to date; call after each optimizer update. */
  syncTied(): void {
    if (this.dtype === 'f32') for (const m of this.mirrors) m();
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad.fill(0);
  }

  /**
   * Logits [batch·seqLen, vocab] for `batch` windows of `seqLen` ids laid end to end (each window starts at
   * position 0), on the tape: call tape.backward on a loss built from them to get every parameter's gradient.
   */
  logits(tape: Tape, ids: Ids, batch: number, seqLen: number): Var {
    if (ids.length !== batch * seqLen) throw new Error(`logits: ${ids.length} ids for ${batch}×${seqLen}`);
    if (seqLen > this.contextLength) {
      throw new GlassError(
        'BAD_INPUT',
        `a window of ${seqLen} tokens is longer than the model's context length (${this.contextLength})`,
      );
    }
    if (tape.dtype !== this.dtype) throw new Error(`logits: a ${tape.dtype} tape for a ${this.dtype} model`);
    const v = (p: Param) => tape.param(p.data, p.shape, p.grad);
    const n = batch * seqLen;
    let x = tape.embedding(v(this.embed), ids);
    if (this.pos) {
      const positions = new Int32Array(n);
      for (let t = 0; t < n; t++) positions[t] = t % seqLen;
      x = tape.add(x, tape.embedding(v(this.pos), positions));
    }
    const lin = (h: Var, l: LinearParams) => tape.matmul(h, v(l.weight), l.bias ? v(l.bias) : null);
    const norm = (h: Var, p: NormParams) =>
      p.kind === 'layernorm'
        ? tape.layerNorm(h, v(p.gamma), v(p.beta!), p.eps)
        : tape.rmsNorm(h, v(p.gamma), p.eps);
    for (const b of this.blocks) {
      const qDim = b.nHeads * b.headDim;
      let qkv = lin(norm(x, b.norm1), b.qkv);
      if (b.rope) {
        qkv = tape.rope(qkv, b.rope, seqLen, [
          { offset: 0, nHeads: b.nHeads },
          { offset: qDim, nHeads: b.nKvHeads },
        ]);
      }
      const heads = tape.attention(qkv, {
        batch,
        seqLen,
        nHeads: b.nHeads,
        nKvHeads: b.nKvHeads,
        headDim: b.headDim,
      });
      x = tape.add(x, lin(heads, b.out));
      const h = norm(x, b.norm2);
      let hidden: Var;
      if (b.ffnKind === 'gelu') hidden = tape.gelu(lin(h, b.up));
      else hidden = tape.mul(tape.silu(lin(h, b.gate!)), lin(h, b.up));
      x = tape.add(x, lin(hidden, b.down));
    }
    return tape.matmul(norm(x, this.finalNorm), v(this.head));
  }

  /** Mean next-token cross-entropy of `batch` windows: inputs ids, targets ids shifted by one (−1: no loss). */
  loss(tape: Tape, inputs: Ids, targets: Ids, batch: number, seqLen: number): Var {
    return tape.crossEntropy(this.logits(tape, inputs, batch, seqLen), targets);
  }
}

/** Same length and the same values, bit for bit. */
export function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function matrixData(l: Linear, what: string): Float32Array {
  const w = l.weight;
  if (w.kind !== 'f32') {
    throw new GlassError(
      'UNSUPPORTED',
      `training: the ${what} weights are ${w.kind}; only float weights can be trained (load an F32/F16/BF16 model)`,
    );
  }
  return w.data;
}
