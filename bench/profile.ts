// Where the time goes: runs prefill (ppN) and decode (tgN) of a benchmark shape on the wasm backend and
// times every Backend call by kernel (matmul split by weight size, attention, norms, ...), so a figure
// in the speed table can be explained ("prefill: 84% matmul at 38 GFLOP/s, 11% attention").
//   npx tsx bench/profile.ts [--shape gpt2-124m] [--threads 2] [--dtype f32|q8_0] [--pp 512] [--tg 32]
//   npx tsx bench/profile.ts --batch 1,2,4,8 [--tg 16]   decode steps of B sequences at once
//                                                        (Decoder.forwardBatch, continuous batching)
import { Command } from 'commander';
import { backend, createWasmBackend, setBackend, type Matrix } from '../src/tensor/index.js';
import { makeSubject, SHAPES, type Kind, type ShapeName } from './models.js';
import { startBusyNeighbour } from './neighbour.js';

const program = new Command('profile')
  .description('time each kernel of a prefill and a decode run on the wasm backend')
  .option('--shape <name>', `model shape: ${SHAPES.join(', ')}`, 'gpt2-124m')
  .option('--threads <n>', 'threads', (v) => parseInt(v, 10), 2)
  .option('--dtype <type>', 'f32 or q8_0', 'f32')
  .option('--pp <n>', 'prompt tokens for the prefill run', (v) => parseInt(v, 10), 512)
  .option('--tg <n>', 'tokens for the decode run', (v) => parseInt(v, 10), 32)
  .option('--batch <list>', 'profile batched decode (forwardBatch) at these sequence counts instead')
  .option('--busy-neighbour', 'run a busy-loop child process (one core) for the whole run')
  .option('--plain-simd', 'use the plain SIMD128 kernels even where relaxed SIMD is available')
  .option('--no-adaptive', 'every matmul on the pool (no choice of pool vs caller alone, adaptive.ts)')
  .parse();
const opts = program.opts<{
  shape: ShapeName;
  threads: number;
  dtype: Kind;
  pp: number;
  tg: number;
  plainSimd?: boolean;
  adaptive: boolean;
  batch?: string;
  busyNeighbour?: boolean;
}>();
const stopNeighbour = opts.busyNeighbour ? startBusyNeighbour() : null;

const be = await createWasmBackend({
  threads: opts.threads,
  relaxedSimd: !opts.plainSimd,
  adaptiveThreads: opts.adaptive,
});
setBackend(be);
const subject = await makeSubject(opts.shape, false);
const dec = await subject.decoder(opts.dtype);

interface Slot {
  ms: number;
  calls: number;
  flops: number;
}
let slots = new Map<string, Slot>();
const wrapped = backend() as unknown as Record<string, unknown>;
const now = () => performance.now();
for (const name of [
  'matmul',
  'attention',
  'attentionDecode',
  'layerNorm',
  'rmsNorm',
  'geluTanh',
  'silu',
  'softmax',
  'add',
  'mul',
  'geluErf',
]) {
  const f = wrapped[name] as ((...a: unknown[]) => void) | undefined;
  if (typeof f !== 'function') continue;
  wrapped[name] = (...a: unknown[]) => {
    const t0 = now();
    f.apply(be, a);
    const dt = now() - t0;
    let key = name;
    let flops = 0;
    if (name === 'matmul') {
      const w = a[2] as Matrix;
      const rows = a[4] as number;
      key = `matmul ${w.rows}x${w.cols}`;
      flops = 2 * rows * w.rows * w.cols;
    }
    const s = slots.get(key) ?? { ms: 0, calls: 0, flops: 0 };
    s.ms += dt;
    s.calls++;
    s.flops += flops;
    slots.set(key, s);
  };
}

