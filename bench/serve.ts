// `npm run bench:serve`: the OpenAI API's continuous batching under load. For each model shape (random
// weights, bench/models.ts) a `glasslm serve` app runs on loopback with the wasm kernels; 1, 2, 4 and 8
// clients stream /v1/completions at once (greedy, or sampled with --temperature/--top-p; the same number
// of tokens each, different prompts), and this measures what a client sees: time to first token (TTFT),
// the gaps between tokens (inter-token latency, ITL) and the aggregate decode rate of all streams together. The clients run on a worker thread
// (their own event loop, as other processes' would be), not between the server's steps on its own.
// The peer, llama.cpp through node-llama-cpp when installed (bench/peer.ts; `peer: null` and the reason
// when not): the same weights as a GGUF file (bench/models.ts), one context of N sequences running N greedy
// generations at once (its own batching of every sequence's next token into one evaluation), in this
// process without HTTP; measured right after ours at each level, the same prompts and lengths.
// Writes bench/results/serve-<timestamp>.json (CPU model and SIMD flags included) and prints a table.
//
//   npm run bench:serve -- [--shapes gpt2-124m,stories15m] [--tokens 32] [--prompt 16] [--rounds 2]
//                          [--threads N] [--levels 1,2,4,8] [--no-peer] [--keep-gguf]
//                          [--temperature T --top-p P]   sampled streams (seed i + 1 for stream i; default greedy)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ModelConfig } from '../src/formats/hf-config.js';
import { LanguageModel } from '../src/models/model.js';
import { appState, startServer } from '../src/server/app.js';
import { createWasmBackend, setBackend } from '../src/tensor/index.js';
import { loadTokenizerFromVocabMerges } from '../src/tokenizers/load.js';
import { bundledGpt2TokenizerFiles } from '../src/cli/common.js';
import { machine } from './machine.js';
import { makeSubject, SHAPES, type ShapeName } from './models.js';
import { openPeer, PEER_HOWTO, type PeerModel, type Sampling, type StreamTimes } from './peer.js';

