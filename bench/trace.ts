// What a trace costs on GPT-2 124M (random weights, the real GPT-2 vocabulary): the size of the JSON for a
// 64-token prompt under each recording option, and the time of a plain forward vs a traced one. The issue's
// target: under ~50 MB with the right options, and nothing when off. Writes bench/results/trace-<time>.json.
//   npx tsx bench/trace.ts [--threads n] [--tokens 64]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bundledGpt2TokenizerFiles } from '../src/cli/common.js';
import { writeSafetensorsFile } from '../src/formats/safetensors-node.js';
import { Rng } from '../src/generate/rng.js';
import { loadModel } from '../src/models/load-node.js';
import { createWasmBackend, setBackend } from '../src/tensor/index.js';
import type { TraceOptions } from '../src/trace/schema.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: String(Math.min(2, availableParallelism())) },
    tokens: { type: 'string', default: '64' },
  },
});
const THREADS = Number(values.threads);
const TOKENS = Number(values.tokens);
const DIR = join(tmpdir(), 'glasslm-bench-gpt2-124m-random');

/** GPT-2 124M's shapes, N(0, 0.02) weights (the init GPT-2 itself used), written once and reused. */
async function writeModel(): Promise<void> {
  if (existsSync(join(DIR, 'model.safetensors'))) return;
  const [dim, layers, vocab, ctx] = [768, 12, 50257, 1024];
  const rng = new Rng(7);
  const normal = (n: number, std: number, mean = 0) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u = 1 - rng.next();
      a[i] = mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
    }
    return a;
  };
  const t: Array<{ name: string; shape: number[]; dtype: 'F32'; data: Float32Array }> = [];
  const add = (name: string, shape: number[], std: number, mean = 0) =>
    t.push({
      name,
      shape,
      dtype: 'F32',
      data: normal(
        shape.reduce((a, b) => a * b, 1),
        std,
        mean,
      ),
    });
  add('wte.weight', [vocab, dim], 0.02);
  add('wpe.weight', [ctx, dim], 0.01);
  for (let l = 0; l < layers; l++) {
    const p = `h.${l}`;
    add(`${p}.ln_1.weight`, [dim], 0, 1);
    add(`${p}.ln_1.bias`, [dim], 0);
    add(`${p}.attn.c_attn.weight`, [dim, 3 * dim], 0.02);
    add(`${p}.attn.c_attn.bias`, [3 * dim], 0);
    add(`${p}.attn.c_proj.weight`, [dim, dim], 0.02);
    add(`${p}.attn.c_proj.bias`, [dim], 0);
    add(`${p}.ln_2.weight`, [dim], 0, 1);
    add(`${p}.ln_2.bias`, [dim], 0);
    add(`${p}.mlp.c_fc.weight`, [dim, 4 * dim], 0.02);
    add(`${p}.mlp.c_fc.bias`, [4 * dim], 0);
    add(`${p}.mlp.c_proj.weight`, [4 * dim, dim], 0.02);
    add(`${p}.mlp.c_proj.bias`, [dim], 0);
  }
  add('ln_f.weight', [dim], 0, 1);
  add('ln_f.bias', [dim], 0);
  await mkdir(DIR, { recursive: true });
  await writeSafetensorsFile(join(DIR, 'model.safetensors'), t);
  const tok = bundledGpt2TokenizerFiles();
  const { readFile } = await import('node:fs/promises');
  await writeFile(join(DIR, 'vocab.json'), await readFile(tok.vocab));
  await writeFile(join(DIR, 'merges.txt'), await readFile(tok.merges));
  const config = {
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    vocab_size: vocab,
    n_positions: ctx,
    n_ctx: ctx,
    n_embd: dim,
    n_layer: layers,
    n_head: 12,
    layer_norm_epsilon: 1e-5,
    bos_token_id: 50256,
    eos_token_id: 50256,
  };
  await writeFile(join(DIR, 'config.json'), JSON.stringify(config, null, 2));
}

await writeModel();
if (THREADS > 0) setBackend(await createWasmBackend({ threads: THREADS }));
const model = await loadModel(DIR);
// A 64-token English prompt (cut to exactly TOKENS ids).
const words =
  'The bank of the river was crowded with people who had come to watch the boats race past the old ' +
  'stone bridge, while children ran along the water and their parents talked about the weather, the ' +
  'harvest, the price of bread and the news from the city far away beyond the hills and the forest. ' +
  'Nobody noticed the small grey boat that drifted slowly under the arches, carrying a letter for the king.';
const ids = Array.from(model.tokenizer.encode(words)).slice(0, TOKENS);
const prompt = model.tokenizer.decode(ids);

const best = (f: () => void, reps = 3) => {
  let b = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
};

const plainMs = best(() => model.forward(ids));
const cases: Array<[string, TraceOptions]> = [
  ['default (full vectors, attention, lens at the last position)', {}],
  ['full vectors, lens at every position', { lens: 'all' }],
  ['summary (norms and statistics, attention)', { vectors: 'summary' }],
  ['summary, no attention', { vectors: 'summary', attention: false }],
  ['full vectors, layers 0, 5, 11 only', { layers: [0, 5, 11] }],
];
const rows = cases.map(([label, opts]) => {
  let json = '';
  const traceMs = best(() => {
    json = JSON.stringify(model.trace(prompt, opts));
  }, 2);
  return { label, options: opts, mb: json.length / 1e6, traceAndJsonMs: traceMs };
});

console.log(`GPT-2 124M (random weights), ${ids.length}-token prompt, ${THREADS} thread(s)`);
console.log(`plain forward (no trace): ${plainMs.toFixed(0)} ms`);
for (const r of rows)
  console.log(`${r.mb.toFixed(1).padStart(7)} MB  ${r.traceAndJsonMs.toFixed(0).padStart(6)} ms  ${r.label}`);

const out = { date: new Date().toISOString(), tokens: ids.length, threads: THREADS, plainMs, rows };
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/trace-${out.date.replace(/[:.]/g, '-')}.json`;
writeFileSync(file, JSON.stringify(out, null, 2));
console.log(`wrote ${file}`);
