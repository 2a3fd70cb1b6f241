// The WebAssembly SIMD backend: the Backend methods, run by the AssemblyScript kernels in
// assembly/kernels.ts over one linear memory. Pure (no Node APIs): index.ts loads the module (fetch in
// browsers, fs in Node through node.ts) and hands it here.
//
// Memory. Every weight matrix is copied into linear memory once, when the model is built (placeMatrix,
// called by matrixF32 / matrixQ8_0 with this backend active); the matrix the model keeps is a view of it.
// Activations stay ordinary Float32Arrays owned by the nn blocks: each call copies its inputs into a
// scratch region, runs the kernel, and copies the result out. That costs a few KB per call against the
// MBs of weights a matmul streams (bench/ measures it). Arrays that already live in this memory (from
// allocWeights/allocActivations) are used in place. The KV cache is mirrored: each cache array gets a
// twin in linear memory and only the rows new since the last call are copied in.
//
// Growth. A shared memory (Node, cross-origin-isolated browsers) keeps every view valid when it grows.
// A plain one detaches them; matrices built here re-create their views on access, but a raw array from
// allocWeights is invalid after a grow — reserve memory up front with `initialMiB` in that setting.
import type { AttentionGrad, Backend, GemmLayout } from '../backend.js';
import type { Matrix, MatrixF32, MatrixQ8_0 } from '../tensor.js';
import { f16ToF32 } from '../../util/half.js';
import { ALIGN, WasmHeap } from './heap.js';

/** The kernels' exports; every pointer is a byte offset into the memory. */
export interface KernelExports {
  heapBase(): number;
  streamSum(p: number, i0: number, i1: number): number;
  matmulF32(
    out: number,
    x: number,
    w: number,
    bias: number,
    rows: number,
    n: number,
    k: number,
    j0: number,
    j1: number,
  ): void;
  packRows4(x: number, rows: number, k: number, xp: number): void;
  batchedScratch(k: number): number;
  matmulF32Batched(
    out: number,
    xp: number,
    w: number,
    bias: number,
    rows: number,
    n: number,
    k: number,
    j0: number,
    j1: number,
    scratch: number,
    flags: number,
  ): void;
  packCols4(x: number, rows: number, k: number, xp: number): void;
  quantizeX16(x: number, rows: number, k: number, xq: number, xs: number): void;
  matmulQ8(
    out: number,
    xq: number,
    xs: number,
    wq: number,
    ws: number,
    bias: number,
    rows: number,
    n: number,
    k: number,
    j0: number,
    j1: number,
  ): void;
  matmulQ8Batched(
    out: number,
    xp: number,
    wq: number,
    ws: number,
    bias: number,
    rows: number,
    n: number,
    k: number,
    j0: number,
    j1: number,
    scratch: number,
  ): void;
  layerNorm(out: number, x: number, g: number, b: number, rows: number, dim: number, eps: number): void;
  rmsNorm(out: number, x: number, g: number, rows: number, dim: number, eps: number): void;
  geluTanh(x: number, i0: number, i1: number): void;
  silu(x: number, i0: number, i1: number): void;
  softmax(x: number, rows: number, cols: number, valid: number): void;
  add(out: number, a: number, b: number, n: number): void;
  mul(out: number, a: number, b: number, n: number): void;
  attention(
    out: number,
    q: number,
    k: number,
    v: number,
    t: number,
    pos0: number,
    valid: number,
    nHeads: number,
    nKv: number,
    hd: number,
    probs: number,
    scores: number,
    h0: number,
    h1: number,
  ): void;
  geluErf(x: number, i0: number, i1: number): void;
  attentionTiledScratch(total: number, hd: number): number;
  attentionTiled(
    out: number,
    q: number,
    k: number,
    v: number,
    t: number,
    pos0: number,
    valid: number,
    nHeads: number,
    nKv: number,
    hd: number,
    scratch: number,
    h0: number,
    h1: number,
  ): void;
  geluTanhBackward(dx: number, dy: number, x: number, i0: number, i1: number): void;
  attentionBackward(
    dqkv: number,
    qkv: number,
    width: number,
    qOff: number,
    kOff: number,
    vOff: number,
    dout: number,
    probs: number,
    t: number,
    nHeads: number,
    nKv: number,
    hd: number,
    scratch: number,
    u0: number,
    u1: number,
  ): void;
}

/** The kernels that a thread pool splits across threads. */
export type ParallelKernel =
  | 'matmulF32'
  | 'matmulF32Batched'
  | 'matmulQ8'
  | 'matmulQ8Batched'
  | 'attention'
  | 'attentionTiled'
  | 'streamSum'
  | 'geluTanh'
  | 'geluErf'
  | 'silu'
  | 'geluTanhBackward'
  | 'attentionBackward';