function opt(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}
const SHAPE_LIST = opt('shapes', 'gpt2-124m,stories15m').split(',') as ShapeName[];
const TOKENS = Number(opt('tokens', '32'));
const PROMPT = Number(opt('prompt', '16'));
const ROUNDS = Number(opt('rounds', '2'));
const THREADS = Number(opt('threads', String(Math.min(2, cpus().length))));
const LEVELS = opt('levels', '1,2,4,8').split(',').map(Number);
const NO_PEER = process.argv.includes('--no-peer');
const KEEP_GGUF = process.argv.includes('--keep-gguf');
const SAMPLING: Sampling = { temperature: Number(opt('temperature', '0')), topP: Number(opt('top-p', '1')) };
if (!(SAMPLING.temperature >= 0 && SAMPLING.topP > 0 && SAMPLING.topP <= 1)) {
  console.error('--temperature T (>= 0) and --top-p P (in (0, 1]) expected');
  process.exit(2);
}
for (const s of SHAPE_LIST) {
  if (!SHAPES.includes(s)) {
    console.error(`--shapes ${s}: expected some of ${SHAPES.join(', ')}`);
    process.exit(2);
  }
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const r1 = (x: number) => Math.round(x * 10) / 10;
/** tok/s at 4 streams ÷ at 1, aggregate (prefill included) or decode (null unless both were measured). */
const scaling = (levels: Level[], rate: 'aggregateTokPerS' | 'decodeTokPerS' = 'aggregateTokPerS') => {
  const one = levels.find((l) => l.concurrency === 1);
  const four = levels.find((l) => l.concurrency === 4);
  return one && four ? +(four[rate] / one[rate]).toFixed(2) : null;
};

/** One round of a level: `concurrency` streams started together at t0 (busyMs: the client thread's, ours only). */
interface Round {
  t0: number;
  runs: StreamTimes[];
  busyMs?: number;
}

/** A level's figures from its rounds (the same for glasslm and the peer). */
function summarize(c: number, rounds: Round[]) {
  const ttft: number[] = [];
  const itl: number[] = [];
  let tokens = 0;
  let decodeTokens = 0;
  let wall = 0;
  let decodeWall = 0;
  for (const { t0, runs } of rounds) {
    // the round's wall time: start → the last token of all (not the end of the responses)
    wall += Math.max(...runs.map((s) => s.tokens.at(-1) ?? t0)) - t0;
    for (const s of runs) {
      if (s.tokens.length === 0) continue;
      ttft.push(s.tokens[0] - s.start);
      for (let i = 1; i < s.tokens.length; i++) itl.push(s.tokens[i] - s.tokens[i - 1]);
      tokens += s.tokens.length;
      decodeTokens += s.tokens.length - 1;
    }
    // decode: from the first stream's first token to the last token of all
    const lastAll = Math.max(...runs.map((s) => s.tokens.at(-1) ?? t0));
    decodeWall += lastAll - Math.min(...runs.map((s) => s.tokens[0] ?? t0));
  }
  return {
    concurrency: c,
    streams: c * rounds.length,
    tokens,
    aggregateTokPerS: r1((tokens / wall) * 1000),
    decodeTokPerS: r1((decodeTokens / decodeWall) * 1000),
    ttftMs: { p50: r1(pct(ttft, 50)), p99: r1(pct(ttft, 99)) },
    itlMs: { p50: r1(pct(itl, 50)), p99: r1(pct(itl, 99)) },
  };
}
type Level = ReturnType<typeof summarize>;
const line = (who: string, row: Level) =>
  `${who} c=${row.concurrency}: ${row.aggregateTokPerS} tok/s aggregate (${row.decodeTokPerS} decode), ` +
  `TTFT p50 ${row.ttftMs.p50} ms p99 ${row.ttftMs.p99} ms, ITL p50 ${row.itlMs.p50} ms p99 ${row.itlMs.p99} ms`;

/**
 * The clients: a worker thread of their own (its own event loop, as clients in other processes would
 * be), so that reading and parsing the streams does not run between the server's batched steps on its
 * event loop. A round: `prompts.length` streamed greedy completions started at once; for each, when it
 * was sent and when each token event arrived (ms on the worker's clock, which also gives the round's t0).
 * They share the machine's cores with the server, so they read with node:http over a keep-alive agent:
 * with fetch the client thread was busy ~0.25–0.45 ms per token event (stories15M), with node:http
 * ~0.1–0.2 (clientUsPerToken in the results).
 */
const CLIENT = `
const { parentPort } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function stream(url, model, prompt, maxTokens, sampling, seed) {
  const start = performance.now();
  const how = { temperature: sampling.temperature, top_p: sampling.topP, seed };
  const body = JSON.stringify({ model, prompt, max_tokens: maxTokens, ...how, stream: true });
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const times = [];
      let buf = '';
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        res.on('data', (d) => (buf += d));
        res.on('end', () => reject(new Error('HTTP ' + res.statusCode + ': ' + buf)));
        return;
      }
      res.on('data', (d) => {
        const t = performance.now();
        buf += d;
        let at;
        while ((at = buf.indexOf('\\n\\n')) >= 0) {
          const ev = buf.slice(0, at);
          buf = buf.slice(at + 2);
          if (!ev.startsWith('data: {')) continue;
          const c = JSON.parse(ev.slice(6));
          // a token event: logprobs are off, so count events that are not the finish-only one
          if (c.choices[0] && c.choices[0].finish_reason === null) times.push(t);
        }
      });
      res.on('end', () => resolve({ start, tokens: times }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
parentPort.on('message', async ({ url, model, prompts, maxTokens, sampling }) => {
  try {
    const t0 = performance.now();
    const e0 = performance.eventLoopUtilization();
    const runs = await Promise.all(prompts.map((p, i) => stream(url, model, p, maxTokens, sampling, i + 1)));
    // the client thread's busy time (its event loop outside its idle wait): CPU taken from the server's cores
    const busyMs = performance.eventLoopUtilization(e0).active;
    parentPort.postMessage({ round: { t0, runs, busyMs } });
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.stack || e) });
  }
});
`;
const clients = new Worker(CLIENT, { eval: true });
/** One round of streams on the client thread. */
function clientRound(url: string, model: string, prompts: number[][]): Promise<Round> {
  return new Promise((resolve, reject) => {
    clients.once('message', (m: { round?: Round; error?: string }) =>
      m.round ? resolve(m.round) : reject(new Error(m.error)),
    );
    clients.postMessage({ url, model, prompts, maxTokens: TOKENS, sampling: SAMPLING });
  });
}

const wasm = await createWasmBackend({ threads: THREADS });
setBackend(wasm);
const files = bundledGpt2TokenizerFiles();
const tokenizer = loadTokenizerFromVocabMerges(
  JSON.parse(readFileSync(files.vocab, 'utf8')),
  readFileSync(files.merges, 'utf8'),
  'gpt2',
);

const peer = NO_PEER ? null : await openPeer(PROMPT + TOKENS + 16, 512);
const peerAbsent = NO_PEER ? '--no-peer' : peer ? null : PEER_HOWTO;
if (peer) console.log(`peer: llama.cpp ${peer.info.build} (${peer.info.via}, ${peer.info.llamaCpp})`);

const results = [];
for (const shape of SHAPE_LIST) {
  const subject = await makeSubject(shape, KEEP_GGUF);
  const decoder = await subject.decoder('f32');
  // prompts as token ids (the GPT-2 tokenizer only turns generated ids into text; for the 32000-token
  // Llama shapes its end-of-text id, 50256, is out of their vocabulary, so nothing stops a stream early)
  const model = new LanguageModel({
    config: { modelType: subject.arch } as unknown as ModelConfig,
    tokenizer,
    decoder,
    source: subject.name,
  });
  const server = await startServer(model, {
    webRoot: null,
    limits: { parallel: Math.max(...LEVELS), queue: 64, maxBytes: 16 * 2 ** 30 },
  });
  const url = `${server.url}v1/completions`;
  const vocab = Math.min(decoder.vocabSize, 32000);
  const prompt = (k: number) =>
    Array.from({ length: PROMPT }, (_, i) => (k * 7919 + i * 104729 + 13) % vocab);
  // warm-up (kernels, caches, the JIT, the thread chooser's first probes): one stream, four at once, one
  // again — a single one, as before, left the first measured round ~25% slower than the next ones
  const warmUp = [[prompt(999)], [0, 1, 2, 3].map((i) => prompt(990 + i)), [prompt(998)]];
  for (const prompts of warmUp) await clientRound(url, subject.name, prompts);
  // the peer on the same weights (a GGUF file of them), when present
  let peerModel: PeerModel | null = null;
  let peerError: string | null = null;
  if (peer) {
    try {
      peerModel = await peer.load((await subject.gguf('f32')).path);
      for (const prompts of warmUp) await peerModel.concurrent(prompts, TOKENS, THREADS, SAMPLING); // the same warm-up
    } catch (e) {
      peerError = `llama.cpp refused glasslm's f32 GGUF: ${(e as Error).message}`;
      console.log(peerError);
    }
  }
  const levels = [];
  const peerLevels: Level[] = [];
  const ratios = [];
  for (const c of LEVELS) {
    const batch0 = appState(server.app).batcher.stats.maxBatch;
    const rounds: Round[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const prompts = Array.from({ length: c }, (_, i) => prompt(round * 8 + i));
      rounds.push(await clientRound(url, subject.name, prompts));
    }
    const tokens = rounds.reduce((a, r) => a + r.runs.reduce((b, s) => b + s.tokens.length, 0), 0);
    const row = {
      ...summarize(c, rounds),
      largestBatch: Math.max(batch0, appState(server.app).batcher.stats.maxBatch),
      // what reading and parsing the streams cost the client thread, per token event
      clientUsPerToken: Math.round((rounds.reduce((a, r) => a + (r.busyMs ?? 0), 0) / tokens) * 1000),
    };
    levels.push(row);
    console.log(line(subject.name, row));
    if (!peerModel) continue;
    // the peer at the same level, right after: the same prompts, the same lengths
    const theirs: Round[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      const prompts = Array.from({ length: c }, (_, i) => prompt(round * 8 + i));
      const runs = await peerModel.concurrent(prompts, TOKENS, THREADS, SAMPLING);
      theirs.push({ t0, runs });
    }
    const peerRow = summarize(c, theirs);
    peerLevels.push(peerRow);
    console.log(line(`  llama.cpp ${subject.name}`, peerRow));
    const ratio = {
      concurrency: c,
      aggregate: +(row.aggregateTokPerS / peerRow.aggregateTokPerS).toFixed(2),
      decode: +(row.decodeTokPerS / peerRow.decodeTokPerS).toFixed(2),
    };
    ratios.push(ratio);
    console.log(`  ours/peer c=${c}: ${ratio.aggregate}× aggregate, ${ratio.decode}× decode`);
  }
  console.log(
    `${subject.name} 4 streams ÷ 1: ${scaling(levels)}× aggregate, ${scaling(levels, 'decodeTokPerS')}× decode`,
  );
  await peerModel?.dispose();
  await server.close();
  subject.cleanup();
  results.push({
    shape,
    name: subject.name,
    arch: subject.arch,
    vocab: subject.vocab,
    layers: subject.layers,
    dim: subject.dim,
    contextLength: subject.contextLength,
    randomWeights: subject.randomWeights,
    levels,
    /** 4 streams ÷ 1 stream: aggregate tok/s (prefill included), and decode tok/s (the target: ≥ 3). */
    scaling4: scaling(levels),
    decodeScaling4: scaling(levels, 'decodeTokPerS'),
    peerLevels: peerModel ? peerLevels : null,
    peerScaling4: peerModel ? scaling(peerLevels) : null,
    peerDecodeScaling4: peerModel ? scaling(peerLevels, 'decodeTokPerS') : null,
    peerError,
    ratios: peerModel ? ratios : null,
  });
}

await peer?.close();

const result = {
  date: new Date().toISOString(),
  command: `npm run bench:serve -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { ...machine(), loadAverage: loadavg().map((x) => +x.toFixed(2)) },
  // matmuls run on the pool or on the caller alone, whichever measured faster (src/tensor/wasm/adaptive.ts)
  threadChooser: wasm.chooser?.stats ?? null,
  kernels: { backend: wasm.name, threads: THREADS, relaxedSimd: wasm.relaxedSimd },
  settings: {
    promptTokens: PROMPT,
    maxTokens: TOKENS,
    rounds: ROUNDS,
    levels: LEVELS,
    greedy: SAMPLING.temperature === 0,
    temperature: SAMPLING.temperature,
    topP: SAMPLING.topP,
  },
  peer: peer ? peer.info : null,
  peerAbsent,
  notes: [
    'each level: `concurrency` clients stream /v1/completions at once, `rounds` times; every stream asks for maxTokens',
    'greedy unless settings.temperature > 0: then stream i samples with seed i + 1 (ours and the peer: temperature, top-p)',
    'the clients run on a worker thread of this process (their own event loop), the server on the main thread; ' +
      'they read the streams with node:http (fetch cost them ~2x the CPU, taken from the same two cores): ' +
      'clientUsPerToken is the client thread’s busy time per token event',
    'TTFT = request sent → first token event received; ITL = gaps between a stream’s token events',
    'aggregateTokPerS = tokens received by all streams ÷ wall time of the rounds (start → last token; prefill included)',
    'decodeTokPerS = tokens after each stream’s first ÷ (first first-token → last token), per round, summed',
    'random weights (bench/models.ts), f32, wasm kernels; prompts are token ids',
    'peer: llama.cpp (node-llama-cpp) on a GGUF of the same weights, one context with `concurrency` sequences, ' +
      'greedy generations started together in this process (no HTTP); its tokens are timed as they are yielded',
    'ratios: ours ÷ peer per concurrency (aggregate and decode tok/s)',
    'the machine is shared: loadAverage (1, 5, 15 min) at the end of the run; compare within one run',
  ],
  results,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const outFile = new URL(`./results/serve-${result.date.replace(/[:.]/g, '-')}.json`, import.meta.url);
writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${outFile.pathname}`);
process.exit(0);
