// The binding to the kernels module (assembly/kernels.ts): its exports as the backend and the thread pool
// call them, the kernels the pool splits, and the parts a backend is made of.
import { F32_SLAB, F32_SLAB_FROM_K } from './matrices.js';

/** The kernels' exports; every pointer is a byte offset into the memory. */
export interface KernelExports {
  heapBase(): number;
  streamSum(p: number, i0: number, i1: number): number;
  fmaPeak(out: number, i0: number, i1: number): void;
  layerNormRows(
    out: number,
    x: number,
    g: number,
    b: number,
    dim: number,
    eps: number,
    r0: number,
    r1: number,
  ): void;
  rmsNormRows(out: number, x: number, g: number, dim: number, eps: number, r0: number, r1: number): void;
  addRange(out: number, a: number, b: number, i0: number, i1: number): void;
  mulRange(out: number, a: number, b: number, i0: number, i1: number): void;
  fmaPeakFlops(): number;
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
    /** Columns per slab of w (f32Slab; k when row-major). */
    slab: number,
  ): void;
  matmulF32Rows(
    out: number,
    x: number,
    w: number,
    bias: number,
    rows: number,
    n: number,
    k: number,
    j0: number,
    j1: number,
    /** Columns per slab of w (f32Slab; k when row-major). */
    slab: number,
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
    w: number,
    bias: number,
    rows: number,
    n: number,
    k: number,
    j0: number,
    j1: number,
  ): void;
  quantizeRowQ8(x: number, rows: number, k: number, xq: number, xs: number): void;
  /** matmulQ8's arguments; xq as quantizeRowQ8 makes it (int8 magnitudes and sign masks) instead of int16. */
  matmulQ8Dot: KernelExports['matmulQ8'];
  matmulQ8Batched(
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
  ): void;
  /** Weights in ggml blocks (assembly/kquants.ts); type: the ggml type id (2 Q4_0, 12 Q4_K, 13 Q5_K, 14 Q6_K). */
  sumX32(x: number, rows: number, k: number, dst: number): void;
  matmulQuant(
    type: number,
    out: number,
    xq: number,
    xs: number,
    xsum: number,
    w: number,
    bias: number,
    rows: number,
    n: number,
    k: number,
    j0: number,
    j1: number,
  ): void;
  matmulQuantBatched(
    type: number,
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
  ): void;
  layerNorm(out: number, x: number, g: number, b: number, rows: number, dim: number, eps: number): void;
  rmsNorm(out: number, x: number, g: number, rows: number, dim: number, eps: number): void;
  geluTanh(x: number, i0: number, i1: number): void;
  silu(x: number, i0: number, i1: number): void;
  softmax(x: number, rows: number, cols: number, valid: number): void;
  argmaxRow(x: number, n: number): number;
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
    /** ScoreTerms: the scale of q·k, the sliding window (0: none), the soft-cap (0: none). */
    scale: number,
    window: number,
    cap: number,
  ): void;
  /** Decode attention of several sequences (a descriptor per sequence), split over sequence × head. */
  attentionRows(
    desc: number,
    nHeads: number,
    nKv: number,
    hd: number,
    scores: number,
    u0: number,
    u1: number,
    scale: number,
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
    scale: number,
    window: number,
    cap: number,
  ): void;
  geluTanhBackward(dx: number, dy: number, x: number, i0: number, i1: number): void;
  /** assembly/t5.ts: attention with ScoreTerms (a scale, an additive bias per pair and head). */
  attentionBiased(
    out: number,
    q: number,
    k: number,
    v: number,
    t: number,
    pos0: number,
    valid: number,
    total: number,
    nHeads: number,
    nKv: number,
    hd: number,
    scale: number,
    bias: number,
    probs: number,
    scores: number,
    h0: number,
    h1: number,
    window: number,
    cap: number,
  ): void;
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
  | 'matmulF32Rows'
  | 'matmulQ8'
  | 'matmulQ8Dot'
  | 'matmulQ8Batched'
  | 'matmulQuant'
  | 'matmulQuantBatched'
  | 'attention'
  | 'attentionTiled'
  | 'attentionRows'
  | 'streamSum'
  | 'fmaPeak'
  | 'layerNormRows'
  | 'rmsNormRows'
  | 'addRange'
  | 'mulRange'
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
  /**
   * Set where the caller may take over a late worker's chunks (pool.ts): the kernel's output argument,
   * the output as `rows` rows of `rowLength` floats of which a chunk writes columns bounds[c]…bounds[c+1],
   * and the workers' private rows (thread t's at privateBase + t·privateStride bytes, laid out like the
   * output; then its scratch too, at scratchOffset). Only for kernels whose output is a function of
   * inputs they do not write.
   */
  output?: {
    arg: number;
    rows: number;
    rowLength: number;
    privateBase: number;
    privateStride: number;
    /** Where a worker's scratch lies in its private bytes (the batched matmuls: panels), if any. */
    scratchOffset?: number;
  };
}

/** What the pool counts: where the caller's time goes in parallel jobs. */
export interface PoolStats {
  /** Jobs run on the pool. */
  jobs: number;
  /** Chunks in those jobs, and how many of them the caller ran itself. */
  chunks: number;
  callerChunks: number;
  /** Chunks the caller took over from a late worker (and computed itself). */
  takenOver: number;
  /** ms from the job's start until the caller found no chunk left to take (its own share of the work). */
  workMs: number;
  /** ms the caller then waited for chunks other threads were still running. */
  waitMs: number;
  /** Jobs where the caller went to sleep (Atomics.wait) waiting for the others. */
  sleeps: number;
}

/** Worker threads sharing this backend's (shared) memory; `run` returns when every chunk is done. */
export interface ThreadPool {
  readonly threads: number;
  /** Counters since the pool started (bench/ reads them; zero them to measure a stretch). */
  readonly stats: PoolStats;
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

/** An instance's exports, as the kernels' signatures. */
export function kernelExports(instance: WebAssembly.Instance): KernelExports {
  // the f32 slab layout is written here (matrices.ts) and read there: both sides must agree
  const g = instance.exports as unknown as Record<string, WebAssembly.Global>;
  if (g.KC?.value !== F32_SLAB || g.F32_SLAB_FROM_K?.value !== F32_SLAB_FROM_K)
    throw new Error(
      `the wasm kernels' f32 slabs (KC ${g.KC?.value}, from k > ${g.F32_SLAB_FROM_K?.value}) differ from ` +
        `matrices.ts (${F32_SLAB}, ${F32_SLAB_FROM_K}): rebuild with npm run build:wasm`,
    );
  return instance.exports as unknown as KernelExports;
}
