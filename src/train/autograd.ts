// Training — reverse-mode automatic differentiation over flat typed arrays.
//
// A Tape records, for every operation it runs, a closure that turns the gradient of the operation's output
// into gradients of its inputs (the chain rule, one op at a time). backward(loss) seeds dloss/dloss = 1 and
// runs those closures newest first, so each gradient is complete before it is used. Every op here is one a
// GPT-2 or Llama block needs — x·Wᵀ + b, add, ⊙, LayerNorm, RMSNorm, GELU(tanh), SiLU, softmax, causal
// attention (grouped-query), embedding lookups, RoPE, and cross-entropy — and what a BERT/MiniLM sentence
// encoder adds: exact (erf) GELU, bidirectional attention over padded batches, mean pooling, L2
// normalization and scaling — each with its forward formula and its hand-derived backward next to it.
//
// Numbers: activations are Float32Array (what training runs on) or Float64Array (what the gradient checks
// run on: finite differences need the extra digits). Sums accumulate in JS numbers (float64) either way,
// as the reference inference kernels do, so a float32 forward pass matches the inference path closely.
// Buffers come from a pool and are handed back by reset(): one training step reuses the last one's memory.
// A Var's data (and grad) are valid until the tape's next reset().
import { GlassError } from '../util/errors.js';
import type { RotaryEmbedding } from '../nn/positional.js';
import { backend, referenceBackend, type Backend } from '../tensor/index.js';
import { erf } from '../tensor/reference/kernels.js';
import { gemm, transposeInto } from './kernels.js';

export type Arr = Float32Array | Float64Array;
export type DType = 'f32' | 'f64';
/** Token ids (targets may hold −1: no loss at that row). */
export type Ids = ArrayLike<number>;

/** A tensor on the tape: row-major data, its shape, and (after backward) its gradient. */
export class Var {
  /** Same length and type as data; allocated on first use. */
  grad: Arr | null;
  constructor(
    readonly data: Arr,
    readonly shape: readonly number[],
    /** Whether gradients flow into this Var (a parameter, or anything computed from one). */
    readonly requiresGrad: boolean,
    grad: Arr | null = null,
  ) {
    this.grad = grad;
  }
  get size(): number {
    return this.data.length;
  }
  /** The last dimension (the width of a row). */
  get cols(): number {
    return this.shape[this.shape.length - 1];
  }
  /** Everything but the last dimension, multiplied out. */
  get rows(): number {
    return this.data.length / this.cols;
  }
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export interface TapeOptions {
  dtype?: DType;
  /** false: record nothing (evaluation); backward() is then an error. Default true. */
  grad?: boolean;
  /** The backend whose kernels run the float32 ops (default: the active one); give the model's. */
  backend?: Backend;
}

/**
 * Float32 storage for the tape and the gradients: the active backend's allocActivations (the wasm
 * backend's own memory, so that its kernels read and write the buffers in place rather than copying them
 * in and out on every call — the tape keeps its buffers from step to step; the reference: a plain array).
 */
export function allocF32(n: number, be: Backend = backend()): Float32Array {
  return be.allocActivations(n);
}

export class Tape {
  readonly dtype: DType;
  readonly recording: boolean;
  private backs: Array<() => void> = [];
  private used: Arr[] = [];
  private free = new Map<number, Arr[]>();

  /** The kernels the tape's float32 ops run on (the trained model's own backend). */
  readonly backend: Backend;

  constructor(options: TapeOptions = {}) {
    this.dtype = options.dtype ?? 'f32';
    this.recording = options.grad ?? true;
    this.backend = options.backend ?? backend();
  }

  /** A buffer of n values from the pool; zeroed when `zero` (ops that fill every entry skip that). */
  alloc(n: number, zero = true): Arr {
    const list = this.free.get(n);
    let a = list?.pop();
    if (a === undefined) a = this.dtype === 'f64' ? new Float64Array(n) : allocF32(n, this.backend);
    else if (zero) a.fill(0);
    this.used.push(a);
    return a;
  }

  /** Hands every buffer of this step back to the pool and forgets the recorded ops. */
  reset(): void {
    for (const a of this.used) {
      let list = this.free.get(a.length);
      if (!list) this.free.set(a.length, (list = []));
      list.push(a);
    }
    this.used = [];
    this.backs = [];
  }

  /** A leaf that receives gradients, accumulated into `grad` (kept across steps by its owner). */
  param(data: Arr, shape: readonly number[], grad?: Arr): Var {
    checkSize(data, shape, 'param');
    if (!this.recording) return new Var(data, shape, false);
    return new Var(data, shape, true, grad ?? null);
  }

  /** A leaf that receives no gradient (inputs, fixed weights). */
  constant(data: Arr, shape: readonly number[]): Var {
    checkSize(data, shape, 'constant');
    return new Var(data, shape, false);
  }

  private out(shape: readonly number[], zero: boolean, ...inputs: Var[]): Var {
    const n = shape.reduce((a, b) => a * b, 1);
    return new Var(this.alloc(n, zero), shape, this.recording && inputs.some((v) => v.requiresGrad));
  }

  private record(out: Var, back: () => void): void {
    if (out.requiresGrad) this.backs.push(back);
  }

  /** The gradient buffer of v, allocated (zeroed) on first use. */
  gradOf(v: Var): Arr {
    if (v.grad === null) v.grad = this.alloc(v.size);
    return v.grad;
  }

  /** Runs the chain rule from a scalar `loss` back to every Var that requires a gradient. */
  backward(loss: Var): void {
    if (!this.recording) throw new Error('backward: this tape records no gradients (grad: false)');
    if (loss.size !== 1) throw new Error(`backward: the loss must be a scalar, got shape [${loss.shape}]`);
    this.gradOf(loss)[0] += 1;
    for (let i = this.backs.length - 1; i >= 0; i--) this.backs[i]();
    this.backs = [];
  }

  // -----------------------------------------------------------------------------------------------
  // Linear algebra

