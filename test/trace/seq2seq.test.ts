// The trace of an encoder-decoder (a random-weight Marian fixture): the source and the encoder's
// self-attention, and for the prompt pass and every generated step the cross-attention over the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/models/load-node.js';
import { alignment } from '../../src/trace/alignment.js';
import { TRACE_VERSION } from '../../src/trace/schema.js';
import { ensureMarianFixtures } from '../fixtures/make-marian.js';
import { ensureT5Fixtures } from '../fixtures/make-t5.js';

const dirs = await ensureMarianFixtures();
const PROMPT = 'The house is small.';

function assertDistribution(row: number[], n: number, what: string): void {
  assert.equal(row.length, n, `${what}: ${row.length} columns, expected ${n}`);
  const sum = row.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-3, `${what} sums to ${sum}`);
  for (const p of row) assert.ok(p >= 0 && p <= 1, `${what}: ${p}`);
}

test('seq2seq trace: source, encoder attention, cross-attention per step, layer and head', async (t) => {
  if (!dirs) return t.skip('../shared/tokenizers/opus-mt-en-mg is absent');
  const m = await loadModel(dirs['marian-tiny-pos']);
  const s2s = m.seq2seq!;
  const trace = m.trace(PROMPT, { steps: 5, topK: 3, stopAtEos: false });
  assert.equal(trace.version, TRACE_VERSION);
  const src = trace.source!;
  assert.ok(src, 'a seq2seq trace has its source');
  const srcIds = Array.from(m.tokenizer.encode(PROMPT));
  assert.deepEqual(
    src.tokens.map((x) => x.id),
    srcIds,
  );
  assert.equal(src.tokens.at(-1)!.text, '</s>');
  const S = srcIds.length;
  // the decoder reads its start token; positions are sinusoidal on both sides, shown as vectors
  assert.deepEqual(
    trace.tokens.map((x) => x.id),
    [s2s.decoderStartTokenId],
  );
  assert.equal(trace.model.positional, 'sinusoidal');
  assert.deepEqual(trace.model.encoder, {
    nLayers: s2s.encoder.nLayers,
    nHeads: s2s.encoder.blocks[0].attention.config.nHeads,
    positional: 'sinusoidal',
  });
  assert.equal(trace.embeddings.positional?.length, 1);
  assert.equal(src.embeddings.positional?.length, S);
  assert.equal(src.embeddings.token?.[0].length, s2s.encoder.dim);
  assert.deepEqual(
    src.embeddings.positional![1].map((v) => Math.round(v * 1e3)),
    Array.from(s2s.encoder.positional!.vector(1), (v) => Math.round(v * 1e3)),
  );
  // encoder self-attention: [L][H][S][S], bidirectional rows over the whole source
  const He = trace.model.encoder!.nHeads;
  assert.equal(src.attention!.length, s2s.encoder.nLayers);
  for (const [l, layer] of src.attention!.entries()) {
    assert.equal(layer.length, He);
    for (const [h, head] of layer.entries()) {
      assert.equal(head.length, S);
      head.forEach((row, i) => assertDistribution(row, S, `encoder layer ${l} head ${h} row ${i}`));
    }
  }
  // the prompt pass: cross-attention [H][1][S] in every decoder layer
  const H = trace.model.nHeads;
  const L = m.decoder.nLayers;
  assert.equal(trace.layers.length, L);
  for (const layer of trace.layers) {
    assert.equal(layer.crossAttention!.length, H);
    for (const head of layer.crossAttention!) {
      assert.equal(head.length, 1);
      assertDistribution(head[0], S, `prompt pass layer ${layer.layer}`);
    }
  }
  // every step: [L][H][S] over the source, and its self-attention row over the decoder's positions
  assert.equal(trace.steps.length, 5);
  for (const [s, step] of trace.steps.entries()) {
    assert.equal(step.crossAttention!.length, L);
    for (const [l, heads] of step.crossAttention!.entries()) {
      assert.equal(heads.length, H);
      heads.forEach((row, h) => assertDistribution(row, S, `step ${s} layer ${l} head ${h}`));
    }
    assert.equal(step.attention.length, L);
    for (const heads of step.attention) heads.forEach((row) => assertDistribution(row, s + 2, `step ${s}`));
  }
  // the steps are the translation generate() gives (the same step loop)
  const g = m.generate(PROMPT, { maxTokens: 5, greedy: true, stopAtEos: false });
  for await (const _ of g) {
    // drain
  }
  assert.deepEqual(
    trace.steps.map((s) => s.token.id),
    (await g.result).ids,
  );
});

test('seq2seq trace: attention off, summary vectors and a layer subset', async (t) => {
  if (!dirs) return t.skip('../shared/tokenizers/opus-mt-en-mg is absent');
  const m = await loadModel(dirs['marian-tiny']);
  const trace = m.trace(PROMPT, { steps: 2, attention: false, layers: [1], vectors: 'summary' });
  assert.equal(trace.source!.attention, undefined);
  assert.equal(trace.source!.embeddings.token, undefined);
  assert.equal(trace.layers[0].crossAttention, undefined);
  // a step always records its rows, for the wanted layers only
  assert.equal(trace.steps[0].crossAttention!.length, 1);
});

