// The wasm compute ceiling and how close the prefill matmuls come to it, at given thread counts (used by
// bench.ts, which puts both in its results JSON, and bench/threads.ts).
//   ceiling: f32 GFLOP/s of fmaPeak (assembly/threads.ts), twelve multiply-add chains in registers, no
//            memory — the most a 128-bit wasm loop does on this CPU (AVX2 could do twice that per cycle)
//   prefill: GFLOP/s of GPT-2 small's four prefill matmuls at 512 rows (768→2304, 768→768, 768→3072,
//            3072→768), activations resident in linear memory, as the forward runs them
import { backend, matrixF32, setBackend, type Matrix, type WasmBackend } from '../src/tensor/index.js';
import { rand } from './models.js';

const now = () => performance.now();

/** Best-of-`reps` GFLOP/s of the register-only multiply-add loop on each thread count. */
export function wasmCeiling(be: WasmBackend, threads: number[], reps = 5): Record<number, number> {
  const out: Record<number, number> = {};
  const iterations = 1 << 22; // ~400 MFLOP: tens of ms
  for (const t of threads) {
    be.threads = t;
    be.fmaPeak(iterations >> 4); // warm-up (compiles the tier-up)
    let best = 0;
    for (let r = 0; r < reps; r++) {
      const t0 = now();
      const flops = be.fmaPeak(iterations);
      best = Math.max(best, flops / ((now() - t0) / 1000) / 1e9);
    }
    out[t] = best;
  }
  return out;
}

/** GPT-2 small's prefill matmul shapes: [out features, in features]. */
export const PREFILL_SHAPES: Array<[number, number]> = [
  [2304, 768],
  [768, 768],
  [3072, 768],
  [768, 3072],
];

/**
 * Best-of-`reps` GFLOP/s of the four prefill matmuls (`rows` input rows each, summed flops over summed
 * time) on each thread count.
 */
export function prefillMatmulRate(
  be: WasmBackend,
  threads: number[],
  rows = 512,
  reps = 3,
): Record<number, number> {
  const prev = backend();
  setBackend(be);
  const ws: Matrix[] = PREFILL_SHAPES.map(([n, k]) => matrixF32(n, k, rand(n * k, 0.02)));
  setBackend(prev);
  const xs = PREFILL_SHAPES.map(([, k]) => be.allocActivations(rows * k).fill(0.5));
  const ys = PREFILL_SHAPES.map(([n]) => be.allocActivations(rows * n));
  const flops = PREFILL_SHAPES.reduce((a, [n, k]) => a + 2 * rows * n * k, 0);
  const out: Record<number, number> = {};
  for (const t of threads) {
    be.threads = t;
    let best = 0;
    for (let r = 0; r <= reps; r++) {
      const t0 = now();
      for (let i = 0; i < ws.length; i++) be.matmul(ys[i], xs[i], ws[i], null, rows);
      const rate = flops / ((now() - t0) / 1000) / 1e9;
      if (r > 0) best = Math.max(best, rate); // r = 0 warms up
    }
    out[t] = best;
  }
  return out;
}
