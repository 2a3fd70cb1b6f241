// The one step loop (src/generate/steps.ts) behind generate, model.trace and the server's /api/generate:
// the same prompt and seed give the same token ids on all three, and they stop alike — at a sampled
// end-of-text (included as the last step by trace and the stream, left out of generate's ids) and at a
// stop string (the step that completes it is the last).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/models/load-node.js';
import type { LanguageModel } from '../../src/models/model.js';
import { startServer } from '../../src/server/app.js';
import type { TraceStep } from '../../src/trace/schema.js';
import { ensureGpt2Fixtures, SHARED_GPT2 } from '../fixtures/make-gpt2.js';

const dirs = await ensureGpt2Fixtures();
const SKIP = `${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`;
const PROMPT = 'Once upon a time';
const SAMPLING = { temperature: 1, seed: 5 };
const N = 12;

interface Stops {
  stopAtEos?: boolean;
  stop?: string[];
}

/** The ids each path produces: generate's result, the trace's steps, the server's streamed steps. */
async function threePaths(m: LanguageModel, o: Stops) {
  const g = m.generate(PROMPT, { ...SAMPLING, maxTokens: N, ...o });
  let text = '';
  for await (const piece of g) text += piece;
  const r = await g.result;
  const trace = m.trace(PROMPT, { ...SAMPLING, steps: N, ...o, vectors: 'summary', attention: false });
  const server = await startServer(m, { host: '127.0.0.1', port: 0, webRoot: null });
  let streamed: number[];
  try {
    const res = await fetch(new URL('api/generate', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: PROMPT, steps: N, ...SAMPLING, ...o, layers: [0] }),
    });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    streamed = body
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => (JSON.parse(l) as TraceStep).token.id);
  } finally {
    await server.close();
  }
  return {
    generated: r.ids,
    text,
    stopReason: r.stopReason,
    traced: trace.steps.map((s) => s.token.id),
    streamed,
  };
}

test('generate, trace and the server stream: same ids; the same stops at end-of-text and a stop string', async (t) => {
  if (!dirs) return t.skip(SKIP);
  // A model of our own: the test gives its tokenizer another end-of-text id below.
  const m = await loadModel(dirs['gpt2-tiny-sharded']);
  const free = await threePaths(m, { stopAtEos: false });
  assert.equal(free.stopReason, 'max-tokens');
  assert.equal(free.generated.length, N);
  assert.deepEqual(free.traced, free.generated);
  assert.deepEqual(free.streamed, free.generated);

  // A stop string that the text first completes at step j: every path ends at that step.
  const ids = free.generated;
  const stop = m.tokenizer.decode(ids.slice(0, 7)).slice(-3);
  const j = ids.findIndex((_, k) => m.tokenizer.decode(ids.slice(0, k + 1)).includes(stop));
  assert.ok(j >= 0 && j < N - 1, `stop string ${JSON.stringify(stop)} ends the text early`);
  const stopped = await threePaths(m, { stopAtEos: false, stop: [stop] });
  assert.equal(stopped.stopReason, 'stop');
  assert.deepEqual(stopped.generated, ids.slice(0, j + 1));
  assert.equal(stopped.text, free.text.slice(0, free.text.indexOf(stop)));
  assert.deepEqual(stopped.traced, stopped.generated);
  assert.deepEqual(stopped.streamed, stopped.generated);

  // End-of-text: make the id sampled at step k (its first appearance) the end-of-text token.
  const k = ids.findIndex((id, i) => i >= 3 && !ids.slice(0, i).includes(id));
  assert.ok(k > 0 && k < N - 1, 'a fresh id after step 3');
  (m.tokenizer.specialTokens as { eos?: number }).eos = ids[k];
  const eos = await threePaths(m, {});
  assert.equal(eos.stopReason, 'eos');
  assert.deepEqual(eos.generated, ids.slice(0, k), 'generate leaves the end-of-text out');
  assert.deepEqual(eos.traced, ids.slice(0, k + 1), 'the trace records it as its last step');
  assert.deepEqual(eos.streamed, eos.traced);
  // Opting out goes on past it, on every path.
  const on = await threePaths(m, { stopAtEos: false });
  assert.deepEqual(on.generated, ids);
  assert.deepEqual(on.traced, ids);
  assert.deepEqual(on.streamed, ids);
});

test('the step loop: forced ids are checked once, before anything runs; a forced end-of-text does not stop', async (t) => {
  if (!dirs) return t.skip(SKIP);
  const m = await loadModel(dirs['gpt2-tiny']);
  const eos = m.tokenizer.specialTokens.eos!;
  const v = m.decoder.vocabSize;
  assert.throws(
    () => m.trace('hi', { forced: [v] }),
    new RegExp(`forced token ${v} is not in the vocabulary`),
  );
  const trace = m.trace('hi', { forced: [eos, eos], steps: 3, attention: false, vectors: 'summary' });
  assert.deepEqual(
    trace.steps.slice(0, 2).map((s) => s.token.id),
    [eos, eos],
  );
  assert.equal(trace.steps.length, 3);
});
