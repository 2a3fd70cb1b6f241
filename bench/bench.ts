// `npm run bench`: speed of glasslm's backends against llama.cpp (the peer, through node-llama-cpp when
// installed) on the same weights, in one run. For f32 and q8_0 weights (--kinds: also the
// ggml 4–6-bit blocks q4_0, q4_k, q4_k_m, q5_k, q6_k): prefill tokens/s (pp: N tokens in
// one forward from an empty cache, logits of the last only) and decode tokens/s (tg: N tokens one at a time
// with the KV cache, from an empty cache), as llama-bench reports them; glasslm's reference and wasm
// backends, and llama.cpp, at 1 and --threads threads; our/peer ratios. Plus memory bandwidth, and decode
// speed as a fraction of bandwidth / weight bytes per token (the physical bound of a memory-bound decode).
// Models (--shape, see bench/models.ts): gpt2-124m (default; random weights of GPT-2 small's shapes),
// stories15m / stories110m (random weights of llama2.c's shapes), stories260k (the real model from
// ../shared). The peer reads a GGUF file written by glasslm's own GGUF writer from the same weights.
// Writes bench/results/<timestamp>.json and prints a table; then the encoder-decoder benchmark
// (bench/seq2seq.ts: a Marian-base shape, greedy and 4 beams; --no-seq2seq skips it).
//
//   npm run bench                                # gpt2-124m: reference, wasm and llama.cpp on 1 and 2 threads
//   npm run bench -- --pp512 --skip-reference    # pp512 as well (the issue's prefill target)
//   npm run bench -- --shape stories110m --tokens 64 --threads 4 --no-peer --keep-gguf
//   npm run bench -- --busy-neighbour            # with a busy-loop process on one core for the whole run
//   npm run bench -- --no-adaptive               # every matmul on the pool (no choice of pool vs caller alone)
// Also the wasm compute ceiling (bench/ceiling.ts: register-only f32 multiply-add GFLOP/s) and the prefill
// matmuls' GFLOP/s as a fraction of it, at each thread count; the JSON records the threads, the load
// average and whether the neighbour ran.
//   npm run bench -- --shape stories110m --kinds q4_0,q4_k_m,q6_k --skip-reference   # ggml blocks kept
// ONNX Runtime (bench/ort-peer.ts; --no-ort skips it): onnxruntime-web's wasm backend and onnxruntime-node on
// the same f32 GPT-2 weights (an ONNX graph glasslm writes), prefill only, ratios in `ortPeer`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { prefillMatmulRate, wasmCeiling } from './ceiling.js';
import { machine } from './machine.js';
import { startBusyNeighbour } from './neighbour.js';
import type { Decoder } from '../src/models/decoder.js';
import {
  backend,
  createWasmBackend,
  matrixF32,
  referenceBackend,
  setBackend,
  type Backend,
  type WasmBackend,
} from '../src/tensor/index.js';
import { decoderWeightBytes, KINDS, makeSubject, rand, SHAPES, type Kind, type ShapeName } from './models.js';
import { openPeer, type PeerModel } from './peer.js';
import { measureOrt, type OrtMeasurement } from './ort-peer.js';

// ---- options ------------------------------------------------------------------------------------------

function opt(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
function optStr(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const TOKENS = opt('tokens', 128);
const REF_PREFILL = opt('ref-prefill', 16);
const REF_DECODE = opt('ref-decode', 4);
const THREADS = opt('threads', Math.min(2, cpus().length));
const SKIP_REF = flag('skip-reference');
const PP512 = flag('pp512');
const NO_PEER = flag('no-peer');
const NO_ORT = flag('no-ort');
const KEEP_GGUF = flag('keep-gguf');
const BUSY_NEIGHBOUR = flag('busy-neighbour');
const NO_ADAPTIVE = flag('no-adaptive');
const SHAPE = optStr('shape', 'gpt2-124m').toLowerCase() as ShapeName;
/** Weight kinds to measure (the 4–6-bit GGUF kinds need a Llama shape: stories15m, stories110m). */
const WEIGHT_KINDS = optStr('kinds', 'f32,q8_0').split(',') as Kind[];
for (const k of WEIGHT_KINDS)
  if (!KINDS.includes(k)) {
    console.error(`--kinds ${k}: expected some of ${KINDS.join(', ')}`);
    process.exit(2);
  }
if (!SHAPES.includes(SHAPE)) {
  console.error(`--shape ${SHAPE}: expected one of ${SHAPES.join(', ')}`);
  process.exit(2);
}

// ---- measurements -------------------------------------------------------------------------------------

const now = () => performance.now();
let VOCAB = 50257;
const ids = (n: number) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % VOCAB);

/** Prefill: n tokens in one forward from an empty cache, logits of the last one. Best of `reps`. */
function prefill(dec: Decoder, n: number, reps: number): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const cache = dec.newCache();
    const t0 = now();
    dec.forward(ids(n), cache, true);
    best = Math.min(best, now() - t0);
    cache.release(); // as a server does when a request ends: the next cache reuses the memory
  }
  return (n / best) * 1000;
}

