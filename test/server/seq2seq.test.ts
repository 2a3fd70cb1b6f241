// An encoder-decoder behind `glasslm serve` (the bundled models/dates-iso, Marian-style): /v1/completions
// translates the prompt through the official `openai` client — plain, streamed, n > 1, several requests
// at once (each runs its own decoder forward in the batch's ticks) — and /api/generate streams the same
// steps as model.trace; chat is refused with a reason. Every answer equals the library's greedy generate.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { loadModel } from '../../src/models/load-node.js';
import type { LanguageModel } from '../../src/models/model.js';
import { appState, startServer, type RunningServer } from '../../src/server/app.js';
import type { TraceStep } from '../../src/trace/schema.js';
import { createWasmBackend, referenceBackend, setBackend } from '../../src/tensor/index.js';

const MODEL = fileURLToPath(new URL('../../models/dates-iso', import.meta.url));
const present = existsSync(join(MODEL, 'model.safetensors'));
const SOURCES = ['the twenty-first of March, 1998', 'Dec 31, 2099', '4 July 1976', 'the first of May, 1900'];
let model: LanguageModel;
let server: RunningServer;
let client: OpenAI;
let id: string;

before(async () => {
  if (!present) return;
  setBackend(await createWasmBackend({ threads: 1 })); // as `glasslm serve` runs
  try {
    model = await loadModel(MODEL);
  } finally {
    setBackend(referenceBackend);
  }
  server = await startServer(model, { webRoot: null, limits: { parallel: 8, queue: 8 } });
  client = new OpenAI({ baseURL: `${server.url}v1`, apiKey: 'unused', maxRetries: 0 });
  id = (await client.models.list()).data[0].id;
});
after(async () => {
  await server?.close();
});

/** The library's greedy translation of `source` (the reference every answer is held to). */
async function alone(source: string): Promise<string> {
  const gen = model.generate(source, { greedy: true, maxTokens: 16 });
  for await (const piece of gen) void piece;
  return (await gen.result).text;
}

test('/v1/completions translates with an encoder-decoder (plain, streamed, n > 1, concurrent)', async (t) => {
  if (!present) return t.skip('models/dates-iso is not there');
  assert.ok(model.seq2seq, 'dates-iso is an encoder-decoder');
  const want = await Promise.all(SOURCES.map(alone));
  assert.equal(want[0], '1998-03-21');
  assert.equal(want[1], '2099-12-31');

  // plain: the translation, with usage counting the source tokens as the prompt
  const r = await client.completions.create({
    model: id,
    prompt: SOURCES[0],
    max_tokens: 16,
    temperature: 0,
  });
  assert.equal(r.choices[0].text, want[0]);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage?.prompt_tokens, model.tokenizer.encode(SOURCES[0]).length);

  // streamed: the same text, piece by piece
  const s = await client.completions.create({
    model: id,
    prompt: SOURCES[1],
    max_tokens: 16,
    temperature: 0,
    stream: true,
  });
  let text = '';
  for await (const c of s) text += c.choices[0]?.text ?? '';
  assert.equal(text, want[1]);

  // n = 2 greedy choices of one source: both the translation
  const two = await client.completions.create({
    model: id,
    prompt: SOURCES[2],
    max_tokens: 16,
    temperature: 0,
    n: 2,
  });
  assert.deepEqual(
    two.choices.map((c) => c.text),
    [want[2], want[2]],
  );

  // four requests at once: each its own source, each its own translation
  const ticks0 = appState(server.app).batcher.stats.ticks;
  const all = await Promise.all(
    SOURCES.map((prompt) => client.completions.create({ model: id, prompt, max_tokens: 16, temperature: 0 })),
  );
  assert.deepEqual(
    all.map((a) => a.choices[0].text),
    want,
  );
  const ticks = appState(server.app).batcher.stats.ticks - ticks0;
  t.diagnostic(`4 concurrent translations in ${ticks} ticks`);
  assert.equal(appState(server.app).batcher.stats.active, 0, 'every sequence left the batch');

  // a short max_tokens stops on length
  const cut = await client.completions.create({
    model: id,
    prompt: SOURCES[0],
    max_tokens: 2,
    temperature: 0,
  });
  assert.equal(cut.choices[0].finish_reason, 'length');
  assert.ok(want[0].startsWith(cut.choices[0].text), cut.choices[0].text);
});

test('/v1/chat/completions refuses an encoder-decoder with a reason', async (t) => {
  if (!present) return t.skip('models/dates-iso is not there');
  await assert.rejects(
    client.chat.completions.create({ model: id, messages: [{ role: 'user', content: SOURCES[0] }] }),
    (e: { status?: number; message?: string }) => e.status === 400 && /encoder-decoder/.test(e.message ?? ''),
  );
});

test('/api/generate streams an encoder-decoder’s steps, equal to model.trace', async (t) => {
  if (!present) return t.skip('models/dates-iso is not there');
  const r = await fetch(new URL('api/generate', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: SOURCES[1], steps: 6, topK: 3 }),
  });
  const body = await r.text();
  assert.equal(r.status, 200, body);
  const steps = body
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as TraceStep & { error?: string });
  for (const st of steps) assert.equal(st.error, undefined, st.error);
  const ref = model.trace(SOURCES[1], { steps: 6, topK: 3, vectors: 'summary' });
  assert.equal(steps.length, ref.steps.length);
  steps.forEach((st, i) => {
    assert.equal(st.token.id, ref.steps[i].token.id, `step ${i}`);
    assert.deepEqual(st.output.top, ref.steps[i].output.top, `step ${i} top`);
  });
  const streamedText = steps.map((st) => st.token.text).join('');
  assert.ok((await alone(SOURCES[1])).startsWith(streamedText), streamedText);
});
