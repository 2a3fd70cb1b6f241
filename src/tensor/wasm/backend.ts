// The WebAssembly SIMD backend: the Backend methods, run by the AssemblyScript kernels in
// assembly/kernels.ts over one linear memory. Pure (no Node APIs): index.ts loads the module (fetch in
// browsers, fs in Node through node.ts) and hands it here.
//
// Memory. Every weight matrix is copied into linear memory once, when the model is built (placeMatrix,
// called by matrixF32 / matrixQ8_0 with this backend active); the matrix the model keeps is a view of it
// (matrices.ts). Arrays that live in this memory (from allocWeights/allocActivations) are used in place:
// where the memory is shared, inference's activations (nn/infer.ts) and the KV cache's arrays come from
// allocActivations. Any other array is staged: each call copies its inputs into a scratch region, runs the
// kernel, and copies the result out (staging.ts) — on the calling thread, while the pool's workers wait.
// A KV cache array that lives elsewhere is mirrored (kv-mirror.ts): it gets a twin in linear memory and
// only the rows new since the last call are copied in.
//
// Growth. A shared memory (Node, cross-origin-isolated browsers) keeps every view valid when it grows.
// A plain one detaches them; matrices built here re-create their views on access, but a raw array from
// allocWeights is invalid after a grow — reserve memory up front with `initialMiB` in that setting.
//
// Every Backend member has a kernel here; none falls back to the reference.
import type { AttentionGrad, Backend, DecodeAttention, GemmLayout, ScoreTerms } from '../backend.js';
import type { Matrix, QuantType } from '../tensor.js';
import { referenceBackend } from '../reference/kernels.js';
import {
  kernelExports,
  type KernelExports,
  type ParallelJob,
  type ParallelKernel,
  type PoolStats,
  type ThreadPool,
  type WasmBackendParts,
} from './exports.js';
import { ThreadChooser } from './adaptive.js';
import { WasmHeap } from './heap.js';
import { KvMirror } from './kv-mirror.js';
import { Placement, WasmMatrixQ8_0, WasmMatrixQuant } from './matrices.js';
import { pad, Staging, type Staged, type WasmStats } from './staging.js';
import { threadCount } from './threads.js';

/** From this many new queries on (and no attention weights asked for), attention runs tiled. */
const TILED_ATTENTION_ROWS = 16;
/** The share of the memory's maximum that allocActivations fills before it hands out plain arrays. */
const ACTIVATION_SHARE = 0.5;
/** Work (multiply-adds) below which a matmul stays on one thread: waking the others costs more. */
const PARALLEL_MIN_WORK = 1 << 16;
/**
 * Most bytes of private output rows (and scratch) for all threads together, for taking a late worker's
 * matmul chunks over (pool.ts): decode rows always fit, prefill of GPT-2 small at 512 rows on 2 threads
 * too; bigger products (long prompts on many threads, training batches) wait for late workers instead.
 */
const TAKE_OVER_BYTES = 64 * 2 ** 20;
/** Weight rows per cache block in the batched kernels (NBLOCK in assembly/kernels.ts). */
const NBLOCK = 16;
/**
 * From this many input rows on, a matmul runs batched: inputs packed in groups of four, weights made
 * into panels block by block (Q8_0 and ggml blocks expanded to f32 first), 4 × 8 register tiles
 * (matmulF32Batched, matmulQ8Batched, matmulQuantBatched). Below it, one matrix-vector product per row.
 */
const BATCHED_ROWS = 4;
/**
 * 2 ≤ rows < FEW_ROWS (batched decoding: one row per sequence), instead of one matrix-vector product per
 * row or repacked panels: f32 weights → matmulF32Rows, read in place two rows at a time against every
 * input row (assembly/serve.ts); Q8_0 with relaxed SIMD → matmulQ8Dot, the rows quantized to int8 and each
 * block of 32 weight rows against every row while it is in cache (assembly/q8dot.ts: GPT-2's LM head at 4
 * rows, one thread, 27 ms through matmulQ8Batched's f32 panels → ~7 ms).
 */
