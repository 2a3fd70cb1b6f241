// word2vec training on worker_threads (Node): the matrices, corpus and tables live in SharedArrayBuffers;
// each worker runs trainShard (train.ts) over its own contiguous shard and updates the shared matrices
// without locks (Hogwild, as word2vec.c's pthreads and gensim's threads do). The caller's thread only
// watches the shared progress counters and can ask the workers to stop (Ctrl-C: they return at their
// next 10 000-word mark and the vectors so far are kept).
import { Worker } from 'node:worker_threads';
import { relaxedSimdAvailable } from '../tensor/wasm/index.js';
import { readKernels } from '../tensor/wasm/node.js';
import { defaultOptions, prepare, shardBounds, shardJob, trainShard, wordVectors } from './train.js';
import type { Prepared, ShardJob, WasmKernels, Word2VecOptions } from './train.js';
import type { WordVectors } from './vectors.js';

export interface TrainProgress {
  /** Words read so far (all workers, all epochs), of `planned`. */
  words: number;
  planned: number;
  /** Mean loss per target (−log σ) since the last report. */
  loss: number;
  alpha: number;
  seconds: number;
}

export interface TrainRun {
  vectors: WordVectors;
  /** Stopped early (stop() called) rather than finished. */
  stopped: boolean;
  words: number;
  seconds: number;
  /** Mean loss per target over the last reported stretch. */
  loss: number;
  vocabSize: number;
  corpusWords: number;
}

/**
 * The worker: trainShard's own source text, run on its job (the typed arrays share the caller's memory);
 * with the SIMD kernels it first instantiates them on the shared wasm memory that holds W, C and H.
 */
const WORKER = `const { workerData: job, parentPort } = require('node:worker_threads');
if (job.module) {
  const x = new WebAssembly.Instance(job.module, { env: { memory: job.memory } }).exports;
  job.wasm = { ...job.offsets, w2vTarget: x.w2vTarget, w2vAxpy: x.w2vAxpy, w2vNegative: x.w2vNegative };
}
(${trainShard.toString()})(job);
parentPort.postMessage('done');`;

export interface WasmPlan {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Byte offsets of W, C, H and each worker's scratch rows e, h. */
  offsets: Array<{ W: number; C: number; H: number; e: number; h: number; targets: number }>;
}

/**
 * Moves W, C and H into a shared wasm memory (after the kernels' static data, below 64 KiB) beside three
 * scratch rows per worker (e, h, the negative-sampling targets), so that the SIMD kernels (assembly/word2vec.ts) can work on them; p's
 * matrices become views of that memory.
 */