function report(what: string, tokens: number, total: number): void {
  const sum = [...slots.values()].reduce((a, s) => a + s.ms, 0);
  console.log(
    `\n${what}: ${total.toFixed(1)} ms, ${((tokens / total) * 1000).toFixed(1)} tok/s (${be.name}${be.relaxedSimd ? ' relaxed-simd' : ' simd128'}, ${opts.dtype})`,
  );
  const rows = [...slots.entries()].sort((a, b) => b[1].ms - a[1].ms);
  for (const [k, s] of rows) {
    const gf = s.flops ? `${(s.flops / (s.ms / 1000) / 1e9).toFixed(1).padStart(6)} GFLOP/s` : '';
    console.log(
      `  ${k.padEnd(22)} ${s.ms.toFixed(1).padStart(8)} ms ${((100 * s.ms) / total).toFixed(1).padStart(5)}%  ${String(s.calls).padStart(5)} calls  ${gf}`,
    );
  }
  console.log(
    `  ${'(outside kernels)'.padEnd(22)} ${(total - sum).toFixed(1).padStart(8)} ms ${((100 * (total - sum)) / total).toFixed(1).padStart(5)}%`,
  );
  // the pool: the caller's own share of the parallel jobs vs waiting for the other threads
  const p = be.poolStats;
  if (p && p.jobs) {
    console.log(
      `  pool: ${p.jobs} jobs, ${(p.chunks / p.jobs).toFixed(1)} chunks/job, caller ran ${((100 * p.callerChunks) / p.chunks).toFixed(0)}% of chunks (+${p.takenOver} taken over); ` +
        `caller working ${p.workMs.toFixed(1)} ms, waiting for others ${p.waitMs.toFixed(1)} ms ` +
        `(${((1000 * p.waitMs) / p.jobs).toFixed(0)} µs/job, slept in ${p.sleeps} jobs)`,
    );
  }
}

/** Zeroes the timings and the pool's counters. */
function reset(): void {
  slots = new Map();
  const p = be.poolStats;
  if (p)
    Object.assign(p, { jobs: 0, chunks: 0, callerChunks: 0, takenOver: 0, workMs: 0, waitMs: 0, sleeps: 0 });
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % subject.vocab);
if (opts.batch) {
  // batched decode: B sequences (16-token prompts), then tg steps of one token each, all in one forward
  for (const B of opts.batch.split(',').map(Number)) {
    const caches = Array.from({ length: B }, () => dec.newCache());
    dec.forwardBatch(caches.map((cache, i) => ({ ids: ids(16).map((t) => (t + i) % subject.vocab), cache })));
    dec.forwardBatch(caches.map((cache, i) => ({ ids: [i + 1], cache }))); // warm-up step
    slots = new Map();
    const logits = new Float32Array(B * dec.vocabSize); // reused step after step, as the server's batch does
    const c0 = process.cpuUsage(); // CPU time of every thread: steadier than wall time on a busy machine
    const t0 = now();
    for (let s = 0; s < opts.tg; s++)
      dec.forwardBatch(
        caches.map((cache, i) => ({ ids: [s + i + 1], cache })),
        null,
        logits,
      );
    const ms = now() - t0;
    const cpu = process.cpuUsage(c0);
    const cpuMs = (cpu.user + cpu.system) / 1000 / opts.tg;
    report(
      `forwardBatch B=${B}, tg${opts.tg}: ${(ms / opts.tg).toFixed(1)} ms/step, CPU ${cpuMs.toFixed(1)} ms/step`,
      B * opts.tg,
      ms,
    );
  }
  be.close();
  subject.cleanup();
  process.exit(0);
}

// warm up at full size (compiles, allocates scratch and the heap the timed run will reuse)
dec.forward(ids(opts.pp), dec.newCache(), true);
reset();
let t0 = now();
const cache = dec.newCache();
dec.forward(ids(opts.pp), cache, true);
report(`prefill pp${opts.pp}`, opts.pp, now() - t0);

slots = new Map();
const c2 = dec.newCache();
dec.forward(ids(16), c2, true);
reset();
t0 = now();
const row = new Float32Array(dec.vocabSize); // reused step after step, as the step loop does
for (let i = 0; i < opts.tg; i++) dec.forward([i + 1], c2, true, null, null, row);
report(`decode tg${opts.tg} (after 16 tokens)`, opts.tg, now() - t0);
be.close();
subject.cleanup();
stopNeighbour?.();
