// `npm run bench:ppl`: the quality cost of quantized weights — perplexity of the same model loaded with
// dtype f32 and each of --dtypes (default q8_0, q4_0, q4_k: quantized at load) on a held-out text, scored as `glasslm eval` scores (encodeCorpus +
// decoderLoss: documents separated by <|endoftext|>, each after BOS for SentencePiece-era models, windows of
// the model's context up to 512), on the reference backend (float64 sums) and the wasm backend.
// Random weights say nothing here, so the models are real ones: the pretrained stories260K from ../shared
// (llama2.c checkpoint, also llama.cpp's own Q8_0 GGUF of it), and the bundled default model when
// models/default/config.json exists. Text: bench/data/stories-heldout.txt, short children's stories written
// for this benchmark (never seen in training). Writes bench/results/ppl-<timestamp>.json.
//
//   npm run bench:ppl
//   npm run bench:ppl -- --model path/to/model --data my.txt --threads 2 --skip-reference
//   npm run bench:ppl -- --dtypes q8_0,q4_k     # a GGUF --model's own Q4_K/Q5_K/Q6_K blocks load as they are
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Decoder } from '../src/models/decoder.js';
import { loadModel } from '../src/models/load-node.js';
import {
  createWasmBackend,
  referenceBackend,
  setBackend,
  type Backend,
  type WeightDtype,
} from '../src/tensor/index.js';
import { encodeCorpus } from '../src/train/data.js';
import { decoderLoss } from '../src/train/evaluate.js';
import { sharedDir, stories260kGguf, stories260kGgufQ8 } from './models.js';

const root = fileURLToPath(new URL('../', import.meta.url));
function optAll(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => {
    if (a === `--${name}` && process.argv[i + 1] !== undefined) out.push(process.argv[i + 1]);
  });
  return out;
}
const opt = (name: string, def: string) => optAll(name).at(-1) ?? def;
const DATA = opt('data', join(root, 'bench/data/stories-heldout.txt'));
const THREADS = Number(opt('threads', '1'));
const SKIP_REF = process.argv.includes('--skip-reference');
/** The quantized dtypes compared with f32. */
const DTYPES = opt('dtypes', 'q8_0,q4_0,q4_k').split(',') as WeightDtype[];
const ALL: WeightDtype[] = ['f32', ...DTYPES];

interface Source {
  label: string;
  path: string;
  /** Weight kinds to load it as. */
  kinds: WeightDtype[];
  note?: string;
}

const sources: Source[] = [];
const bin = join(sharedDir, 'models/stories260K-llama2c/stories260K.bin');
if (existsSync(bin)) sources.push({ label: 'stories260K (llama2.c checkpoint)', path: bin, kinds: ALL });
else if (existsSync(stories260kGguf))
  sources.push({ label: 'stories260K (F32 GGUF)', path: stories260kGguf, kinds: ALL });
if (existsSync(stories260kGgufQ8))
  sources.push({
    label: "stories260K (llama.cpp's Q8_0 GGUF)",
    path: stories260kGgufQ8,
    kinds: ['q8_0'],
    note: 'quantized by llama.cpp, ffn_down too (as one flat run of blocks across its 172-long rows); glasslm dequantizes it flat and, at dtype q8_0, keeps ffn_down f32',
  });
const defaultModel = join(root, 'models/default');
if (existsSync(join(defaultModel, 'config.json')))
  sources.push({
    label: 'bundled default model (models/default)',
    path: defaultModel,
    kinds: ALL,
  });
for (const m of optAll('model')) sources.push({ label: m, path: m, kinds: ALL });
if (sources.length === 0) {
  console.error(`no model found: ${bin} and ${defaultModel}/config.json are absent (pass --model <path>)`);
  process.exit(2);
}

/** The linear layers left in f32 by a quantized load (rows that are not whole 32-blocks). */
function f32Matrices(d: Decoder): string[] {
  const out = new Map<string, { layers: number[]; cols: number }>();
  d.blocks.forEach((b, l) => {
    const named: Array<[string, { weight: { kind: string; cols: number } } | null]> = [
      ['attn_qkv', b.attention.qkv],
      ['attn_output', b.attention.out],
      ['ffn_up', b.ffn.up],
      ['ffn_down', b.ffn.down],
      ['ffn_gate', b.ffn.gate],
    ];
    for (const [name, lin] of named) {
      if (!lin || lin.weight.kind !== 'f32') continue;
      const e = out.get(name) ?? { layers: [], cols: lin.weight.cols };
      e.layers.push(l);
      out.set(name, e);
    }
  });
  if (d.lmHead.weight.kind === 'f32') out.set('output', { layers: [], cols: d.lmHead.weight.cols });
  return [...out].map(
    ([n, e]) =>
      `${n}${e.layers.length ? ` (${e.layers.length === d.blocks.length ? 'all layers' : `layers ${e.layers.join(',')}`})` : ''}: rows of ${e.cols}`,
  );
}

/**
 * decoderLoss one token at a time through the KV cache (the path generation takes: on wasm, Q8_0 decode
 * rounds activations per 32-block, to int8 with relaxed SIMD and to int16 without, while a many-token
 * forward expands the weights exactly).
 */