test('alignment: output token k shows the cross-attention of the query that chose it, per layer/head or mean', async (t) => {
  if (!dirs) return t.skip('../shared/tokenizers/opus-mt-en-mg is absent');
  const m = await loadModel(dirs['marian-tiny']);
  const trace = m.trace(PROMPT, { steps: 4, stopAtEos: false });
  const S = trace.source!.tokens.length;
  const one = alignment(trace, trace.steps, 1, 2)!;
  assert.deepEqual(
    one.output.map((x) => x.id),
    trace.steps.map((s) => s.token.id),
  );
  assert.equal(one.source.length, S);
  assert.deepEqual(one.weights[0], trace.layers[1].crossAttention![2][0]);
  for (let k = 1; k < 4; k++) assert.deepEqual(one.weights[k], trace.steps[k - 1].crossAttention![1][2]);
  const avg = alignment(trace)!;
  assert.equal(avg.weights.length, 4);
  avg.weights.forEach((row, k) => assertDistribution(row, S, `mean row ${k}`));
  const want = trace.steps[0].crossAttention!.flat();
  avg.weights[1].forEach((p, j) => {
    const w = want.reduce((a, r) => a + r[j], 0) / want.length;
    assert.ok(Math.abs(p - w) < 1e-9);
  });
  // the steps the explorer holds apart from the trace
  assert.deepEqual(alignment({ ...trace, steps: [] }, trace.steps.slice(0, 2), 0, 0)!.weights.length, 2);
  assert.equal(alignment({ ...trace, source: undefined }), null);
});

test('seq2seq trace with beams: the beam tree, and the winner replayed as steps with its alignment', async (t) => {
  if (!dirs) return t.skip('../shared/tokenizers/opus-mt-en-mg is absent');
  const m = await loadModel(dirs['marian-tiny']);
  const trace = m.trace(PROMPT, { steps: 5, numBeams: 3, stopAtEos: false });
  const g = m.generate(PROMPT, { maxTokens: 5, numBeams: 3, stopAtEos: false });
  for await (const piece of g) void piece;
  const best = (await g.result).sequences![0];
  assert.ok(trace.beams && trace.beams.steps.length > 0, 'the tree is recorded');
  assert.deepEqual(trace.beams.hypotheses[0].ids, best.ids);
  assert.deepEqual(
    trace.steps.map((s) => s.token.id),
    best.ids,
  );
  // every output token of the winner has a cross-attention row over the source
  const S = trace.source!.tokens.length;
  const a = alignment(trace)!;
  assert.equal(a.weights.length, best.ids.length);
  a.weights.forEach((row, k) => assertDistribution(row, S, `beam winner row ${k}`));
});

test('seq2seq trace of T5: relative positions (no positional vectors), encoder and cross-attention', async () => {
  const t5 = await ensureT5Fixtures();
  const m = await loadModel(t5['flan-t5-tiny']);
  const s2s = m.seq2seq!;
  const prompt = 'translate English to German: the house is wonderful.';
  const trace = m.trace(prompt, { steps: 3, topK: 3, stopAtEos: false });
  assert.equal(trace.model.positional, 'relative');
  assert.equal(trace.model.ffn, 'geglu');
  assert.equal(trace.model.headDim, 6);
  assert.deepEqual(trace.model.encoder, { nLayers: 2, nHeads: 3, positional: 'relative' });
  const src = trace.source!;
  const S = src.tokens.length;
  assert.equal(S, 11);
  assert.equal(src.embeddings.positional, undefined, 'a relative bias has no vectors to show');
  assert.equal(src.embeddings.positionalNorms, undefined);
  assert.equal(trace.embeddings.positional, undefined);
  // instead: each head's bias by distance key − query, from the encoder's table (the decoder's: causal)
  const rel = src.embeddings.relative!;
  assert.equal(rel.bidirectional, true);
  assert.deepEqual(
    rel.distances,
    Array.from({ length: 2 * S - 1 }, (_, i) => i - (S - 1)),
  );
  const eb = s2s.encoder.positionBias!;
  assert.deepEqual(
    rel.buckets,
    rel.distances.map((d) => eb.bucket(d)),
  );
  assert.equal(rel.bias.length, 3);
  assert.ok(Math.abs(rel.bias[2][S - 1] - eb.weight[eb.bucket(0) * 3 + 2]) < 1e-4);
  assert.deepEqual(trace.embeddings.relative!.distances, [0], 'the decoder reads its start token only');
  assert.equal(trace.embeddings.relative!.bidirectional, false);
  // the encoder's self-attention sees the whole source (the bias moves weight, the rows still sum to 1)
  for (const [l, layer] of src.attention!.entries())
    for (const [h, head] of layer.entries())
      head.forEach((row, i) => assertDistribution(row, S, `encoder layer ${l} head ${h} row ${i}`));
  // the prompt pass: cross-attention [H][1][S] per layer; each step: [L][H][S]
  for (const layer of trace.layers)
    for (const head of layer.crossAttention!)
      assertDistribution(head[0], S, `prompt pass layer ${layer.layer}`);
  for (const step of trace.steps)
    for (const heads of step.crossAttention!) heads.forEach((row) => assertDistribution(row, S, 'step'));
  // the steps are the greedy output generate() gives (the same step loop; the folder's default is 3 beams)
  const g = m.generate(prompt, { maxTokens: 3, greedy: true, numBeams: 1, stopAtEos: false });
  for await (const _ of g) {
    // drain
  }
  assert.deepEqual(
    trace.steps.map((x) => x.token.id),
    (await g.result).ids,
  );
  assert.equal(s2s.decoder.nLayers, trace.layers.length);
  assert.equal(trace.steps.length, 3);
});