const FEW_ROWS = 16;

/** matmulF32Batched's flags (assembly/kernels.ts): W stored [k, n]; add into out; W a placed matrix in slabs. */
const W_TRANSPOSED = 1;
const ACCUMULATE = 2;
const W_SLABS = 4;

/** ggml's type ids, as the block kernels (assembly/kquants.ts) name the types. */
const GGML_TYPE_ID: Record<QuantType, number> = { Q4_0: 2, Q4_K: 12, Q5_K: 13, Q6_K: 14 };

export class WasmBackend implements Backend {
  readonly name: string;
  readonly memory: WebAssembly.Memory;
  readonly heap: WasmHeap;
  /** Whether the kernels are the relaxed-SIMD build (fused multiply-add) rather than plain SIMD128. */
  readonly relaxedSimd: boolean;
  /** Threads the parallel kernels use now (at most the pool's size; settable, e.g. 1 to compare). */
  threads: number;
  /**
   * Whether the caller takes over a late worker's chunks of the matmuls (pool.ts; settable, e.g. to
   * measure what it saves). createWasmBackend sets it from its `takeOver` option (default on).
   */
  takeOver = true;
  /**
   * Runs each matmul on the pool or on the caller alone, whichever measures faster now (adaptive.ts: a
   * busy neighbour can make two threads slower than one); null: always the pool (settable, e.g. to
   * measure the pool alone). createWasmBackend sets it from its `adaptiveThreads` option (default on).
   */
  chooser: ThreadChooser | null = new ThreadChooser();
  readonly stats: WasmStats = { calls: 0, bytesCopied: 0 };
  private readonly k: KernelExports;
  private readonly pool: ThreadPool | undefined;
  private readonly st: Staging;
  private readonly placement: Placement;
  private readonly kv: KvMirror;
  /**
   * The workers' private output rows for matmuls the caller may take over (pool.ts): `stride` bytes per
   * thread at `ptr`. Grown (to twice what is asked) and never freed: a late worker may still write the
   * old ones.
   */
  private priv = { ptr: 0, stride: 0 };

  constructor(parts: WasmBackendParts) {
    this.k = kernelExports(parts.instance);
    this.memory = parts.memory;
    this.heap = new WasmHeap(parts.memory, this.k.heapBase(), parts.maxPages);
    this.pool = parts.pool;
    this.relaxedSimd = parts.relaxedSimd ?? false;
    this.threads = parts.pool?.threads ?? 1;
    this.name = this.threads > 1 ? `wasm-${this.threads}t` : 'wasm';
    this.st = new Staging(this.memory, this.heap, this.stats);
    this.placement = new Placement(this.st);
    this.kv = new KvMirror(this.st);
  }

  /** Threads a parallel kernel may use now: `threads`, at most the pool's (1 without a pool). */
  private get usable(): number {
    return threadCount(this.threads, this.pool ? this.pool.threads : 1);
  }

  /** The thread pool's counters (undefined without a pool). */
  get poolStats(): PoolStats | undefined {
    return this.pool?.stats;
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
    const T = this.usable;
    if (!this.pool || T < 2) {
      this.k.streamSum(p, 0, n);
      return;
    }
    const groups = n / 16;
    const bounds = Array.from({ length: 4 * T + 1 }, (_, c) => Math.round((groups * c) / (4 * T)) * 16);
    this.pool.run({ kernel: 'streamSum', args: [p, 0, n], rangeArg: 1, bounds });
  }

