// `npm run bench`: speed of the backends on a GPT-2-124M-shaped model with random weights (vocab 50257,
// 12 layers, 12 heads, 768 dims, context 1024), built in memory from the nn blocks — no files needed.
// For f32 and q8_0 weights: prefill tokens/s (pp: N tokens in one forward, logits of the last only) and
// decode tokens/s (tg: N tokens one at a time with the KV cache, from an empty cache), as llama-bench
// reports them; plus memory bandwidth, and decode speed as a fraction of bandwidth / weight bytes per
// token. Writes bench/results/<timestamp>.json and prints a table.
//
//   npm run bench                       # reference (fewer tokens: it is slow) and wasm on 1 and 2 threads
//   npm run bench -- --threads 4 --tokens 64 --ref-prefill 8 --ref-decode 4 --skip-reference
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { Attention } from '../src/nn/attention.js';
import { Block } from '../src/nn/block.js';
import { Embedding } from '../src/nn/embedding.js';
import { FeedForward } from '../src/nn/feedforward.js';
import { Linear } from '../src/nn/linear.js';
import { LayerNorm } from '../src/nn/norm.js';
import { LearnedPositional } from '../src/nn/positional.js';
import { Decoder } from '../src/models/decoder.js';
import {
  backend,
  createWasmBackend,
  matrixBytes,
  matrixF32,
  quantizeMatrixQ8_0,
  referenceBackend,
  setBackend,
  type Backend,
  type Matrix,
  type WasmBackend,
} from '../src/tensor/index.js';

// ---- options ------------------------------------------------------------------------------------------

function opt(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const TOKENS = opt('tokens', 128);
const REF_PREFILL = opt('ref-prefill', 16);
const REF_DECODE = opt('ref-decode', 4);
const THREADS = opt('threads', Math.min(2, cpus().length));
const SKIP_REF = flag('skip-reference');

const SHAPE = { vocab: 50257, layers: 12, heads: 12, dim: 768, ctx: 1024, ffn: 3072 };

// ---- random weights -----------------------------------------------------------------------------------

let seed = 0x9e3779b9;
/** n uniform values in ±scale (xorshift32: fast, deterministic). */
function rand(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * scale;
  }
  seed = s >>> 0 || 1;
  return a;
}
const ones = (n: number) => new Float32Array(n).fill(1);

/** Raw weights, built once and shared by every model (the reference reads them in place). */
interface RawLayer {
  qkv: Float32Array;
  qkvB: Float32Array;
  proj: Float32Array;
  projB: Float32Array;
  fc: Float32Array;
  fcB: Float32Array;
  fc2: Float32Array;
  fc2B: Float32Array;
}
interface Raw {
  wte: Float32Array;
  wpe: Float32Array;
  layers: RawLayer[];
}

function rawWeights(): Raw {
  const { vocab, layers, dim, ctx, ffn } = SHAPE;
  const s = 0.02;
  return {
    wte: rand(vocab * dim, 0.1),
    wpe: rand(ctx * dim, 0.01),
    layers: Array.from({ length: layers }, () => ({
      qkv: rand(3 * dim * dim, s),
      qkvB: rand(3 * dim, s),
      proj: rand(dim * dim, s),
      projB: rand(dim, s),
      fc: rand(ffn * dim, s),
      fcB: rand(ffn, s),
      fc2: rand(dim * ffn, s),
      fc2B: rand(dim, s),
    })),
  };
}

type Kind = 'f32' | 'q8_0';

/** The matrices of one weight kind, as plain (reference-placed) objects. */
function matrices(raw: Raw, kind: Kind): { head: Matrix; layers: Matrix[][] } {
  const { vocab, dim, ffn } = SHAPE;
  const prev = backend();
  setBackend(referenceBackend);
  const mk = (rows: number, cols: number, d: Float32Array): Matrix =>
    kind === 'f32' ? matrixF32(rows, cols, d) : quantizeMatrixQ8_0(rows, cols, d);
  const out = {
    head: mk(vocab, dim, raw.wte),
    layers: raw.layers.map((l) => [
      mk(3 * dim, dim, l.qkv),
      mk(dim, dim, l.proj),
      mk(ffn, dim, l.fc),
      mk(dim, ffn, l.fc2),
    ]),
  };
  setBackend(prev);
  return out;
}