/**
 * One kernel call cut into chunks of its output range: chunk c runs with args[rangeArg] = bounds[c] and
 * args[rangeArg + 1] = bounds[c + 1]; the thread running it (0 = the caller) adds thread·scratchStride
 * to args[scratchArg], when given, for scratch memory of its own.
 */
export interface ParallelJob {
  kernel: ParallelKernel;
  args: number[];
  rangeArg: number;
  bounds: number[];
  scratchArg?: number;
  scratchStride?: number;
}

/** Worker threads sharing this backend's (shared) memory; `run` returns when every chunk is done. */
export interface ThreadPool {
  readonly threads: number;
  run(job: ParallelJob): void;
  close(): void;
}

export interface WasmBackendParts {
  instance: WebAssembly.Instance;
  memory: WebAssembly.Memory;
  /** Pages the memory may grow to. */
  maxPages: number;
  pool?: ThreadPool;
  /** Whether the kernels are the relaxed-SIMD build (fused multiply-add). */
  relaxedSimd?: boolean;
}

/** Call statistics, for the benchmark: time spent copying activations vs total. */
export interface WasmStats {
  calls: number;
  bytesCopied: number;
}

/** From this many new queries on (and no attention weights asked for), attention runs tiled. */
const TILED_ATTENTION_ROWS = 16;
/** The share of the memory's maximum that allocActivations fills before it hands out plain arrays. */
const ACTIVATION_SHARE = 0.5;
/** Work (multiply-adds) below which a matmul stays on one thread: waking the others costs more. */
const PARALLEL_MIN_WORK = 1 << 16;
/** Weight rows per cache block in the batched kernels (NBLOCK in assembly/kernels.ts). */
const NBLOCK = 16;
/**
 * From this many input rows on, a matmul runs batched: inputs packed in groups of four, weights made
 * into panels block by block (Q8_0 expanded to f32 first), 4 × 8 register tiles (matmulF32Batched,
 * matmulQ8Batched). Below it, one matrix-vector product per row.
 */
const BATCHED_ROWS = 4;

/** An f32 matrix in linear memory. `data` is a view (re-made if a non-shared memory grew). */
class WasmMatrixF32 implements MatrixF32 {
  readonly kind = 'f32';
  constructor(
    readonly owner: WasmBackend,
    readonly rows: number,
    readonly cols: number,
    readonly ptr: number,
    /** The view made at allocation: while it is reachable, the memory stays allocated. */
    private readonly token: Float32Array,
  ) {
    this.view = token;
  }
  private view: Float32Array;
  get data(): Float32Array {
    if (this.view.length === 0 && this.rows * this.cols !== 0)
      this.view = new Float32Array(this.owner.memory.buffer, this.ptr, this.rows * this.cols);
    return this.view;
  }
}

/**
 * A Q8_0 matrix in linear memory, scales widened to float32, stored in the kernels' layout: rows in
 * groups of four interleaved block by block (see matmulQ8 in assembly/kernels.ts). `quants` and `scales`
 * therefore return row-major copies (made on each access) rather than views.
 */
class WasmMatrixQ8_0 implements MatrixQ8_0 {
  readonly kind = 'q8_0';
  constructor(
    readonly owner: WasmBackend,
    readonly rows: number,
    readonly cols: number,
    readonly qptr: number,
    readonly sptr: number,
    /** The views made at allocation: while they are reachable, the memory stays allocated. */
    private readonly tokens: [Int8Array, Float32Array],
  ) {}
  private live(): [Int8Array, Float32Array] {
    const [q, s] = this.tokens;
    if (q.length > 0 || this.rows * this.cols === 0) return [q, s];
    const buf = this.owner.memory.buffer;
    return [new Int8Array(buf, this.qptr, q.length), new Float32Array(buf, this.sptr, s.length)];
  }
  get quants(): Int8Array {
    const out = new Int8Array(this.rows * this.cols);
    q8Interleave(this.rows, this.cols, this.live()[0], out, null, null, false);
    return out;
  }
  get scales(): Float32Array {
    const out = new Float32Array((this.rows * this.cols) / 32);
    q8Interleave(this.rows, this.cols, null, null, this.live()[1], out, false);
    return out;
  }
}

/**
 * Row-major Q8_0 arrays ↔ the kernels' layout (groups of four rows interleaved by 32-block), either way:
 * `toKernel` reads the row-major (q, s) and writes the interleaved (q2, s2); otherwise the reverse
 * (reading q/s as interleaved, writing q2/s2 row-major). Rows past the last whole group are copied as
 * they are.
 */