function decodeLoss(
  decoder: Decoder,
  ids: ArrayLike<number>,
  seqLen: number,
): { loss: number; perplexity: number; tokens: number } {
  const V = decoder.vocabSize;
  let sum = 0;
  let count = 0;
  const total = ids.length - 1;
  for (let s = 0; s < total; s += seqLen) {
    const len = Math.min(seqLen, total - s);
    const cache = decoder.newCache();
    for (let t = 0; t < len; t++) {
      const logits = decoder.forward([ids[s + t]], cache, true);
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (logits[j] > max) max = logits[j];
      let z = 0;
      for (let j = 0; j < V; j++) z += Math.exp(logits[j] - max);
      sum += max + Math.log(z) - logits[ids[s + t + 1]];
      count++;
    }
  }
  const loss = sum / count;
  return { loss, perplexity: Math.exp(loss), tokens: count };
}

const text = readFileSync(DATA, 'utf8');
const backends: Array<{ name: string; be: Backend; threads: number; tokenByToken: boolean }> = [];
if (!SKIP_REF) backends.push({ name: 'reference', be: referenceBackend, threads: 1, tokenByToken: false });
const wasm = await createWasmBackend({ threads: THREADS });
backends.push({ name: 'wasm', be: wasm, threads: THREADS, tokenByToken: false });
backends.push({ name: 'wasm decode', be: wasm, threads: THREADS, tokenByToken: true });

interface Row {
  model: string;
  path: string;
  backend: string;
  threads: number;
  dtype: WeightDtype;
  tokens: number;
  lossNatsPerToken: number;
  perplexity: number;
  /** Linear layers that stayed f32 at a quantized dtype. */
  f32Matrices?: string[];
  seconds: number;
}
const rows: Row[] = [];
for (const src of sources) {
  for (const b of backends) {
    setBackend(b.be);
    for (const dtype of src.kinds) {
      const model = await loadModel(src.path, { dtype });
      const seqLen = Math.min(512, model.contextLength);
      const ids = encodeCorpus(model.tokenizer, text, { addBos: model.addBos });
      const t0 = performance.now();
      const r = b.tokenByToken
        ? decodeLoss(model.decoder, ids, seqLen)
        : decoderLoss(model.decoder, ids, seqLen);
      const row: Row = {
        model: src.label,
        path: src.path,
        backend: b.name,
        threads: b.threads,
        dtype,
        tokens: r.tokens,
        lossNatsPerToken: r.loss,
        perplexity: r.perplexity,
        seconds: (performance.now() - t0) / 1000,
      };
      if (dtype !== 'f32') row.f32Matrices = f32Matrices(model.decoder);
      rows.push(row);
      console.error(
        `${src.label} · ${b.name} · ${dtype}: perplexity ${r.perplexity.toFixed(4)} over ${r.tokens} tokens` +
          (row.f32Matrices?.length ? ` (kept f32: ${row.f32Matrices.join('; ')})` : ''),
      );
    }
  }
}
setBackend(referenceBackend);
wasm.close();

/** dtype ÷ f32 − 1 per (model file, backend, dtype); llama.cpp's Q8_0 file against the f32 checkpoint's f32. */
const comparisons = rows
  .filter((r) => r.dtype !== 'f32')
  .flatMap((q) => {
    const f =
      rows.find((r) => r.path === q.path && r.backend === q.backend && r.dtype === 'f32') ??
      rows.find(
        (r) =>
          r.model.startsWith('stories260K') &&
          q.model.startsWith('stories260K') &&
          r.backend === q.backend &&
          r.dtype === 'f32',
      );
    if (!f) return [];
    return [
      {
        model: q.model,
        backend: q.backend,
        dtype: q.dtype,
        f32: f.perplexity,
        quantized: q.perplexity,
        relative: q.perplexity / f.perplexity - 1,
        withinOnePercent: Math.abs(q.perplexity / f.perplexity - 1) <= 0.01,
      },
    ];
  });

const result = {
  date: new Date().toISOString(),
  command: `npm run bench:ppl -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version },
  data: { path: DATA, bytes: Buffer.byteLength(text), documents: text.split('<|endoftext|>').length },
  notes: [
    'scored as `glasslm eval`: encodeCorpus (BOS before each document for SentencePiece models) + decoderLoss (windows of min(512, context))',
    "backend 'wasm decode': the same windows fed one token at a time through the KV cache (generation's path; Q8_0 decode rounds activations to int16 per 32-block)",
    ...sources.filter((s) => s.note).map((s) => `${s.label}: ${s.note}`),
    'target (issue 5): q8_0 perplexity within 1% of f32',
  ],
  rows,
  comparisons,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const outFile = new URL(`./results/ppl-${result.date.replace(/[:.]/g, '-')}.json`, import.meta.url);
writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');

console.log(`held-out text: ${DATA} (${result.data.bytes} bytes, ${result.data.documents} documents)`);
console.log(
  ['model', 'backend', 'dtype', 'f32 ppl', 'dtype ppl', 'vs f32']
    .map((h, i) => h.padStart([40, 12, 6, 10, 10, 12][i]))
    .join(' '),
);
for (const c of comparisons) {
  console.log(
    [
      c.model.padStart(40),
      c.backend.padStart(12),
      c.dtype.padStart(6),
      c.f32.toFixed(4).padStart(10),
      c.quantized.toFixed(4).padStart(10),
      `${c.relative >= 0 ? '+' : ''}${(c.relative * 100).toFixed(3)}%`.padStart(12),
    ].join(' '),
  );
}
const kept = rows.find((r) => r.f32Matrices?.length);
if (kept)
  console.log(
    `note: at dtype ${kept.dtype}, ${kept.model} keeps f32: ${kept.f32Matrices!.join('; ')} (not whole 32-blocks)`,
  );
for (const s of sources.filter((x) => x.note)) console.log(`note: ${s.label}: ${s.note}`);
console.log(`wrote ${outFile.pathname}`);
