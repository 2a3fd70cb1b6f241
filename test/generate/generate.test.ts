// Streaming generation on the tiny GPT-2 fixture: seeds, stop strings, incremental text, max tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/models/load-node.js';
import type { LanguageModel } from '../../src/models/model.js';
import type { GenerateOptions } from '../../src/generate/generate.js';
import { ensureGpt2Fixtures, SHARED_GPT2 } from '../fixtures/make-gpt2.js';

const dirs = await ensureGpt2Fixtures();
const model: LanguageModel | null = dirs ? await loadModel(dirs['gpt2-tiny-sharded']) : null;
const SKIP = `${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`;

async function run(m: LanguageModel, prompt: string, o: GenerateOptions) {
  const gen = m.generate(prompt, o);
  const pieces: string[] = [];
  for await (const p of gen) pieces.push(p);
  return { pieces, r: await gen.result };
}

test('same seed, same text; different seed, different text', async (t) => {
  if (!model) return t.skip(SKIP);
  const a = await run(model, 'Once upon a time', { seed: 5, maxTokens: 20, temperature: 1 });
  const b = await run(model, 'Once upon a time', { seed: 5, maxTokens: 20, temperature: 1 });
  const c = await run(model, 'Once upon a time', { seed: 6, maxTokens: 20, temperature: 1 });
  assert.deepEqual(a.r.ids, b.r.ids);
  assert.equal(a.r.text, b.r.text);
  assert.notDeepEqual(a.r.ids, c.r.ids);
});

test('streamed pieces concatenate to the decoded ids; max tokens respected', async (t) => {
  if (!model) return t.skip(SKIP);
  const { pieces, r } = await run(model, 'Hello', { seed: 1, maxTokens: 25, stopAtEos: false });
  assert.equal(r.ids.length, 25);
  assert.equal(r.stopReason, 'max-tokens');
  assert.equal(pieces.join(''), r.text);
  assert.equal(r.text, model.tokenizer.decode(r.ids));
  for (const p of pieces)
    assert.ok(!p.includes('\uFFFD') || model.tokenizer.decode(r.ids).includes('\uFFFD'));
});

test('a stop string ends the text just before it', async (t) => {
  if (!model) return t.skip(SKIP);
  const free = await run(model, 'The', { seed: 3, maxTokens: 40, stopAtEos: false });
  // Pick a stop string from the middle of the free text, spanning a token boundary if possible.
  const mid = Math.floor(free.r.text.length / 2);
  const stop = free.r.text.slice(mid, mid + 3);
  assert.ok(stop.length === 3, 'free text long enough');
  const first = free.r.text.indexOf(stop);
  const stopped = await run(model, 'The', {
    seed: 3,
    maxTokens: 40,
    stopAtEos: false,
    stop: ['never-appears-xyz', stop],
  });
  assert.equal(stopped.r.stopReason, 'stop');
  assert.equal(stopped.r.text, free.r.text.slice(0, first));
  assert.equal(stopped.pieces.join(''), stopped.r.text);
});

test('max tokens 0 yields nothing', async (t) => {
  if (!model) return t.skip(SKIP);
  const { pieces, r } = await run(model, 'Hi', { maxTokens: 0 });
  assert.equal(pieces.length, 0);
  assert.equal(r.ids.length, 0);
});

test('an empty prompt starts from <|endoftext|>', async (t) => {
  if (!model) return t.skip(SKIP);
  const { r } = await run(model, '', { greedy: true, maxTokens: 3, stopAtEos: false });
  assert.deepEqual(r.promptIds, [50256]);
});

test('an aborted signal stops generation', async (t) => {
  if (!model) return t.skip(SKIP);
  const ac = new AbortController();
  const gen = model.generate('The', { seed: 1, maxTokens: 50, signal: ac.signal, stopAtEos: false });
  let n = 0;
  for await (const _ of gen) if (++n === 3) ac.abort();
  const r = await gen.result;
  assert.equal(r.stopReason, 'aborted');
  assert.ok(r.ids.length < 50);
});