function q8Interleave(
  rows: number,
  cols: number,
  q: Int8Array | null,
  q2: Int8Array | null,
  s: ArrayLike<number> | null,
  s2: Float32Array | null,
  toKernel: boolean,
): void {
  const nb = cols / 32;
  const groups = rows >> 2;
  if (q && q2) {
    for (let g = 0; g < groups; g++) {
      const base = g * 4 * cols;
      for (let r = 0; r < 4; r++) {
        for (let b = 0; b < nb; b++) {
          const rowMajor = base + r * cols + b * 32;
          const inter = base + b * 128 + r * 32;
          if (toKernel) q2.set(q.subarray(rowMajor, rowMajor + 32), inter);
          else q2.set(q.subarray(inter, inter + 32), rowMajor);
        }
      }
    }
    q2.set(q.subarray(groups * 4 * cols), groups * 4 * cols);
  }
  if (s && s2) {
    for (let g = 0; g < groups; g++) {
      const base = g * 4 * nb;
      for (let r = 0; r < 4; r++) {
        for (let b = 0; b < nb; b++) {
          if (toKernel) s2[base + b * 4 + r] = s[base + r * nb + b];
          else s2[base + r * nb + b] = s[base + b * 4 + r];
        }
      }
    }
    for (let i = groups * 4 * nb; i < s2.length; i++) s2[i] = s[i];
  }
}

type WasmMatrix = WasmMatrixF32 | WasmMatrixQ8_0;

interface Mirror {
  ptr: number;
  /** Rows 0..rows-1 are up to date. */
  rows: number;
}

export class WasmBackend implements Backend {
  readonly name: string;
  readonly memory: WebAssembly.Memory;
  readonly heap: WasmHeap;
  /** Whether the kernels are the relaxed-SIMD build (fused multiply-add) rather than plain SIMD128. */
  readonly relaxedSimd: boolean;
  /** Threads the parallel kernels use now (at most the pool's size; settable, e.g. 1 to compare). */
  threads: number;
  readonly stats: WasmStats = { calls: 0, bytesCopied: 0 };
  private readonly k: KernelExports;
  private readonly pool: ThreadPool | undefined;
  private f32: Float32Array;
  private scratchPtr = 0;
  private scratchBytes = 0;
  /** Every ArrayBuffer/SharedArrayBuffer object `memory.buffer` has been (views of it are resident). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  /** Matrices built before this backend was active, placed on first use (their own arrays stay too). */
  private readonly late = new WeakMap<Matrix, WasmMatrix>();
  private readonly mirrors = new WeakMap<Float32Array, Mirror>();
  /** Arrays returned by allocWeights: each keeps its allocation alive (a subarray of one does not). */
  private readonly tokens = new WeakSet<object>();
  /** Frees the memory of an allocation when the array (or matrix) that owns it is collected. */
  private readonly reaper = new FinalizationRegistry<number>((ptr) => this.heap.release(ptr));

  constructor(parts: WasmBackendParts) {
    this.k = parts.instance.exports as unknown as KernelExports;
    this.memory = parts.memory;
    this.heap = new WasmHeap(parts.memory, this.k.heapBase(), parts.maxPages);
    this.pool = parts.pool;
    this.relaxedSimd = parts.relaxedSimd ?? false;
    this.threads = parts.pool?.threads ?? 1;
    this.name = this.threads > 1 ? `wasm-${this.threads}t` : 'wasm';
    this.f32 = this.view();
  }

  /** Stops the worker threads (the backend still works, on one thread). */
  close(): void {
    this.pool?.close();
  }

  /**
   * Reads n floats (a multiple of 16) at address p with SIMD loads, on all threads: the memory-bandwidth
   * probe of the benchmark. The sum itself is not returned (threads' parts are not combined).
   */
  streamSum(p: number, n: number): void {
    const T = this.pool ? Math.min(this.threads, this.pool.threads) : 1;
    if (!this.pool || T < 2) {
      this.k.streamSum(p, 0, n);
      return;
    }
    const groups = n / 16;
    const bounds = Array.from({ length: 4 * T + 1 }, (_, c) => Math.round((groups * c) / (4 * T)) * 16);
    this.pool.run({ kernel: 'streamSum', args: [p, 0, n], rangeArg: 1, bounds });
  }

  /** Bytes of linear memory in use (weights, mirrors, scratch). */
  get bytesInUse(): number {
    return this.heap.inUse;
  }

  // ---- memory ---------------------------------------------------------------------------------------

  private view(): Float32Array {
    const buf = this.memory.buffer;
    this.buffers.add(buf);
    return new Float32Array(buf);
  }

  /** The whole memory as float32, current after any growth. */
  private mem(): Float32Array {
    if (this.f32.buffer !== this.memory.buffer) this.f32 = this.view();
    return this.f32;
  }

