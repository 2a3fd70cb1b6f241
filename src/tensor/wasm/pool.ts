// The thread pool of the wasm backend, the same in Node and in browsers: threads-1 workers (Node's
// worker_threads or Web Workers, made by the small `spawn` adapter of each platform) each instantiate the
// kernels over the same shared WebAssembly.Memory and run chunks of kernel calls.
//
// Protocol: one SharedArrayBuffer `ctl` apart from the wasm memory.
//   Int32 [0] job generation, [1] stop flag, [2] workers asleep, [3] caller asleep, [4] (unused),
//         [5] chunks completed
//   Float64 from index 8: kernel index, argument count, range argument index, chunk count, scratch
//         argument index (-1: none), scratch stride, output argument index (-1: the job cannot be taken
//         over), private base, private stride, output rows, output row length, scratch offset in the
//         private bytes (-1: none), threads; the arguments (24 at most); chunk bounds (≤ 1024).
//   Int32 from STATE: each chunk's state, generation·8 + FREE | RUNNING | COMMITTING | TAKEN | DONE.
// A job is one kernel call cut into chunks of its output range (rows of a matmul, heads of attention):
// chunk c runs with args[range] = bounds[c], args[range+1] = bounds[c+1]. The caller writes the job,
// marks its chunks FREE in the new generation, bumps the generation, and then takes chunks itself like
// every worker: thread t first its own stretch of chunks (its even share) front to back, then, as they
// run out, the others' from their far ends (see drain). A chunk is taken by a compare-and-swap of its
// state, which carries the generation, so a worker that wakes late cannot take a chunk of a finished job.
// The caller returns when all chunks are completed. Thread t adds t·stride to its scratch argument
// (per-thread scratch memory).
//
// A late thread. More chunks than threads let whoever runs take the chunks nobody has taken yet. But
// a worker that the OS deschedules (a shared machine: another process wants the core) while it holds a
// chunk would hold the whole job up until it runs again — milliseconds, where a decode matmul takes a
// fraction of one. So a job whose output rows are plain results of its inputs (the one-row matmuls of
// decoding; `output` set) can be taken over: a worker computes such a chunk into private rows of its own
// (private base + thread·stride, laid out like the output) and copies them into the output only if it
// wins RUNNING → COMMITTING; the caller, once no chunk is left to take and the others have had about two
// chunks' time, marks every chunk still FREE or RUNNING as TAKEN and computes it itself into the output.
// A worker that lost the race throws its private rows away; it never writes the shared output, so it can
// be as late as it likes (its inputs may have been overwritten by then; its result is discarded anyway).
// Private rows are never freed while the pool runs (the backend grows them, never shrinks them).
//
// Idle threads spin for spinMs before sleeping in Atomics.wait (waking one costs ~0.1–0.3 ms), and
// Atomics.notify is only called when someone is asleep. A caller that may not block (a browser page's
// main thread, where Atomics.wait throws) spins until the job is done.
import {
  kernelExports,
  type ParallelJob,
  type ParallelKernel,
  type PoolStats,
  type ThreadPool,
} from './exports.js';

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
  'matmulQ8Dot',
  'matmulQ8Batched',
  'matmulQuant',
  'matmulQuantBatched',
  'attention',
  'attentionTiled',
  'streamSum',
  'fmaPeak',
  'layerNormRows',
  'rmsNormRows',
  'addRange',
  'mulRange',
  'geluTanh',
  'geluErf',
  'silu',
  'geluTanhBackward',
  'attentionBackward',
  'matmulF32Rows',
  'attentionRows',
];
const HDR = 8; // float64 index of the job header
const ARGS = HDR + 16; // arguments
const BOUNDS = ARGS + 24; // chunk bounds (after at most 24 arguments)
const MAX_CHUNKS = 1023;
const STATE = 2 * (BOUNDS + MAX_CHUNKS + 1); // int32 index of the chunk states
// chunk states (low 3 bits; the rest is the generation)
const FREE = 0;
const RUNNING = 1;
const TAKEN = 3;
const DONE = 4;
const GEN_MASK = 0x1fffff; // generations kept (a chunk state is gen·8 + state, < 2³¹)

/**
 * Takes and runs chunks of the current job (generation `gen`) until none is left; returns how many it ran.
 * Shared by the caller and, as source text, the workers — keep it self-contained (no outside names: a
 * bundler may rename them). A worker runs a job that can be taken over (header [6] ≥ 0) into its private
 * rows and copies them out only if the caller has not taken the chunk (see the header of pool.ts).
 */
