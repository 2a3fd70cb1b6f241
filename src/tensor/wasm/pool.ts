// The thread pool of the wasm backend, the same in Node and in browsers: threads-1 workers (Node's
// worker_threads or Web Workers, made by the small `spawn` adapter of each platform) each instantiate the
// kernels over the same shared WebAssembly.Memory and run chunks of kernel calls.
//
// Protocol: one SharedArrayBuffer `ctl` apart from the wasm memory.
//   Int32 [0] job generation, [1] stop flag, [2] workers asleep, [3] caller asleep,
//         [4] chunk ticket = generation·1024 + next chunk, [5] chunks completed
//   Float64 from index 8: kernel index, argument count, range argument index, chunk count, scratch
//         argument index (-1: none), scratch stride; the arguments (16 at most); chunk bounds (≤ 1024).
// A job is one kernel call cut into chunks of its output range (rows of a matmul, heads of attention):
// chunk c runs with args[range] = bounds[c], args[range+1] = bounds[c+1]. The caller writes the job,
// opens the ticket, bumps the generation, and then takes chunks itself like every worker (a compare-
// and-swap on the ticket, which also carries the generation, so a worker that wakes late cannot take a
// chunk of a finished job). It returns when all chunks are completed. With more chunks than threads, a
// worker that the OS has not scheduled (a busy machine) delays the job by one chunk at most, not by half
// of it. Thread t adds t·stride to its scratch argument (per-thread scratch memory).
// Idle threads spin for spinMs before sleeping in Atomics.wait (waking one costs ~0.1–0.3 ms), and
// Atomics.notify is only called when someone is asleep. A caller that may not block (a browser page's
// main thread, where Atomics.wait throws) spins until the job is done.
import { kernelExports, type ParallelJob, type ParallelKernel, type ThreadPool } from './exports.js';

/** What each worker receives: everything it needs to run kernels over the shared memory. */
export interface PoolWorkerData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctl: SharedArrayBuffer;
  /** This worker's thread number (1…threads-1; the caller is 0). */
  index: number;
  kernels: ParallelKernel[];
  spinMs: number;
}

/** A started worker, as the platform adapter hands it back once the worker said it is ready. */
export interface PoolWorker {
  terminate(): void;
}

/**
 * Starts one worker (running workerScript with the platform's prelude) on `data`, and resolves once it
 * has said 'ready'.
 */
export type SpawnWorker = (data: PoolWorkerData) => Promise<PoolWorker>;

const KERNELS: ParallelKernel[] = [
  'matmulF32',
  'matmulF32Batched',
  'matmulQ8',
  'matmulQ8Batched',
  'matmulQuant',
  'matmulQuantBatched',
  'attention',
  'attentionTiled',
  'streamSum',
  'geluTanh',
  'geluErf',
  'silu',
  'geluTanhBackward',
  'attentionBackward',
];
const HDR = 8; // float64 index of the job header
const ARGS = HDR + 8; // arguments
const BOUNDS = ARGS + 16; // chunk bounds
const MAX_CHUNKS = 1023;
const GEN_MASK = 0x1fffff; // generations kept in the ticket (ticket = gen·1024 + chunk, < 2³¹)

/**
 * Takes and runs chunks of the current job (generation `gen`) until none is left. Shared by the caller
 * and, as source text, the workers — keep it self-contained (no outside names: a bundler may rename them).
 */
function drain(
  ctl: Int32Array,
  f64: Float64Array,
  fns: Array<(...a: number[]) => void>,
  args: number[],
  gen: number,
  tid: number,
): void {
  const ticketGen = (gen & 0x1fffff) * 1024;
  let read = false;
  let n = 0;
  let range = 0;
  for (;;) {
    const t = Atomics.load(ctl, 4);
    if (t - (t % 1024) !== ticketGen) return;
    const c = t % 1024;
    if (!read) {
      n = f64[8 + 3];
      range = f64[8 + 2];
      read = true;
    }
    if (c >= n) return;
    if (Atomics.compareExchange(ctl, 4, t, t + 1) !== t) continue;
    const nargs = f64[8 + 1];
    args.length = nargs;
    for (let i = 0; i < nargs; i++) args[i] = f64[16 + i];
    args[range] = f64[32 + c];
    args[range + 1] = f64[32 + c + 1];
    const sa = f64[8 + 4];
    if (sa >= 0) args[sa] += tid * f64[8 + 5];
    fns[f64[8]](...args);
    Atomics.add(ctl, 5, 1);
    if (Atomics.load(ctl, 3) !== 0) Atomics.notify(ctl, 5);
  }
}

/**
 * A worker's whole life: instantiate the kernels, say ready, then wait for jobs and drain them until
 * the stop flag. Runs as source text in the worker (drain is passed in, not referred to by name).
 */
