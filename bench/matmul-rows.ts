// Microbench: one wasm matmul at a few input rows (batched decoding's shapes), min over repeats. The
// repeats read the same matrix: those under the last-level cache's size measure the kernel's arithmetic,
// not a decode step's stream from memory (bench/profile.ts --batch times whole steps).
//   npx tsx bench/matmul-rows.ts [--threads 1] [--rows 1,2,3,4,8] [--reps 20]
import { createWasmBackend, matrixF32, setBackend } from '../src/tensor/index.js';
import { rand } from './models.js';

function opt(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}
const be = await createWasmBackend({ threads: Number(opt('threads', '1')) });
setBackend(be);
const REPS = Number(opt('reps', '20'));
const shapes: [number, number][] = [
  [2304, 768],
  [768, 3072],
  [3072, 768],
  [50257, 768],
  [32000, 288],
  [768, 288],
];
for (const [n, k] of shapes) {
  const w = matrixF32(n, k, rand(n * k, 0.05));
  const line: string[] = [];
  let one = 0;
  for (const rows of opt('rows', '1,2,3,4,8').split(',').map(Number)) {
    const x = rand(rows * k, 1);
    const out = new Float32Array(rows * n);
    // best of REPS by wall time, and the mean process CPU time (robust on a loaded machine, 1 thread)
    let best = Infinity;
    const c0 = process.cpuUsage();
    for (let r = 0; r < REPS; r++) {
      const t0 = performance.now();
      be.matmul(out, x, w, null, rows);
      best = Math.min(best, performance.now() - t0);
    }
    const cpu = process.cpuUsage(c0);
    const cpuMs = (cpu.user + cpu.system) / 1000 / REPS;
    if (rows === 1) one = best;
    line.push(`${rows}: ${best.toFixed(2)} ms (${(best / one).toFixed(2)}×) cpu ${cpuMs.toFixed(2)}`);
  }
  console.log(`${n}x${k}`.padEnd(10), line.join('  '));
}
be.close();
