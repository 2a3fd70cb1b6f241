// word2vec training on worker_threads (Node): the matrices, corpus and tables live in SharedArrayBuffers;
// each worker runs trainShard (train.ts) over its own contiguous shard and updates the shared matrices
// without locks (Hogwild, as word2vec.c's pthreads and gensim's threads do). The caller's thread only
// watches the shared progress counters and can ask the workers to stop (Ctrl-C: they return at their
// next 10 000-word mark and the vectors so far are kept).
import { Worker } from 'node:worker_threads';
import { defaultOptions, prepare, shardBounds, shardJob, trainShard, wordVectors } from './train.js';
import type { Word2VecOptions } from './train.js';
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

/** The worker: trainShard's own source text, run on its job (the typed arrays share the caller's memory). */
const WORKER = `const { workerData, parentPort } = require('node:worker_threads');
(${trainShard.toString()})(workerData);
parentPort.postMessage('done');`;

/**
 * Trains with `threads` workers; `onProgress` is called about every `everyMs`; the returned `stop` asks
 * the workers to finish early (the promise then resolves with the vectors so far).
 */
export function trainWord2VecThreads(
  text: string,
  options: Partial<Word2VecOptions> & { threads?: number },
  onProgress?: (p: TrainProgress) => void,
  everyMs = 250,
): { done: Promise<TrainRun>; stop: () => void } {
  const o = defaultOptions(options);
  const threads = Math.max(1, options.threads ?? 1);
  const p = prepare(text, o, true);
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
  const workers = Array.from({ length: threads }, (_, w) => {
    const job = shardJob(p, w, bounds[w]!, bounds[w + 1]!, progress, stopFlag);
    return new Worker(WORKER, { eval: true, workerData: job });
  });
  const timer = onProgress ? setInterval(() => onProgress(report()), everyMs) : undefined;
  const done = Promise.all(
    workers.map(
      (wk) =>
        new Promise<void>((resolve, reject) => {
          wk.once('error', reject);
          wk.once('exit', () => resolve());
        }),
    ),
  ).then(() => {
    if (timer) clearInterval(timer);
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
  });
  return { done, stop: () => Atomics.store(stopFlag, 0, 1) };
}