  /**
   * Runs `iterations` of the register-only multiply-add loop (assembly/threads.ts), in 8 chunks per
   * thread: the compute ceiling of the benchmark. Returns the FLOPs done.
   */
  fmaPeak(iterations: number): number {
    const T = this.usable;
    const out = this.heap.alloc(16 * T);
    try {
      if (!this.pool || T < 2) this.k.fmaPeak(out, 0, iterations);
      else
        this.pool.run({
          kernel: 'fmaPeak',
          args: [out, 0, iterations],
          rangeArg: 1,
          bounds: split(iterations, 8 * T, 1),
          scratchArg: 0,
          scratchStride: 16,
        });
    } finally {
      this.heap.release(out);
    }
    return iterations * this.k.fmaPeakFlops();
  }

  /** Bytes of linear memory in use (weights, mirrors, scratch). */
  get bytesInUse(): number {
    return this.heap.inUse;
  }

  // ---- memory ---------------------------------------------------------------------------------------

  allocWeights(n: number): Float32Array {
    return this.st.allocWeights(n);
  }

  /**
   * Zeroed activations in linear memory (used in place by every kernel), freed when unreachable — while
   * the memory in use stays under ACTIVATION_SHARE of its most (the rest is kept for weights and the
   * kernels' scratch: a big fine-tune's tape can outgrow 4 GiB). Beyond that, and where the memory is not
   * shared (a growth would detach the view), a plain array, which kernels copy in and out.
   */
  allocActivations(n: number): Float32Array {
    // (a page that is not cross-origin isolated has no SharedArrayBuffer at all)
    const shared =
      typeof SharedArrayBuffer !== 'undefined' && this.memory.buffer instanceof SharedArrayBuffer;
    if (!shared) return new Float32Array(n);
    if (this.heap.inUse + 4 * n > ACTIVATION_SHARE * this.heap.maxPages * 65536) return new Float32Array(n);
    return this.allocWeights(n);
  }

  freeActivations(a: Float32Array): void {
    this.kv.forget(a);
    this.st.free(a);
  }

  placeMatrix(m: Matrix): Matrix {
    return this.placement.place(m);
  }

  forget(a: Float32Array): void {
    this.kv.forget(a);
  }

  // ---- kernels --------------------------------------------------------------------------------------