/** A GPT-2-shaped Decoder whose matrices are placed by the active backend (as loading a model does). */
function buildDecoder(raw: Raw, mats: { head: Matrix; layers: Matrix[][] }): Decoder {
  const { vocab, layers, heads, dim, ctx } = SHAPE;
  const be = backend();
  const place = (m: Matrix) => (be.placeMatrix ? be.placeMatrix(m) : m);
  const blocks: Block[] = [];
  for (let l = 0; l < layers; l++) {
    const r = raw.layers[l];
    const [qkv, proj, fc, fc2] = mats.layers[l].map(place);
    blocks.push(
      new Block(
        new LayerNorm(ones(dim), new Float32Array(dim), 1e-5),
        new Attention(
          { nHeads: heads, nKvHeads: heads, headDim: dim / heads },
          new Linear(qkv, r.qkvB),
          new Linear(proj, r.projB),
        ),
        new LayerNorm(ones(dim), new Float32Array(dim), 1e-5),
        new FeedForward('gelu', new Linear(fc, r.fcB), new Linear(fc2, r.fc2B)),
      ),
    );
  }
  return new Decoder({
    embedding: new Embedding(raw.wte, vocab, dim),
    positional: new LearnedPositional(raw.wpe, ctx, dim),
    blocks,
    finalNorm: new LayerNorm(ones(dim), new Float32Array(dim), 1e-5),
    lmHead: new Linear(place(mats.head)),
    contextLength: ctx,
  });
}

function weightBytesPerToken(mats: { head: Matrix; layers: Matrix[][] }): number {
  return matrixBytes(mats.head) + mats.layers.flat().reduce((a, m) => a + matrixBytes(m), 0);
}

// ---- measurements -------------------------------------------------------------------------------------

const now = () => performance.now();
const ids = (n: number) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % SHAPE.vocab);

/** Prefill: n tokens in one forward from an empty cache, logits of the last one. Best of `reps`. */
function prefill(dec: Decoder, n: number, reps: number): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const cache = dec.newCache();
    const t0 = now();
    dec.forward(ids(n), cache, true);
    best = Math.min(best, now() - t0);
  }
  return (n / best) * 1000;
}

/** Decode: n tokens one by one from an empty cache. */
function decode(dec: Decoder, n: number): number {
  const cache = dec.newCache();
  const tok = ids(n);
  const t0 = now();
  for (let i = 0; i < n; i++) dec.forward([tok[i]], cache, true);
  return (n / (now() - t0)) * 1000;
}