  /**
   * y = x·Wᵀ + b: x [rows, in], W [out, in] (the Linear layout: each output's weights contiguous), b [out].
   * Backward: dx = dy·W, dW += dyᵀ·x, db += Σ_rows dy.
   */
  matmul(x: Var, w: Var, b: Var | null = null): Var {
    const [nOut, nIn] = w.shape;
    if (w.shape.length !== 2 || x.cols !== nIn) {
      throw new Error(`matmul: x has rows of ${x.cols}, W is [${w.shape}] (expected [out, ${x.cols}])`);
    }
    if (b && b.size !== nOut) throw new Error(`matmul: bias has ${b.size} values, expected ${nOut}`);
    const rows = x.rows;
    const y = this.out([...x.shape.slice(0, -1), nOut], false, x, w, ...(b ? [b] : []));
    gemm(this.backend, y.data, x.data, w.data, b ? b.data : null, rows, nIn, nOut);
    this.record(y, () => {
      const dy = y.grad;
      if (!dy) return;
      if (x.requiresGrad) {
        // dx[m, i] += Σ_j dy[m, j]·W[j, i]: W [out, in] read as the transpose of an [in, out] operand.
        gemm(this.backend, this.gradOf(x), dy, w.data, null, rows, nOut, nIn, { wT: true, accumulate: true });
      }
      if (w.requiresGrad) {
        // dW[j, i] += Σ_m dy[m, j]·x[m, i]: both operands read transposed (dyᵀ [out, rows], xᵀ [in, rows]).
        gemm(this.backend, this.gradOf(w), dy, x.data, null, nOut, rows, nIn, {
          xT: true,
          wT: true,
          accumulate: true,
        });
      }
      if (b && b.requiresGrad) {
        const db = this.gradOf(b);
        for (let m = 0; m < rows; m++) {
          const o = m * nOut;
          for (let j = 0; j < nOut; j++) db[j] += dy[o + j];
        }
      }
    });
    return y;
  }

  /** y = a + b (same shape). */
  add(a: Var, b: Var): Var {
    sameSize(a, b, 'add');
    const y = this.out(a.shape, false, a, b);
    const n = a.size;
    const ad = a.data;
    const bd = b.data;
    const yd = y.data;
    for (let i = 0; i < n; i++) yd[i] = ad[i] + bd[i];
    this.record(y, () => {
      const dy = y.grad;
      if (!dy) return;
      if (a.requiresGrad) addInto(this.gradOf(a), dy);
      if (b.requiresGrad) addInto(this.gradOf(b), dy);
    });
    return y;
  }

  /** y = a ⊙ b (same shape). Backward: da += dy ⊙ b, db += dy ⊙ a. */
  mul(a: Var, b: Var): Var {
    sameSize(a, b, 'mul');
    const y = this.out(a.shape, false, a, b);
    const n = a.size;
    const ad = a.data;
    const bd = b.data;
    const yd = y.data;
    for (let i = 0; i < n; i++) yd[i] = ad[i] * bd[i];
    this.record(y, () => {
      const dy = y.grad;
      if (!dy) return;
      if (a.requiresGrad) {
        const da = this.gradOf(a);
        for (let i = 0; i < n; i++) da[i] += dy[i] * bd[i];
      }
      if (b.requiresGrad) {
        const db = this.gradOf(b);
        for (let i = 0; i < n; i++) db[i] += dy[i] * ad[i];
      }
    });
    return y;
  }

