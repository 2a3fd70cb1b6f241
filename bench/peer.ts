// The peer: llama.cpp through node-llama-cpp (v3), imported only when present — it is not a dependency of
// glasslm (its optional CUDA packages weigh hundreds of MB). Measures a GGUF file as llama-bench does:
// pp = N tokens in one batch from an empty KV cache with the last token's logits (llama.cpp computes only
// the rows it outputs in the last layer, as in llama-bench); tg = N tokens one at a time from an empty
// cache, each with its logits (a greedy pick of the next token in native code, replaced by our fixed token).
// For bench/serve.ts, continuous batching's counterpart: one context of N sequences, N greedy generations
// at once (llama.cpp evaluates every sequence's next token in one batch), with each token's arrival time.
import { readFileSync } from 'node:fs';

export const PEER_HOWTO =
  'llama.cpp peer absent: `npm i --no-save node-llama-cpp` to compare (prebuilt generic x86-64 binary); ' +
  'for a native build of its llama.cpp, then `npx --no node-llama-cpp source download --gpu false` (~8 min on 2 cores)';

// The few parts of node-llama-cpp's API used here (typed locally: the package may be absent).
type Token = number;
interface NlcSequence {
  clearHistory(): Promise<void>;
  controlledEvaluate(
    input: Array<Token | [Token, { generateNext?: { token?: boolean } }]>,
  ): Promise<unknown[]>;
  evaluate(
    tokens: Token[],
    options?: { temperature?: number; topP?: number; seed?: number; yieldEogToken?: boolean },
  ): AsyncGenerator<Token, void, void | Token | Token[]>;
}
interface NlcContext {
  readonly flashAttention: 'auto' | boolean;
  readonly batchSize: number;
  /** The next of the context's sequences (throws once all are taken). */
  getSequence(): NlcSequence;
  dispose(): Promise<void>;
}
interface NlcModel {
  createContext(options: {
    contextSize: number;
    batchSize: number;
    sequences: number;
    threads: { ideal: number; min: number };
  }): Promise<NlcContext>;
  dispose(): Promise<void>;
}
/** node-llama-cpp's Llama, typed by the model kind a caller uses (generation here, embeddings in embed-peer). */
export interface NlcLlama<M = NlcModel> {
  readonly buildType: 'localBuild' | 'prebuilt';
  readonly llamaCppRelease: { repo: string; release: string };
  readonly systemInfo: string;
  loadModel(options: { modelPath: string; gpuLayers: number }): Promise<M>;
  dispose(): Promise<void>;
}
interface NodeLlamaCpp<M> {
  getLlama(options: Record<string, unknown>): Promise<NlcLlama<M>>;
}

export interface PeerInfo {
  engine: 'llama.cpp';
  via: string;
  /** "native": built on this machine from the package's bundled llama.cpp; "prebuilt": its generic x86-64 binary. */
  build: 'native' | 'prebuilt';
  llamaCpp: string;
  systemInfo: string;
  /** Why the native build was not used, when it was not. */
  nativeUnavailable?: string;
}

export interface Peer {
  info: PeerInfo;
  /** Loads a GGUF file; throws with llama.cpp's own error lines when it refuses it. */
  load(path: string): Promise<PeerModel>;
  close(): Promise<void>;
}

/** How the concurrent generations choose their tokens: temperature 0 is greedy; top-p 1 keeps every token. */
export interface Sampling {
  temperature: number;
  topP: number;
}
export const GREEDY: Sampling = { temperature: 0, topP: 1 };

/** One generation of a concurrent run: when it started and when each token arrived (performance.now()). */
export interface StreamTimes {
  start: number;
  tokens: number[];
}

export interface PeerModel {
  /** Prefill tokens/s: best of `reps` one-batch evaluations of `ids` from an empty cache. */
  prefill(ids: number[], threads: number, reps: number): Promise<number>;
  /** Decode tokens/s: `ids` one at a time from an empty cache. */
  decode(ids: number[], threads: number): Promise<number>;
  /** Greedy continuation of `prompt`, n tokens (to check both engines run the same model). */
  greedy(prompt: number[], n: number, threads: number): Promise<number[]>;
  /**
   * Greedy generations of n tokens from each prompt at once, one sequence each of one context (made once
   * per thread count and number of prompts): llama.cpp batches their pending tokens into one evaluation.
   */
  concurrent(prompts: number[][], n: number, threads: number, sampling?: Sampling): Promise<StreamTimes[]>;
  dispose(): Promise<void>;
}