  /** The address of `a` if it is a view of this memory, else -1. */
  private addr(a: ArrayBufferView): number {
    if (!this.buffers.has(a.buffer)) return -1;
    if (a.buffer.byteLength === 0) {
      throw new Error(
        'wasm backend: an array in linear memory was used after the memory grew (a plain, non-shared ' +
          'memory detaches its arrays): reserve enough with createWasmBackend({ initialMiB })',
      );
    }
    return a.byteOffset;
  }

  /** A scratch region of at least `bytes`, reused by every call (so: one call's worth at a time). */
  private scratch(bytes: number): number {
    if (bytes > this.scratchBytes) {
      const want = Math.max(bytes, 2 * this.scratchBytes, 1 << 20);
      if (this.scratchBytes) this.heap.release(this.scratchPtr);
      this.scratchBytes = 0;
      try {
        this.scratchPtr = this.heap.alloc(want);
        this.scratchBytes = want;
      } catch (e) {
        // near the memory's limit: exactly what is needed, or the error
        if (want === bytes) throw e;
        this.scratchPtr = this.heap.alloc(bytes);
        this.scratchBytes = bytes;
      }
    }
    return this.scratchPtr;
  }

  /** Copies n values of `a` to address p. */
  private put(p: number, a: Float32Array, n: number): void {
    this.mem().set(n === a.length ? a : a.subarray(0, n), p >>> 2);
    this.stats.bytesCopied += 4 * n;
  }

  /** Copies n values from address p into `a`. */
  private get(a: Float32Array, p: number, n: number): void {
    a.set(this.mem().subarray(p >>> 2, (p >>> 2) + n));
    this.stats.bytesCopied += 4 * n;
  }

  allocWeights(n: number): Float32Array {
    const ptr = this.heap.calloc(4 * n);
    const a = new Float32Array(this.memory.buffer, ptr, n);
    this.buffers.add(a.buffer);
    this.reaper.register(a, ptr);
    this.tokens.add(a);
    return a;
  }

  /**
   * Zeroed activations in linear memory (used in place by every kernel), freed when unreachable — while
   * the memory in use stays under ACTIVATION_SHARE of its most (the rest is kept for weights and the
   * kernels' scratch: a big fine-tune's tape can outgrow 4 GiB). Beyond that, and where the memory is not
   * shared (a growth would detach the view), a plain array, which kernels copy in and out.
   */
  allocActivations(n: number): Float32Array {
    if (!(this.memory.buffer instanceof SharedArrayBuffer)) return new Float32Array(n);
    if (this.heap.inUse + 4 * n > ACTIVATION_SHARE * this.heap.maxPages * 65536) return new Float32Array(n);
    return this.allocWeights(n);
  }

  placeMatrix(m: Matrix): Matrix {
    if ((m instanceof WasmMatrixF32 || m instanceof WasmMatrixQ8_0) && m.owner === this) return m;
    if (m.kind === 'f32') {
      const n = m.rows * m.cols;
      let data = m.data;
      // adopt an allocWeights array as it is; copy anything else (a subarray would not keep its memory)
      if (!this.tokens.has(data)) {
        data = this.allocWeights(n);
        data.set(m.data);
      }
      return new WasmMatrixF32(this, m.rows, m.cols, data.byteOffset, data);
    }
    const n = m.rows * m.cols;
    // both allocations first: a growth between them would detach the first view (plain memory)
    const sptr = this.heap.alloc(n / 8);
    const qptr = this.heap.alloc(n);
    const buf = this.memory.buffer;
    this.buffers.add(buf);
    const s = new Float32Array(buf, sptr, n / 32);
    const q = new Int8Array(buf, qptr, n);
    this.reaper.register(s, sptr);
    this.reaper.register(q, qptr);
    const scales = m.scales instanceof Float32Array ? m.scales : Float32Array.from(m.scales, f16ToF32);
    q8Interleave(m.rows, m.cols, m.quants, q, scales, s, true);
    return new WasmMatrixQ8_0(this, m.rows, m.cols, qptr, s.byteOffset, [q, s]);
  }

  /** This backend's placement of `w` (placing it now if it was built under another backend). */
  private placed(w: Matrix): WasmMatrix {
    if ((w instanceof WasmMatrixF32 || w instanceof WasmMatrixQ8_0) && w.owner === this) return w;
    let p = this.late.get(w);
    if (!p) {
      p = this.placeMatrix(w) as WasmMatrix;
      this.late.set(w, p);
    }
    return p;
  }

  // ---- kernels --------------------------------------------------------------------------------------