  /** y = c·x for a constant c. Backward: dx += c·dy. */
  scale(x: Var, c: number): Var {
    const y = this.out(x.shape, false, x);
    const n = x.size;
    const xd = x.data;
    const yd = y.data;
    for (let i = 0; i < n; i++) yd[i] = c * xd[i];
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !x.requiresGrad) return;
      const dx = this.gradOf(x);
      for (let i = 0; i < n; i++) dx[i] += c * dy[i];
    });
    return y;
  }

  /** Rows start..end-1 of x ([rows, cols] → [end − start, cols]). Backward: dy added into those rows of dx. */
  sliceRows(x: Var, start: number, end: number): Var {
    const cols = x.cols;
    if (!(0 <= start && start < end && end <= x.rows))
      throw new Error(`sliceRows: rows ${start}..${end} of ${x.rows}`);
    const y = this.out([end - start, cols], false, x);
    y.data.set(x.data.subarray(start * cols, end * cols));
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !x.requiresGrad) return;
      const dx = this.gradOf(x).subarray(start * cols, end * cols);
      addInto(dx, dy);
    });
    return y;
  }

  // -----------------------------------------------------------------------------------------------
  // Norms

  /**
   * LayerNorm per row: x̂ = (x − mean) / √(var + ε), y = x̂·γ + β.
   * Backward: dγ += Σ dy·x̂, dβ += Σ dy, dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ.
   */
  layerNorm(x: Var, gamma: Var, beta: Var, eps: number): Var {
    const dim = x.cols;
    if (gamma.size !== dim || beta.size !== dim) throw new Error(`layerNorm: γ/β must have ${dim} values`);
    const rows = x.rows;
    const y = this.out(x.shape, false, x, gamma, beta);
    const xd = x.data;
    const yd = y.data;
    const g = gamma.data;
    const bt = beta.data;
    const mean = new Float64Array(rows);
    const rstd = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      let m = 0;
      for (let i = 0; i < dim; i++) m += xd[o + i];
      m /= dim;
      let v = 0;
      for (let i = 0; i < dim; i++) {
        const d = xd[o + i] - m;
        v += d * d;
      }
      const inv = 1 / Math.sqrt(v / dim + eps);
      mean[r] = m;
      rstd[r] = inv;
      for (let i = 0; i < dim; i++) yd[o + i] = (xd[o + i] - m) * inv * g[i] + bt[i];
    }
    this.record(y, () => {
      const dy = y.grad;
      if (!dy) return;
      const dx = x.requiresGrad ? this.gradOf(x) : null;
      const dg = gamma.requiresGrad ? this.gradOf(gamma) : null;
      const db = beta.requiresGrad ? this.gradOf(beta) : null;
      for (let r = 0; r < rows; r++) {
        const o = r * dim;
        const m = mean[r];
        const inv = rstd[r];
        let sg = 0;
        let sgx = 0;
        for (let i = 0; i < dim; i++) {
          const xh = (xd[o + i] - m) * inv;
          const gi = dy[o + i] * g[i];
          sg += gi;
          sgx += gi * xh;
          if (dg) dg[i] += dy[o + i] * xh;
          if (db) db[i] += dy[o + i];
        }
        if (dx) {
          sg /= dim;
          sgx /= dim;
          for (let i = 0; i < dim; i++) {
            const xh = (xd[o + i] - m) * inv;
            dx[o + i] += inv * (dy[o + i] * g[i] - sg - xh * sgx);
          }
        }
      }
    });
    return y;
  }

  /**
   * RMSNorm per row: r = 1/√(mean(x²) + ε), y = x·r·γ.
   * Backward: dγ += Σ dy·x·r, dx = r·g − x·r³·mean(g·x) with g = dy·γ.
   */
  rmsNorm(x: Var, gamma: Var, eps: number): Var {
    const dim = x.cols;
    if (gamma.size !== dim) throw new Error(`rmsNorm: γ must have ${dim} values`);
    const rows = x.rows;
    const y = this.out(x.shape, false, x, gamma);
    const xd = x.data;
    const yd = y.data;
    const g = gamma.data;
    const rs = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      let ss = 0;
      for (let i = 0; i < dim; i++) ss += xd[o + i] * xd[o + i];
      const inv = 1 / Math.sqrt(ss / dim + eps);
      rs[r] = inv;
      for (let i = 0; i < dim; i++) yd[o + i] = xd[o + i] * inv * g[i];
    }
    this.record(y, () => {
      const dy = y.grad;
      if (!dy) return;
      const dx = x.requiresGrad ? this.gradOf(x) : null;
      const dg = gamma.requiresGrad ? this.gradOf(gamma) : null;
      for (let r = 0; r < rows; r++) {
        const o = r * dim;
        const inv = rs[r];
        let sgx = 0;
        for (let i = 0; i < dim; i++) {
          sgx += dy[o + i] * g[i] * xd[o + i];
          if (dg) dg[i] += dy[o + i] * xd[o + i] * inv;
        }
        if (dx) {
          const k = (inv * inv * inv * sgx) / dim;
          for (let i = 0; i < dim; i++) dx[o + i] += inv * dy[o + i] * g[i] - xd[o + i] * k;
        }
      }
    });
    return y;
  }

  // -----------------------------------------------------------------------------------------------
  // Nonlinearities

  /**
   * GPT-2's GELU (tanh approximation): y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³).
   * dy/dx = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²).
   */
  gelu(x: Var): Var {
    const y = this.out(x.shape, false, x);
    const n = x.size;
    const xd = x.data;
    const yd = y.data;
    // The active backend's kernels both ways on float32 (the backward pass recomputes tanh from x); the
    // reference's, which take float64 too, on the gradient checks' float64.
    const be = this.backend;
    yd.set(xd);
    if (yd instanceof Float32Array) be.geluTanh(yd, n);
    else referenceBackend.geluTanh(yd, n);
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !x.requiresGrad) return;
      const dx = this.gradOf(x);
      if (dx instanceof Float32Array && dy instanceof Float32Array && xd instanceof Float32Array)
        be.geluTanhBackward(dx, dy, xd, n);
      else referenceBackend.geluTanhBackward(dx, dy, xd, n);
    });
    return y;
  }

  /**
   * BERT's exact GELU: y = ½x(1 + erf(x/√2)) = x·Φ(x), with the reference inference kernel's erf.
   * dy/dx = Φ(x) + x·φ(x) = ½(1 + erf(x/√2)) + x·exp(−x²/2)/√(2π).
   */
  geluErf(x: Var): Var {
    const y = this.out(x.shape, false, x);
    const n = x.size;
    const xd = x.data;
    const yd = y.data;
    // Φ(x) is kept for the backward pass.
    const cdf = y.requiresGrad ? this.alloc(n, false) : null;
    for (let i = 0; i < n; i++) {
      const v = xd[i];
      const c = 0.5 * (1 + erf(v / Math.SQRT2));
      if (cdf) cdf[i] = c;
      yd[i] = v * c;
    }
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !x.requiresGrad || !cdf) return;
      const dx = this.gradOf(x);
      for (let i = 0; i < n; i++) {
        const v = xd[i];
        dx[i] += dy[i] * (cdf[i] + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v));
      }
    });
    return y;
  }

  /** SiLU: y = x·σ(x); dy/dx = σ(x)·(1 + x·(1 − σ(x))). */
  silu(x: Var): Var {
    const y = this.out(x.shape, false, x);
    const n = x.size;
    const xd = x.data;
    const yd = y.data;
    for (let i = 0; i < n; i++) yd[i] = xd[i] / (1 + Math.exp(-xd[i]));
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !x.requiresGrad) return;
      const dx = this.gradOf(x);
      for (let i = 0; i < n; i++) {
        const s = 1 / (1 + Math.exp(-xd[i]));
        dx[i] += dy[i] * s * (1 + xd[i] * (1 - s));
      }
    });
    return y;
  }

  /** y = max(x, 0) (T5's MLP). Backward: dx += dy where x > 0. */
  relu(x: Var): Var {
    const y = this.out(x.shape, false, x);
    const n = x.size;
    const xd = x.data;
    const yd = y.data;
    for (let i = 0; i < n; i++) yd[i] = xd[i] > 0 ? xd[i] : 0;
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !x.requiresGrad) return;
      const dx = this.gradOf(x);
      for (let i = 0; i < n; i++) if (xd[i] > 0) dx[i] += dy[i];
    });
    return y;
  }

  /**
   * Cross-attention of an encoder-decoder over `batch` pairs: the tq query rows of pair b (q
   * [batch·tq, nHeads·hd]) see the first srcLengths[b] (default tk) of its tk source rows, whose keys and
   * values are kv [batch·tk, 2·nKvHeads·hd] (k | v per row). Query head h reads kv head ⌊h / group⌋.
   *   P = softmax(q·Kᵀ/√hd) over the valid keys,  out_h = P·V   → [batch·tq, nHeads·hd]
   * Backward: dV += Pᵀ·dO; dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(P ⊙ dP)); dq += dS·K/√hd; dK += dSᵀ·q/√hd.
   */
  crossAttention(
    q: Var,
    kv: Var,
    o: {
      batch: number;
      tq: number;
      tk: number;
      srcLengths?: ArrayLike<number>;
      nHeads: number;
      nKvHeads: number;
      headDim: number;
      /** What q·k is multiplied by (default 1/√hd; T5: 1). */
      scale?: number;
    },
  ): Var {
    const { batch, tq, tk, nHeads, nKvHeads, headDim: hd } = o;
    const qw = nHeads * hd;
    const kw = 2 * nKvHeads * hd;
    if (q.rows !== batch * tq || q.cols !== qw)
      throw new Error(`crossAttention: q is [${q.shape}], expected [${batch * tq}, ${qw}]`);
    if (kv.rows !== batch * tk || kv.cols !== kw)
      throw new Error(`crossAttention: kv is [${kv.shape}], expected [${batch * tk}, ${kw}]`);
    const group = nHeads / nKvHeads;
    const scale = o.scale ?? 1 / Math.sqrt(hd);
    const len = (b: number) => {
      const n = o.srcLengths ? o.srcLengths[b] : tk;
      if (!(Number.isInteger(n) && n >= 1 && n <= tk))
        throw new GlassError(
          'BAD_INPUT',
          `crossAttention: source length ${n} of pair ${b} is not in 1..${tk}`,
        );
      return n;
    };
    const y = this.out([batch * tq, qw], true, q, kv);
    const qd = q.data;
    const kd = kv.data;
    const yd = y.data;
    // P [batch, nHeads, tq, tk] kept for the backward pass
    const P = new Float64Array(batch * nHeads * tq * tk);
    for (let b = 0; b < batch; b++) {
      const n = len(b);
      for (let h = 0; h < nHeads; h++) {
        const kOff = Math.floor(h / group) * hd;
        const vOff = nKvHeads * hd + kOff;
        for (let i = 0; i < tq; i++) {
          const qo = (b * tq + i) * qw + h * hd;
          const po = ((b * nHeads + h) * tq + i) * tk;
          let max = -Infinity;
          for (let j = 0; j < n; j++) {
            const ko = (b * tk + j) * kw + kOff;
            let sum = 0;
            for (let d = 0; d < hd; d++) sum += qd[qo + d] * kd[ko + d];
            P[po + j] = sum * scale;
            if (P[po + j] > max) max = P[po + j];
          }
          let z = 0;
          for (let j = 0; j < n; j++) z += P[po + j] = Math.exp(P[po + j] - max);
          for (let j = 0; j < n; j++) P[po + j] /= z;
          for (let d = 0; d < hd; d++) {
            let acc = 0;
            for (let j = 0; j < n; j++) acc += P[po + j] * kd[(b * tk + j) * kw + vOff + d];
            yd[qo + d] = acc;
          }
        }
      }
    }
    this.record(y, () => {
      const dy = y.grad;
      if (!dy) return;
      const dq = q.requiresGrad ? this.gradOf(q) : null;
      const dkv = kv.requiresGrad ? this.gradOf(kv) : null;
      const dP = new Float64Array(tk);
      for (let b = 0; b < batch; b++) {
        const n = len(b);
        for (let h = 0; h < nHeads; h++) {
          const kOff = Math.floor(h / group) * hd;
          const vOff = nKvHeads * hd + kOff;
          for (let i = 0; i < tq; i++) {
            const qo = (b * tq + i) * qw + h * hd;
            const po = ((b * nHeads + h) * tq + i) * tk;
            // dP_j = dO·V_j;  dV_j += P_j·dO
            let dot = 0;
            for (let j = 0; j < n; j++) {
              const vo = (b * tk + j) * kw + vOff;
              let sum = 0;
              for (let d = 0; d < hd; d++) {
                sum += dy[qo + d] * kd[vo + d];
                if (dkv) dkv[vo + d] += P[po + j] * dy[qo + d];
              }
              dP[j] = sum;
              dot += P[po + j] * sum;
            }
            // dS_j = P_j (dP_j − Σ P·dP), scaled into q and K
            for (let j = 0; j < n; j++) {
              const dS = P[po + j] * (dP[j] - dot) * scale;
              const ko = (b * tk + j) * kw + kOff;
              for (let d = 0; d < hd; d++) {
                if (dq) dq[qo + d] += dS * kd[ko + d];
                if (dkv) dkv[ko + d] += dS * qd[qo + d];
              }
            }
          }
        }
      }
    });
    return y;
  }

  /**
   * Softmax over each row of the last dimension. With `causal`, x is [..., T, T] and row i of each
   * T×T matrix only sees columns 0..i (the rest get probability 0) — the attention mask.
   * Backward: dx = y ⊙ (dy − Σ y·dy).
   */
  softmax(x: Var, causal = false): Var {
    const cols = x.cols;
    const rows = x.rows;
    if (causal && (x.shape.length < 2 || x.shape[x.shape.length - 2] !== cols)) {
      throw new Error(`softmax: a causal mask needs square [..., T, T] input, got [${x.shape}]`);
    }
    const y = this.out(x.shape, true, x);
    const xd = x.data;
    const yd = y.data;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const valid = causal ? (r % cols) + 1 : cols;
      let max = -Infinity;
      for (let j = 0; j < valid; j++) if (xd[o + j] > max) max = xd[o + j];
      let sum = 0;
      for (let j = 0; j < valid; j++) sum += Math.exp(xd[o + j] - max);
      for (let j = 0; j < valid; j++) yd[o + j] = Math.exp(xd[o + j] - max) / sum;
    }
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !x.requiresGrad) return;
      const dx = this.gradOf(x);
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        const valid = causal ? (r % cols) + 1 : cols;
        let s = 0;
        for (let j = 0; j < valid; j++) s += yd[o + j] * dy[o + j];
        for (let j = 0; j < valid; j++) dx[o + j] += yd[o + j] * (dy[o + j] - s);
      }
    });
    return y;
  }

  // -----------------------------------------------------------------------------------------------
  // Attention and positions

  /**
   * Fused causal self-attention over `batch` sequences of `seqLen` positions. qkv: [batch·seqLen, width]
   * whose rows hold q (nHeads·hd values) at qOffset, k and v (nKvHeads·hd each) at kOffset, vOffset — the
   * layout of the inference path's fused projection. Query head h reads kv head ⌊h / (nHeads/nKvHeads)⌋.
   *   P = softmax(q·Kᵀ/√hd, causal),  out_h = P·V   → [batch·seqLen, nHeads·hd]
   * Backward: dV += Pᵀ·dO; dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(P ⊙ dP)); dq += dS·K/√hd; dK += dSᵀ·q/√hd.
   *
   * `causal: false` (encoders) and `validLengths` (padded batches) take maskedAttention below: query i of
   * sequence b sees keys j < len(b, i) with len = validLengths[b] (bidirectional; the inference kernel
   * attentionBidirectional) or min(i + 1, validLengths[b]) (causal). The default — causal, no lengths —
   * runs the path above, unchanged. T5's `scale` and `bias` (see maskedAttention) take that path too.
   */
  attention(
    qkv: Var,
    o: {
      batch: number;
      seqLen: number;
      nHeads: number;
      nKvHeads: number;
      headDim: number;
      qOffset?: number;
      kOffset?: number;
      vOffset?: number;
      /** false: every query sees every (valid) key — an encoder's bidirectional attention. Default true. */
      causal?: boolean;
      /** Per sequence: keys at positions ≥ validLengths[b] are padding and get probability 0. */
      validLengths?: ArrayLike<number>;
      /** What q·k is multiplied by (default 1/√hd; T5: 1). */
      scale?: number;
      /** [seqLen·seqLen, nHeads]: added to the scores of (query i, key j) at row i·seqLen + j (T5). */
      bias?: Var;
    },
  ): Var {
    const { batch, seqLen: T, nHeads, nKvHeads, headDim: hd } = o;
    const width = qkv.cols;
    const qOff = o.qOffset ?? 0;
    const kOff = o.kOffset ?? nHeads * hd;
    const vOff = o.vOffset ?? kOff + nKvHeads * hd;
    if (nHeads % nKvHeads !== 0) throw new Error(`attention: ${nHeads} heads do not group into ${nKvHeads}`);
    if (qkv.rows !== batch * T)
      throw new Error(`attention: qkv has ${qkv.rows} rows, expected ${batch}·${T}`);
    if (Math.max(qOff + nHeads * hd, kOff + nKvHeads * hd, vOff + nKvHeads * hd) > width) {
      throw new Error(`attention: rows of ${width} are too narrow for the q/k/v layout`);
    }
    const causal = o.causal ?? true;
    if (o.validLengths !== undefined) checkLengths(o.validLengths, batch, T, 'attention');
    if (!causal || o.validLengths !== undefined || o.scale !== undefined || o.bias) {
      const terms = { scale: o.scale ?? 1 / Math.sqrt(hd), bias: o.bias ?? null };
      return this.maskedAttention(qkv, o, causal, o.validLengths ?? null, qOff, kOff, vOff, terms);
    }
    const group = nHeads / nKvHeads;
    const scale = 1 / Math.sqrt(hd);
    const qDim = nHeads * hd;
    const y = this.out([batch * T, qDim], false, qkv);
    const d = qkv.data;
    const yd = y.data;
    // P of every (sequence, head): [batch, nHeads, T, T], exact zeros above the diagonal.
    const probs = this.alloc(batch * nHeads * T * T, false);
    // Per-head scratch: q, k, v gathered into contiguous [T, hd] blocks, scores [T, T].
    const qh = this.alloc(T * hd, false);
    const kh = this.alloc(T * hd, false);
    const vh = this.alloc(T * hd, false);
    const sc = new Float64Array(T * T); // float64 scores, as the inference kernel keeps them
    const row = new Float64Array(T);
    const acc = new Float64Array(hd);
    const gather = (dst: Arr, b: number, off: number) => {
      for (let t = 0; t < T; t++) {
        const src = (b * T + t) * width + off;
        for (let e = 0; e < hd; e++) dst[t * hd + e] = d[src + e];
      }
    };
    const kvOffsets = (h: number) => {
      const g = Math.floor(h / group) * hd;
      return [kOff + g, vOff + g] as const;
    };
    const be = this.backend;
    if (
      be !== referenceBackend &&
      d instanceof Float32Array &&
      yd instanceof Float32Array &&
      probs instanceof Float32Array
    ) {
      // A faster backend than the reference: its own attention kernel — the one inference runs — per sequence.
      const kvDim = nKvHeads * hd;
      const q = this.alloc(T * qDim, false) as Float32Array;
      const k = this.alloc(T * kvDim, false) as Float32Array;
      const v = this.alloc(T * kvDim, false) as Float32Array;
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < T; t++) {
          const r = (b * T + t) * width;
          q.set(d.subarray(r + qOff, r + qOff + qDim), t * qDim);
          k.set(d.subarray(r + kOff, r + kOff + kvDim), t * kvDim);
          v.set(d.subarray(r + vOff, r + vOff + kvDim), t * kvDim);
        }
        const out = yd.subarray(b * T * qDim, (b + 1) * T * qDim);
        const p = probs.subarray(b * nHeads * T * T, (b + 1) * nHeads * T * T);
        be.attention(out, q, k, v, T, 0, nHeads, nKvHeads, hd, p);
      }
    } else
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < nHeads; h++) {
          const [ko, vo] = kvOffsets(h);
          gather(qh, b, qOff + h * hd);
          gather(kh, b, ko);
          gather(vh, b, vo);
          gemm(this.backend, sc, qh, kh, null, T, hd, T, { triangle: 'cols' }); // S = q·Kᵀ (lower triangle)
          const p = probs.subarray((b * nHeads + h) * T * T, (b * nHeads + h + 1) * T * T);
          for (let i = 0; i < T; i++) {
            const o = i * T;
            let max = -Infinity;
            for (let j = 0; j <= i; j++) {
              const s = sc[o + j] * scale;
              row[j] = s;
              if (s > max) max = s;
            }
            let sum = 0;
            for (let j = 0; j <= i; j++) {
              row[j] = Math.exp(row[j] - max);
              sum += row[j];
            }
            // out_i = Σ_j P[i, j]·v_j, with P in float64 as the inference kernel has it (same logits, bit for bit).
            acc.fill(0);
            for (let j = 0; j <= i; j++) {
              const pj = row[j] / sum;
              p[o + j] = pj;
              const vj = j * hd;
              for (let e = 0; e < hd; e++) acc[e] += pj * vh[vj + e];
            }
            for (let j = i + 1; j < T; j++) p[o + j] = 0;
            const dst = (b * T + i) * qDim + h * hd;
            for (let e = 0; e < hd; e++) yd[dst + e] = acc[e];
          }
        }
      }
    this.record(y, () => {
      const dO = y.grad;
      if (!dO || !qkv.requiresGrad) return;
      const dd = this.gradOf(qkv);
      const g = {
        dqkv: dd,
        qkv: d,
        width,
        qOffset: qOff,
        kOffset: kOff,
        vOffset: vOff,
        dOut: dO,
        probs,
        batch,
        t: T,
        nHeads,
        nKvHeads,
        headDim: hd,
      };
      // The active backend's kernel on float32; the reference's, which takes float64 too, otherwise.
      if (
        dd instanceof Float32Array &&
        d instanceof Float32Array &&
        dO instanceof Float32Array &&
        probs instanceof Float32Array
      )
        be.attentionBackward({ ...g, dqkv: dd, qkv: d, dOut: dO, probs });
      else referenceBackend.attentionBackward(g);
    });
    return y;
  }

  /**
   * attention() with a key mask per (sequence, query): query i of sequence b sees keys j < len(b, i), where
   * len(b, i) = L_b (bidirectional) or min(i + 1, L_b) (causal), L_b = validLengths[b] (T when absent).
   *   S = scale·q·Kᵀ (+ B),  P[i, j] = exp(S[i, j] − max) / Σ_{j' < len} exp(S[i, j'] − max) for j < len,
   *   else 0,  out_h = P·V.
   * scale is 1/√hd but for T5 (1); B[i, j] = bias[i·T + j, h] (T5's relative position bias, one window's,
   * the same for every sequence of the batch).
   * As the reference attentionBidirectional kernel: scores and softmax in float64, and queries at padded
   * positions still attend (to the valid keys), so their rows are defined (a pooled loss ignores them).
   * Backward (P is exactly 0 outside the mask, so the full products stay exact):
   *   dV += Pᵀ·dO;  dP = dO·Vᵀ;  G[i, j] = P[i, j]·(dP[i, j] − Σ_j' P[i, j']·dP[i, j']) (0 outside);
   *   dB[i·T + j, h] += G[i, j] (summed over the batch);  dS = scale·G;  dq += dS·K;  dK += dSᵀ·q.
   * Plain TypeScript both ways (the backends' attentionBackward is causal-only).
   */
  private maskedAttention(
    qkv: Var,
    o: { batch: number; seqLen: number; nHeads: number; nKvHeads: number; headDim: number },
    causal: boolean,
    validLengths: ArrayLike<number> | null,
    qOff: number,
    kOff: number,
    vOff: number,
    terms: { scale: number; bias: Var | null },
  ): Var {
    const { batch, seqLen: T, nHeads, nKvHeads, headDim: hd } = o;
    const width = qkv.cols;
    const group = nHeads / nKvHeads;
    const { scale, bias } = terms;
    if (bias && (bias.rows !== T * T || bias.cols !== nHeads))
      throw new Error(`attention: bias is [${bias.shape}], expected [${T * T}, ${nHeads}]`);
    const bd = bias?.data;
    const qDim = nHeads * hd;
    const y = this.out([batch * T, qDim], false, qkv, ...(bias ? [bias] : []));
    const d = qkv.data;
    const yd = y.data;
    const lenOf = (b: number, i: number): number => {
      const L = validLengths ? validLengths[b] : T;
      return causal ? Math.min(i + 1, L) : L;
    };
    // P of every (sequence, head): [batch, nHeads, T, T], exact zeros outside the mask.
    const probs = this.alloc(batch * nHeads * T * T, false);
    const qh = this.alloc(T * hd, false);
    const kh = this.alloc(T * hd, false);
    const vh = this.alloc(T * hd, false);
    const sc = new Float64Array(T * T);
    const row = new Float64Array(T);
    const acc = new Float64Array(hd);
    const gather = (dst: Arr, b: number, off: number) => {
      for (let t = 0; t < T; t++) {
        const src = (b * T + t) * width + off;
        for (let e = 0; e < hd; e++) dst[t * hd + e] = d[src + e];
      }
    };
    const kvOffsets = (h: number) => {
      const g = Math.floor(h / group) * hd;
      return [kOff + g, vOff + g] as const;
    };
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < nHeads; h++) {
        const [ko, vo] = kvOffsets(h);
        gather(qh, b, qOff + h * hd);
        gather(kh, b, ko);
        gather(vh, b, vo);
        gemm(this.backend, sc, qh, kh, null, T, hd, T); // S = q·Kᵀ (unscaled)
        const p = probs.subarray((b * nHeads + h) * T * T, (b * nHeads + h + 1) * T * T);
        for (let i = 0; i < T; i++) {
          const r = i * T;
          const n = lenOf(b, i);
          let max = -Infinity;
          for (let j = 0; j < n; j++) {
            const s = sc[r + j] * scale + (bd ? bd[(r + j) * nHeads + h] : 0);
            row[j] = s;
            if (s > max) max = s;
          }
          let sum = 0;
          for (let j = 0; j < n; j++) {
            row[j] = Math.exp(row[j] - max);
            sum += row[j];
          }
          acc.fill(0);
          for (let j = 0; j < n; j++) {
            const pj = row[j] / sum;
            p[r + j] = pj;
            const vj = j * hd;
            for (let e = 0; e < hd; e++) acc[e] += pj * vh[vj + e];
          }
          for (let j = n; j < T; j++) p[r + j] = 0;
          const dst = (b * T + i) * qDim + h * hd;
          for (let e = 0; e < hd; e++) yd[dst + e] = acc[e];
        }
      }
    }
    this.record(y, () => {
      const dO = y.grad;
      if (!dO || !(qkv.requiresGrad || bias?.requiresGrad)) return;
      const dd = qkv.requiresGrad ? this.gradOf(qkv) : this.alloc(qkv.size);
      const db = bias?.requiresGrad ? this.gradOf(bias) : null;
      const go = this.alloc(T * hd, false);
      const got = this.alloc(T * hd, false);
      const pt = this.alloc(T * T, false);
      const dS = this.alloc(T * T, false);
      const dSt = this.alloc(T * T, false);
      const qt = this.alloc(T * hd, false);
      const kt = this.alloc(T * hd, false);
      const grad = this.alloc(T * hd, false);
      const scatterAdd = (src: Arr, b: number, off: number) => {
        for (let t = 0; t < T; t++) {
          const dst = (b * T + t) * width + off;
          for (let e = 0; e < hd; e++) dd[dst + e] += src[t * hd + e];
        }
      };
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < nHeads; h++) {
          const [ko, vo] = kvOffsets(h);
          gather(qh, b, qOff + h * hd);
          gather(kh, b, ko);
          gather(vh, b, vo);
          transposeInto(qt, qh, T, hd);
          transposeInto(kt, kh, T, hd);
          for (let t = 0; t < T; t++) {
            const src = (b * T + t) * qDim + h * hd;
            for (let e = 0; e < hd; e++) go[t * hd + e] = dO[src + e];
          }
          transposeInto(got, go, T, hd);
          const p = probs.subarray((b * nHeads + h) * T * T, (b * nHeads + h + 1) * T * T);
          // dV = Pᵀ·dO.
          transposeInto(pt, p, T, T);
          gemm(this.backend, grad, pt, got, null, T, T, hd);
          scatterAdd(grad, b, vo);
          // dP = dO·Vᵀ; G = P ⊙ (dP − rowsum(P ⊙ dP)) into the bias; dS = scale·G, zero outside the mask.
          gemm(this.backend, dS, go, vh, null, T, hd, T);
          for (let i = 0; i < T; i++) {
            const r = i * T;
            const n = lenOf(b, i);
            let dot = 0;
            for (let j = 0; j < n; j++) dot += p[r + j] * dS[r + j];
            for (let j = 0; j < n; j++) {
              const g = p[r + j] * (dS[r + j] - dot);
              if (db) db[(r + j) * nHeads + h] += g;
              dS[r + j] = g * scale;
            }
            for (let j = n; j < T; j++) dS[r + j] = 0;
          }
          // dq = dS·K, dK = dSᵀ·q.
          gemm(this.backend, grad, dS, kt, null, T, T, hd);
          scatterAdd(grad, b, qOff + h * hd);
          transposeInto(dSt, dS, T, T);
          gemm(this.backend, grad, dSt, qt, null, T, T, hd);
          scatterAdd(grad, b, ko);
        }
      }
    });
    return y;
  }

  /**
   * Rotary position embedding on the heads found in each row of x ([batch·seqLen, width]): for each
   * segment {offset, nHeads} (the q heads, the k heads), every head's pairs (a, b) at position t rotate:
   * (a, b) ← (a·cos − b·sin, a·sin + b·cos). Pairs are (2i, 2i+1) ('interleaved', llama2.c) or (i, i+half)
   * ('half', Hugging Face). Values outside the segments pass through. Backward: rotate dy by −angle.
   */
  rope(
    x: Var,
    table: RotaryEmbedding,
    seqLen: number,
    segments: ReadonlyArray<{ offset: number; nHeads: number }>,
  ): Var {
    const width = x.cols;
    const rows = x.rows;
    if (seqLen > table.maxPositions) {
      throw new GlassError(
        'BAD_INPUT',
        `rope: ${seqLen} positions, but the context holds ${table.maxPositions}`,
      );
    }
    const y = this.out(x.shape, false, x);
    y.data.set(x.data);
    rotate(y.data, table, rows, seqLen, width, segments, 1);
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !x.requiresGrad) return;
      const tmp = this.alloc(dy.length, false);
      tmp.set(dy);
      rotate(tmp, table, rows, seqLen, width, segments, -1);
      addInto(this.gradOf(x), tmp);
    });
    return y;
  }

  /** out[t] = table[ids[t]] ([vocab, dim] → [n, dim]). Backward: scatter-add dy rows into the table's gradient. */
  embedding(table: Var, ids: Ids): Var {
    if (table.shape.length !== 2) throw new Error(`embedding: the table must be 2-D, got [${table.shape}]`);
    const [vocab, dim] = table.shape;
    const n = ids.length;
    const y = this.out([n, dim], false, table);
    const td = table.data;
    const yd = y.data;
    for (let t = 0; t < n; t++) {
      const id = ids[t];
      if (!(id >= 0 && id < vocab && Number.isInteger(id))) {
        throw new GlassError('BAD_INPUT', `token id ${id} is outside the vocabulary (0..${vocab - 1})`);
      }
      yd.set(td.subarray(id * dim, (id + 1) * dim), t * dim);
    }
    this.record(y, () => {
      const dy = y.grad;
      if (!dy) return;
      const dt = this.gradOf(table);
      for (let t = 0; t < n; t++) {
        const o = ids[t] * dim;
        const g = t * dim;
        for (let i = 0; i < dim; i++) dt[o + i] += dy[g + i];
      }
    });
    return y;
  }

  // -----------------------------------------------------------------------------------------------
  // Sentence embeddings

  /**
   * Mean pooling of `batch` sequences of `seqLen` rows: x [batch·seqLen, dim] → [batch, dim],
   *   y_b = (1/L_b)·Σ_{t < L_b} x[b·seqLen + t],  L_b = validLengths[b] (rows from L_b on are padding).
   * Backward: dx[b·seqLen + t] += dy_b / L_b for t < L_b (padding rows get nothing).
   */
  meanPool(x: Var, batch: number, seqLen: number, validLengths: ArrayLike<number>): Var {
    const dim = x.cols;
    if (x.rows !== batch * seqLen) {
      throw new Error(`meanPool: x has ${x.rows} rows, expected ${batch}·${seqLen}`);
    }
    checkLengths(validLengths, batch, seqLen, 'meanPool');
    const y = this.out([batch, dim], false, x);
    const xd = x.data;
    const yd = y.data;
    const acc = new Float64Array(dim);
    for (let b = 0; b < batch; b++) {
      const L = validLengths[b];
      acc.fill(0);
      for (let t = 0; t < L; t++) {
        const o = (b * seqLen + t) * dim;
        for (let i = 0; i < dim; i++) acc[i] += xd[o + i];
      }
      for (let i = 0; i < dim; i++) yd[b * dim + i] = acc[i] / L;
    }
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !x.requiresGrad) return;
      const dx = this.gradOf(x);
      for (let b = 0; b < batch; b++) {
        const L = validLengths[b];
        for (let t = 0; t < L; t++) {
          const o = (b * seqLen + t) * dim;
          for (let i = 0; i < dim; i++) dx[o + i] += dy[b * dim + i] / L;
        }
      }
    });
    return y;
  }

  /**
   * Each row divided by its Euclidean norm, floored at eps (torch's F.normalize): y = x / max(‖x‖, eps).
   * Backward, n = ‖x‖: dx = (dy − y·(y·dy)) / n when n > eps; dx = dy / eps when the floor holds.
   */
  l2Normalize(x: Var, eps = 1e-12): Var {
    const dim = x.cols;
    const rows = x.rows;
    const y = this.out(x.shape, false, x);
    const xd = x.data;
    const yd = y.data;
    const norms = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      let ss = 0;
      for (let i = 0; i < dim; i++) ss += xd[o + i] * xd[o + i];
      const nrm = Math.sqrt(ss);
      norms[r] = nrm;
      const inv = 1 / Math.max(nrm, eps);
      for (let i = 0; i < dim; i++) yd[o + i] = xd[o + i] * inv;
    }
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !x.requiresGrad) return;
      const dx = this.gradOf(x);
      for (let r = 0; r < rows; r++) {
        const o = r * dim;
        const nrm = norms[r];
        if (nrm <= eps) {
          for (let i = 0; i < dim; i++) dx[o + i] += dy[o + i] / eps;
          continue;
        }
        // y·dy with y = x/n recomputed in float64 (y.data may be float32).
        let yg = 0;
        for (let i = 0; i < dim; i++) yg += (xd[o + i] / nrm) * dy[o + i];
        for (let i = 0; i < dim; i++) dx[o + i] += (dy[o + i] - (xd[o + i] / nrm) * yg) / nrm;
      }
    });
    return y;
  }

  // -----------------------------------------------------------------------------------------------
  // Loss

  /**
   * Mean cross-entropy of logits [n, vocab] against targets (−1: skip the row), through a stable
   * log-softmax: loss_t = logsumexp(z_t) − z_t[target] with logsumexp(z) = max z + log Σ exp(z − max z).
   * Backward: dz_t = (softmax(z_t) − onehot(target)) · dloss / count.
   */
  crossEntropy(logits: Var, targets: Ids): Var {
    const vocab = logits.cols;
    const n = logits.rows;
    if (targets.length !== n) throw new Error(`crossEntropy: ${targets.length} targets for ${n} rows`);
    const zd = logits.data;
    const y = this.out([1], false, logits);
    // exp(z − max) is kept for the backward pass, where softmax = exp(z − max) / Σ.
    const ez = y.requiresGrad ? this.alloc(zd.length, false) : null;
    const sums = new Float64Array(n);
    let total = 0;
    let count = 0;
    for (let t = 0; t < n; t++) {
      const target = targets[t];
      if (target < 0) continue;
      if (!(target < vocab && Number.isInteger(target))) {
        throw new GlassError('BAD_INPUT', `target id ${target} is outside the vocabulary (0..${vocab - 1})`);
      }
      const o = t * vocab;
      let max = -Infinity;
      for (let j = 0; j < vocab; j++) if (zd[o + j] > max) max = zd[o + j];
      let s = 0;
      for (let j = 0; j < vocab; j++) {
        const e = Math.exp(zd[o + j] - max);
        if (ez) ez[o + j] = e;
        s += e;
      }
      sums[t] = s;
      total += max + Math.log(s) - zd[o + target];
      count++;
    }
    y.data[0] = count > 0 ? total / count : 0;
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !logits.requiresGrad || count === 0 || !ez) return;
      const dz = this.gradOf(logits);
      const g = dy[0] / count;
      for (let t = 0; t < n; t++) {
        const target = targets[t];
        if (target < 0) continue;
        const o = t * vocab;
        const k = g / sums[t];
        for (let j = 0; j < vocab; j++) dz[o + j] += ez[o + j] * k;
        dz[o + target] -= g;
      }
    });
    return y;
  }

  /** Σ x ⊙ w over all entries (a scalar): a handy loss for gradient checks of ops with tensor outputs. */
  dot(x: Var, w: Arr): Var {
    if (w.length !== x.size) throw new Error(`dot: ${w.length} weights for ${x.size} values`);
    const y = this.out([1], false, x);
    let s = 0;
    const xd = x.data;
    for (let i = 0; i < xd.length; i++) s += xd[i] * w[i];
    y.data[0] = s;
    this.record(y, () => {
      const dy = y.grad;
      if (!dy || !x.requiresGrad) return;
      const dx = this.gradOf(x);
      const g = dy[0];
      for (let i = 0; i < dx.length; i++) dx[i] += g * w[i];
    });
    return y;
  }
}