/** Decode: n tokens one by one from an empty cache, each row of logits into one array (as the step loop does). */
function decode(dec: Decoder, n: number): number {
  const cache = dec.newCache();
  const tok = ids(n);
  const row = new Float32Array(dec.vocabSize);
  const t0 = now();
  for (let i = 0; i < n; i++) dec.forward([tok[i]], cache, true, null, null, row);
  const tokS = (n / (now() - t0)) * 1000;
  cache.release();
  return tokS;
}

/** Greedy continuation of `prompt`, n tokens. */
function greedy(dec: Decoder, prompt: number[], n: number): number[] {
  const cache = dec.newCache();
  let logits = dec.forward(prompt, cache, true);
  const out: number[] = [];
  for (;;) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    out.push(best);
    if (out.length >= n) return out;
    logits = dec.forward([best], cache, true);
  }
}
const CHECK_PROMPT = 16;
const CHECK_TOKENS = 8;

interface Row {
  engine: 'glasslm' | 'llama.cpp';
  /** glasslm: 'reference' | 'wasm'; llama.cpp: 'native' | 'prebuilt' (which binary was measured). */
  backend: string;
  weights: Kind;
  threads: number;
  prefillTokens: number;
  prefillTokPerS: number;
  /** pp512 (with --pp512, where the context allows). */
  prefill512TokPerS?: number;
  decodeTokens: number;
  decodeTokPerS: number;
  /** Bytes of weight matrices one decode step reads, as this engine holds them. */
  weightMiBPerToken: number;
  /** decode tok/s ÷ (read bandwidth / weight bytes per token) */
  fractionOfBandwidthBound: number;
  activationBytesCopiedPerDecodeToken?: number;
}

/** Copy rate of Float32Array.set, and the SIMD read rate of linear memory on 1..THREADS threads. */
function bandwidth(wasm: WasmBackend): { copyGBs: number; wasmReadGBs: Record<number, number> } {
  const n = 64 * 2 ** 20; // 256 MiB
  const a = new Float32Array(n).fill(1);
  const b = new Float32Array(n);
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = now();
    b.set(a);
    best = Math.min(best, now() - t0);
  }
  const copyGBs = (n * 4) / (best / 1000) / 1e9;
  const w = wasm.allocWeights(n);
  w.fill(1);
  const wasmReadGBs: Record<number, number> = {};
  for (const t of threadCounts()) {
    wasm.threads = t;
    let bestR = Infinity;
    for (let r = 0; r < 5; r++) {
      const t0 = now();
      wasm.streamSum(w.byteOffset, n);
      bestR = Math.min(bestR, now() - t0);
    }
    wasmReadGBs[t] = (n * 4) / (bestR / 1000) / 1e9;
  }
  return { copyGBs, wasmReadGBs };
}

function threadCounts(): number[] {
  return THREADS > 1 ? [1, THREADS] : [1];
}

