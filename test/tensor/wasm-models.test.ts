// Whole models on the WebAssembly SIMD backend vs the reference backend: the tiny random GPT-2 and Llama
// fixtures (test/fixtures/make-*.ts) and, where ../shared has it, the real stories260K. The backend is
// chosen around loadModel (weights are placed in the memory of the backend active at load time) and
// forward, and restored afterwards.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/models/load-node.js';
import type { LanguageModel } from '../../src/models/model.js';
import {
  backend,
  createWasmBackend,
  referenceBackend,
  setBackend,
  type Backend,
} from '../../src/tensor/index.js';
import { ensureGpt2Fixtures, GPT2_VARIANTS } from '../fixtures/make-gpt2.js';
import { ensureLlamaFixtures, LLAMA_VARIANTS } from '../fixtures/make-llama.js';
import { assertLogitsMatch, readReference } from '../models/reference.js';
import { Attention } from '../../src/nn/attention.js';
import { Block } from '../../src/nn/block.js';
import { Embedding } from '../../src/nn/embedding.js';
import { FeedForward } from '../../src/nn/feedforward.js';
import { Linear } from '../../src/nn/linear.js';
import { LayerNorm } from '../../src/nn/norm.js';
import { LearnedPositional } from '../../src/nn/positional.js';
import { Decoder } from '../../src/models/decoder.js';
import { matrixF32, quantizeMatrixQ8_0, type Matrix } from '../../src/tensor/index.js';
import { Rng } from '../../src/generate/rng.js';

const wasm = await createWasmBackend();
const wasm2 = await createWasmBackend({ threads: 2 });
after(() => wasm2.close());

const gpt2 = await ensureGpt2Fixtures();
const llama = await ensureLlamaFixtures();
const GPT2_REF = readReference('gpt2-reference.json');
const LLAMA_REF = readReference('llama-reference.json');

/** Runs f with `be` active, restoring the previous backend after. */
async function withBackend<T>(be: Backend, f: () => Promise<T> | T): Promise<T> {
  const prev = backend();
  setBackend(be);
  try {
    return await f();
  } finally {
    setBackend(prev);
  }
}

function relError(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    err = Math.max(err, Math.abs(got[i] - want[i]));
  }
  return err / scale;
}

/** Logits of `ids`, whole prompt at once and then token by token through the KV cache. */
function logits(m: LanguageModel, ids: number[]): { full: Float32Array; cached: Float32Array } {
  const full = m.forward(ids).data;
  const cache = m.newCache();
  const vocab = m.decoder.vocabSize;
  const cached = new Float32Array(ids.length * vocab);
  for (let i = 0; i < ids.length; i++) cached.set(m.forward([ids[i]], cache).data, i * vocab);
  return { full, cached };
}

async function compare(dir: string, ids: number[], be: Backend): Promise<void> {
  const want = logits(await loadModel(dir), ids);
  const got = await withBackend(be, async () => {
    const m = await loadModel(dir);
    // the weights were placed in the backend's memory at load: placing again is a no-op
    const w = m.decoder.blocks[0].ffn.up.weight;
    assert.equal(be.placeMatrix!(w), w, 'weights live in the backend memory');
    return logits(m, ids);
  });
  const e1 = relError(got.full, want.full);
  const e2 = relError(got.cached, want.cached);
  assert.ok(e1 < 1e-4, `whole prompt: relative error ${e1.toExponential(2)}`);
  assert.ok(e2 < 1e-4, `KV cache: relative error ${e2.toExponential(2)}`);
}

for (const be of [wasm, wasm2]) {
  for (const v of GPT2_VARIANTS) {
    test(`${be.name}: gpt2 ${v} logits match the reference backend within 1e-4`, async (t) => {
      if (!gpt2) return t.skip('the GPT-2 fixtures need ../shared/tokenizers/gpt2');
      for (const p of Object.values(GPT2_REF.variants[v].prompts)) await compare(gpt2[v], p.ids, be);
      // and the float64 numpy reference, through the same checks as test/models
      await withBackend(be, async () => assertLogitsMatch(await loadModel(gpt2[v]), GPT2_REF, v, 1e-4));
    });
  }
  for (const v of LLAMA_VARIANTS) {
    test(`${be.name}: llama ${v} logits match the reference backend within 1e-4`, async (t) => {
      if (!llama) return t.skip('the Llama fixtures need ../shared/tokenizers/llama2');
      for (const p of Object.values(LLAMA_REF.variants[v].prompts)) await compare(llama[v], p.ids, be);
      await withBackend(be, async () => assertLogitsMatch(await loadModel(llama[v]), LLAMA_REF, v, 1e-4));
    });
  }
}

test('wasm: a tied GPT-2 table is held once (the embedding reads the LM head matrix in wasm memory)', async (t) => {
  if (!gpt2) return t.skip('the GPT-2 fixtures need ../shared/tokenizers/gpt2');
  await withBackend(wasm, async () => {
    const m = await loadModel(gpt2['gpt2-tiny']);
    const head = m.decoder.lmHead.weight;
    assert.equal(head.kind, 'f32');
    assert.equal(m.decoder.embedding.weight, head.kind === 'f32' ? head.data : null, 'one table');
    assert.equal(wasm.placeMatrix(head), head, 'in the backend memory');
  });
});

const STORIES = fileURLToPath(
  new URL('../../../shared/models/stories260K-llama2c/stories260K.bin', import.meta.url),
);