function rotate(
  x: Arr,
  table: RotaryEmbedding,
  rows: number,
  seqLen: number,
  width: number,
  segments: ReadonlyArray<{ offset: number; nHeads: number }>,
  sign: 1 | -1,
): void {
  // The inference module's own tables (computed for the positions reached, float32 values).
  const { half, headDim } = table;
  const { cos, sin } = table.tables(seqLen);
  const interleaved = table.style === 'interleaved';
  for (let r = 0; r < rows; r++) {
    const tab = (r % seqLen) * half;
    for (const seg of segments) {
      for (let h = 0; h < seg.nHeads; h++) {
        const base = r * width + seg.offset + h * headDim;
        for (let i = 0; i < half; i++) {
          const ia = interleaved ? base + 2 * i : base + i;
          const ib = interleaved ? ia + 1 : ia + half;
          const c = cos[tab + i];
          const s = sign * sin[tab + i];
          const a = x[ia];
          const b = x[ib];
          x[ia] = a * c - b * s;
          x[ib] = a * s + b * c;
        }
      }
    }
  }
}

/** Lengths of the `batch` sequences of a padded batch: integers in 1..seqLen. */
function checkLengths(lengths: ArrayLike<number>, batch: number, seqLen: number, what: string): void {
  if (lengths.length !== batch) {
    throw new GlassError('BAD_INPUT', `${what}: ${lengths.length} valid lengths for ${batch} sequences`);
  }
  for (let b = 0; b < batch; b++) {
    const L = lengths[b];
    if (!(Number.isInteger(L) && L >= 1 && L <= seqLen)) {
      throw new GlassError(
        'BAD_INPUT',
        `${what}: valid length ${L} of sequence ${b} is outside 1..${seqLen}`,
      );
    }
  }
}

function addInto(dst: Arr, src: Arr): void {
  const n = dst.length;
  for (let i = 0; i < n; i++) dst[i] += src[i];
}

function checkSize(data: Arr, shape: readonly number[], what: string): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`${what}: shape [${shape}] needs ${n} values, got ${data.length}`);
}

function sameSize(a: Var, b: Var, what: string): void {
  if (a.size !== b.size) throw new Error(`${what}: shapes [${a.shape}] and [${b.shape}] differ`);
}