  matmul(out: Float32Array, x: Float32Array, w: Matrix, bias: Float32Array | null, rows: number): void {
    this.stats.calls++;
    const pw = this.placement.placed(w);
    const n = w.rows;
    const k = w.cols;
    const q8 = pw.kind === 'q8_0';
    // few rows: f32 → matmulF32Rows; Q8_0 → matmulQ8Dot (int8 activations), as for one row
    const few = rows >= 2 && rows < FEW_ROWS && (pw.kind === 'f32' || (q8 && this.relaxedSimd));
    const batched = rows >= BATCHED_ROWS && !few;
    const T = this.usable;
    const packBytes = batched ? pad(Math.ceil(rows / 4) * 4 * k * 4) : 0;
    const perThread = batched ? pad(this.k.batchedScratch(k)) : 0;
    // decode on Q8_0 / ggml blocks: the input rounded to int16 per 32-block (+ its block sums for the K-quants)
    const quant = pw instanceof WasmMatrixQuant;
    const qBytes = (q8 || quant) && !batched ? pad(rows * k * 2) + 2 * pad(rows * (k / 32) * 4) : 0;
    // matmuls can be taken over from a late worker: its private rows (and scratch), before staging —
    // while all threads' private bytes stay under TAKE_OVER_BYTES (beyond, the caller waits)
    const privBytes = pad(4 * rows * n) + perThread;
    const takeOver =
      this.takeOver && !!this.pool && T > 1 && 2 * privBytes * this.pool.threads <= TAKE_OVER_BYTES;
    if (takeOver && privBytes > this.priv.stride)
      this.priv = { ptr: this.heap.alloc(this.pool!.threads * 2 * privBytes), stride: 2 * privBytes };
    const output = (arg: number) =>
      takeOver
        ? {
            arg,
            rows,
            rowLength: n,
            privateBase: this.priv.ptr,
            privateStride: this.priv.stride,
            scratchOffset: batched ? pad(4 * rows * n) : undefined,
          }
        : undefined;
    const arrays: Staged[] = [
      [x, rows * k],
      [out, rows * n, true],
    ];
    if (bias) arrays.push([bias, n]);
    const ptrs = this.st.stage(arrays, packBytes + T * perThread + qBytes);
    const [xp, op] = ptrs;
    const bp = bias ? ptrs[2] : 0;
    let s = ptrs[ptrs.length - 1];
    if (pw instanceof WasmMatrixQuant) {
      // each part (a run of rows in one ggml type) into its columns of out: out, bias offset by its first
      // row, out's row stride n
      let packed = 0;
      const xq = s;
      const xs = s + pad(rows * k * 2);
      const xsum = xs + pad(rows * (k / 32) * 4);
      if (batched) {
        packed = s;
        this.k.packRows4(xp, rows, k, packed);
        s += packBytes;
      } else {
        this.k.quantizeX16(xp, rows, k, xq, xs);
        if (pw.layout.some((p) => p.type === 'Q4_K' || p.type === 'Q5_K')) this.k.sumX32(xp, rows, k, xsum);
      }
      for (const p of pw.layout) {
        const o = op + 4 * p.row0;
        const b = bias ? bp + 4 * p.row0 : 0;
        const type = GGML_TYPE_ID[p.type];
        const w = pw.ptr + p.offset;
        const work = rows * p.rows * k;
        if (batched) {
          const args = [type, o, packed, w, b, rows, n, k, 0, p.rows, s];
          this.split('matmulQuantBatched', p.rows, work, args, 8, NBLOCK, { arg: 10, stride: perThread });
        } else {
          const args = [type, o, xq, xs, xsum, w, b, rows, n, k, 0, p.rows];
          this.split('matmulQuant', p.rows, work, args, 10, 4);
        }
      }
    } else if (batched) {
      const packed = s;
      this.k.packRows4(xp, rows, k, packed);
      s += packBytes;
      if (pw instanceof WasmMatrixQ8_0) {
        const args = [op, packed, pw.ptr, bp, rows, n, k, 0, n, s];
        const scratch = { arg: 9, stride: perThread };
        this.split('matmulQ8Batched', n, rows * n * k, args, 7, NBLOCK, scratch, output(0));
      } else {
        const args = [op, packed, pw.ptr, bp, rows, n, k, 0, n, s, pw.slab < k ? W_SLABS : 0];
        const scratch = { arg: 9, stride: perThread };
        this.split('matmulF32Batched', n, rows * n * k, args, 7, NBLOCK, scratch, output(0));
      }
    } else if (pw instanceof WasmMatrixQ8_0) {
      // x rounded per 32-block: to int8 for the relaxed-SIMD integer dot product (llama.cpp's q8_0 × q8_0;
      // as magnitudes and sign masks, 2 bytes a value), to int16 for the plain-SIMD kernel (no faster with
      // int8 there, and more precise)
      const xq = s;
      const xs = s + pad(rows * k * 2);
      const kernel = this.relaxedSimd ? 'matmulQ8Dot' : 'matmulQ8';
      if (this.relaxedSimd) this.k.quantizeRowQ8(xp, rows, k, xq, xs);
      else this.k.quantizeX16(xp, rows, k, xq, xs);
      const args = [op, xq, xs, pw.ptr, bp, rows, n, k, 0, n];
      this.split(kernel, n, rows * n * k, args, 8, 4, undefined, output(0));
    } else {
      const kernel = few ? 'matmulF32Rows' : 'matmulF32';
      const args = [op, xp, pw.ptr, bp, rows, n, k, 0, n, pw.slab];
      this.split(kernel, n, rows * n * k, args, 7, 4, undefined, output(0));
    }
    this.st.unstage(out, op, rows * n);
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
    const T = this.usable;
    const packBytes = pad(Math.ceil(M / 4) * 4 * K * 4);
    const perThread = pad(this.k.batchedScratch(K));
    const arrays: Staged[] = [
      [y, M * N, !o.accumulate],
      [x, M * K],
      [w, N * K],
    ];
    if (bias) arrays.push([bias, N]);
    const ptrs = this.st.stage(arrays, packBytes + T * perThread);
    const [yp, xp, wp] = ptrs;
    const bp = bias ? ptrs[3] : 0;
    const packed = ptrs[ptrs.length - 1];
    if (o.xT) this.k.packCols4(xp, M, K, packed);
    else this.k.packRows4(xp, M, K, packed);
    const flags = (o.wT ? W_TRANSPOSED : 0) | (o.accumulate ? ACCUMULATE : 0);
    const args = [yp, packed, wp, bp, M, N, K, 0, N, packed + packBytes, flags];
    this.split('matmulF32Batched', N, M * N * K, args, 7, NBLOCK, { arg: 9, stride: perThread });
    this.st.unstage(y, yp, M * N);
  }

