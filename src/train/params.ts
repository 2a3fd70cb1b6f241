// Training's view of a model: the weights the model's own modules list (nn/weights.ts) as parameters —
// each the very array the forward pass reads, with a gradient beside it. The optimizer updates those
// arrays in place, so after a step inference (generation, the trace) sees the new weights with no
// conversion. Any model whose modules list their weights trains: the decoders (GPT-2, Llama) and the
// encoders (BERT, MiniLM) alike.
import type { Decoder } from '../models/decoder.js';
import type { Encoder } from '../models/encoder.js';
import type { Weight } from '../nn/weights.js';
import type { Matrix } from '../tensor/index.js';
import { GlassError } from '../util/errors.js';
import { allocF32, type Arr, type DType } from './autograd.js';

/** One trainable tensor: where its values live (the model's own array) and its gradient. */
export interface Param {
  /** A stable name (optimizer state is saved under it), e.g. "blocks.0.attn.qkv.weight". */
  readonly name: string;
  readonly shape: readonly number[];
  /** Decoupled weight decay applies (matrices of the blocks and an untied head; not norms, biases, embeddings). */
  readonly decay: boolean;
  /** The values: the model's own Float32Array (f32), or a float64 copy (f64 models, for gradient checks). */
  readonly data: Arr;
  /** Accumulated gradient; zeroGrad() clears it. */
  readonly grad: Arr;
}

/** A model training can walk: it lists its weights and runs on any ops (see nn/ops.ts). */
export type TrainableModel = Decoder | Encoder;

export interface ParametersOptions {
  /** 'f64' copies every weight into float64 (gradient checks); the default 'f32' trains the model in place. */
  dtype?: DType;
}

export class Parameters {
  readonly params: Param[] = [];
  readonly dtype: DType;
  /** True when a decoder's LM head is its embedding table (one parameter, gradients from both uses). */
  readonly tied: boolean = false;
  /** Weight (a Matrix or Float32Array the modules hand the ops) → its parameter. */
  private readonly byValue = new Map<object, Param>();
  /** Weights the forward reads but training leaves alone (constants on the tape; not in `params`). */
  readonly fixed = new Set<Param>();
  /** Copies that must follow a parameter after each update (a tied head held in another memory). */
  private readonly mirrors: Array<() => void> = [];

  constructor(
    readonly model: TrainableModel,
    options: ParametersOptions = {},
  ) {
    this.dtype = options.dtype ?? 'f32';
    for (const w of model.weights()) {
      const data = floatData(w);
      const seen = this.byValue.get(w.value) ?? this.byValue.get(data);
      if (seen) {
        // the same array listed twice: a tied LM head (one table, gradients from both uses)
        this.byValue.set(w.value, seen);
        this.tied = true;
        continue;
      }
      const embed = w.name === 'lm_head.weight' ? this.params.find((p) => p.name === 'embed.weight') : null;
      if (embed && sameValues(data, embed.data)) {
        // Tied in the model, but the head's matrix was copied into a backend's memory (WASM): train the one
        // table and copy it into the head after every update (syncTied), so inference sees one table.
        this.byValue.set(w.value, embed);
        this.tied = true;
        if (this.dtype === 'f32') this.mirrors.push(() => floatData(w).set(embed.data));
        continue;
      }
      this.add(w, data);
    }
  }

  /** The number of trainable values. */
  get numParams(): number {
    return this.params.reduce((s, p) => s + p.data.length, 0);
  }

  /**
   * `data` re-reads a matrix's array on every use: a weight matrix placed in a backend's memory (WASM)
   * re-creates its view when that memory grows.
   */
  private add(w: Weight, data: Float32Array): void {
    if (w.fixed) {
      const n = data.length;
      const p: Param = {
        name: w.name,
        shape: w.shape,
        decay: false,
        data: this.dtype === 'f64' ? Float64Array.from(data) : data,
        grad: new Float32Array(0),
      };
      if (n !== w.shape.reduce((a, b) => a * b, 1))
        throw new Error(`${w.name}: shape [${w.shape}] needs ${n} values`);
      this.fixed.add(p);
      this.byValue.set(w.value, p);
      this.byValue.set(data, p);
      return;
    }
    const n = w.shape.reduce((a, b) => a * b, 1);
    if (data.length !== n)
      throw new Error(`${w.name}: shape [${w.shape}] needs ${n} values, got ${data.length}`);
    const { name, shape, decay } = w;
    const p: Param =
      this.dtype === 'f64'
        ? { name, shape, decay, data: Float64Array.from(data), grad: new Float64Array(n) }
        : w.value instanceof Float32Array
          ? { name, shape, decay, data, grad: allocF32(n, this.model.backend) }
          : {
              name,
              shape,
              decay,
              get data() {
                return floatData(w);
              },
              grad: allocF32(n, this.model.backend),
            };
    this.byValue.set(w.value, p);
    this.byValue.set(data, p);
    this.params.push(p);
  }

  /** The parameter that owns a weight a module handed to the ops. */
  of(value: Float32Array | Matrix): Param {
    const p = this.byValue.get(value);
    if (!p) throw new Error('training: a module used a weight it does not list in weights()');
    return p;
  }

  /** Brings copies of tied weights up to date; call after each optimizer update. */
  syncTied(): void {
    for (const m of this.mirrors) m();
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad.fill(0);
  }
}

/** Same length and the same values, bit for bit. */
export function sameValues(a: Arr, b: Arr): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function floatData(w: Weight): Float32Array {
  const v = w.value;
  if (v instanceof Float32Array) return v;
  if (v.kind !== 'f32') {
    throw new GlassError(
      'UNSUPPORTED',
      `training: the ${w.name} weights are ${v.kind}; only float weights can be trained (load an F32/F16/BF16 model)`,
    );
  }
  return v.data;
}
