// The in-page half of bench/browser.ts: plain ES modules straight from tsc's output (dist/), no bundler.
import { createWasmBackend, matrixF32, setBackend } from '../../dist/src/tensor/index.js';

const params = new URLSearchParams(location.search);
const maxThreads = Number(params.get('threads') ?? navigator.hardwareConcurrency ?? 1);
const isolated = globalThis.crossOriginIsolated === true;

/** ms per call of f, best of `reps` after a warm-up. */
function time(f, reps) {
  f();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

async function measure(threads) {
  const be = await createWasmBackend({
    threads,
    shared: threads > 1 || isolated ? true : false,
    initialMiB: 256,
  });
  setBackend(be);
  const [n, k, rows] = [3072, 768, 512];
  const w = matrixF32(
    n,
    k,
    Float32Array.from({ length: n * k }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5),
  );
  const x = Float32Array.from({ length: rows * k }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
  const out = new Float32Array(rows * n);
  const prefillMs = time(() => be.matmul(out, x, w, null, rows), 5);
  // decode: one row against 24 matrices of GPT-2's 3072 x 768 (226 MB: from memory, not cache)
  const ws = Array.from({ length: 24 }, () => matrixF32(n, k, new Float32Array(n * k).fill(0.001)));
  const x1 = x.subarray(0, k);
  const o1 = new Float32Array(n);
  const decodeMs = time(() => ws.forEach((m) => be.matmul(o1, x1, m, null, 1)), 3);
  be.close();
  return {
    threads: be.threads,
    kernels: be.relaxedSimd ? 'relaxed-simd' : 'simd128',
    prefillGflops: (2 * rows * n * k) / prefillMs / 1e6,
    decodeGBs: (24 * n * k * 4) / decodeMs / 1e6,
  };
}

const rows = [];
try {
  for (let t = 1; t <= (isolated ? maxThreads : 1); t++) rows.push(await measure(t));
  window.result = { isolated, userAgent: navigator.userAgent, rows };
} catch (e) {
  window.result = { error: String(e && e.stack ? e.stack : e) };
}
