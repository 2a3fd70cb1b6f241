// The KV cache grows as tokens arrive, in blocks of KV_BLOCK positions, instead of holding the whole
// context up front: a 2^20-context model generates with memory proportional to the tokens used, the
// logits are those of a cache that held every position from the start, and under the wasm backend the
// arrays live in its memory and outgrown ones are freed at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Decoder } from '../../src/models/decoder.js';
import { KV_BLOCK } from '../../src/nn/kv-cache.js';
import { createLlama } from '../../src/train/init.js';
import { TINY_LLAMA } from '../fixtures/tiny-llama.js';
import { withWasmBackend } from '../fixtures/wasm.js';

const SPEC = { ...TINY_LLAMA, vocabSize: 64 };
const KV_DIM = SPEC.nKvHeads * SPEC.headDim;

/** Feeds ids one at a time (after a prompt of `prompt` tokens); returns the last logits. */
function run(d: Decoder, cache: ReturnType<Decoder['newCache']>, n: number, prompt = 5): Float32Array {
  const ids = Array.from({ length: n }, (_, i) => (i * 7 + 3) % SPEC.vocabSize);
  let logits = d.forward(ids.slice(0, prompt), cache, true);
  for (let i = prompt; i < n; i++) logits = d.forward([ids[i]], cache, true);
  return logits;
}

test('KV cache: a 2^20-context model holds one block for 20 tokens, not the whole context', async () => {
  const d = await createLlama({ ...SPEC, contextLength: 2 ** 20 }, 1);
  const cache = d.newCache();
  assert.equal(cache.bytes, 0, 'nothing is held before the first token');
  const logits = run(d, cache, 20);
  assert.equal(cache.length, 20);
  assert.equal(cache.capacity, KV_BLOCK);
  const perBlock = 2 * SPEC.nLayers * KV_BLOCK * KV_DIM * 4;
  assert.equal(cache.bytes, perBlock, `${cache.bytes} bytes for 20 tokens`);
  assert.equal(d.kvCacheBytes(20), perBlock);
  assert.equal(d.kvCacheBytes(KV_BLOCK + 1), 2 * perBlock);
  // The whole context would have been 2^20 / KV_BLOCK times as much.
  assert.ok(d.kvCacheBytes(2 ** 20) === (2 ** 20 / KV_BLOCK) * perBlock);
  // Same logits as a cache that held its positions from the start.
  const full = d.newCache(64);
  full.reserve(64);
  assert.deepEqual(run(d, full, 20), logits);
  cache.release();
  assert.equal(cache.bytes, 0);
});

test('KV cache: growing across blocks keeps the filled positions (same logits as reserved up front)', async () => {
  const d = await createLlama({ ...SPEC, contextLength: 4 * KV_BLOCK }, 2);
  const grown = d.newCache();
  const n = 2 * KV_BLOCK + 10;
  const a = run(d, grown, n, KV_BLOCK - 3); // the prompt ends just before a block boundary
  assert.equal(grown.capacity, 3 * KV_BLOCK);
  const reserved = d.newCache();
  reserved.reserve(4 * KV_BLOCK);
  assert.deepEqual(run(d, reserved, n, KV_BLOCK - 3), a);
  // Past the context: a clear error, not a RangeError.
  const small = d.newCache(8);
  assert.throws(
    () =>
      d.forward(
        Array.from({ length: 9 }, () => 1),
        small,
      ),
    /context length is 8/,
  );
});

test('KV cache under wasm: its arrays live in linear memory, and outgrown ones are freed when the cache grows', () =>
  withWasmBackend(async (be) => {
    const d = await createLlama({ ...SPEC, contextLength: 8 * KV_BLOCK }, 3);
    const cache = d.newCache();
    run(d, cache, 5, 5); // scratch and weights settle
    // attention reads keys and values in place: no mirror, nothing copied into the memory on the way
    const inMemory = (a: Float32Array) => a.buffer instanceof SharedArrayBuffer; // the shared wasm memory
    assert.ok([...cache.k, ...cache.v].every(inMemory), 'the cache arrays are views of linear memory');
    const base = be.bytesInUse - cache.bytes;
    run(d, cache, 3 * KV_BLOCK + 1, 5);
    // Still only the live arrays held (allocations are rounded up, hence the slack).
    const held = be.bytesInUse - base;
    assert.ok(
      held <= cache.bytes + 64 * 4 * SPEC.nLayers,
      `${held} bytes held for a cache of ${cache.bytes} bytes`,
    );
    cache.release();
    assert.ok(be.bytesInUse <= base, `${be.bytesInUse - base} bytes left after release`);
  }));

test('forwards under wasm give their activations back: memory in use is the same after 40 of them', () =>
  withWasmBackend(async (be) => {
    const d = await createLlama({ ...SPEC, contextLength: 4 * KV_BLOCK }, 4);
    const cache = d.newCache();
    cache.reserve(2 * KV_BLOCK);
    d.forward([1, 2, 3, 4, 5, 6, 7, 8], cache, true); // scratch and weights settle
    const before = be.bytesInUse;
    let logits: Float32Array = new Float32Array(0);
    for (let i = 0; i < 40; i++) logits = d.forward(i % 2 ? [i % SPEC.vocabSize] : [1, 2, 3], cache, true);
    assert.equal(be.bytesInUse, before, 'bytes in use after 40 forwards');
    // what a forward returns is the caller's own array, not a view of memory given back
    assert.ok(!(logits.buffer instanceof SharedArrayBuffer), 'logits are a plain array');
    assert.equal(logits.length, SPEC.vocabSize);
  }));