interface Row {
  backend: string;
  weights: Kind;
  threads: number;
  prefillTokens: number;
  prefillTokPerS: number;
  decodeTokens: number;
  decodeTokPerS: number;
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

const wasm = await createWasmBackend({ threads: THREADS });
const bw = bandwidth(wasm);
console.error(
  `memory: JS copy ${bw.copyGBs.toFixed(1)} GB/s (bytes copied), wasm SIMD read ` +
    threadCounts()
      .map((t) => `${bw.wasmReadGBs[t].toFixed(1)} GB/s (${t} thread${t > 1 ? 's' : ''})`)
      .join(', '),
);
const cc = copyCost(wasm);
console.error(
  `decode matmul 768→2304: ${cc.jsArraysUs.toFixed(0)} µs with activations copied in/out, ${cc.residentUs.toFixed(0)} µs in place`,
);

const t0 = now();
const raw = rawWeights();
console.error(`random weights: ${((now() - t0) / 1000).toFixed(1)} s`);

const rows: Row[] = [];
for (const kind of ['f32', 'q8_0'] as Kind[]) {
  const tq = now();
  const mats = matrices(raw, kind);
  const bytes = weightBytesPerToken(mats);
  console.error(
    `${kind}: matrices ready in ${((now() - tq) / 1000).toFixed(1)} s, ${(bytes / 2 ** 20).toFixed(0)} MiB read per token`,
  );
  const runs: Array<{ be: Backend; threads: number; pp: number; tg: number }> = [];
  if (!SKIP_REF) runs.push({ be: referenceBackend, threads: 1, pp: REF_PREFILL, tg: REF_DECODE });
  for (const t of THREADS > 1 ? [1, THREADS] : [1])
    runs.push({ be: wasm, threads: t, pp: TOKENS, tg: TOKENS });
  let dec: Decoder | null = null;
  let decFor: Backend | null = null;
  for (const run of runs) {
    setBackend(run.be);
    if (run.be === wasm) wasm.threads = run.threads;
    if (decFor !== run.be) {
      dec = buildDecoder(raw, mats);
      decFor = run.be;
    }
    const d = dec!;
    d.forward(ids(4), d.newCache(), true); // warm-up: JIT, scratch, mirrors
    const pp = prefill(d, run.pp, run.be === referenceBackend ? 1 : 2);
    const copied0 = wasm.stats.bytesCopied;
    const tg = decode(d, run.tg);
    const row: Row = {
      backend: run.be.name === 'wasm' || run.be === wasm ? 'wasm' : run.be.name,
      weights: kind,
      threads: run.threads,
      prefillTokens: run.pp,
      prefillTokPerS: pp,
      decodeTokens: run.tg,
      decodeTokPerS: tg,
      weightMiBPerToken: bytes / 2 ** 20,
      fractionOfBandwidthBound: tg / ((bw.wasmReadGBs[run.threads] * 1e9) / bytes),
    };
    if (run.be === wasm)
      row.activationBytesCopiedPerDecodeToken = Math.round((wasm.stats.bytesCopied - copied0) / run.tg);
    rows.push(row);
    console.error(
      `  ${row.backend} ${kind} ${run.threads}t: pp${run.pp} ${pp.toFixed(1)} tok/s, tg${run.tg} ${tg.toFixed(2)} tok/s`,
    );
  }
  setBackend(referenceBackend);
}
wasm.close();

// ---- report -------------------------------------------------------------------------------------------

const result = {
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memGiB: +(totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
  },
  model: { shape: 'gpt2-124M', ...SHAPE, randomWeights: true },
  memory: bw,
  decodeMatmulCopyCost: cc,
  notes: [
    `reference measured on fewer tokens (pp${REF_PREFILL}, tg${REF_DECODE}): it is slow`,
    'prefill = one forward of N tokens from an empty cache, logits of the last token only',
    'decode = N forwards of one token each from an empty cache (KV cache growing 0..N)',
    'fractionOfBandwidthBound = decode tok/s ÷ (wasm SIMD read GB/s on as many threads ÷ weight bytes per token)',
  ],
  rows,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL(`./results/${result.date.replace(/[:.]/g, '-')}.json`, import.meta.url);
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');

const pad = (s: string, n: number) => s.padStart(n);
console.log(
  'memory bandwidth: ' +
    threadCounts()
      .map((t) => `${bw.wasmReadGBs[t].toFixed(1)} GB/s read on ${t} thread${t > 1 ? 's' : ''}`)
      .join(', ') +
    ` (wasm SIMD), ${bw.copyGBs.toFixed(1)} GB/s copy (Float32Array.set, 1 thread)`,
);
console.log(
  ['backend', 'weights', 'thr', 'prefill tok/s', 'decode tok/s', 'MiB/token', 'of bw bound']
    .map((h, i) => pad(h, [10, 8, 4, 18, 18, 10, 12][i]))
    .join(' '),
);
for (const r of rows) {
  console.log(
    [
      pad(r.backend, 10),
      pad(r.weights, 8),
      pad(String(r.threads), 4),
      pad(`${r.prefillTokPerS.toFixed(1)} (pp${r.prefillTokens})`, 18),
      pad(`${r.decodeTokPerS.toFixed(2)} (tg${r.decodeTokens})`, 18),
      pad(r.weightMiBPerToken.toFixed(0), 10),
      pad(`${(r.fractionOfBandwidthBound * 100).toFixed(0)}%`, 12),
    ].join(' '),
  );
}
console.log(`wrote ${file.pathname}`);