  matmul(out: Float32Array, x: Float32Array, w: Matrix, bias: Float32Array | null, rows: number): void {
    this.stats.calls++;
    const pw = this.placed(w);
    const n = w.rows;
    const k = w.cols;
    const q8 = pw.kind === 'q8_0';
    const batched = rows >= BATCHED_ROWS;
    const T = this.pool ? Math.min(this.threads, this.pool.threads) : 1;
    let xp = this.addr(x);
    let op = this.addr(out);
    let bp = bias ? this.addr(bias) : 0;
    const xBytes = xp < 0 ? pad(rows * k * 4) : 0;
    const oBytes = op < 0 ? pad(rows * n * 4) : 0;
    const bBytes = bias && bp < 0 ? pad(n * 4) : 0;
    const packBytes = batched ? pad(Math.ceil(rows / 4) * 4 * k * 4) : 0;
    const perThread = batched ? pad(this.k.batchedScratch(k)) : 0;
    const qBytes = q8 && !batched ? pad(rows * k * 2) + pad(rows * (k / 32) * 4) : 0;
    let s = this.scratch(xBytes + oBytes + bBytes + packBytes + T * perThread + qBytes);
    if (xp < 0) {
      xp = s;
      this.put(xp, x, rows * k);
      s += xBytes;
    }
    if (op < 0) {
      op = s;
      s += oBytes;
    }
    if (bias && bp < 0) {
      bp = s;
      this.put(bp, bias, n);
      s += bBytes;
    }
    if (batched) {
      const packed = s;
      this.k.packRows4(xp, rows, k, packed);
      s += packBytes;
      if (pw instanceof WasmMatrixQ8_0) {
        const args = [op, packed, pw.qptr, pw.sptr, bp, rows, n, k, 0, n, s];
        this.split('matmulQ8Batched', n, rows * n * k, args, 8, NBLOCK, { arg: 10, stride: perThread });
      } else {
        const args = [op, packed, pw.ptr, bp, rows, n, k, 0, n, s, 0];
        this.split('matmulF32Batched', n, rows * n * k, args, 7, NBLOCK, { arg: 9, stride: perThread });
      }
    } else if (pw instanceof WasmMatrixQ8_0) {
      const xq = s;
      const xs = s + pad(rows * k * 2);
      this.k.quantizeX16(xp, rows, k, xq, xs);
      this.split('matmulQ8', n, rows * n * k, [op, xq, xs, pw.qptr, pw.sptr, bp, rows, n, k, 0, n], 9, 4);
    } else {
      this.split('matmulF32', n, rows * n * k, [op, xp, pw.ptr, bp, rows, n, k, 0, n], 7, 4);
    }
    if (oBytes) this.get(out, op, rows * n);
  }

  gemm(
    y: Float32Array,
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    M: number,
    K: number,
    N: number,
    o: GemmLayout = {},
  ): void {
    this.stats.calls++;
    if (bias && o.accumulate) throw new Error('gemm: a bias with accumulate is not supported');
    const T = this.pool ? Math.min(this.threads, this.pool.threads) : 1;
    const packBytes = pad(Math.ceil(M / 4) * 4 * K * 4);
    const perThread = pad(this.k.batchedScratch(K));
    const arrays: Array<[Float32Array, number, boolean?]> = [
      [y, M * N, !o.accumulate],
      [x, M * K],
      [w, N * K],
    ];
    if (bias) arrays.push([bias, N]);
    const ptrs = this.stage(arrays, packBytes + T * perThread);
    const [yp, xp, wp] = ptrs;
    const bp = bias ? ptrs[3] : 0;
    const packed = ptrs[ptrs.length - 1];
    if (o.xT) this.k.packCols4(xp, M, K, packed);
    else this.k.packRows4(xp, M, K, packed);
    const flags = (o.wT ? 1 : 0) | (o.accumulate ? 2 : 0);
    const args = [yp, packed, wp, bp, M, N, K, 0, N, packed + packBytes, flags];
    this.split('matmulF32Batched', N, M * N * K, args, 7, NBLOCK, { arg: 9, stride: perThread });
    this.unstage(y, yp, M * N);
  }

  /**
   * Runs a matmul kernel over output rows [0, n): on the calling thread, or cut into chunks of whole
   * `granule`-row groups (about four per thread, so that a late thread costs one chunk) for the pool.
   * `args` are the kernel's arguments with the row range at rangeArg, rangeArg + 1.
   */
  private split(
    kernel: 'matmulF32' | 'matmulF32Batched' | 'matmulQ8' | 'matmulQ8Batched',
    n: number,
    work: number,
    args: number[],
    rangeArg: number,
    granule: number,
    scratch?: { arg: number; stride: number },
  ): void {
    const pool = this.pool;
    const T = pool ? Math.min(this.threads, pool.threads) : 1;
    if (!pool || T < 2 || work < PARALLEL_MIN_WORK || n < 2 * granule) {
      args[rangeArg] = 0;
      args[rangeArg + 1] = n;
      (this.k[kernel] as (...a: number[]) => void)(...args);
      return;
    }
    const groups = Math.ceil(n / granule);
    const chunks = Math.min(groups, 4 * T);
    const bounds: number[] = [];
    for (let c = 0; c <= chunks; c++) bounds.push(Math.min(n, Math.round((groups * c) / chunks) * granule));
    pool.run({ kernel, args, rangeArg, bounds, scratchArg: scratch?.arg, scratchStride: scratch?.stride });
  }

