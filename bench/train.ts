// Training throughput: tokens/s of training a Decoder (forward + backward + clip + AdamW) on a GPT-2 with random
// tokens and a fixed seed; the WASM backend's kernels on --threads n (default: every core), or the plain
// TypeScript ones with --threads 0. Where PyTorch can be imported (Debian's python3-torch), the same config is then
// trained by bench/train_torch.py (nanoGPT-style, float32, CPU, torch.set_num_threads(same threads)) in the
// same run, and our/PyTorch is printed. Writes bench/results/train-<time>.json (`torch: null` without it).
//   npx tsx bench/train.ts [--config small|10m] [--steps N] [--batch B] [--context T] [--layers L]
//     [--heads H] [--dim D] [--vocab V] [--threads n] [--no-torch]
// Configs: small = 4 layers, 4 heads, dim 128, context 256, vocab 2048 (~1.1M parameters);
//          10m = nanoGPT's "baby GPT" (6 layers, 6 heads, dim 384, context 256), vocab 2048 (~11.5M).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Rng } from '../src/generate/rng.js';
import { createWasmBackend, setBackend } from '../src/tensor/index.js';
import { createGpt2 } from '../src/train/init.js';
import { Trainer } from '../src/train/trainer.js';

const CONFIGS = {
  small: { layers: 4, heads: 4, dim: 128, context: 256, vocab: 2048 },
  '10m': { layers: 6, heads: 6, dim: 384, context: 256, vocab: 2048 },
} as const;

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'small' },
    steps: { type: 'string', default: '5' },
    batch: { type: 'string', default: '8' },
    context: { type: 'string' },
    layers: { type: 'string' },
    heads: { type: 'string' },
    dim: { type: 'string' },
    vocab: { type: 'string' },
    threads: { type: 'string', default: String(cpus().length) },
    'no-torch': { type: 'boolean', default: false },
  },
});
const preset = CONFIGS[values.config as keyof typeof CONFIGS];
if (!preset) throw new Error(`--config ${values.config}: expected one of ${Object.keys(CONFIGS).join(', ')}`);
// --threads n ≥ 1 (default: the number of cores): the WASM backend's kernels on n threads; 0: the plain
// TypeScript kernels.
const threads = Number(values.threads);
if (threads > 0) setBackend(await createWasmBackend({ threads }));
const steps = Number(values.steps);
const batch = Number(values.batch);
const T = Number(values.context ?? preset.context);
const shape = {
  nLayers: Number(values.layers ?? preset.layers),
  nHeads: Number(values.heads ?? preset.heads),
  dim: Number(values.dim ?? preset.dim),
  contextLength: T,
  vocabSize: Number(values.vocab ?? preset.vocab),
};
// The optimisation settings, shared with the PyTorch run.
const optim = {
  lr: 3e-4,
  minLr: 3e-5,
  warmupSteps: 10,
  totalSteps: 1000,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  gradClip: 1,
  seed: 1,
};
const { decoder } = await createGpt2(shape, optim.seed);
const rng = new Rng(2);
const ids = new Uint16Array(200_000).map(() => Math.floor(rng.next() * shape.vocabSize));
const trainer = Trainer.nextToken(
  decoder,
  { train: ids, val: ids.subarray(0, 10_000) },
  {
    batch,
    seqLen: T,
    steps: optim.totalSteps,
    lr: optim.lr,
    minLr: optim.minLr,
    warmupSteps: optim.warmupSteps,
    weightDecay: optim.weightDecay,
    beta1: optim.beta1,
    beta2: optim.beta2,
    gradClip: optim.gradClip,
    seed: optim.seed,
    evalBatches: 1,
  },
);
console.log(
  `config ${values.config}: ${shape.nLayers} layers, ${shape.nHeads} heads, dim ${shape.dim}, context ${T}, ` +
    `vocab ${shape.vocabSize}; ${trainer.params.numParams.toLocaleString('en-US')} parameters; batch ${batch} ` +
    `(${batch * T} tokens/step)`,
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
const ours = {
  kernels: threads > 0 ? `wasm, ${threads} thread(s)` : 'TypeScript (reference backend)',
  tokensPerSecond: Math.round(tokens / seconds),
  secondsPerStep: seconds / steps,
  // On a busy machine wall time includes waiting for a core; CPU time does not.
  tokensPerCpuSecond: Math.round(tokens / cpuSeconds),
};
console.log(
  `glasslm: ${ours.tokensPerSecond} tokens/s (${ours.tokensPerCpuSecond} per CPU second), ${ours.kernels}`,
);

/** PyTorch's run of the same config, or null (with the reason printed) where torch cannot be imported. */
function runTorch(): Record<string, unknown> | null {
  if (values['no-torch']) {
    console.log('PyTorch: skipped (--no-torch)');
    return null;
  }
  // `python3` first (the PATH's), then Debian's own interpreter, which is where python3-torch installs.
  const candidates = [...new Set([process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean))];
  const python = candidates.find(
    (p) => spawnSync(p as string, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0,
  );
  if (!python) {
    console.log(
      'PyTorch: not installed (no `import torch` in python3; on Debian: apt-get install python3-torch) — torch: null',
    );
    return null;
  }
  const script = fileURLToPath(new URL('./train_torch.py', import.meta.url));
  const args = [
    script,
    ...['--layers', shape.nLayers, '--heads', shape.nHeads, '--dim', shape.dim, '--context', T],
    ...['--vocab', shape.vocabSize, '--batch', batch, '--steps', steps, '--threads', Math.max(1, threads)],
    ...['--lr', optim.lr, '--min-lr', optim.minLr, '--warmup', optim.warmupSteps],
    ...['--total-steps', optim.totalSteps, '--weight-decay', optim.weightDecay],
    ...['--beta1', optim.beta1, '--beta2', optim.beta2, '--grad-clip', optim.gradClip, '--seed', optim.seed],
  ].map(String);
  console.log(`PyTorch (${python}): the same config, ${Math.max(1, threads)} thread(s)`);
  const r = spawnSync(python as string, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0) {
    console.log(`PyTorch: bench/train_torch.py failed (status ${r.status}) — torch: null`);
    return null;
  }
  return { python, ...(JSON.parse(last) as Record<string, unknown>) };
}
const torch = runTorch();
let ratio: number | null = null;
if (torch) {
  ratio = ours.tokensPerSecond / (torch.tokensPerSecond as number);
  const cpuRatio = ours.tokensPerCpuSecond / (torch.tokensPerCpuSecond as number);
  if (torch.params !== trainer.params.numParams) {
    console.log(`warning: PyTorch's model has ${torch.params} parameters, ours ${trainer.params.numParams}`);
  }
  const blas = (torch.blas as string[]).filter((b) => /blas/i.test(b));
  console.log(
    `PyTorch ${torch.torch}: ${torch.tokensPerSecond} tokens/s (${torch.tokensPerCpuSecond} per CPU second), ` +
      `BLAS ${blas.join(', ') || 'built in'}`,
  );
  if (blas.some((b) => b.includes('/blas/libblas.so'))) {
    console.log(
      "note: PyTorch's matmuls run on Debian's reference BLAS (libblas3); with libopenblas0 installed they would be faster",
    );
  }
  console.log(
    `our/PyTorch: ${ratio.toFixed(2)}x tokens/s, ${cpuRatio.toFixed(2)}x tokens per CPU second (goal: >= 0.5x)`,
  );
}

const result = {
  bench: 'train',
  config: { name: values.config, ...shape, batch, params: trainer.params.numParams, optim },
  kernels: ours.kernels,
  steps,
  tokensPerSecond: ours.tokensPerSecond,
  secondsPerStep: ours.secondsPerStep,
  tokensPerCpuSecond: ours.tokensPerCpuSecond,
  torch,
  ratio,
  node: process.version,
  cpu: cpus()[0]?.model,
  date: new Date().toISOString(),
};
console.log(JSON.stringify(result, null, 2));
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const stamp = result.date.replace(/[:.]/g, '-');
writeFileSync(
  new URL(`./results/train-${stamp}.json`, import.meta.url),
  JSON.stringify(result, null, 2) + '\n',
);
process.exit(0); // with --threads > 1 the worker threads would keep the process alive
