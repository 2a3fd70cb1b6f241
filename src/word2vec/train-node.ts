// word2vec training on worker_threads (Node): the matrices, corpus and tables live in SharedArrayBuffers;
// each worker runs trainShard (train.ts) over its own contiguous shard and updates the shared matrices
// without locks (Hogwild, as word2vec.c's pthreads and gensim's threads do) — on small models through a
// replica of its own, folded into the shared matrices every 10 000 words (REPLICA_MAX_BYTES: rows that
// both cores write in turn cost more than the training itself). The caller's thread only
// watches the shared progress counters and can ask the workers to stop (Ctrl-C: they return at their
// next 10 000-word mark and the vectors so far are kept).
import { Worker } from 'node:worker_threads';
import { relaxedSimdAvailable } from '../tensor/wasm/index.js';
import { readKernels } from '../tensor/wasm/node.js';
import { defaultOptions, prepare, shardBounds, shardJob, trainShard, wordVectors } from './train.js';
import { MAX_SENTENCE } from './vocab.js';
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
  x.w2vConfigure(...job.configure);
  job.wasm = { sent: job.sent, w2vSentence: x.w2vSentence, w2vTakeLoss: x.w2vTakeLoss, w2vTakeTerms: x.w2vTakeTerms };
  job.wasm.merge = (${replicaMerge.toString()})(x.w2vMerge, job.memory, job);
  job.wasm.mergeEvery = job.mergeEvery;
}
(${trainShard.toString()})(job);
parentPort.postMessage('done');`;

export interface WasmPlan {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /**
   * Per worker: w2vConfigure's arguments, the byte offset of its sentence buffer, and where it trains a
   * replica: w2vMerge's arguments per matrix (shared, replica, snapshot, floats; none: it trains the
   * shared matrices in place) and the merges' lock word.
   */
  workers: Array<{ configure: number[]; sent: number; merges: number[][]; lock: number }>;
}

/**
 * Most bytes of W, C and H together for which each of several workers trains a replica. Hogwild's shared
 * rows cost most where they are few: on a 5 000-word vocabulary (the KJV) two workers writing the same
 * rows spent 2.2× the CPU time of one for the same words (every line they touch moves between the cores),
 * so two threads ran slower than one. A replica per worker, folded into the shared matrices every 10 000
 * words (train.ts), keeps the lines in each core's cache; it costs two copies of the matrices per worker,
 * hence the limit (beyond it, the rows are many and collide less).
 */
export const REPLICA_MAX_BYTES = 64 * 2 ** 20;

/**
 * Moves W, C and H, the negative-sampling table and the Huffman paths into a shared wasm memory (after the
 * kernels' static data, below 64 KiB) beside each worker's scratch (rows e and h, noise words, a sentence), so
 * that the kernels (assembly/word2vec.ts) run whole sentences on them; p's arrays become views of that
 * memory.
 */
export async function wasmPlan(
  p: Pick<Prepared, 'W' | 'C' | 'H' | 'table'> & Pick<ShardJob, 'tree'>,
  o: Pick<Word2VecOptions, 'dim' | 'window' | 'cbow' | 'negative' | 'hs'>,
  threads: number,
): Promise<WasmPlan> {
  // The relaxed-SIMD build (fused multiply-add) where this engine has it.
  const url = (await relaxedSimdAvailable())
    ? new URL('../tensor/wasm/kernels-shared-relaxed.wasm', import.meta.url)
    : new URL('../tensor/wasm/kernels-shared.wasm', import.meta.url);
  const module = await WebAssembly.compile(await readKernels(url));
  const at = (n: number) => (n + 15) & ~15;
  const row = at(o.dim * 4);
  const sentBytes = at(4 * (MAX_SENTENCE + 1));
  const { point, code, length } = p.tree;
  const W = 65536;
  const C = at(W + p.W.byteLength);
  const H = at(C + p.C.byteLength);
  const table = at(H + p.H.byteLength);
  const pointAt = at(table + p.table.byteLength);
  const codeAt = at(pointAt + point.byteLength);
  const lengthAt = at(codeAt + code.byteLength);
  const scratch = at(lengthAt + length.byteLength);
  const noise = at(4 * Math.max(1, o.negative));
  const lockAt = scratch;
  const matrices = [
    [W, p.W],
    [C, p.C],
    [H, p.H],
  ] as const;
  const modelBytes = p.W.byteLength + p.C.byteLength + p.H.byteLength;
  const replicas = threads > 1 && modelBytes <= REPLICA_MAX_BYTES;
  // each worker's scratch, and with replicas its copy of every matrix and a snapshot of it
  const replicaBytes = replicas ? 2 * matrices.reduce((b, [, m]) => b + at(m.byteLength), 0) : 0;
  const perWorker = 2 * row + noise + sentBytes + replicaBytes;
  const pages = Math.ceil((scratch + 16 + perWorker * threads) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const heapBase = (new WebAssembly.Instance(module, { env: { memory } }).exports.heapBase as () => number)();
  if (heapBase > W) throw new Error(`word2vec: the wasm kernels' static data ends at ${heapBase} > ${W}`);
  const view = <T extends Float32Array | Int32Array | Uint8Array>(off: number, like: T): T => {
    const v = new (like.constructor as new (b: ArrayBufferLike, o: number, n: number) => T)(
      memory.buffer,
      off,
      like.length,
    );
    v.set(like);
    return v;
  };
  p.W = view(W, p.W);
  p.C = view(C, p.C);
  p.H = view(H, p.H);
  p.table = view(table, p.table);
  p.tree = {
    ...p.tree,
    point: view(pointAt, point),
    code: view(codeAt, code),
    length: view(lengthAt, length),
  };
  const workers = Array.from({ length: threads }, (_, t) => {
    const e = scratch + 16 + t * perWorker;
    const sent = e + 2 * row + noise;
    // the matrices this worker trains: the shared ones, or its replicas (copies, each with a snapshot)
    let next = sent + sentBytes;
    const merges: number[][] = [];
    const own = matrices.map(([shared, m]) => {
      if (!replicas) return shared;
      const [l, snap] = [next, next + at(m.byteLength)];
      next = snap + at(m.byteLength);
      view(l, m);
      view(snap, m);
      if (m.length > 0) merges.push([shared, l, snap, m.length]);
      return l;
    });
    const configure = [...own, e, e + row, e + 2 * row, o.dim, o.window, +o.cbow, o.negative, +o.hs];
    configure.push(table, p.table.length, pointAt, codeAt, lengthAt, p.tree.maxDepth);
    return { configure, sent, merges, lock: lockAt };
  });
  return { module, memory, workers };
}