function drain(
  ctl: Int32Array,
  f64: Float64Array,
  fns: Array<(...a: number[]) => void>,
  args: number[],
  gen: number,
  tid: number,
  memory: WebAssembly.Memory,
): number {
  const g = gen & 0x1fffff;
  const st = 2 * (8 + 16 + 24 + 1023 + 1); // STATE
  // (read after the generation was seen, so this job's — or, for a thread that comes late, a newer job's,
  // whose chunks it then cannot claim: their states carry the other generation)
  const n = f64[8 + 3];
  const range = f64[8 + 2];
  const threads = f64[8 + 12];
  // Which chunks, in which order: this thread's own stretch of the range (its share, as if split evenly)
  // front to back, then the others' from their far ends back. Each thread so reads one contiguous stretch
  // of the weights, which the hardware prefetcher follows as one stream; taking the next chunk of a shared
  // counter instead, threads got every other chunk, and each chunk began a stream of its own (~1.2 µs
  // more each: a Q8_0 768×768 decode matmul in 8 chunks on one thread, 30 µs in order, 40 every other).
  const lo = Math.floor((tid * n) / threads);
  const hi = Math.floor(((tid + 1) * n) / threads);
  const mine = hi - lo;
  let ran = 0;
  for (let q = 0; q < n; q++) {
    const c = q < mine ? lo + q : q - mine < n - hi ? n - 1 - (q - mine) : lo - 1 - (q - mine - (n - hi));
    // claim it in this generation's chunk states, FREE → RUNNING, before reading the job: a worker that
    // was descheduled while the caller took the chunk over, finished the job and began the next one, finds
    // the state moved on and leaves the chunk alone (else it would run the next job's chunk c unclaimed and
    // count it done).
    if (Atomics.load(ctl, st + c) !== g * 8) continue;
    if (Atomics.compareExchange(ctl, st + c, g * 8, g * 8 + 1) !== g * 8) continue;
    // the job: kernel, arguments (the range, this thread's scratch), output
    const kernel = f64[8];
    const nargs = f64[8 + 1];
    args.length = nargs;
    for (let i = 0; i < nargs; i++) args[i] = f64[8 + 16 + i];
    args[range] = f64[8 + 40 + c];
    args[range + 1] = f64[8 + 40 + c + 1];
    const sa = f64[8 + 4];
    if (sa >= 0) args[sa] += tid * f64[8 + 5];
    const oa = f64[8 + 6];
    const priv = f64[8 + 7] + tid * f64[8 + 8];
    const privScratch = f64[8 + 11];
    const rows = f64[8 + 9];
    const len = f64[8 + 10];
    // Read while RUNNING, but a RUNNING chunk can still be taken over, and its job then finished and the
    // next one written over the header — while this worker was reading it: a mix of two jobs, which, were
    // the next one a job that cannot be taken over, would run straight into shared memory and count as a
    // chunk of that job. So the chunk must still be RUNNING after the reads: then no job has ended since
    // the claim, and everything read is this job's.
    if (tid !== 0 && Atomics.load(ctl, st + c) !== g * 8 + 1) continue;
    if (oa < 0 || tid === 0) {
      // the caller, or a job that cannot be taken over: straight into the output
      fns[kernel](...args);
      Atomics.store(ctl, st + c, g * 8 + 4); // DONE
    } else {
      // a worker on a job that can be taken over (the chunk RUNNING): private rows, then copy out unless taken
      const out = args[oa];
      args[oa] = priv;
      if (sa >= 0 && privScratch >= 0) args[sa] = priv + privScratch; // private scratch too
      fns[kernel](...args);
      if (Atomics.compareExchange(ctl, st + c, g * 8 + 1, g * 8 + 2) !== g * 8 + 1) continue; // → COMMITTING
      const j0 = args[range];
      const j1 = args[range + 1];
      // byte offsets → float indices by division: past 2 GiB of memory `>> 2` would turn them negative
      const m = new Float32Array(memory.buffer);
      for (let r = 0; r < rows; r++)
        m.copyWithin(out / 4 + r * len + j0, priv / 4 + r * len + j0, priv / 4 + r * len + j1);
      Atomics.store(ctl, st + c, g * 8 + 4); // DONE
    }
    ran++;
    Atomics.add(ctl, 5, 1);
    if (Atomics.load(ctl, 3) !== 0) Atomics.notify(ctl, 5);
  }
  return ran;
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
    drainJob(ctl, f64, fns, args, g, data.index, data.memory);
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
  /**
   * How long the caller waits for late workers before taking over their chunks of a job that allows it,
   * ms (default: twice its own time per chunk in that job, at least 0.02). 0: at once (tests race the
   * take-over this way).
   */
  takeOverMs?: number;
}