function workerMain(data: PoolWorkerData, ready: () => void, drainJob: typeof drain): void {
  const inst = new WebAssembly.Instance(data.module, { env: { memory: data.memory } });
  const fns = data.kernels.map((k) => inst.exports[k] as (...a: number[]) => void);
  const ctl = new Int32Array(data.ctl);
  const f64 = new Float64Array(data.ctl);
  const args: number[] = [];
  const spinMs = data.spinMs;
  let seen = Atomics.load(ctl, 0);
  ready();
  for (;;) {
    let g = Atomics.load(ctl, 0);
    if (g === seen) {
      const until = performance.now() + spinMs;
      for (let i = 1; g === seen; i++) {
        g = Atomics.load(ctl, 0);
        if ((i & 1023) === 0 && performance.now() > until) break;
      }
    }
    while (g === seen) {
      Atomics.add(ctl, 2, 1);
      if (Atomics.load(ctl, 0) === seen) Atomics.wait(ctl, 0, seen);
      Atomics.sub(ctl, 2, 1);
      g = Atomics.load(ctl, 0);
    }
    seen = g;
    if (Atomics.load(ctl, 1) !== 0) break;
    drainJob(ctl, f64, fns, args, g, data.index);
  }
}

/**
 * The script a worker runs: `prelude` obtains the worker's data and a ready() callback, then calls
 * start(data, ready). Node's prelude reads workerData; a Web Worker's waits for its first message.
 */
export function workerScript(prelude: string): string {
  return `const start = (data, ready) => (${workerMain.toString()})(data, ready, ${drain.toString()});\n${prelude}\n`;
}

export interface PoolOptions {
  /** Threads in all, the caller's included. */
  threads: number;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** The caller's own instance (thread 0). */
  instance: WebAssembly.Instance;
  /** How long an idle thread polls before sleeping, ms. */
  spinMs: number;
  spawn: SpawnWorker;
  /** Whether the caller may sleep in Atomics.wait (not on a browser page's main thread). */
  callerMayWait: boolean;
}

/**
 * Starts threads-1 workers on `memory` (shared). spinMs: how long a thread polls for the next job (or
 * the caller for the workers) before sleeping — long enough to bridge the serial ops between two
 * matmuls, short enough not to steal a busy machine's cores.
 */
export async function startThreadPool(o: PoolOptions): Promise<ThreadPool> {
  const { threads, module, memory, spinMs, callerMayWait } = o;
  const sab = new SharedArrayBuffer(8 * (BOUNDS + MAX_CHUNKS + 1));
  const ctl = new Int32Array(sab);
  const f64 = new Float64Array(sab);
  const exports = kernelExports(o.instance);
  const fns = KERNELS.map((k) => exports[k] as (...a: number[]) => void);
  const args: number[] = [];
  const started = await Promise.allSettled(
    Array.from({ length: threads - 1 }, (_, i) =>
      o.spawn({ module, memory, ctl: sab, index: i + 1, kernels: KERNELS, spinMs }),
    ),
  );
  const workers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    for (const w of workers) w.terminate();
    throw new Error(`wasm backend: a worker thread did not start: ${String(failed.reason)}`, {
      cause: failed.reason,
    });
  }
  let closed = false;
  let gen = 0;
  return {
    threads,
    run(job: ParallelJob) {
      const n = job.bounds.length - 1;
      if (closed || n > MAX_CHUNKS) {
        // no workers (closed): run the chunks here, as thread 0
        for (let c = 0; c < n; c++) {
          const a = job.args.slice();
          a[job.rangeArg] = job.bounds[c];
          a[job.rangeArg + 1] = job.bounds[c + 1];
          (exports[job.kernel] as (...a: number[]) => void)(...a);
        }
        return;
      }
      f64[HDR] = KERNELS.indexOf(job.kernel);
      f64[HDR + 1] = job.args.length;
      f64[HDR + 2] = job.rangeArg;
      f64[HDR + 3] = n;
      f64[HDR + 4] = job.scratchArg ?? -1;
      f64[HDR + 5] = job.scratchStride ?? 0;
      for (let i = 0; i < job.args.length; i++) f64[ARGS + i] = job.args[i];
      for (let i = 0; i <= n; i++) f64[BOUNDS + i] = job.bounds[i];
      gen = (gen + 1) & GEN_MASK;
      Atomics.store(ctl, 5, 0);
      Atomics.store(ctl, 4, gen * 1024);
      Atomics.store(ctl, 0, gen);
      if (Atomics.load(ctl, 2) !== 0) Atomics.notify(ctl, 0);
      drain(ctl, f64, fns, args, gen, 0);
      let done = Atomics.load(ctl, 5);
      if (done < n) {
        const until = performance.now() + spinMs;
        for (let i = 1; done < n; i++) {
          done = Atomics.load(ctl, 5);
          if (callerMayWait && (i & 1023) === 0 && performance.now() > until) break;
        }
      }
      while (done < n) {
        Atomics.store(ctl, 3, 1);
        if (Atomics.load(ctl, 5) === done) Atomics.wait(ctl, 5, done);
        Atomics.store(ctl, 3, 0);
        done = Atomics.load(ctl, 5);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      Atomics.store(ctl, 1, 1);
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      for (const w of workers) w.terminate();
    },
  };
}
