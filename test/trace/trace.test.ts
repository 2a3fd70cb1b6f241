// Trace invariants, on the real stories260K (real attention patterns, RoPE, GQA) and a tiny GPT-2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/models/load-node.js';
import type { LanguageModel } from '../../src/models/model.js';
import { TRACE_VERSION, type Trace } from '../../src/trace/schema.js';
import { ensureGpt2Fixtures } from '../fixtures/make-gpt2.js';

const STORIES = fileURLToPath(
  new URL('../../../shared/models/stories260K-llama2c/stories260K.bin', import.meta.url),
);
const gpt2Dirs = await ensureGpt2Fixtures();
const models: Array<[string, () => Promise<LanguageModel | null>]> = [
  ['stories260K', async () => (existsSync(STORIES) ? loadModel(STORIES) : null)],
  ['tiny gpt2', async () => (gpt2Dirs ? loadModel(gpt2Dirs['gpt2-tiny-sharded']) : null)],
];
const PROMPT = 'The little bird sat on the river bank and sang';

function checkAttention(trace: Trace): void {
  const T = trace.tokens.length;
  for (const layer of trace.layers) {
    assert.ok(layer.attention, `layer ${layer.layer} has attention`);
    assert.equal(layer.attention.length, trace.model.nHeads);
    for (const head of layer.attention) {
      assert.equal(head.length, T);
      head.forEach((row, i) => {
        assert.equal(row.length, T);
        const sum = row.reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-3, `row ${i} sums to ${sum}`);
        for (let j = i + 1; j < T; j++) assert.equal(row[j], 0, `causal: row ${i} col ${j}`);
      });
    }
  }
}

for (const [name, load] of models) {
  test(`${name}: trace shapes and invariants`, async (t) => {
    const m = await load();
    if (!m) return t.skip(`${name} is absent (../shared or its fixtures)`);
    const trace = m.trace(PROMPT, { topK: 5 });
    assert.equal(trace.version, TRACE_VERSION);
    assert.equal(trace.source, undefined, 'a decoder-only trace has no source');
    assert.equal(trace.model.encoder, undefined);
    const T = trace.tokens.length;
    assert.equal(trace.layers.length, m.decoder.nLayers);
    assert.deepEqual(
      trace.tokens.map((x) => x.id),
      await (async () => {
        const g = m.generate(PROMPT, { maxTokens: 0 });
        for await (const _ of g) {
          // none
        }
        return (await g.result).promptIds;
      })(),
    );
    assert.equal(trace.embeddings.token?.length, T);
    assert.equal(trace.embeddings.token?.[0].length, m.decoder.dim);
    if (trace.model.positional === 'learned') assert.equal(trace.embeddings.positional?.length, T);
    else assert.equal(trace.embeddings.rope?.angles.length, T);
    for (const layer of trace.layers) {
      assert.equal(layer.residualIn?.length, T);
      assert.equal(layer.residualOutNorms.length, T);
      assert.equal(layer.headNorms.length, T);
      assert.equal(layer.headNorms[0].length, m.decoder.blocks[0].attention.config.nHeads);
      assert.equal(layer.ffnActivations.length, T);
      assert.equal(layer.lens.length, 1);
      assert.equal(layer.lens[0].length, 5);
    }
    checkAttention(trace);
    // Residual bookkeeping: out = in + attention added + ffn added, so |out - in| <= |att| + |ffn|.
    for (const layer of trace.layers) {
      layer.residualOut!.forEach((row, i) => {
        const diff = Math.sqrt(row.reduce((a, v, k) => a + (v - layer.residualIn![i][k]) ** 2, 0));
        assert.ok(diff <= layer.attentionAddedNorms[i] + layer.ffnAddedNorms[i] + 1e-3);
      });
    }
  });

  test(`${name}: the logit lens at the last layer equals the real output, and traced logits equal untraced`, async (t) => {
    const m = await load();
    if (!m) return t.skip(`${name} is absent`);
    const trace = m.trace(PROMPT, { topK: 8, precision: 9 });
    const last = trace.layers[trace.layers.length - 1];
    assert.deepEqual(
      last.lens[0].map((c) => c.id),
      trace.output.top.map((c) => c.id),
    );
    last.lens[0].forEach((c, i) => assert.ok(Math.abs(c.prob - trace.output.top[i].prob) < 1e-6));
    const ids = trace.tokens.map((x) => x.id);
    const logits = m.forward(ids).data;
    const v = m.decoder.vocabSize;
    for (const c of trace.output.top) {
      const plain = logits[(ids.length - 1) * v + c.id];
      assert.ok(
        Math.abs(plain - c.logit) <= 1e-6 * Math.max(1, Math.abs(plain)),
        `logit of ${c.id}: ${plain} vs ${c.logit}`,
      );
    }
  });

  test(`${name}: generated steps record each new token's attention row; forced tokens are used`, async (t) => {
    const m = await load();
    if (!m) return t.skip(`${name} is absent`);
    const T = m.trace(PROMPT, { attention: false, vectors: 'summary' }).tokens.length;
    const forced = [m.trace(PROMPT, { topK: 3 }).output.top[2].id];
    const seen: number[] = [];
    const trace = m.trace(
      PROMPT,
      { steps: 4, forced, layers: [0, 1], vectors: 'summary' },
      { onStep: (s) => seen.push(s.token.id) },
    );
    assert.equal(trace.steps.length, 4);
    assert.equal(trace.steps[0].token.id, forced[0]);
    assert.equal(trace.output.sampled?.id, forced[0]);
    assert.deepEqual(
      seen,
      trace.steps.map((s) => s.token.id),
    );
    trace.steps.forEach((s, k) => {
      assert.equal(s.position, T + k);
      assert.equal(s.attention.length, 2, 'two recorded layers');
      for (const head of s.attention) {
        assert.equal(head.length, m.decoder.blocks[0].attention.config.nHeads);
        for (const row of head) {
          assert.equal(row.length, T + k + 1);
          assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-3);
        }
      }
      if (k > 0) assert.equal(trace.steps[k - 1].output.sampled?.id, s.token.id);
    });
    // Greedy steps are the greedy generation.
    const g = m.generate(PROMPT, { greedy: true, maxTokens: 3, stopAtEos: false });
    for await (const _ of g) {
      // drain
    }
    const greedy = m.trace(PROMPT, { steps: 3, attention: false, vectors: 'summary' });
    assert.deepEqual(
      greedy.steps.map((s) => s.token.id),
      (await g.result).ids,
    );
    assert.equal(trace.layers.length, 2);
    assert.equal(trace.layers[0].residualIn, undefined, "'summary' keeps no vectors");
  });
}

test('trace: unknown layers and too many steps are refused', async (t) => {
  if (!gpt2Dirs) return t.skip('GPT-2 fixtures absent');
  const m = await loadModel(gpt2Dirs['gpt2-tiny']);
  assert.throws(() => m.trace('hi', { layers: [5] }), /layer 5 does not exist/);
  assert.throws(() => m.trace('hi', { steps: 100 }), /exceed the model's context length 64/);
});