/**
 * Starts threads-1 workers on `memory` (shared). spinMs: how long a thread polls for the next job (or
 * the caller for the workers) before sleeping — long enough to bridge the serial ops between two
 * matmuls, short enough not to steal a busy machine's cores.
 */
export async function startThreadPool(o: PoolOptions): Promise<ThreadPool> {
  const { threads, module, memory, spinMs, callerMayWait } = o;
  const sab = new SharedArrayBuffer(4 * (STATE + MAX_CHUNKS + 1));
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

  /**
   * Computes, on the caller, every chunk of the current job that a worker has not finished and is not
   * copying out: FREE or RUNNING → TAKEN, then the kernel straight into the output. Returns how many.
   */
  const takeOver = (job: ParallelJob, n: number): number => {
    const fn = exports[job.kernel] as (...a: number[]) => void;
    let taken = 0;
    for (let c = 0; c < n; c++) {
      const s = Atomics.load(ctl, STATE + c);
      if (s !== gen * 8 + FREE && s !== gen * 8 + RUNNING) continue;
      if (Atomics.compareExchange(ctl, STATE + c, s, gen * 8 + TAKEN) !== s) continue;
      const a = job.args.slice();
      a[job.rangeArg] = job.bounds[c];
      a[job.rangeArg + 1] = job.bounds[c + 1];
      fn(...a);
      Atomics.store(ctl, STATE + c, gen * 8 + DONE);
      Atomics.add(ctl, 5, 1);
      taken++;
    }
    return taken;
  };
  const stats: PoolStats = {
    jobs: 0,
    chunks: 0,
    callerChunks: 0,
    takenOver: 0,
    workMs: 0,
    waitMs: 0,
    sleeps: 0,
  };
  return {
    threads,
    stats,
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
      if (job.args.length > BOUNDS - ARGS)
        throw new Error(`pool: ${job.kernel} has more than ${BOUNDS - ARGS} arguments`);
      f64[HDR + 1] = job.args.length;
      f64[HDR + 2] = job.rangeArg;
      f64[HDR + 3] = n;
      f64[HDR + 4] = job.scratchArg ?? -1;
      f64[HDR + 5] = job.scratchStride ?? 0;
      const jo = job.output;
      f64[HDR + 6] = jo ? jo.arg : -1;
      f64[HDR + 7] = jo ? jo.privateBase : 0;
      f64[HDR + 8] = jo ? jo.privateStride : 0;
      f64[HDR + 9] = jo ? jo.rows : 0;
      f64[HDR + 10] = jo ? jo.rowLength : 0;
      f64[HDR + 11] = jo?.scratchOffset ?? -1;
      f64[HDR + 12] = threads;
      for (let i = 0; i < job.args.length; i++) f64[ARGS + i] = job.args[i];
      for (let i = 0; i <= n; i++) f64[BOUNDS + i] = job.bounds[i];
      gen = (gen + 1) & GEN_MASK;
      // every chunk FREE in this generation (before the generation is bumped: workers read them after it)
      for (let c = 0; c < n; c++) Atomics.store(ctl, STATE + c, gen * 8 + FREE);
      Atomics.store(ctl, 5, 0);
      Atomics.store(ctl, 0, gen);
      if (Atomics.load(ctl, 2) !== 0) Atomics.notify(ctl, 0);
      const t0 = performance.now();
      const mine = drain(ctl, f64, fns, args, gen, 0, memory);
      const t1 = performance.now();
      stats.callerChunks += mine;
      stats.jobs++;
      stats.chunks += n;
      stats.workMs += t1 - t0;
      let done = Atomics.load(ctl, 5);
      if (done < n && jo) {
        // a job that can be taken over: give the others about two chunks' time, then take theirs
        const perChunk = mine > 0 ? (t1 - t0) / mine : spinMs;
        const until = t1 + (o.takeOverMs ?? Math.max(0.02, 2 * perChunk));
        for (let i = 1; done < n; i++) {
          done = Atomics.load(ctl, 5);
          if ((i & 255) === 0 && performance.now() > until) break;
        }
        if (done < n) stats.takenOver += takeOver(job, n);
        done = Atomics.load(ctl, 5);
      }
      if (done < n) {
        const until = performance.now() + spinMs;
        for (let i = 1; done < n; i++) {
          done = Atomics.load(ctl, 5);
          if (callerMayWait && (i & 1023) === 0 && performance.now() > until) break;
        }
      }
      if (done < n) stats.sleeps++;
      while (done < n) {
        Atomics.store(ctl, 3, 1);
        if (Atomics.load(ctl, 5) === done) Atomics.wait(ctl, 5, done);
        Atomics.store(ctl, 3, 0);
        done = Atomics.load(ctl, 5);
      }
      stats.waitMs += performance.now() - t1;
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