  /**
   * Runs a matmul kernel over output rows [0, n): on the calling thread, or cut into chunks of whole
   * `granule`-row groups (about four per thread, so that a late thread costs one chunk) for the pool.
   * `args` are the kernel's arguments with the row range at rangeArg, rangeArg + 1.
   */
  private split(
    kernel:
      | 'matmulF32'
      | 'matmulF32Rows'
      | 'matmulF32Batched'
      | 'matmulQ8'
      | 'matmulQ8Dot'
      | 'matmulQ8Batched'
      | 'matmulQuant'
      | 'matmulQuantBatched',
    n: number,
    work: number,
    args: number[],
    rangeArg: number,
    granule: number,
    scratch?: { arg: number; stride: number },
    output?: ParallelJob['output'],
  ): void {
    const pool = this.pool;
    const T = this.usable;
    const alone = () => {
      args[rangeArg] = 0;
      args[rangeArg + 1] = n;
      (this.k[kernel] as (...a: number[]) => void)(...args);
    };
    if (!pool || T < 2 || work < PARALLEL_MIN_WORK || n < 2 * granule) return alone();
    // the pool, or the caller alone where that measures faster now (a busy neighbour: adaptive.ts)
    const chooser = this.chooser;
    if (chooser) {
      const kind = `${kernel} ${n} ${work}`; // the kernel and the product's shape
      const solo = chooser.solo();
      const t0 = performance.now();
      if (solo) alone();
      else this.onPool(kernel, n, args, rangeArg, granule, T, scratch, output);
      chooser.record(kind, solo, work, performance.now() - t0);
      return;
    }
    this.onPool(kernel, n, args, rangeArg, granule, T, scratch, output);
  }