/**
 * A worker's merge (WasmKernels.merge) where it trains replicas, else undefined: its w2vMerge over each
 * matrix, one worker at a time (a lock word in the memory). Self-contained: the worker runs its source.
 */
function replicaMerge(
  w2vMerge: (s: number, l: number, p: number, n: number) => void,
  memory: WebAssembly.Memory,
  w: WasmPlan['workers'][number],
): (() => void) | undefined {
  if (w.merges.length === 0) return undefined;
  const lock = new Int32Array(memory.buffer, w.lock, 1);
  return () => {
    while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) Atomics.wait(lock, 0, 1);
    for (const [s, l, p, n] of w.merges) w2vMerge(s!, l!, p!, n!);
    Atomics.store(lock, 0, 0);
    Atomics.notify(lock, 0, 1);
  };
}

/** One thread's kernels on a plan's memory (the worker script does the same). */
export function wasmKernels(plan: WasmPlan, worker: number): WasmKernels {
  const x = new WebAssembly.Instance(plan.module, { env: { memory: plan.memory } })
    .exports as unknown as Omit<WasmKernels, 'sent' | 'merge'> & {
    w2vConfigure(...args: number[]): void;
    w2vMerge(s: number, l: number, p: number, n: number): void;
  };
  const w = plan.workers[worker]!;
  x.w2vConfigure(...w.configure);
  return {
    sent: w.sent,
    w2vSentence: x.w2vSentence,
    w2vTakeLoss: x.w2vTakeLoss,
    w2vTakeTerms: x.w2vTakeTerms,
    merge: replicaMerge(x.w2vMerge, plan.memory, w),
  };
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
  const plan = options.simd === false ? Promise.resolve(undefined) : wasmPlan(p, o, threads);
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
        // shardJob after wasmPlan: p's arrays are then views of the wasm memory
        const job: ShardJob & Partial<Omit<WasmPlan, 'workers'> & WasmPlan['workers'][number]> = shardJob(
          p,
          w,
          bounds[w]!,
          bounds[w + 1]!,
          progress,
          stopFlag,
        );
        if (wasm) {
          // a merge costs about as much as training on V words (it reads and writes every row): every
          // 10 000 words, or 2V where the vocabulary is bigger; a small shard at least 16 times an epoch
          const V = p.vocab.words.length;
          const mergeEvery = Math.min(Math.max(10000, 2 * V), Math.ceil((bounds[w + 1]! - bounds[w]!) / 16));
          Object.assign(job, { module: wasm.module, memory: wasm.memory, ...wasm.workers[w], mergeEvery });
        }
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
