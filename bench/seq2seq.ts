// Encoder-decoder speed: a Marian-base-shaped model (d_model 512, 6 + 6 layers, 8 heads, FFN 2048, the
// opus-mt-en-mg vocabulary of 54,688; random weights) on the wasm kernels: encoder time for the source,
// then decode tokens/s greedy and with 4 beams (the beams of a step run in one batched pass). Random
// weights never choose end-of-text on purpose, so every run writes --tokens tokens (stopAtEos off).
// Writes bench/results/seq2seq-<time>.json with the machine (CPU model, SIMD flags).
//   npx tsx bench/seq2seq.ts [--tokens 32] [--threads 2] [--source 24] [--dim 512 --layers 6]
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LanguageModel } from '../src/models/model.js';
import { createWasmBackend, setBackend } from '../src/tensor/index.js';
import { loadMarianTokenizerFromFiles } from '../src/tokenizers/marian.js';
import { createMarian } from '../src/train/init.js';
import { dirFiles } from '../src/util/file-set-node.js';
import { machine } from './machine.js';

// not strict: `npm run bench` runs this file after its own, with its own flags on the command line
const { values } = parseArgs({
  strict: false,
  options: {
    tokens: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    source: { type: 'string', default: '24' },
    dim: { type: 'string', default: '512' },
    layers: { type: 'string', default: '6' },
  },
});
const tokens = Number(values.tokens);

const threads = Number(values.threads);
const dim = Number(values.dim);
const layers = Number(values.layers);
const SHARED = fileURLToPath(new URL('../../shared/tokenizers/opus-mt-en-mg/', import.meta.url));
const tokenizer = await loadMarianTokenizerFromFiles(dirFiles(SHARED));
if (!tokenizer) throw new Error(`${SHARED}: no Marian tokenizer (source.spm)`);
setBackend(await createWasmBackend({ threads }));
const t0 = performance.now();
const { config, model: s2s } = await createMarian(
  {
    dim,
    encoderLayers: layers,
    decoderLayers: layers,
    nHeads: 8,
    ffnDim: 4 * dim,
    vocabSize: tokenizer.vocabSize,
    contextLength: 512,
    padTokenId: tokenizer.padId,
    eosTokenId: tokenizer.eosId,
  },
  1,
);
const loadSeconds = (performance.now() - t0) / 1000;
const model = new LanguageModel({
  config,
  tokenizer,
  decoder: s2s.decoder,
  seq2seq: s2s,
  source: 'random Marian-base',
});
const words =
  'the quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat by the door'.split(' ');
let prompt = '';
for (let i = 0; prompt === '' || tokenizer.encode(prompt).length < Number(values.source); i++)
  prompt += (i ? ' ' : '') + words[i % words.length];
const sourceTokens = tokenizer.encode(prompt).length;

async function run(numBeams: number) {
  const g = model.generate(prompt, {
    greedy: true,
    maxTokens: tokens,
    stopAtEos: false,
    numBeams,
    earlyStopping: 'never',
  });
  for await (const _ of g) void _;
  const r = await g.result;
  return {
    numBeams,
    tokens: r.ids.length,
    encodeAndPrefillS: r.prefillSeconds,
    decodeS: r.decodeSeconds,
    tokPerS: r.ids.length / r.decodeSeconds,
  };
}

await run(1); // warm-up (JIT)
const greedy = await run(1);
const beams = await run(4);
const fmt = (r: typeof greedy) =>
  `${r.tokPerS.toFixed(1)} tok/s (${r.tokens} tokens in ${r.decodeS.toFixed(2)} s; encoder + first step ${(r.encodeAndPrefillS * 1000).toFixed(0)} ms)`;
console.log(
  `Marian-base shape (d ${dim}, ${layers}+${layers} layers, 8 heads, vocab ${tokenizer.vocabSize}; random weights), wasm ${threads}t, source ${sourceTokens} tokens`,
);
console.log(`  greedy : ${fmt(greedy)}`);
console.log(`  4 beams: ${fmt(beams)} — output tokens/s; ${(4 * beams.tokPerS).toFixed(1)} beam-tokens/s`);
const result = {
  date: new Date().toISOString(),
  command: `npx tsx bench/seq2seq.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machine(),
  model: {
    shape: 'marian-base',
    dim,
    layers,
    heads: 8,
    vocab: tokenizer.vocabSize,
    randomWeights: true,
    loadSeconds,
  },
  threads,
  sourceTokens,
  greedy,
  beams,
};
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}seq2seq-${result.date.replace(/[:.]/g, '-')}.json`;
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${file}`);
