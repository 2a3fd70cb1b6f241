// Training throughput: tokens/s of TrainableGpt (forward + backward + AdamW) on a ~1M-parameter GPT-2
// (4 layers, 4 heads, dim 128, context 256, vocab 2048), random tokens; the plain TypeScript kernels, or
// with --threads n the WASM backend's matmul for the full products. Writes bench/results/train-<time>.json.
//   npx tsx bench/train.ts [--steps N] [--batch B] [--context T] [--threads n]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Rng } from '../src/generate/rng.js';
import { createWasmBackend, setBackend } from '../src/tensor/index.js';
import { createGpt2 } from '../src/train/init.js';
import { TrainableGpt } from '../src/train/model.js';
import { Trainer } from '../src/train/trainer.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '5' },
    batch: { type: 'string', default: '8' },
    context: { type: 'string', default: '256' },
    layers: { type: 'string', default: '4' },
    dim: { type: 'string', default: '128' },
    vocab: { type: 'string', default: '2048' },
    threads: { type: 'string', default: '0' },
  },
});
// --threads 0: the plain TypeScript kernels (the default); n ≥ 1: products on the WASM backend, n threads.
const threads = Number(values.threads);
if (threads > 0) setBackend(await createWasmBackend({ threads }));
const steps = Number(values.steps);
const batch = Number(values.batch);
const T = Number(values.context);
const shape = {
  nLayers: Number(values.layers),
  nHeads: 4,
  dim: Number(values.dim),
  contextLength: T,
  vocabSize: Number(values.vocab),
};
const { decoder } = await createGpt2(shape, 1);
const model = new TrainableGpt(decoder);
const rng = new Rng(2);
const ids = new Uint16Array(200_000).map(() => Math.floor(rng.next() * shape.vocabSize));
const trainer = new Trainer(
  model,
  { train: ids, val: ids.subarray(0, 10_000) },
  {
    batch,
    seqLen: T,
    steps: 1000,
    lr: 3e-4,
    warmupSteps: 10,
    weightDecay: 0.1,
    gradClip: 1,
    seed: 1,
    evalBatches: 1,
  },
);
trainer.trainStep(); // warm-up (JIT)
let tokens = 0;
let seconds = 0;
let cpuSeconds = 0;
for (let s = 0; s < steps; s++) {
  const c0 = process.cpuUsage();
  const r = trainer.trainStep();
  const c = process.cpuUsage(c0);
  cpuSeconds += (c.user + c.system) / 1e6;
  tokens += r.tokens;
  seconds += r.seconds;
  console.log(
    `step ${r.step}: loss ${r.loss.toFixed(4)}, ${r.seconds.toFixed(2)} s, ${(r.tokens / r.seconds).toFixed(0)} tokens/s`,
  );
}
const result = {
  bench: 'train',
  config: { ...shape, batch, params: model.numParams },
  kernels: threads > 0 ? `wasm, ${threads} thread(s)` : 'TypeScript (reference backend)',
  steps,
  tokensPerSecond: Math.round(tokens / seconds),
  secondsPerStep: seconds / steps,
  // On a busy machine wall time includes waiting for a core; CPU time does not.
  tokensPerCpuSecond: Math.round(tokens / cpuSeconds),
  node: process.version,
  cpu: cpus()[0]?.model,
  date: new Date().toISOString(),
};
console.log(JSON.stringify(result, null, 2));
if (threads > 1) process.exit(0); // the worker threads would keep the process alive
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const stamp = result.date.replace(/[:.]/g, '-');
writeFileSync(
  new URL(`./results/train-${stamp}.json`, import.meta.url),
  JSON.stringify(result, null, 2) + '\n',
);
