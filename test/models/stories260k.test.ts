// The real pretrained stories260K (Llama-2 architecture, llama2.c's tinyllamas) from ../shared/models, in
// three files: llama2.c .bin, GGUF v1 F32, GGUF v2 Q8_0. Greedy decoding from BOS must reproduce the
// published output exactly — a check of the whole engine: tokenizer, RoPE, GQA, RMSNorm, SwiGLU, sampling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/models/load-node.js';
import type { LanguageModel } from '../../src/models/model.js';
import { relativeL2 } from './reference.js';

const SHARED = fileURLToPath(new URL('../../../shared/models/', import.meta.url));
const BIN = `${SHARED}stories260K-llama2c/stories260K.bin`;
const F32 = `${SHARED}stories260K-gguf/tinyllamas-stories-260k-f32.gguf`;
const Q8 = `${SHARED}stories260K-gguf/tinyllamas-stories-260k-q8_0.gguf`;
const EXPECTED_IDS = `${SHARED}stories260K-llama2c/expected-greedy-ids.json`;
const EXPECTED_TEXT = `${SHARED}stories260K-llama2c/expected-greedy.txt`;
const present = [BIN, F32, Q8, EXPECTED_IDS, EXPECTED_TEXT].every((p) => existsSync(p));
const SKIP = `stories260K files are absent from ${SHARED}`;

const expectedIds: number[] = present ? JSON.parse(readFileSync(EXPECTED_IDS, 'utf8')) : [];
const expectedText = present ? readFileSync(EXPECTED_TEXT, 'utf8') : '';

async function greedyFromBos(m: LanguageModel, n: number) {
  // An empty prompt is BOS alone; llama2.c stops when BOS comes again, we stop at EOS: neither occurs here.
  const gen = m.generate('', { greedy: true, maxTokens: n, stopAtEos: false });
  let text = '';
  for await (const piece of gen) text += piece;
  return { text, r: await gen.result };
}

function argmaxRows(logits: Float32Array, vocab: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < logits.length; o += vocab) {
    let best = 0;
    for (let j = 1; j < vocab; j++) if (logits[o + j] > logits[o + best]) best = j;
    out.push(best);
  }
  return out;
}

for (const [label, path] of [
  ['llama2.c .bin', BIN],
  ['GGUF F32 (v1)', F32],
] as const) {
  test(`stories260K ${label}: greedy from BOS reproduces expected-greedy ids and text exactly`, async (t) => {
    if (!present) return t.skip(SKIP);
    const m = await loadModel(path);
    const { text, r } = await greedyFromBos(m, expectedIds.length);
    assert.deepEqual(r.promptIds, [1]);
    assert.deepEqual(r.ids, expectedIds);
    assert.equal(text, expectedText);
  });
}

test('stories260K: the F32 GGUF gives the same logits as the llama2.c file, bit for bit', async (t) => {
  if (!present) return t.skip(SKIP);
  const a = (await loadModel(BIN)).forward([1, ...expectedIds.slice(0, 40)]);
  const b = (await loadModel(F32)).forward([1, ...expectedIds.slice(0, 40)]);
  assert.deepEqual(a.shape, b.shape);
  assert.ok(
    a.data.every((v, i) => v === b.data[i]),
    'identical logits',
  );
});

test('stories260K Q8_0 GGUF (v2): greedy text differs from f32 only where Q8_0 changes a near-tie argmax', async (t) => {
  if (!present) return t.skip(SKIP);
  const f32 = await loadModel(BIN);
  const q8 = await loadModel(Q8);
  const seq = [1, ...expectedIds.slice(0, -1)];
  const lf = f32.forward(seq).data;
  const lq = q8.forward(seq).data;
  const vocab = 512;
  const af = argmaxRows(lf, vocab);
  const aq = argmaxRows(lq, vocab);
  assert.deepEqual(af, expectedIds, 'teacher-forced f32 argmax is the expected sequence');
  const flips: string[] = [];
  for (let i = 0; i < aq.length; i++) {
    if (aq[i] === af[i]) continue;
    const margin = lf[i * vocab + af[i]] - lf[i * vocab + aq[i]];
    flips.push(`position ${i}: f32 picks ${af[i]}, q8_0 picks ${aq[i]} (f32 margin ${margin.toFixed(4)})`);
    assert.ok(margin < 0.25, `q8_0 changed a confident argmax at ${i} (f32 margin ${margin})`);
  }
  assert.ok(
    flips.length <= expectedIds.length * 0.05,
    `${flips.length} of ${expectedIds.length} argmaxes changed`,
  );
  const { r } = await greedyFromBos(q8, expectedIds.length);
  let same = 0;
  while (same < r.ids.length && r.ids[same] === expectedIds[same]) same++;
  t.diagnostic(
    `q8_0: ${flips.length} teacher-forced argmax flips${flips.length ? ': ' + flips.join('; ') : ''}; ` +
      `free-running greedy matches the f32 text for the first ${same} of ${expectedIds.length} tokens`,
  );
});

test('stories260K: a text prompt is tokenized as llama2.c does and continues the expected story', async (t) => {
  if (!present) return t.skip(SKIP);
  const m = await loadModel(BIN);
  const gen = m.generate('Once upon a time', { greedy: true, maxTokens: 30, stopAtEos: false });
  let text = '';
  for await (const piece of gen) text += piece;
  const r = await gen.result;
  assert.deepEqual(r.promptIds, [1, ...expectedIds.slice(0, 4)], 'BOS + dummy-prefixed "Once upon a time"');
  assert.deepEqual(r.ids, expectedIds.slice(4, 34));
  assert.ok(expectedText.startsWith('Once upon a time' + text), 'continuation text');
});

test('stories260K Q8_0 GGUF with dtype q8_0: re-quantizing gives the file’s own blocks (same logits as the expanded weights)', async (t) => {
  if (!present) return t.skip(SKIP);
  const expanded = await loadModel(Q8);
  const kept = await loadModel(Q8, { dtype: 'q8_0' });
  const kinds = kept.decoder.blocks.flatMap((b) => [
    b.attention.qkv.weight.kind,
    b.attention.out.weight.kind,
    b.ffn.up.weight.kind,
    b.ffn.down.weight.kind,
  ]);
  // ffn_down has rows of 172 (not whole 32-blocks): it stays f32, as documented.
  assert.deepEqual(new Set(kinds), new Set(['q8_0', 'f32']));
  assert.equal(kept.decoder.blocks[0].ffn.down.weight.kind, 'f32');
  assert.equal(kept.decoder.lmHead.weight.kind, 'q8_0');
  const seq = [1, ...expectedIds.slice(0, 60)];
  const a = expanded.forward(seq).data;
  const b = kept.forward(seq).data;
  const rel = relativeL2(a, b);
  t.diagnostic(`relative L2 difference of the logits: ${rel.toExponential(2)}`);
  assert.ok(rel < 1e-5, `logits differ by ${rel} (re-quantized blocks are not the file's)`);
});
