// How the wasm threads hold up: a decode-shaped token (GPT-2 small's twelve layers of matmuls with the
// serial ops between them, one input row) and the prefill matmuls, on 1 and --threads threads, with the
// pool's counters (the caller's own work vs its wait for the other threads, chunks per job), and the
// wasm compute ceiling. --busy-neighbour runs a busy-loop child process (one core) for the whole run.
//   npx tsx bench/threads.ts [--threads 2] [--busy-neighbour] [--reps 5] [--dtype f32|q8_0]
import { Command } from 'commander';
import { cpus, loadavg } from 'node:os';
import {
  createWasmBackend,
  matrixF32,
  matrixQ8_0,
  setBackend,
  referenceBackend,
  type Matrix,
} from '../src/tensor/index.js';
import { prefillMatmulRate, wasmCeiling, PREFILL_SHAPES } from './ceiling.js';
import { rand } from './models.js';
import { startBusyNeighbour } from './neighbour.js';

const program = new Command('threads')
  .description('decode and prefill on 1 and N wasm threads, with the thread pool counters')
  .option('--threads <n>', 'threads', (v) => parseInt(v, 10), Math.min(2, cpus().length))
  .option('--reps <n>', 'repetitions (ranges are reported)', (v) => parseInt(v, 10), 5)
  .option('--dtype <type>', 'f32 or q8_0', 'f32')
  .option('--busy-neighbour', 'run a busy-loop child process (one core) for the whole run')
  .parse();
const opts = program.opts<{ threads: number; reps: number; dtype: string; busyNeighbour?: boolean }>();
const stop = opts.busyNeighbour ? startBusyNeighbour() : null;
const now = () => performance.now();
const T = opts.threads;
const counts = T > 1 ? [1, T] : [1];

const be = await createWasmBackend({ threads: T });
setBackend(be);
// twelve layers of GPT-2 small's weights (f32: 340 MB, far beyond the caches, as in a real decode)
const LAYERS = 12;
const D = 768;
function weight(n: number, k: number): Matrix {
  if (opts.dtype !== 'q8_0') return matrixF32(n, k, rand(n * k, 0.02));
  const q = new Int8Array(n * k);
  for (let i = 0; i < q.length; i++) q[i] = ((i * 7919) % 255) - 127;
  return matrixQ8_0(n, k, new Float32Array((n * k) / 32).fill(0.001), q);
}
const layers = Array.from({ length: LAYERS }, () => PREFILL_SHAPES.map(([n, k]) => weight(n, k)));
setBackend(referenceBackend);
const g = be.allocActivations(D).fill(1);
const b = be.allocActivations(D);
const x = be.allocActivations(D).fill(0.1);
const h = be.allocActivations(D);
const qkv = be.allocActivations(3 * D);
const up = be.allocActivations(4 * D);

/** One decode token: per layer norm, qkv, (attention skipped) projection, residual, norm, MLP, residual. */
function token(): void {
  for (const [wqkv, wo, wup, wdown] of layers) {
    be.layerNorm(h, x, g, b, 1, D, 1e-5);
    be.matmul(qkv, h, wqkv, null, 1);
    be.matmul(h, qkv.subarray(0, D), wo, null, 1);
    be.add(x, x, h, D);
    be.layerNorm(h, x, g, b, 1, D, 1e-5);
    be.matmul(up, h, wup, null, 1);
    be.geluTanh(up, 4 * D);
    be.matmul(h, up, wdown, null, 1);
    be.add(x, x, h, D);
  }
}

const zero = () => {
  const p = be.poolStats;
  if (p)
    Object.assign(p, { jobs: 0, chunks: 0, callerChunks: 0, takenOver: 0, workMs: 0, waitMs: 0, sleeps: 0 });
};
const range = (a: number[]) => {
  const s = [...a].sort((p, q) => p - q);
  return `${s[0].toFixed(1)}–${s[s.length - 1].toFixed(1)} (median ${s[s.length >> 1].toFixed(1)})`;
};

console.log(
  `${cpus()[0]?.model}, ${cpus().length} cores, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}; ${opts.busyNeighbour ? 'busy neighbour running' : 'no neighbour'}; ${opts.dtype}`,
);
const TOKENS = 16;
const tokS: Record<string, number[]> = {};
const pool: Record<
  string,
  { jobs: number; chunks: number; caller: number; taken: number; wait: number; ms: number }
> = {};
// 1 thread, N threads, and N threads without the caller taking over late workers' chunks
const runs = T > 1 ? ['1t', `${T}t`, `${T}t no take-over`] : ['1t'];
for (let r = 0; r < opts.reps; r++) {
  // the runs alternate within each repetition, so that load changes hit them alike
  for (const key of runs) {
    const t = parseInt(key, 10);
    be.threads = t;
    be.takeOver = !key.includes('no take-over');
    token(); // warm-up
    zero();
    const t0 = now();
    for (let i = 0; i < TOKENS; i++) token();
    const ms = now() - t0;
    (tokS[key] ??= []).push((TOKENS / ms) * 1000);
    const p = be.poolStats;
    const q = (pool[key] ??= { jobs: 0, chunks: 0, caller: 0, taken: 0, wait: 0, ms: 0 });
    if (p && t > 1) {
      q.jobs += p.jobs;
      q.chunks += p.chunks;
      q.caller += p.callerChunks;
      q.taken += p.takenOver;
      q.wait += p.waitMs;
      q.ms += ms;
    }
  }
}
for (const key of runs) {
  console.log(`decode ${key}: ${range(tokS[key])} tok/s`);
  const q = pool[key];
  if (q.jobs)
    console.log(
      `  pool: ${(q.jobs / opts.reps / TOKENS).toFixed(0)} jobs/token, ${(q.chunks / q.jobs).toFixed(1)} chunks/job; the caller ran ` +
        `${((100 * q.caller) / q.chunks).toFixed(0)}% of chunks, took over ${q.taken} from late workers, waited for the others ` +
        `${((1000 * q.wait) / q.jobs).toFixed(0)} µs/job (${((100 * q.wait) / q.ms).toFixed(1)}% of the time)`,
    );
}
for (const key of runs.slice(1))
  console.log(`decode ${key} / 1t per repetition: ${range(tokS[key].map((v, i) => v / tokS['1t'][i]))}`);
be.takeOver = true;

const ceil = wasmCeiling(be, counts);
const pre = prefillMatmulRate(be, counts);
be.takeOver = false;
const preWaiting = T > 1 ? prefillMatmulRate(be, [T])[T] : 0;
be.takeOver = true;
for (const t of counts)
  console.log(
    `prefill matmuls ${t}t: ${pre[t].toFixed(1)} GFLOP/s = ${((100 * pre[t]) / ceil[t]).toFixed(0)}% of the wasm ceiling ${ceil[t].toFixed(1)} GFLOP/s`,
  );
if (T > 1) console.log(`prefill matmuls ${T}t no take-over: ${preWaiting.toFixed(1)} GFLOP/s`);
be.close();
stop?.();