/** One decode-shaped matmul (768 → 2304), activations as JS arrays (copied) vs in linear memory. */
function copyCost(wasm: WasmBackend): { jsArraysUs: number; residentUs: number } {
  const prev = backend();
  setBackend(wasm);
  const w = matrixF32(2304, 768, rand(2304 * 768, 0.02));
  setBackend(prev);
  const x = rand(768, 1);
  const out = new Float32Array(2304);
  const xr = wasm.allocActivations(768);
  xr.set(x);
  const outR = wasm.allocActivations(2304);
  const time = (f: () => void) => {
    for (let i = 0; i < 50; i++) f();
    const t0 = now();
    for (let i = 0; i < 500; i++) f();
    return ((now() - t0) / 500) * 1000;
  };
  const jsArraysUs = time(() => wasm.matmul(out, x, w, null, 1));
  const residentUs = time(() => wasm.matmul(outR, xr, w, null, 1));
  return { jsArraysUs, residentUs };
}

// ---- run ----------------------------------------------------------------------------------------------

const loadBefore = loadavg();
const stopNeighbour = BUSY_NEIGHBOUR ? startBusyNeighbour() : null;
if (BUSY_NEIGHBOUR) console.error('busy neighbour: a busy-loop process on one core for the whole run');
const wasm = await createWasmBackend({ threads: THREADS, adaptiveThreads: !NO_ADAPTIVE });
const bw = bandwidth(wasm);
console.error(
  `memory: JS copy ${bw.copyGBs.toFixed(1)} GB/s (bytes copied), wasm SIMD read ` +
    threadCounts()
      .map((t) => `${bw.wasmReadGBs[t].toFixed(1)} GB/s (${t} thread${t > 1 ? 's' : ''})`)
      .join(', '),
);
const ceiling = wasmCeiling(wasm, threadCounts());
const prefillGflops = prefillMatmulRate(wasm, threadCounts());
const compute = {
  wasmCeilingGflops: ceiling,
  prefillMatmulGflops: prefillGflops,
  prefillFractionOfCeiling: Object.fromEntries(threadCounts().map((t) => [t, prefillGflops[t] / ceiling[t]])),
};
console.error(
  'compute: ' +
    threadCounts()
      .map(
        (t) =>
          `${t}t prefill matmuls ${prefillGflops[t].toFixed(1)} GFLOP/s = ${((100 * prefillGflops[t]) / ceiling[t]).toFixed(0)}% of the wasm ceiling ${ceiling[t].toFixed(1)}`,
      )
      .join('; '),
);
const cc = copyCost(wasm);
console.error(
  `decode matmul 768→2304: ${cc.jsArraysUs.toFixed(0)} µs with activations copied in/out, ${cc.residentUs.toFixed(0)} µs in place`,
);

const t0 = now();
const subject = await makeSubject(SHAPE, KEEP_GGUF);
VOCAB = subject.vocab;
console.error(
  `${subject.name}: ${subject.randomWeights ? 'random ' : ''}weights ready in ${((now() - t0) / 1000).toFixed(1)} s`,
);
const notes: string[] = [...subject.notes];
// The warm-up (4 tokens) and the measured run share no cache, so a run needs only its own length.
const pp512 = PP512 && subject.contextLength >= 512;
if (PP512 && !pp512)
  notes.push(`pp512 skipped: ${subject.name}'s context is ${subject.contextLength} tokens`);
if (TOKENS > subject.contextLength) {
  console.error(`--tokens ${TOKENS} exceeds ${subject.name}'s context (${subject.contextLength})`);
  process.exit(2);
}

const peer = NO_PEER ? null : await openPeer(subject.contextLength, pp512 ? 512 : TOKENS);
if (peer) {
  console.error(
    `peer: llama.cpp ${peer.info.build} (${peer.info.via}, ${peer.info.llamaCpp})` +
      (peer.info.nativeUnavailable ? ` — ${peer.info.nativeUnavailable}` : ''),
  );
}
const peerFiles: Array<{ label: string; path: string; loaded: boolean; error?: string }> = [];