  layerNorm(
    out: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    rows: number,
    dim: number,
    eps: number,
  ): void {
    this.rowwise(out, x, rows * dim, [gamma, beta], dim, ([xp, gp, bp], op) =>
      this.k.layerNorm(op, xp, gp, bp, rows, dim, eps),
    );
  }

  rmsNorm(
    out: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    rows: number,
    dim: number,
    eps: number,
  ): void {
    this.rowwise(out, x, rows * dim, [gamma], dim, ([xp, gp], op) =>
      this.k.rmsNorm(op, xp, gp, rows, dim, eps),
    );
  }

  geluTanh(x: Float32Array, n: number): void {
    this.rowwise(x, x, n, [], 0, ([xp]) => this.activation('geluTanh', xp, n));
  }

  geluErf(x: Float32Array, n: number): void {
    this.rowwise(x, x, n, [], 0, ([xp]) => this.activation('geluErf', xp, n));
  }

  silu(x: Float32Array, n: number): void {
    this.rowwise(x, x, n, [], 0, ([xp]) => this.activation('silu', xp, n));
  }

  /** An in-place activation over n values at p: on this thread, or split across the pool when large. */
  private activation(kernel: 'geluTanh' | 'geluErf' | 'silu', p: number, n: number): void {
    this.elementwise(kernel, [p, 0, n], 1);
  }

  /**
   * An elementwise kernel over the range [0, n) given at args[rangeArg], args[rangeArg + 1]: on this
   * thread, or cut into ranges of whole groups of four for the pool when large.
   */
  private elementwise(
    kernel: 'geluTanh' | 'geluErf' | 'silu' | 'geluTanhBackward',
    args: number[],
    rangeArg: number,
  ): void {
    const n = args[rangeArg + 1];
    const pool = this.pool;
    const T = pool ? Math.min(this.threads, pool.threads) : 1;
    if (!pool || T < 2 || n < PARALLEL_MIN_WORK) (this.k[kernel] as (...a: number[]) => void)(...args);
    else pool.run({ kernel, args, rangeArg, bounds: split(n, 4 * T, 4) });
  }

  geluTanhBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number): void {
    this.stats.calls++;
    const [dxp, dyp, xp] = this.stage([
      [dx, n],
      [dy, n],
      [x, n],
    ]);
    this.elementwise('geluTanhBackward', [dxp, dyp, xp, 0, n], 3);
    this.unstage(dx, dxp, n);
  }

  attentionBackward(g: AttentionGrad): void {
    this.stats.calls++;
    const { batch, t, nHeads, nKvHeads, headDim, width } = g;
    const rows = batch * t;
    const units = batch * nKvHeads;
    const pool = this.pool;
    // Threads take (sequence, kv head) units, which write disjoint columns — unless the layout lets the q,
    // k and v column ranges overlap (nothing forbids it): then one thread, so no sum is raced.
    const ranges = [
      [g.qOffset, g.qOffset + nHeads * headDim],
      [g.kOffset, g.kOffset + nKvHeads * headDim],
      [g.vOffset, g.vOffset + nKvHeads * headDim],
    ].sort((a, b) => a[0] - b[0]);
    const disjoint = ranges[0][1] <= ranges[1][0] && ranges[1][1] <= ranges[2][0];
    const T = pool && disjoint ? Math.min(this.threads, pool.threads, units) : 1;
    const sBytes = pad(4 * t * t); // dS, per thread
    const [dp, qp, op, pp, sp] = this.stage(
      [
        [g.dqkv, rows * width],
        [g.qkv, rows * width],
        [g.dOut, rows * nHeads * headDim],
        [g.probs, batch * nHeads * t * t],
      ],
      T * sBytes,
    );
    const args = [
      dp,
      qp,
      width,
      g.qOffset,
      g.kOffset,
      g.vOffset,
      op,
      pp,
      t,
      nHeads,
      nKvHeads,
      headDim,
      sp,
      0,
      units,
    ];
    if (T < 2) this.k.attentionBackward(...(args as Parameters<KernelExports['attentionBackward']>));
    else
      pool!.run({
        kernel: 'attentionBackward',
        args,
        rangeArg: 13,
        bounds: Array.from({ length: units + 1 }, (_, u) => u),
        scratchArg: 12,
        scratchStride: sBytes,
      });
    this.unstage(g.dqkv, dp, rows * width);
  }

  /**
   * Addresses in linear memory for a kernel's arrays, [array, n, output?]: the array's own where it
   * lives there, else a place in scratch (one region for all) holding a copy of its first n values — or,
   * for an output, left as it is: the caller copies it back (see unstage). Then `extra` bytes of scratch,
   * whose address comes last.
   */
  private stage(arrays: Array<[Float32Array, number, boolean?]>, extra = 0): number[] {
    const ptrs = arrays.map(([a]) => this.addr(a));
    const bytes = ptrs.map((p, i) => (p >= 0 ? 0 : pad(4 * arrays[i][1])));
    let s = this.scratch(bytes.reduce((sum, b) => sum + b, 0) + extra);
    ptrs.forEach((p, i) => {
      if (p >= 0) return;
      ptrs[i] = s;
      const [a, n, output] = arrays[i];
      if (!output) this.put(s, a, n);
      s += bytes[i];
    });
    ptrs.push(s);
    return ptrs;
  }

  /** Copies an output back from where stage put it (nothing to do if the array lives in memory). */
  private unstage(a: Float32Array, p: number, n: number): void {
    if (p !== this.addr(a)) this.get(a, p, n);
  }

  softmax(x: Float32Array, rows: number, cols: number, valid = cols): void {
    this.rowwise(x, x, rows * cols, [], 0, ([xp]) => this.k.softmax(xp, rows, cols, valid));
  }

  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
    this.rowwise(out, a, n, [b], n, ([ap, bp], op) => this.k.add(op, ap, bp, n));
  }

  mul(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
    this.rowwise(out, a, n, [b], n, ([ap, bp], op) => this.k.mul(op, ap, bp, n));
  }

  /**
   * The shape of every non-matmul kernel: x (n values) and `extra` arrays (m values each) in, out (n
   * values) back; out may alias x (computed in place in scratch, then copied out).
   */
  private rowwise(
    out: Float32Array,
    x: Float32Array,
    n: number,
    extra: Float32Array[],
    m: number,
    run: (ptrs: number[], op: number) => void,
  ): void {
    this.stats.calls++;
    const ptrs = [x, ...extra].map((a) => this.addr(a));
    let op = this.addr(out);
    const sizes = ptrs.map((p, i) => (p >= 0 ? 0 : pad(4 * (i === 0 ? n : m))));
    const oBytes = op < 0 && out !== x ? pad(4 * n) : 0;
    let s = this.scratch(sizes.reduce((a, b) => a + b, 0) + oBytes);
    ptrs.forEach((p, i) => {
      if (p >= 0) return;
      ptrs[i] = s;
      this.put(s, i === 0 ? x : extra[i - 1], i === 0 ? n : m);
      s += sizes[i];
    });
    const copyOut = op < 0;
    if (op < 0) op = out === x ? ptrs[0] : s;
    run(ptrs, op);
    if (copyOut) this.get(out, op, n);
  }

  attention(
    out: Float32Array,
    q: Float32Array,
    kCache: Float32Array,
    vCache: Float32Array,
    t: number,
    pos0: number,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
    probs?: Float32Array,
  ): void {
    const kvDim = nKvHeads * headDim;
    // mirrors first: they may allocate (and so grow the memory)
    const kp = this.mirror(kCache, pos0, pos0 + t, kvDim);
    const vp = this.mirror(vCache, pos0, pos0 + t, kvDim);
    this.attend(out, q, kp, vp, t, pos0, -1, nHeads, nKvHeads, headDim, probs);
  }

  attentionBidirectional(
    out: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    t: number,
    validKeys: number,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
    probs?: Float32Array,
  ): void {
    const kvn = t * nKvHeads * headDim;
    let kp = this.addr(k);
    let vp = this.addr(v);
    const kBytes = kp < 0 ? pad(kvn * 4) : 0;
    const vBytes = vp < 0 ? pad(kvn * 4) : 0;
    if (kBytes + vBytes > 0) {
      // k and v go at the top of a dedicated allocation: attend's scratch must not overlap them
      const ptr = this.heap.alloc(kBytes + vBytes);
      try {
        if (kp < 0) {
          kp = ptr;
          this.put(kp, k, kvn);
        }
        if (vp < 0) {
          vp = ptr + kBytes;
          this.put(vp, v, kvn);
        }
        this.attend(out, q, kp, vp, t, 0, validKeys, nHeads, nKvHeads, headDim, probs);
      } finally {
        this.heap.release(ptr);
      }
      return;
    }
    this.attend(out, q, kp, vp, t, 0, validKeys, nHeads, nKvHeads, headDim, probs);
  }

  /** The attention kernel over keys/values at kp, vp (rows 0..pos0+t-1); valid < 0: causal. */
  private attend(
    out: Float32Array,
    q: Float32Array,
    kp: number,
    vp: number,
    t: number,
    pos0: number,
    valid: number,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
    probs?: Float32Array,
  ): void {
    this.stats.calls++;
    const total = pos0 + t;
    const qn = t * nHeads * headDim;
    let qp = this.addr(q);
    let op = this.addr(out);
    let pp = probs ? this.addr(probs) : 0;
    const T =
      this.pool && nHeads > 1 && total * t * nHeads * headDim >= PARALLEL_MIN_WORK
        ? Math.min(this.threads, this.pool.threads)
        : 1;
    const qBytes = qp < 0 ? pad(qn * 4) : 0;
    const oBytes = op < 0 ? pad(qn * 4) : 0;
    const pBytes = probs && pp < 0 ? pad(nHeads * t * total * 4) : 0;
    // Prefill without weights to report: the tiled kernel (scores and P·V on the packed 4 × 8 tile)
    const tiled = !probs && t >= TILED_ATTENTION_ROWS;
    const scoreBytes = tiled ? pad(this.k.attentionTiledScratch(total, headDim)) : pad(4 * total * 4); // four rows: the kernel takes queries four at a time
    let s = this.scratch(qBytes + oBytes + pBytes + T * scoreBytes);
    if (qp < 0) {
      qp = s;
      this.put(qp, q, qn);
      s += qBytes;
    }
    if (op < 0) {
      op = s;
      s += oBytes;
    }
    if (probs && pp < 0) {
      pp = s;
      s += pBytes;
    }
    if (tiled) {
      const args = [op, qp, kp, vp, t, pos0, valid, nHeads, nKvHeads, headDim, s, 0, nHeads];
      if (T === 1) this.k.attentionTiled(...(args as Parameters<KernelExports['attentionTiled']>));
      else
        this.pool!.run({
          kernel: 'attentionTiled',
          args,
          rangeArg: 11,
          bounds: Array.from({ length: nHeads + 1 }, (_, h) => h),
          scratchArg: 10,
          scratchStride: scoreBytes,
        });
      if (oBytes) this.get(out, op, qn);
      return;
    }
    const args = [op, qp, kp, vp, t, pos0, valid, nHeads, nKvHeads, headDim, pp, s, 0, nHeads];
    if (T === 1) {
      this.k.attention(...(args as Parameters<KernelExports['attention']>));
    } else {
      // one chunk per head; each thread its own scores scratch
      this.pool!.run({
        kernel: 'attention',
        args,
        rangeArg: 12,
        bounds: Array.from({ length: nHeads + 1 }, (_, h) => h),
        scratchArg: 11,
        scratchStride: scoreBytes,
      });
    }
    if (oBytes) this.get(out, op, qn);
    if (probs && pBytes) this.get(probs, pp, nHeads * t * total);
  }

  forget(a: Float32Array): void {
    const m = this.mirrors.get(a);
    if (!m) return;
    this.mirrors.delete(a);
    this.reaper.unregister(m);
    this.heap.release(m.ptr);
  }

  /**
   * The address of cache rows 0..total-1 in linear memory: the array itself if it lives there, else its
   * mirror, brought up to date. Rows pos0.. were just written by the caller; rows below pos0 were copied
   * by earlier calls, unless the cache was rewound and rewritten meanwhile (a spot check of row pos0-1
   * catches that and recopies everything).
   */
  private mirror(cache: Float32Array, pos0: number, total: number, kvDim: number): number {
    const own = this.addr(cache);
    if (own >= 0) return own;
    let m = this.mirrors.get(cache);
    if (!m) {
      m = { ptr: this.heap.alloc(cache.length * 4), rows: 0 };
      this.mirrors.set(cache, m);
      this.reaper.register(cache, m.ptr, m);
    }
    let from = Math.min(m.rows, pos0);
    if (from > 0) {
      const mem = this.mem();
      const a = (m.ptr >>> 2) + (from - 1) * kvDim;
      const b = (from - 1) * kvDim;
      for (let i = 0; i < kvDim; i++) {
        if (mem[a + i] !== cache[b + i] && !(Number.isNaN(mem[a + i]) && Number.isNaN(cache[b + i]))) {
          from = 0;
          break;
        }
      }
    }
    if (total > from) {
      this.mem().set(cache.subarray(from * kvDim, total * kvDim), (m.ptr >>> 2) + from * kvDim);
      this.stats.bytesCopied += (total - from) * kvDim * 4;
    }
    m.rows = total;
    return m.ptr;
  }
}

/** parts+1 bounds cutting [0, n) into `parts` ranges, each a multiple of `granule` but the last. */
function split(n: number, parts: number, granule: number): number[] {
  const b = Array.from({ length: parts + 1 }, (_, c) =>
    Math.min(n, Math.round((n * c) / parts / granule) * granule),
  );
  b[parts] = n;
  return b;
}

function pad(bytes: number): number {
  return Math.ceil(bytes / ALIGN) * ALIGN;
}