  /** split's pool run: n in chunks of whole granules, four per thread. */
  private onPool(
    kernel: ParallelKernel,
    n: number,
    args: number[],
    rangeArg: number,
    granule: number,
    T: number,
    scratch?: { arg: number; stride: number },
    output?: ParallelJob['output'],
  ): void {
    const pool = this.pool!;
    const groups = Math.ceil(n / granule);
    const chunks = Math.min(groups, 4 * T);
    const bounds: number[] = [];
    for (let c = 0; c <= chunks; c++) bounds.push(Math.min(n, Math.round((groups * c) / chunks) * granule));
    pool.run({
      kernel,
      args,
      rangeArg,
      bounds,
      scratchArg: scratch?.arg,
      scratchStride: scratch?.stride,
      output,
    });
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
      this.elementwise('layerNormRows', [op, xp, gp, bp, dim, eps, 0, rows], 6, rows * dim, 1),
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
      this.elementwise('rmsNormRows', [op, xp, gp, dim, eps, 0, rows], 5, rows * dim, 1),
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
   * An elementwise or row-wise kernel over the range [0, n) given at args[rangeArg], args[rangeArg + 1]
   * (values, or rows of a norm): on this thread, or — from `work` = PARALLEL_MIN_WORK values on (prefill
   * sizes; at decode sizes waking the others costs more than the work) — cut into ranges of whole
   * `granule`s for the pool.
   */
  private elementwise(
    kernel:
      | 'geluTanh'
      | 'geluErf'
      | 'silu'
      | 'geluTanhBackward'
      | 'layerNormRows'
      | 'rmsNormRows'
      | 'addRange'
      | 'mulRange',
    args: number[],
    rangeArg: number,
    work = args[rangeArg + 1],
    granule = 4,
  ): void {
    const n = args[rangeArg + 1];
    const pool = this.pool;
    const T = this.chooser?.solo() ? 1 : this.usable; // the matmuls' mode (adaptive.ts)
    if (!pool || T < 2 || work < PARALLEL_MIN_WORK || n < 2 * T * granule)
      (this.k[kernel] as (...a: number[]) => void)(...args);
    else pool.run({ kernel, args, rangeArg, bounds: split(n, 4 * T, granule) });
  }

  geluTanhBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number): void {
    this.stats.calls++;
    const [dxp, dyp, xp] = this.st.stage([
      [dx, n],
      [dy, n],
      [x, n],
    ]);
    this.elementwise('geluTanhBackward', [dxp, dyp, xp, 0, n], 3);
    this.st.unstage(dx, dxp, n);
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
    const T = pool && disjoint ? Math.min(this.usable, units) : 1;
    const sBytes = pad(4 * t * t); // dS, per thread
    const [dp, qp, op, pp, sp] = this.st.stage(
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
    this.st.unstage(g.dqkv, dp, rows * width);
  }

  softmax(x: Float32Array, rows: number, cols: number, valid = cols): void {
    this.rowwise(x, x, rows * cols, [], 0, ([xp]) => this.k.softmax(xp, rows, cols, valid));
  }

  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
    this.rowwise(out, a, n, [b], n, ([ap, bp], op) => this.elementwise('addRange', [op, ap, bp, 0, n], 3));
  }

  argmax(x: Float32Array, n: number): number {
    this.stats.calls++;
    // in place where x lives in the memory (the server's logits), else one copy in (~10 µs per 128 KB)
    const [xp] = this.st.stage([[x, n]]);
    const i = this.k.argmaxRow(xp, n);
    return i >= 0 ? i : referenceBackend.argmax(x, n); // a NaN: the plain loop decides
  }

  mul(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
    this.rowwise(out, a, n, [b], n, ([ap, bp], op) => this.elementwise('mulRange', [op, ap, bp, 0, n], 3));
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
    const arrays: Staged[] = [[x, n], ...extra.map((a): Staged => [a, m])];
    if (out !== x) arrays.push([out, n, true]);
    const ptrs = this.st.stage(arrays);
    const op = out === x ? ptrs[0] : ptrs[arrays.length - 1];
    run(ptrs, op);
    this.st.unstage(out, op, n);
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
    terms?: ScoreTerms,
  ): void {
    const kvDim = nKvHeads * headDim;
    // mirrors first: they may allocate (and so grow the memory)
    const kp = this.kv.mirror(kCache, pos0, pos0 + t, kvDim);
    const vp = this.kv.mirror(vCache, pos0, pos0 + t, kvDim);
    if (terms?.bias)
      this.attendBiased(out, q, kp, vp, t, pos0, -1, pos0 + t, nHeads, nKvHeads, headDim, probs, terms);
    else this.attend(out, q, kp, vp, t, pos0, -1, nHeads, nKvHeads, headDim, probs, terms);
  }