const rows: Row[] = [];
/** glasslm wasm's logits of the last of ids(TOKENS) (f32): ONNX Runtime's must match them. */
let ourPrefillLogits: Float32Array | null = null;
/** Greedy continuations of the same prompt by glasslm (wasm) and llama.cpp: the same model gives the same ids. */
const sameModel: Array<{ weights: Kind; glasslm: number[]; llamaCpp: number[]; agree: number }> = [];
for (const kind of WEIGHT_KINDS) {
  const runs: Array<{ be: Backend; threads: number; pp: number; tg: number }> = [];
  if (!SKIP_REF) runs.push({ be: referenceBackend, threads: 1, pp: REF_PREFILL, tg: REF_DECODE });
  for (const t of threadCounts()) runs.push({ be: wasm, threads: t, pp: TOKENS, tg: TOKENS });
  let ourGreedy: number[] = [];
  let dec: Decoder | null = null;
  let decFor: Backend | null = null;
  for (const run of runs) {
    setBackend(run.be);
    if (run.be === wasm) wasm.threads = run.threads;
    if (decFor !== run.be) {
      const tq = now();
      dec = await subject.decoder(kind);
      decFor = run.be;
      console.error(
        `${kind}: glasslm ${run.be === wasm ? 'wasm' : 'reference'} model ready in ${((now() - tq) / 1000).toFixed(1)} s, ` +
          `${(decoderWeightBytes(dec) / 2 ** 20).toFixed(1)} MiB read per token`,
      );
    }
    const d = dec!;
    const bytes = decoderWeightBytes(d);
    if (run.be === wasm && run.threads === 1) {
      ourGreedy = greedy(d, ids(CHECK_PROMPT), CHECK_TOKENS);
      if (kind === 'f32') ourPrefillLogits = d.forward(ids(TOKENS), d.newCache(), true);
    }
    d.forward(ids(4), d.newCache(), true); // warm-up: JIT, scratch, mirrors
    const pp = prefill(d, run.pp, run.be === referenceBackend ? 1 : 2);
    const pp5 = pp512 && run.be === wasm ? prefill(d, 512, 2) : undefined;
    const copied0 = wasm.stats.bytesCopied;
    const tg = decode(d, run.tg);
    const row: Row = {
      engine: 'glasslm',
      backend: run.be === wasm ? 'wasm' : run.be.name,
      weights: kind,
      threads: run.threads,
      prefillTokens: run.pp,
      prefillTokPerS: pp,
      prefill512TokPerS: pp5,
      decodeTokens: run.tg,
      decodeTokPerS: tg,
      weightMiBPerToken: bytes / 2 ** 20,
      fractionOfBandwidthBound: tg / ((bw.wasmReadGBs[run.threads] * 1e9) / bytes),
    };
    if (run.be === wasm)
      row.activationBytesCopiedPerDecodeToken = Math.round((wasm.stats.bytesCopied - copied0) / run.tg);
    rows.push(row);
    console.error(
      `  glasslm ${row.backend} ${kind} ${run.threads}t: pp${run.pp} ${pp.toFixed(1)} tok/s` +
        (pp5 !== undefined ? `, pp512 ${pp5.toFixed(1)} tok/s` : '') +
        `, tg${run.tg} ${tg.toFixed(2)} tok/s`,
    );
  }
  setBackend(referenceBackend);

  if (peer) {
    const tw = now();
    const file = await subject.gguf(kind);
    console.error(
      `${kind}: GGUF written by glasslm in ${((now() - tw) / 1000).toFixed(1)} s (${(file.bytes / 2 ** 20).toFixed(1)} MiB), ` +
        `${(file.weightBytesPerToken / 2 ** 20).toFixed(1)} MiB read per token`,
    );
    let model: PeerModel | null = null;
    try {
      model = await peer.load(file.path);
    } catch (e) {
      notes.push(`llama.cpp refused glasslm's ${kind} GGUF: ${(e as Error).message}`);
      console.error(`  llama.cpp refused the ${kind} GGUF: ${(e as Error).message}`);
    }
    if (model) {
      const theirs = await model.greedy(ids(CHECK_PROMPT), CHECK_TOKENS, 1);
      let agree = 0;
      while (agree < theirs.length && theirs[agree] === ourGreedy[agree]) agree++;
      sameModel.push({ weights: kind, glasslm: ourGreedy, llamaCpp: theirs, agree });
      console.error(
        `  same model? greedy ${CHECK_TOKENS} tokens after a ${CHECK_PROMPT}-token prompt: ${agree}/${CHECK_TOKENS} agree` +
          (agree < CHECK_TOKENS ? ` (glasslm ${ourGreedy.join(',')}; llama.cpp ${theirs.join(',')})` : ''),
      );
      for (const t of threadCounts()) {
        const pp = await model.prefill(ids(TOKENS), t, 2);
        const pp5 = pp512 ? await model.prefill(ids(512), t, 2) : undefined;
        const tg = await model.decode(ids(TOKENS), t);
        const row: Row = {
          engine: 'llama.cpp',
          backend: peer.info.build,
          weights: kind,
          threads: t,
          prefillTokens: TOKENS,
          prefillTokPerS: pp,
          prefill512TokPerS: pp5,
          decodeTokens: TOKENS,
          decodeTokPerS: tg,
          weightMiBPerToken: file.weightBytesPerToken / 2 ** 20,
          fractionOfBandwidthBound: tg / ((bw.wasmReadGBs[t] * 1e9) / file.weightBytesPerToken),
        };
        rows.push(row);
        console.error(
          `  llama.cpp ${peer.info.build} ${kind} ${t}t: pp${TOKENS} ${pp.toFixed(1)} tok/s` +
            (pp5 !== undefined ? `, pp512 ${pp5.toFixed(1)} tok/s` : '') +
            `, tg${TOKENS} ${tg.toFixed(2)} tok/s`,
        );
      }
      await model.dispose();
    }
  }
}
if (peer) {
  for (const f of subject.extraPeerFiles) {
    try {
      const m = await peer.load(f.path);
      await m.dispose();
      peerFiles.push({ label: f.label, path: f.path, loaded: true });
    } catch (e) {
      peerFiles.push({ label: f.label, path: f.path, loaded: false, error: (e as Error).message });
    }
  }
  await peer.close();
}
subject.cleanup();
wasm.close();
stopNeighbour?.();