test('wasm: the real stories260K decodes the same greedy tokens as the reference backend', async (t) => {
  if (!existsSync(STORIES)) return t.skip(`${STORIES} is absent`);
  const greedy = async (m: LanguageModel) => {
    const gen = m.generate('Once upon a time', { greedy: true, maxTokens: 60, stopAtEos: false });
    for await (const _ of gen) {
      // drain
    }
    return (await gen.result).ids;
  };
  const want = await greedy(await loadModel(STORIES));
  const got = await withBackend(wasm, async () => greedy(await loadModel(STORIES)));
  assert.deepEqual(got, want);
  assert.equal(backend(), referenceBackend);
});

/** A small GPT-2-shaped decoder from seeded random weights, its matrices built under the active backend. */
function randomGpt2(kind: 'f32' | 'q8_0'): Decoder {
  const r = new Rng(7);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (r.next() * 2 - 1) * s);
  const [vocab, dim, heads, ffn, ctx] = [101, 64, 4, 256, 32];
  const mat = (rows: number, cols: number, s = 0.15): Matrix =>
    kind === 'f32'
      ? matrixF32(rows, cols, rand(rows * cols, s))
      : quantizeMatrixQ8_0(rows, cols, rand(rows * cols, s));
  const ln = () =>
    new LayerNorm(
      rand(dim, 0.2).map((v) => v + 1),
      rand(dim, 0.1),
      1e-5,
    );
  const blocks = [0, 1].map(
    () =>
      new Block(
        ln(),
        new Attention(
          { nHeads: heads, nKvHeads: heads, headDim: dim / heads },
          new Linear(mat(3 * dim, dim), rand(3 * dim, 0.1)),
          new Linear(mat(dim, dim), rand(dim, 0.1)),
        ),
        ln(),
        new FeedForward(
          'gelu',
          new Linear(mat(ffn, dim), rand(ffn, 0.1)),
          new Linear(mat(dim, ffn, 0.08), rand(dim, 0.1)),
        ),
      ),
  );
  const wte = rand(vocab * dim, 1);
  return new Decoder({
    embedding: new Embedding(wte, vocab, dim),
    positional: new LearnedPositional(rand(ctx * dim, 0.1), ctx, dim),
    blocks,
    finalNorm: ln(),
    lmHead: new Linear(kind === 'f32' ? matrixF32(vocab, dim, wte) : quantizeMatrixQ8_0(vocab, dim, wte)),
    contextLength: ctx,
  });
}

for (const be of [wasm, wasm2]) {
  test(`${be.name}: a q8_0 GPT-2-shaped model gives the reference backend's logits (prefill and decode)`, async () => {
    // 18 tokens: a prompt pass of 16+ rows runs the batched kernel; 10 tokens: fewer rows, decode's kernel
    const ids = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46, 26, 43, 38, 32, 79, 50, 28];
    const short = ids.slice(0, 10);
    const run = (d: Decoder) => {
      const full = d.forward(ids);
      const few = d.forward(short);
      const cache = d.newCache();
      const cached = new Float32Array(full.length);
      ids.forEach((id, i) => cached.set(d.forward([id], cache), i * d.vocabSize));
      return { full, few, cached };
    };
    const want = run(randomGpt2('q8_0'));
    const got = await withBackend(be, () => run(randomGpt2('q8_0')));
    // prefill of 16+ rows (batched kernel) is float32-exact (~1e-7); decode, and passes of 2-15 rows (a
    // batched decoding step, a short prompt), round x per 32-block: to int16 on plain SIMD (~2e-5), to int8
    // with relaxed SIMD (llama.cpp's q8_0 × q8_0: ~5e-3 through 2 layers)
    const e1 = relError(got.full, want.full);
    const e2 = relError(got.cached, want.cached);
    const e3 = relError(got.few, want.few);
    const rounded = be.relaxedSimd ? 2e-2 : 2e-4;
    assert.ok(e1 < 1e-4, `prefill: relative error ${e1.toExponential(2)}`);
    assert.ok(e2 < rounded, `decode: relative error ${e2.toExponential(2)}`);
    assert.ok(e3 < rounded, `a 10-token prompt: relative error ${e3.toExponential(2)}`);
  });
}

test('wasm: a synchronous loop of cache-less forwards (scoring a text window by window) does not exhaust memory', async (t) => {
  if (!gpt2) return t.skip('GPT-2 fixtures unavailable (../shared/tokenizers/gpt2 absent)');
  // Each forward without a cache once got a new KV cache whose wasm mirror was freed only by GC, which
  // a synchronous loop never reaches: 4,500 windows of the bundled model's eval needed 4 GiB.
  const small = await createWasmBackend({ maximumMiB: 64 });
  const prev = backend();
  setBackend(small);
  try {
    const m = await loadModel(gpt2['gpt2-tiny']);
    const ids = Array.from({ length: 64 }, (_, i) => (i * 31 + 7) % 50257);
    // A synchronous loop never lets GC run, so a leak shows as growth at once: 200 windows would hold
    // 12.5 MiB of mirrors. (It used to run 1,500 windows until the 64 MiB ran out: minutes on 2 cores.)
    const first = m.forward(ids).data.slice();
    const before = small.bytesInUse;
    let out: Float32Array = first;
    for (let i = 0; i < 200; i++) out = m.forward(ids).data;
    assert.deepEqual(out, first, 'the reused cache gives the same logits');
    const grown = small.bytesInUse - before;
    t.diagnostic(`wasm memory in use: ${before} → ${small.bytesInUse} bytes`);
    assert.ok(grown < 1 << 20, `wasm memory grew by ${grown} bytes over 200 cache-less forwards`);
  } finally {
    setBackend(prev);
    small.close();
  }
});