function packageVersion(): string {
  try {
    const url = new URL('../node_modules/node-llama-cpp/package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

/**
 * node-llama-cpp when installed, else null (after printing how to get it). Takes the native build when one
 * was made (`usePrebuiltBinaries: false`), else the prebuilt binary; never starts a build or a download.
 * `log` keeps llama.cpp's last 50 log lines (for loadOrExplain).
 */
export async function openLlamaCpp<M>(): Promise<{
  llama: NlcLlama<M>;
  info: PeerInfo;
  log: string[];
} | null> {
  const spec = 'node-llama-cpp';
  let mod: NodeLlamaCpp<M>;
  try {
    mod = (await import(spec)) as NodeLlamaCpp<M>;
  } catch {
    console.error(PEER_HOWTO);
    return null;
  }
  const log: string[] = [];
  const common = {
    gpu: false,
    build: 'never', // never compile here: a native build is made beforehand, on purpose
    skipDownload: true,
    progressLogs: false,
    logLevel: 'warn',
    logger: (_level: string, message: string) => {
      log.push(message.trimEnd());
      if (log.length > 50) log.shift();
    },
  };
  let llama: NlcLlama<M>;
  let nativeUnavailable: string | undefined;
  try {
    llama = await mod.getLlama({ ...common, usePrebuiltBinaries: false });
  } catch (e) {
    nativeUnavailable = `${(e as Error).constructor.name}: no native build (npx --no node-llama-cpp source download --gpu false)`;
    llama = await mod.getLlama(common);
  }
  const info: PeerInfo = {
    engine: 'llama.cpp',
    via: `node-llama-cpp ${packageVersion()}`,
    build: llama.buildType === 'localBuild' ? 'native' : 'prebuilt',
    llamaCpp: `${llama.llamaCppRelease.repo}@${llama.llamaCppRelease.release}`,
    systemInfo: llama.systemInfo.trim(),
    nativeUnavailable,
  };
  return { llama, info, log };
}

/** Loads a GGUF file; when llama.cpp refuses it, throws with llama.cpp's own reason from its log. */
export async function loadOrExplain<M>(llama: NlcLlama<M>, path: string, log: string[]): Promise<M> {
  log.length = 0;
  try {
    return await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  } catch (e) {
    // llama.cpp's own reason (e.g. "tensor '…' … not a multiple of block size"), else its last errors
    const errors = log.filter((l) => /error|fail|invalid|not a multiple|unknown|missing/i.test(l));
    const reason = errors.filter((l) => /tensor '|not a multiple|unknown|missing/i.test(l));
    const lines = reason.length ? reason : errors.slice(-3);
    throw new Error(`${(e as Error).message}${lines.length ? `: ${lines.join(' | ')}` : ''}`, {
      cause: e,
    });
  }
}

export async function openPeer(contextSize: number, batchSize: number): Promise<Peer | null> {
  const opened = await openLlamaCpp<NlcModel>();
  if (!opened) return null;
  const { llama, info, log } = opened;
  return {
    info,
    async load(path) {
      const model = await loadOrExplain(llama, path, log);
      const contexts = new Map<string, { ctx: NlcContext; seqs: NlcSequence[] }>();
      const sequences = async (threads: number, count: number) => {
        let c = contexts.get(`${threads}/${count}`);
        if (!c) {
          // One context per thread count (threads is fixed at creation; min = ideal: no fewer threads) and
          // number of sequences; contextSize is each sequence's.
          const ctx = await model.createContext({
            contextSize,
            batchSize,
            sequences: count,
            threads: { ideal: threads, min: threads },
          });
          c = { ctx, seqs: Array.from({ length: count }, () => ctx.getSequence()) };
          contexts.set(`${threads}/${count}`, c);
          for (const seq of c.seqs) {
            await seq.controlledEvaluate([1, 2, 3, [4, { generateNext: { token: true } }]]); // warm-up
            await seq.clearHistory();
          }
        }
        return c.seqs;
      };
      const sequence = async (threads: number) => (await sequences(threads, 1))[0];
      return {
        async prefill(ids, threads, reps) {
          const seq = await sequence(threads);
          const input: Array<Token | [Token, { generateNext: { token: boolean } }]> = ids.slice(0, -1);
          input.push([ids[ids.length - 1], { generateNext: { token: true } }]);
          let best = Infinity;
          for (let r = 0; r < reps; r++) {
            await seq.clearHistory();
            const t0 = performance.now();
            await seq.controlledEvaluate(input);
            best = Math.min(best, performance.now() - t0);
          }
          await seq.clearHistory();
          return (ids.length / best) * 1000;
        },
        async decode(ids, threads) {
          const seq = await sequence(threads);
          await seq.clearHistory();
          const gen = seq.evaluate([ids[0]], { temperature: 0, yieldEogToken: true });
          const t0 = performance.now();
          await gen.next();
          for (let i = 1; i < ids.length; i++) await gen.next(ids[i]);
          const ms = performance.now() - t0;
          await gen.return();
          await seq.clearHistory();
          return (ids.length / ms) * 1000;
        },
        async greedy(prompt, n, threads) {
          const seq = await sequence(threads);
          await seq.clearHistory();
          const out: number[] = [];
          for await (const t of seq.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
            out.push(t);
            if (out.length >= n) break;
          }
          await seq.clearHistory();
          return out;
        },
        async concurrent(prompts, n, threads, sampling = GREEDY) {
          const seqs = await sequences(threads, prompts.length);
          const runs = await Promise.all(
            prompts.map(async (prompt, i) => {
              const seq = seqs[i];
              const run: StreamTimes = { start: performance.now(), tokens: [] };
              const how = {
                temperature: sampling.temperature,
                topP: sampling.topP,
                seed: i + 1,
                yieldEogToken: true,
              };
              for await (const _ of seq.evaluate(prompt, how)) {
                run.tokens.push(performance.now());
                if (run.tokens.length >= n) break;
              }
              return run;
            }),
          );
          for (const seq of seqs) await seq.clearHistory();
          return runs;
        },
        async dispose() {
          for (const c of contexts.values()) await c.ctx.dispose();
          await model.dispose();
        },
      };
    },
    close: () => llama.dispose(),
  };
}