export async function wasmPlan(
  p: Pick<Prepared, 'W' | 'C' | 'H'>,
  dim: number,
  negative: number,
  threads: number,
): Promise<WasmPlan> {
  // The relaxed-SIMD build (fused multiply-add) where this engine has it.
  const url = (await relaxedSimdAvailable())
    ? new URL('../tensor/wasm/kernels-shared-relaxed.wasm', import.meta.url)
    : new URL('../tensor/wasm/kernels-shared.wasm', import.meta.url);
  const module = await WebAssembly.compile(await readKernels(url));
  const row = (Math.max(dim, negative + 1) * 4 + 15) & ~15;
  const at = (n: number) => (n + 15) & ~15;
  const W = 65536;
  const C = at(W + p.W.byteLength);
  const H = at(C + p.C.byteLength);
  const scratch = at(H + p.H.byteLength);
  const pages = Math.ceil((scratch + 3 * row * threads) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const heapBase = (new WebAssembly.Instance(module, { env: { memory } }).exports.heapBase as () => number)();
  if (heapBase > W) throw new Error(`word2vec: the wasm kernels' static data ends at ${heapBase} > ${W}`);
  const view = (off: number, like: Float32Array) => {
    const v = new Float32Array(memory.buffer, off, like.length);
    v.set(like);
    return v;
  };
  p.W = view(W, p.W);
  p.C = view(C, p.C);
  p.H = view(H, p.H);
  const offsets = Array.from({ length: threads }, (_, t) => ({
    W,
    C,
    H,
    e: scratch + 3 * t * row,
    h: scratch + (3 * t + 1) * row,
    targets: scratch + (3 * t + 2) * row,
  }));
  return { module, memory, offsets };
}

/** One thread's kernels on a plan's memory (the worker script does the same). */
export function wasmKernels(plan: WasmPlan, worker: number): WasmKernels {
  const x = new WebAssembly.Instance(plan.module, { env: { memory: plan.memory } })
    .exports as unknown as Omit<WasmKernels, keyof WasmPlan['offsets'][number]>;
  return { ...plan.offsets[worker]!, w2vTarget: x.w2vTarget, w2vAxpy: x.w2vAxpy, w2vNegative: x.w2vNegative };
}

/**
 * Trains with `threads` workers; `onProgress` is called about every `everyMs`; the returned `stop` asks
 * the workers to finish early (the promise then resolves with the vectors so far).
 */
export function trainWord2VecThreads(
  text: string,
  options: Partial<Word2VecOptions> & { threads?: number; simd?: boolean },
  onProgress?: (p: TrainProgress) => void,
  everyMs = 250,
): { done: Promise<TrainRun>; stop: () => void } {
  const o = defaultOptions(options);
  const threads = Math.max(1, options.threads ?? 1);
  const p = prepare(text, o, true);
  const plan = options.simd === false ? Promise.resolve(undefined) : wasmPlan(p, o.dim, o.negative, threads);
  const progress = new Float64Array(new SharedArrayBuffer(8 * 4 * threads));
  const stopFlag = new Int32Array(new SharedArrayBuffer(4));
  const bounds = shardBounds(p.corpus, threads);
  const planned = o.epochs * p.vocab.total;
  const start = performance.now();
  let lastWords = 0;
  let lastLoss = 0;
  let lastTerms = 0;
  let loss = NaN;
  // Sums the workers' counters; the loss is the mean over what was added since the previous call.
  const report = (): TrainProgress => {
    let words = 0;
    let lossSum = 0;
    let terms = 0;
    let alpha = o.alpha;
    for (let w = 0; w < threads; w++) {
      words += progress[w * 4]!;
      lossSum += progress[w * 4 + 1]!;
      terms += progress[w * 4 + 2]!;
      if (progress[w * 4 + 3]! > 0) alpha = Math.min(alpha, progress[w * 4 + 3]!);
    }
    if (terms > lastTerms) loss = (lossSum - lastLoss) / (terms - lastTerms);
    lastWords = words;
    lastLoss = lossSum;
    lastTerms = terms;
    return { words, planned, loss, alpha, seconds: (performance.now() - start) / 1000 };
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  const done = plan
    .then((wasm) => {
      const workers = Array.from({ length: threads }, (_, w) => {
        const job: ShardJob & Partial<Omit<WasmPlan, 'offsets'>> & { offsets?: WasmPlan['offsets'][number] } =
          shardJob(p, w, bounds[w]!, bounds[w + 1]!, progress, stopFlag);
        if (wasm) Object.assign(job, { module: wasm.module, memory: wasm.memory, offsets: wasm.offsets[w] });
        return new Worker(WORKER, { eval: true, workerData: job });
      });
      if (onProgress) timer = setInterval(() => onProgress(report()), everyMs);
      return Promise.all(
        workers.map(
          (wk) =>
            new Promise<void>((resolve, reject) => {
              wk.once('error', reject);
              wk.once('exit', () => resolve());
            }),
        ),
      );
    })
    .then(() => {
      clearInterval(timer);
      const last = report();
      onProgress?.(last);
      return {
        vectors: wordVectors(p),
        stopped: stopFlag[0] !== 0,
        words: lastWords,
        seconds: last.seconds,
        loss: last.loss,
        vocabSize: p.vocab.words.length,
        corpusWords: p.vocab.total,
      };
    })
    .finally(() => clearInterval(timer));
  return { done, stop: () => Atomics.store(stopFlag, 0, 1) };
}
