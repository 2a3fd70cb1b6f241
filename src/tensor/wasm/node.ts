// The Node-only part of the wasm backend: reading the compiled kernels from disk, and worker threads
// that run chunks of the kernels over the same shared WebAssembly.Memory.
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
// Idle threads spin for spinMs before sleeping in Atomics.wait (waking one costs ~0.1–0.3 ms here), and
// Atomics.notify is only called when someone is asleep.
import { readFile } from 'node:fs/promises';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { KernelExports, ParallelJob, ParallelKernel, ThreadPool } from './backend.js';

/**
 * Turns on V8's relaxed SIMD (behind --experimental-wasm-relaxed-simd in Node 20; on by default from
 * Node 22). Process-wide, so worker threads have it too; modules compiled before keep what they had.
 */
export function enableRelaxedSimd(): void {
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

export async function readKernels(url: URL): Promise<ArrayBuffer> {
  try {
    const b = await readFile(url);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  } catch (e) {
    throw new Error(
      `wasm backend: cannot read ${url.pathname} (${(e as Error).message}); run \`npm run build\` to compile the kernels`,
      { cause: e },
    );
  }
}

const KERNELS: ParallelKernel[] = [
  'matmulF32',
  'matmulF32Batched',
  'matmulQ8',
  'matmulQ8Batched',
  'attention',
  'streamSum',
  'geluTanh',
  'geluErf',
  'silu',
];
const HDR = 8; // float64 index of the job header
const ARGS = HDR + 8; // arguments
const BOUNDS = ARGS + 16; // chunk bounds
const MAX_CHUNKS = 1023;
const GEN_MASK = 0x1fffff; // generations kept in the ticket (ticket = gen·1024 + chunk, < 2³¹)

/**
 * Takes and runs chunks of the current job (generation `gen`) until none is left. Shared by the caller
 * and, as source text, the workers — keep it self-contained.
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

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { module, memory, ctl: sab, index, kernels, spinMs } = workerData;
const inst = new WebAssembly.Instance(module, { env: { memory } });
const fns = kernels.map((k) => inst.exports[k]);
const ctl = new Int32Array(sab);
const f64 = new Float64Array(sab);
const args = [];
const drain = ${drain.toString()};
let seen = Atomics.load(ctl, 0);
parentPort.postMessage('ready');
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
  drain(ctl, f64, fns, args, g, index);
}
`;

/**
 * Starts threads-1 workers on `memory` (shared). spinMs: how long a thread polls for the next job (or
 * the caller for the workers) before sleeping — long enough to bridge the serial ops between two
 * matmuls, short enough not to steal a busy machine's cores.
 */
export async function startThreadPool(
  threads: number,
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  instance: WebAssembly.Instance,
  spinMs: number,
): Promise<ThreadPool> {
  const sab = new SharedArrayBuffer(8 * (BOUNDS + MAX_CHUNKS + 1));
  const ctl = new Int32Array(sab);
  const f64 = new Float64Array(sab);
  const exports = instance.exports as unknown as KernelExports;
  const fns = KERNELS.map((k) => exports[k] as (...a: number[]) => void);
  const args: number[] = [];
  const workers: Worker[] = [];
  await Promise.all(
    Array.from({ length: threads - 1 }, (_, i) => {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module, memory, ctl: sab, index: i + 1, kernels: KERNELS, spinMs },
      });
      workers.push(w);
      return new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', reject);
      });
    }),
  );
  for (const w of workers) w.unref();
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
          if ((i & 1023) === 0 && performance.now() > until) break;
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
      for (const w of workers) void w.terminate();
    },
  };
}