  attentionDecode(
    items: ReadonlyArray<DecodeAttention>,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
  ): void {
    this.stats.calls++;
    const qDim = nHeads * headDim;
    const kvDim = nKvHeads * headDim;
    // the caches' addresses first (a mirror may allocate, and so grow the memory)
    const caches = items.map((it) => [
      this.kv.mirror(it.kCache, it.pos0, it.pos0 + 1, kvDim),
      this.kv.mirror(it.vCache, it.pos0, it.pos0 + 1, kvDim),
    ]);
    let keys = 0;
    let most = 0;
    for (const it of items) {
      keys += it.pos0 + 1;
      most = Math.max(most, it.pos0 + 1);
    }
    // one job over sequence × head, on the pool from the work at which attention() would use it
    const units = items.length * nHeads;
    const T = keys * qDim >= PARALLEL_MIN_WORK && units > 1 && !this.chooser?.solo() ? this.usable : 1;
    const scoreBytes = pad(4 * most * 4);
    const descBytes = pad(20 * items.length);
    const arrays: Staged[] = [];
    for (const it of items) arrays.push([it.q, qDim], [it.out, qDim, true]);
    const ptrs = this.st.stage(arrays, descBytes + T * scoreBytes);
    const desc = ptrs[ptrs.length - 1];
    const d = new Int32Array(this.memory.buffer, desc, 5 * items.length);
    items.forEach((it, i) =>
      d.set([ptrs[2 * i + 1], ptrs[2 * i], caches[i][0], caches[i][1], it.pos0], 5 * i),
    );
    const args = [desc, nHeads, nKvHeads, headDim, desc + descBytes, 0, units, 1 / Math.sqrt(headDim)];
    if (T === 1) this.k.attentionRows(...(args as Parameters<KernelExports['attentionRows']>));
    else
      this.pool!.run({
        kernel: 'attentionRows',
        args,
        rangeArg: 5,
        bounds: split(units, Math.min(units, 4 * T), 1),
        scratchArg: 4,
        scratchStride: scoreBytes,
      });
    items.forEach((it, i) => this.st.unstage(it.out, ptrs[2 * i + 1], qDim));
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
    terms?: ScoreTerms,
  ): void {
    const kvn = t * nKvHeads * headDim;
    // k and v, where not in memory, go to a dedicated allocation: attend's scratch must not overlap them
    let region = -1;
    const [kp, vp] = this.st.stage(
      [
        [k, kvn],
        [v, kvn],
      ],
      0,
      (bytes) => (bytes > 0 ? (region = this.heap.alloc(bytes)) : 0),
    );
    try {
      if (terms?.bias)
        this.attendBiased(out, q, kp, vp, t, 0, validKeys, t, nHeads, nKvHeads, headDim, probs, terms);
      else this.attend(out, q, kp, vp, t, 0, validKeys, nHeads, nKvHeads, headDim, probs, terms);
    } finally {
      if (region >= 0) this.heap.release(region);
    }
  }

  crossAttention(
    out: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    tq: number,
    tk: number,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
    probs?: Float32Array,
    terms?: ScoreTerms,
  ): void {
    const kvn = tk * nKvHeads * headDim;
    let region = -1;
    const [kp, vp] = this.st.stage(
      [
        [k, kvn],
        [v, kvn],
      ],
      0,
      (bytes) => (bytes > 0 ? (region = this.heap.alloc(bytes)) : 0),
    );
    if (terms?.bias) {
      // every query sees all tk keys; bias and weights rows are tk long
      try {
        this.attendBiased(out, q, kp, vp, tq, 0, tk, tk, nHeads, nKvHeads, headDim, probs, terms);
      } finally {
        if (region >= 0) this.heap.release(region);
      }
      return;
    }
    // the kernel's keys are rows [0, pos0 + tq) with every query seeing [0, valid): valid = tk, and pos0
    // makes the rows span at least tk; its weights are then [nHeads, tq, pos0 + tq], compacted to tk
    const pos0 = Math.max(0, tk - tq);
    const total = pos0 + tq;
    const wide = probs && total !== tk ? new Float32Array(nHeads * tq * total) : probs;
    try {
      this.attend(out, q, kp, vp, tq, pos0, tk, nHeads, nKvHeads, headDim, wide, terms);
    } finally {
      if (region >= 0) this.heap.release(region);
    }
    if (probs && wide !== probs) {
      for (let r = 0; r < nHeads * tq; r++) probs.set(wide!.subarray(r * total, r * total + tk), r * tk);
    }
  }

