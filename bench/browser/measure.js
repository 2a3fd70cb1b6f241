// The kernel measurement bench/browser.ts takes in a browser page (page.js) and in Node alike: plain ES
// modules straight from tsc's output (dist/), so the page needs no bundler and both run the same code.
import { createWasmBackend, matrixF32, setBackend } from '../../dist/src/tensor/index.js';

/** ms per call of f, best of `reps` after a warm-up. */
function best(f, reps) {
  f();
  let b = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

/**
 * On `threads` threads: a prefill-shaped matmul (512 × 768 · 768 × 3072, GFLOP/s) and decode-shaped
 * matrix-vector products over 24 GPT-2 MLP matrices (226 MB: read from memory, not cache; GB/s).
 */
export async function measureKernels(threads, shared) {
  const be = await createWasmBackend({ threads, shared, initialMiB: 256 });
  setBackend(be);
  try {
    const [n, k, rows] = [3072, 768, 512];
    const w = matrixF32(
      n,
      k,
      Float32Array.from({ length: n * k }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5),
    );
    const x = Float32Array.from({ length: rows * k }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
    const out = new Float32Array(rows * n);
    const prefillMs = best(() => be.matmul(out, x, w, null, rows), 5);
    const ws = Array.from({ length: 24 }, () => matrixF32(n, k, new Float32Array(n * k).fill(0.001)));
    const x1 = x.subarray(0, k);
    const o1 = new Float32Array(n);
    const decodeMs = best(() => ws.forEach((m) => be.matmul(o1, x1, m, null, 1)), 3);
    return {
      threads: be.threads,
      kernels: be.relaxedSimd ? 'relaxed-simd' : 'simd128',
      prefillGflops: (2 * rows * n * k) / prefillMs / 1e6,
      decodeGBs: (24 * n * k * 4) / decodeMs / 1e6,
    };
  } finally {
    be.close();
  }
}