// ---- ONNX Runtime (web: its wasm backend; node: native) on the same f32 weights, prefill only ----------

const ort: OrtMeasurement[] = [];
const ortNotes: string[] = [];
/** Largest |ORT − glasslm| over the last token's logits, relative to glasslm's largest |logit|. */
const ortSameModel: Array<{ engine: string; maxRelDiff: number; sameArgmax: boolean }> = [];
if (!NO_ORT && subject.onnx) {
  const dir = mkdtempSync(join(tmpdir(), 'glasslm-bench-onnx-'));
  try {
    const path = join(dir, 'gpt2.onnx');
    const tw = now();
    const bytes = subject.onnx(path);
    console.error(
      `ONNX (f32) written by glasslm in ${((now() - tw) / 1000).toFixed(1)} s (${(bytes / 2 ** 20).toFixed(1)} MiB)`,
    );
    for (const engine of ['web', 'node'] as const) {
      for (const t of threadCounts()) {
        const m = await measureOrt(engine, path, t, ids(TOKENS), 2, (s) => ortNotes.push(s));
        if (!m) break;
        ort.push(m);
        console.error(`  ${m.engine} ${m.version} ${t}t: pp${TOKENS} ${m.prefillTokPerS.toFixed(1)} tok/s`);
        if (t === 1 && ourPrefillLogits) {
          const ours = ourPrefillLogits;
          let diff = 0;
          let scale = 0;
          let a = 0;
          let b = 0;
          for (let i = 0; i < ours.length; i++) {
            diff = Math.max(diff, Math.abs(m.logits[i] - ours[i]));
            scale = Math.max(scale, Math.abs(ours[i]));
            if (ours[i] > ours[a]) a = i;
            if (m.logits[i] > m.logits[b]) b = i;
          }
          ortSameModel.push({ engine: m.engine, maxRelDiff: diff / scale, sameArgmax: a === b });
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
for (const n of ortNotes) console.error(`  ${n}`);
/** glasslm wasm f32 prefill ÷ ONNX Runtime's, same threads and tokens. */
const ortRatios = ort.flatMap((m) => {
  const o = rows.find(
    (r) => r.engine === 'glasslm' && r.backend === 'wasm' && r.weights === 'f32' && r.threads === m.threads,
  );
  return o ? [{ peer: m.engine, threads: m.threads, prefill: o.prefillTokPerS / m.prefillTokPerS }] : [];
});

// ---- report -------------------------------------------------------------------------------------------

/** glasslm wasm ÷ llama.cpp at the same weights and threads. */
const ratios = rows
  .filter((r) => r.engine === 'llama.cpp')
  .flatMap((p) => {
    const o = rows.find(
      (r) =>
        r.engine === 'glasslm' && r.backend === 'wasm' && r.weights === p.weights && r.threads === p.threads,
    );
    if (!o) return [];
    return [
      {
        weights: p.weights,
        threads: p.threads,
        prefill: o.prefillTokPerS / p.prefillTokPerS,
        prefill512:
          o.prefill512TokPerS !== undefined && p.prefill512TokPerS !== undefined
            ? o.prefill512TokPerS / p.prefill512TokPerS
            : undefined,
        decode: o.decodeTokPerS / p.decodeTokPerS,
      },
    ];
  });

/** Each glasslm wasm row against its own weights at 1 thread: how the threads scale (in this run). */
const threadScaling = rows
  .filter((r) => r.engine === 'glasslm' && r.backend === 'wasm' && r.threads > 1)
  .flatMap((r) => {
    const one = rows.find(
      (o) => o.engine === 'glasslm' && o.backend === 'wasm' && o.weights === r.weights && o.threads === 1,
    );
    if (!one) return [];
    return [
      {
        weights: r.weights,
        threads: r.threads,
        prefill: r.prefillTokPerS / one.prefillTokPerS,
        prefill512:
          r.prefill512TokPerS !== undefined && one.prefill512TokPerS !== undefined
            ? r.prefill512TokPerS / one.prefill512TokPerS
            : undefined,
        decode: r.decodeTokPerS / one.decodeTokPerS,
        bandwidth: bw.wasmReadGBs[r.threads] / bw.wasmReadGBs[1],
      },
    ];
  });

const result = {
  date: new Date().toISOString(),
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machine(),
  threads: threadCounts(),
  busyNeighbour: BUSY_NEIGHBOUR,
  adaptiveThreads: !NO_ADAPTIVE,
  threadChooser: wasm.chooser?.stats ?? null,
  loadAverage: { before: loadBefore, after: loadavg() },
  model: {
    shape: SHAPE,
    name: subject.name,
    arch: subject.arch,
    vocab: subject.vocab,
    contextLength: subject.contextLength,
    layers: subject.layers,
    dim: subject.dim,
    randomWeights: subject.randomWeights,
  },
  memory: bw,
  compute,
  decodeMatmulCopyCost: cc,
  peer: peer ? peer.info : null,
  peerFiles,
  sameModel,
  notes: [
    ...notes,
    `reference measured on fewer tokens (pp${REF_PREFILL}, tg${REF_DECODE}): it is slow`,
    'prefill = one forward of N tokens from an empty cache, logits of the last token only',
    'decode = N forwards of one token each from an empty cache (KV cache growing 0..N)',
    'llama.cpp: pp = one batch (controlledEvaluate) with the last token output, tg = one token per step ' +
      '(sequence.evaluate with each greedy pick replaced by the fixed token): logits every step, as llama-bench',
    'fractionOfBandwidthBound = decode tok/s ÷ (wasm SIMD read GB/s on as many threads ÷ weight bytes per token); ' +
      'weight bytes as each engine stores them (llama.cpp Q8_0: 34 bytes per 32 weights)',
  ],
  rows,
  ratios,
  threadScaling,
  /** ONNX Runtime peers (bench/ort-peer.ts); null where none is installed. */
  ortPeer: ort.length
    ? {
        rows: ort.map(({ logits: _, ...m }) => m),
        sameModel: ortSameModel,
        ratios: ortRatios,
        notes: ortNotes,
      }
    : null,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const outFile = new URL(`./results/${result.date.replace(/[:.]/g, '-')}.json`, import.meta.url);
writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');

const pad = (s: string, n: number) => s.padStart(n);
console.log(
  `${subject.name}${subject.randomWeights ? ' (random weights)' : ''}; memory bandwidth: ` +
    threadCounts()
      .map((t) => `${bw.wasmReadGBs[t].toFixed(1)} GB/s read on ${t} thread${t > 1 ? 's' : ''}`)
      .join(', ') +
    ` (wasm SIMD), ${bw.copyGBs.toFixed(1)} GB/s copy (Float32Array.set, 1 thread)`,
);
const widths = [20, 8, 4, 18, 14, 18, 10, 12];
console.log(
  ['engine', 'weights', 'thr', 'prefill tok/s', 'pp512 tok/s', 'decode tok/s', 'MiB/token', 'of bw bound']
    .map((h, i) => pad(h, widths[i]))
    .join(' '),
);
for (const r of rows) {
  console.log(
    [
      pad(`${r.engine} ${r.backend}`, widths[0]),
      pad(r.weights, widths[1]),
      pad(String(r.threads), widths[2]),
      pad(`${r.prefillTokPerS.toFixed(1)} (pp${r.prefillTokens})`, widths[3]),
      pad(r.prefill512TokPerS !== undefined ? r.prefill512TokPerS.toFixed(1) : '-', widths[4]),
      pad(`${r.decodeTokPerS.toFixed(2)} (tg${r.decodeTokens})`, widths[5]),
      pad(r.weightMiBPerToken.toFixed(1), widths[6]),
      pad(`${(r.fractionOfBandwidthBound * 100).toFixed(0)}%`, widths[7]),
    ].join(' '),
  );
}
for (const q of threadScaling)
  console.log(
    `glasslm wasm ${q.weights} ${q.threads}t/1t: prefill ${q.prefill.toFixed(2)}x` +
      (q.prefill512 !== undefined ? `, pp512 ${q.prefill512.toFixed(2)}x` : '') +
      `, decode ${q.decode.toFixed(2)}x (read bandwidth ${q.bandwidth.toFixed(2)}x)`,
  );
for (const t of threadCounts())
  console.log(
    `prefill matmuls ${t}t: ${prefillGflops[t].toFixed(1)} GFLOP/s, ${((100 * prefillGflops[t]) / ceiling[t]).toFixed(0)}% of the wasm ceiling (${ceiling[t].toFixed(1)} GFLOP/s: register-only f32 multiply-add)`,
  );
if (BUSY_NEIGHBOUR) console.log('busy neighbour: a busy-loop process ran on one core throughout');
if (peer && ratios.length) {
  console.log(`glasslm wasm / llama.cpp (${peer.info.build} build, ${peer.info.via}):`);
  for (const q of ratios) {
    console.log(
      `  ${q.weights.padEnd(5)} ${q.threads}t: prefill ${q.prefill.toFixed(2)}x` +
        (q.prefill512 !== undefined ? `, pp512 ${q.prefill512.toFixed(2)}x` : '') +
        `, decode ${q.decode.toFixed(2)}x`,
    );
  }
} else if (!peer) {
  console.log('llama.cpp: not measured (peer: null)' + (NO_PEER ? ' — --no-peer' : ''));
}
for (const m of sameModel)
  console.log(
    `same model (${m.weights}): greedy ${CHECK_TOKENS} tokens after a ${CHECK_PROMPT}-token prompt agree on ${m.agree}/${CHECK_TOKENS} with llama.cpp`,
  );
for (const f of peerFiles)
  console.log(`llama.cpp on ${f.label}: ${f.loaded ? 'loaded' : `refused (${f.error ?? ''})`}`);
for (const q of ortRatios)
  console.log(`glasslm wasm / ${q.peer} f32 ${q.threads}t: prefill ${q.prefill.toFixed(2)}x`);
for (const m of ortSameModel)
  console.log(
    `same model (f32): ${m.engine}'s last-token logits within ${m.maxRelDiff.toExponential(1)} of glasslm's` +
      ` (relative to the largest), argmax ${m.sameArgmax ? 'equal' : 'DIFFERENT'}`,
  );
if (!ort.length) console.log('ONNX Runtime: not measured (ortPeer: null)' + (NO_ORT ? ' — --no-ort' : ''));
for (const n of notes) console.log(`note: ${n}`);
console.log(`wrote ${outFile.pathname}`);

// The encoder-decoder: a Marian-base-shaped model, greedy and 4 beams (bench/seq2seq.ts; --no-seq2seq skips it).
if (!flag('no-seq2seq')) {
  console.log('');
  await import('./seq2seq.js');
}