  /**
   * attention with ScoreTerms (assembly/t5.ts, one thread): keys/values at kp, vp; valid < 0: causal;
   * `total` the row length of the bias and the weights.
   */
  private attendBiased(
    out: Float32Array,
    q: Float32Array,
    kp: number,
    vp: number,
    t: number,
    pos0: number,
    valid: number,
    total: number,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
    probs: Float32Array | undefined,
    terms: ScoreTerms,
  ): void {
    this.stats.calls++;
    const qn = t * nHeads * headDim;
    const arrays: Staged[] = [
      [q, qn],
      [out, qn, true],
    ];
    const bias = terms.bias;
    if (bias) arrays.push([bias, t * total * nHeads]);
    if (probs) arrays.push([probs, nHeads * t * total, true]);
    const ptrs = this.st.stage(arrays, pad(8 * total));
    const [qp, op] = ptrs;
    const bp = bias ? ptrs[2] : 0;
    const pp = probs ? ptrs[bias ? 3 : 2] : 0;
    const s = ptrs[ptrs.length - 1];
    const scale = terms.scale ?? 1 / Math.sqrt(headDim);
    this.k.attentionBiased(
      op,
      qp,
      kp,
      vp,
      t,
      pos0,
      valid,
      total,
      nHeads,
      nKvHeads,
      headDim,
      scale,
      bp,
      pp,
      s,
      0,
      nHeads,
      valid < 0 ? (terms.window ?? 0) : 0,
      terms.softcap ?? 0,
    );
    this.st.unstage(out, op, qn);
    if (probs) this.st.unstage(probs, pp, nHeads * t * total);
  }

  /**
   * The attention kernel over keys/values at kp, vp (rows 0..pos0+t-1); valid < 0: causal. The score terms
   * it takes: a scale, a sliding window (causal only), a soft-cap — no bias (attendBiased's).
   */
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
    terms?: ScoreTerms,
  ): void {
    this.stats.calls++;
    const total = pos0 + t;
    // the score terms, the kernels' last three arguments
    const termArgs = [
      terms?.scale ?? 1 / Math.sqrt(headDim),
      valid < 0 ? (terms?.window ?? 0) : 0,
      terms?.softcap ?? 0,
    ];
    const qn = t * nHeads * headDim;
    const big = nHeads > 1 && total * t * nHeads * headDim >= PARALLEL_MIN_WORK;
    const T = big && !this.chooser?.solo() ? this.usable : 1; // in the matmuls' mode (adaptive.ts)
    // Prefill without weights to report: the tiled kernel (scores and P·V on the packed 4 × 8 tile)
    const tiled = !probs && t >= TILED_ATTENTION_ROWS;
    const scoreBytes = tiled ? pad(this.k.attentionTiledScratch(total, headDim)) : pad(4 * total * 4); // four rows: the kernel takes queries four at a time
    const arrays: Staged[] = [
      [q, qn],
      [out, qn, true],
    ];
    if (probs) arrays.push([probs, nHeads * t * total, true]);
    const ptrs = this.st.stage(arrays, T * scoreBytes);
    const [qp, op] = ptrs;
    const pp = probs ? ptrs[2] : 0;
    const s = ptrs[ptrs.length - 1];
    if (tiled) {
      const args = [op, qp, kp, vp, t, pos0, valid, nHeads, nKvHeads, headDim, s, 0, nHeads, ...termArgs];
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
      this.st.unstage(out, op, qn);
      return;
    }
    const args = [op, qp, kp, vp, t, pos0, valid, nHeads, nKvHeads, headDim, pp, s, 0, nHeads, ...termArgs];
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
    this.st.unstage(out, op, qn);
    if (probs) this.st.unstage(probs, pp, nHeads * t * total);
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
