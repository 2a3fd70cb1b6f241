// The OpenAI-compatible API of `glasslm serve` (src/server/openai.ts, batch.ts), through the official
// `openai` client on loopback, with the bundled models/default (GPT-2 shape, 256 positions, no chat
// template): completions and chat (plain and streamed), logprobs, stop strings, seeds, n > 1, error
// shapes, the continuous batch (8 concurrent greedy streams equal their single runs; a client that goes
// away leaves the batch and frees its cache), 429 past the queue, shutdown, and the trace extension.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { loadModel } from '../../src/models/load.js';
import type { LanguageModel } from '../../src/models/model.js';
import { KVCache } from '../../src/nn/kv-cache.js';
import { appState, startServer, type RunningServer } from '../../src/server/app.js';
import type { Trace } from '../../src/trace/schema.js';
import { createWasmBackend, referenceBackend, setBackend } from '../../src/tensor/index.js';
import { loadEmbedder } from '../../src/embed/load.js';
import { ensureBertFixture } from '../fixtures/make-bert.js';

const MODEL = fileURLToPath(new URL('../../models/default', import.meta.url));
let model: LanguageModel;
let server: RunningServer;
let client: OpenAI;

before(async () => {
  // the wasm kernels (one thread), as `glasslm serve` runs; one test below runs the reference kernels
  setBackend(await createWasmBackend({ threads: 1 }));
  try {
    model = await loadModel(MODEL);
  } finally {
    setBackend(referenceBackend);
  }
  server = await startServer(model, { webRoot: null, limits: { parallel: 8, queue: 4 } });
  client = new OpenAI({ baseURL: `${server.url}v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await server.close();
});

async function post(path: string, body: unknown, init: RequestInit = {}) {
  const r = await fetch(new URL(path, server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

async function health() {
  const r = await fetch(new URL('health', server.url));
  return (await r.json()) as { status: string; batch: { active: number; ticks: number; maxBatch: number } };
}

/** The text of a streamed completion, read with the client. */
async function streamed(prompt: string, maxTokens: number): Promise<string> {
  const s = await client.completions.create({
    model: 'default',
    prompt,
    max_tokens: maxTokens,
    temperature: 0,
    stream: true,
  });
  let text = '';
  for await (const c of s) text += c.choices[0]?.text ?? '';
  return text;
}

test('GET /v1/models lists the model; /health answers', async () => {
  const list = await client.models.list();
  assert.deepEqual(
    list.data.map((m) => m.id),
    ['default'],
  );
  const h = await health();
  assert.equal(h.status, 'ok');
  // the Host check stays (DNS rebinding): a /v1 refusal in OpenAI's shape
  const port = new URL(server.url).port;
  const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/models', headers: { host: `evil.test:${port}` } },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(r.status, 403);
  assert.equal(JSON.parse(r.body).error.code, 'forbidden_host');
});

test('completions: greedy equals model.generate; usage; finish_reason length; stream equals plain', async () => {
  const prompt = 'And God said';
  const c = await client.completions.create({ model: 'default', prompt, max_tokens: 12, temperature: 0 });
  const gen = model.generate(prompt, { greedy: true, maxTokens: 12 });
  for await (const piece of gen) void piece;
  const g = await gen.result;
  assert.equal(c.choices[0].text, g.text);
  assert.equal(c.object, 'text_completion');
  assert.equal(c.choices[0].finish_reason, 'length');
  assert.equal(c.usage?.prompt_tokens, model.tokenizer.encode(prompt).length);
  assert.equal(c.usage?.completion_tokens, 12);
  assert.equal(c.usage?.total_tokens, c.usage!.prompt_tokens + 12);
  assert.equal(await streamed(prompt, 12), g.text);
});

test('chat: the plain fallback template (said in a header); streamed chunks end with [DONE] and usage', async () => {
  const messages = [{ role: 'user' as const, content: 'Who made the heaven?' }];
  const r = await client.chat.completions
    .create({ model: 'default', messages, max_tokens: 8, temperature: 0 })
    .withResponse();
  assert.equal(r.response.headers.get('x-glasslm-chat-template'), 'plain');
  const msg = r.data.choices[0].message;
  assert.equal(msg.role, 'assistant');
  assert.ok(msg.content && msg.content.length > 0);
  const raw = await post('v1/chat/completions', {
    model: 'default',
    messages,
    max_tokens: 8,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  assert.equal(raw.status, 200);
  assert.match(raw.headers.get('content-type') ?? '', /text\/event-stream/);
  const events = raw.text.trim().split('\n\n');
  assert.equal(events.at(-1), 'data: [DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')));
  assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, msg.content);
  assert.equal(chunks.at(-2).choices[0].finish_reason, r.data.choices[0].finish_reason);
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.equal(chunks.at(-1).usage.completion_tokens, r.data.usage?.completion_tokens);
});

test('logprobs: completions (logprobs: k) and chat (top_logprobs)', async () => {
  const c = await client.completions.create({
    model: 'default',
    prompt: 'In the beginning',
    max_tokens: 5,
    temperature: 0,
    logprobs: 3,
  });
  const lp = c.choices[0].logprobs!;
  assert.equal(lp.tokens!.length, 5);
  assert.equal(lp.tokens!.join(''), c.choices[0].text);
  lp.token_logprobs!.forEach((l, i) => {
    const top = Object.values(lp.top_logprobs![i]);
    assert.equal(top.length, 3);
    assert.ok(l <= 0);
    assert.ok(Math.abs(l - Math.max(...top)) < 1e-9, 'greedy takes the most likely token');
  });
  const ch = await client.chat.completions.create({
    model: 'default',
    messages: [{ role: 'user', content: 'Speak' }],
    max_tokens: 4,
    seed: 5,
    logprobs: true,
    top_logprobs: 2,
  });
  const content = ch.choices[0].logprobs!.content!;
  assert.equal(content.length, ch.usage?.completion_tokens);
  for (const t of content) {
    assert.equal(t.top_logprobs.length, 2);
    assert.ok(t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob);
    assert.ok(t.logprob <= t.top_logprobs[0].logprob + 1e-9);
  }
});

test('stop strings end the text before them (finish_reason stop)', async () => {
  const full = (
    await client.completions.create({
      model: 'default',
      prompt: 'And God said',
      max_tokens: 20,
      temperature: 0,
    })
  ).choices[0].text;
  const at = full.indexOf(' ', 8);
  assert.ok(at > 0, full);
  const stop = full.slice(at, at + 3);
  for (const s of [stop, [stop, 'zzzz']]) {
    const c = await client.completions.create({
      model: 'default',
      prompt: 'And God said',
      max_tokens: 20,
      temperature: 0,
      stop: s,
    });
    assert.equal(c.choices[0].text, full.slice(0, full.indexOf(stop)));
    assert.equal(c.choices[0].finish_reason, 'stop');
  }
});

test('seeds: the same seed gives the same text; n > 1 gives n choices', async () => {
  const ask = (seed: number) =>
    client.completions.create({ model: 'default', prompt: 'The LORD', max_tokens: 16, temperature: 1, seed });
  const [a, b] = await Promise.all([ask(42), ask(42)]);
  assert.equal(a.choices[0].text, b.choices[0].text);
  const n = await client.completions.create({
    model: 'default',
    prompt: 'The LORD',
    max_tokens: 16,
    seed: 42,
    n: 3,
  });
  assert.deepEqual(
    n.choices.map((c) => c.index),
    [0, 1, 2],
  );
  assert.equal(n.choices[0].text, a.choices[0].text, 'choice 0 takes the seed itself');
  assert.equal(n.usage?.completion_tokens, 48);
});

test('errors: OpenAI shape, right status, the field named; never a crash', async () => {
  const cases: [unknown, number, string | null, RegExp][] = [
    [{ model: 'default', prompt: 'x', temperature: 'hot' }, 400, 'temperature', /temperature must be number/],
    [{ model: 'default', prompt: 'x', max_tokens: -1 }, 400, 'max_tokens', />= 1/],
    [{ model: 'default', prompt: 'x', max_tokens: 1e9 }, 400, 'max_tokens', /<= 256/],
    [{ model: 'default', prompt: 'x', echo: true }, 400, 'echo', /"echo" is not one it takes/],
    [{ model: 'default', prompt: 'x', logit_bias: {} }, 400, 'logit_bias', /logit_bias/],
    [{ model: 'gpt-4', prompt: 'x' }, 404, 'model', /"gpt-4" does not exist/],
    [{ prompt: 'x' }, 400, null, /model/],
    [
      { model: 'default', prompt: 'x '.repeat(300) },
      400,
      'prompt',
      /the prompt is 600 tokens.*context length is 256/,
    ],
    [
      { model: 'default', prompt: 'x', stream_options: { include_usage: true } },
      400,
      'stream_options',
      /stream/,
    ],
    ['{"model": "default", "prompt": ', 400, null, /JSON/i],
    ['null', 400, null, /body must be object/],
    ['[1, 2]', 400, null, /body must be object/],
    [{ model: 'default', prompt: [] }, 400, 'prompt', /prompt/],
    [{ model: 'default', prompt: [1e9] }, 400, 'prompt', /prompt/],
    [{ model: 'default', prompt: 'x', stop: [''] }, 400, 'stop.0', /stop/],
    [{ model: 'default', prompt: 'x', n: 0 }, 400, 'n', /n must be >= 1/],
    [{ model: 'default', prompt: 'x', glasslm: { trace: {} }, n: 2 }, 400, 'n', /n: 1/],
  ];
  for (const [body, status, param, message] of cases) {
    const r = await post('v1/completions', body);
    assert.equal(r.status, status, r.text);
    const e = JSON.parse(r.text).error;
    assert.equal(typeof e.type, 'string', r.text);
    assert.match(e.message, message);
    if (param !== null) assert.equal(e.param, param, r.text);
  }
  for (const messages of [
    [{ role: 'tool', content: 'x' }],
    [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
    [{ role: 'user' }],
    'hello',
  ]) {
    const chat = await post('v1/chat/completions', { model: 'default', messages });
    assert.equal(chat.status, 400, chat.text);
    assert.equal(JSON.parse(chat.text).error.type, 'invalid_request_error');
  }
  const both = await post('v1/chat/completions', {
    model: 'default',
    messages: [{ role: 'user', content: 'x' }],
    top_logprobs: 2,
  });
  assert.equal(JSON.parse(both.text).error.param, 'top_logprobs');
  // through the client: an APIError with the status
  await assert.rejects(
    client.chat.completions.create({ model: 'default', messages: [], max_tokens: 3 }),
    (e: { status?: number }) => e.status === 400,
  );
  // max_tokens past the room left is cut to it, not refused
  const long = 'And God said '.repeat(60);
  const c = await client.completions.create({
    model: 'default',
    prompt: long,
    max_tokens: 256,
    temperature: 0,
  });
  assert.equal(c.usage!.prompt_tokens + c.usage!.completion_tokens, 256);
  assert.equal(c.choices[0].finish_reason, 'length');
});

test('continuous batching: 8 concurrent greedy streams each equal their single-request output', async () => {
  const prompts = [
    'And God said',
    'In the beginning',
    'The LORD is my shepherd',
    'And it came to pass',
    'Blessed are',
    'Thou shalt not',
    'And the earth was',
    'Let there be',
  ];
  const single: string[] = [];
  for (const p of prompts) single.push(await streamed(p, 24));
  const before = (await health()).batch.maxBatch;
  const together = await Promise.all(prompts.map((p) => streamed(p, 24)));
  assert.deepEqual(together, single);
  const h = await health();
  assert.ok(h.batch.maxBatch >= 4 && h.batch.maxBatch >= before, `largest batch ${h.batch.maxBatch}`);
});

test('continuous batching on the reference kernels: concurrent greedy streams equal their single runs', async () => {
  const m = await loadModel(MODEL);
  const s3 = await startServer(m, { webRoot: null, limits: { parallel: 8 } });
  try {
    const c3 = new OpenAI({ baseURL: `${s3.url}v1`, apiKey: 'unused', maxRetries: 0 });
    const ask = (prompt: string) =>
      c3.completions
        .create({ model: 'default', prompt, max_tokens: 12, temperature: 0 })
        .then((r) => r.choices[0].text);
    const prompts = ['And God said', 'Blessed are', 'The LORD is my shepherd', 'Let there be'];
    const single: string[] = [];
    for (const p of prompts) single.push(await ask(p));
    assert.deepEqual(await Promise.all(prompts.map(ask)), single);
    assert.ok(appState(s3.app).batcher.stats.maxBatch >= 2);
  } finally {
    await s3.close();
  }
});

test('a client that goes away leaves the batch at the next step, and its KV cache is released', async () => {
  const released = { n: 0 };
  const original = KVCache.prototype.release;
  KVCache.prototype.release = function (this: KVCache) {
    released.n++;
    return original.call(this);
  };
  try {
    const ac = new AbortController();
    const r = await fetch(new URL('v1/completions', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'default',
        prompt: 'And',
        max_tokens: 250,
        temperature: 0,
        stream: true,
      }),
      signal: ac.signal,
    });
    const reader = r.body!.getReader();
    await reader.read(); // the first token is out: the sequence is in the batch
    assert.equal((await health()).batch.active, 1);
    const ticks = (await health()).batch.ticks;
    ac.abort();
    let h = await health();
    for (let i = 0; i < 200 && h.batch.active > 0; i++) {
      await new Promise((res) => setTimeout(res, 5));
      h = await health();
    }
    assert.equal(h.batch.active, 0);
    assert.ok(h.batch.ticks - ticks < 50, `the sequence ran ${h.batch.ticks - ticks} more steps`);
    assert.equal(released.n, 1);
    assert.equal(appState(server.app).admission.running, 0);
  } finally {
    KVCache.prototype.release = original;
  }
});

test('past the slots a bounded queue, past the queue 429 with Retry-After; an API key when set', async () => {
  const small = await startServer(model, { webRoot: null, apiKey: 'k3y', limits: { parallel: 1, queue: 1 } });
  try {
    const url = new URL('v1/completions', small.url);
    const body = JSON.stringify({ model: 'default', prompt: 'And', max_tokens: 250, stream: true });
    const headers = { 'content-type': 'application/json', authorization: 'Bearer k3y' };
    const none = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
    const ac = new AbortController();
    const first = await fetch(url, { method: 'POST', headers, body, signal: ac.signal });
    assert.equal(first.status, 200);
    const queued = fetch(url, { method: 'POST', headers, body, signal: ac.signal }).catch(() => null);
    while (appState(small.app).admission.queued < 1) await new Promise((r) => setTimeout(r, 5));
    const refused = await fetch(url, { method: 'POST', headers, body });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'rate_limit_exceeded');
    ac.abort();
    await queued;
  } finally {
    await small.close();
  }
});

test('shutdown ends running streams cleanly (an error event, then [DONE]) and refuses new ones', async () => {
  const s2 = await startServer(model, { webRoot: null });
  const url = new URL('v1/completions', s2.url);
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'default', prompt: 'And', max_tokens: 250, stream: true }),
  });
  const reader = r.body!.getReader();
  await reader.read();
  const closing = s2.shutdown(30);
  const late = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'default', prompt: 'And', max_tokens: 5 }),
  });
  assert.equal(late.status, 503);
  let text = '';
  const dec = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += dec.decode(value);
  }
  await closing;
  assert.match(text, /shutting down|"finish_reason":"(length|stop)"/);
  assert.ok(text.trimEnd().endsWith('data: [DONE]'), text.slice(-200));
});

test('glasslm.trace: the response carries the trace of its tokens (the /api/trace schema)', async () => {
  const r = await post('v1/completions', {
    model: 'default',
    prompt: 'And God said',
    max_tokens: 4,
    temperature: 0,
    glasslm: { trace: { layers: [0], vectors: 'summary', topK: 3 } },
  });
  assert.equal(r.status, 200, r.text);
  const body = JSON.parse(r.text) as { choices: { text: string }[]; glasslm: { traces: Trace[] } };
  const trace = body.glasslm.traces[0];
  assert.equal(trace.steps.length, 4);
  assert.equal(trace.steps.map((s) => s.token.text).join(''), body.choices[0].text);
  assert.equal(trace.layers.length, 1);
  // streamed: the traces come in the last chunk before [DONE]
  const st = await post('v1/completions', {
    model: 'default',
    prompt: 'And God said',
    max_tokens: 4,
    temperature: 0,
    stream: true,
    glasslm: { trace: { layers: [0], vectors: 'summary', topK: 3 } },
  });
  const events = st.text.trim().split('\n\n');
  assert.equal(events.at(-1), 'data: [DONE]');
  const last = JSON.parse(events.at(-2)!.slice(6)) as { glasslm: { traces: Trace[] } };
  assert.deepEqual(
    last.glasslm.traces[0].steps.map((s) => s.token.id),
    trace.steps.map((s) => s.token.id),
  );
  const bad = await post('v1/completions', {
    model: 'default',
    prompt: 'x',
    glasslm: { trace: { steps: 3 } },
  });
  assert.equal(bad.status, 400);
  assert.equal(JSON.parse(bad.text).error.param, 'glasslm.trace.steps');
});

test('/v1/embeddings with an embedding model (the MiniLM-shaped fixture); 404 without one', async (t) => {
  const none = await post('v1/embeddings', { model: 'x', input: 'hello' });
  assert.equal(none.status, 404);
  assert.equal(JSON.parse(none.text).error.code, 'model_not_found');
  const bert = await ensureBertFixture();
  if (!bert) return t.skip('../shared MiniLM is absent: cannot build the embedding fixture');
  const embedder = await loadEmbedder(bert);
  const s4 = await startServer(model, { webRoot: null, embedder });
  try {
    const c4 = new OpenAI({ baseURL: `${s4.url}v1`, apiKey: 'unused', maxRetries: 0 });
    const id = (await c4.models.list()).data.map((m) => m.id)[1];
    assert.ok(id);
    const r = await c4.embeddings.create({
      model: id,
      input: ['the river bank', 'a bank loan'],
      encoding_format: 'float',
    });
    assert.equal(r.data.length, 2);
    assert.equal(r.data[1].index, 1);
    assert.equal(r.data[0].embedding.length, embedder.dim);
    const direct = embedder.embed(['the river bank'])[0];
    r.data[0].embedding.forEach((v, i) => assert.ok(Math.abs(v - direct[i]) < 1e-6));
    assert.ok(r.usage.prompt_tokens > 0);
  } finally {
    await s4.close();
  }
});

test('CORS: off by default; --cors answers its origin only (preflight included)', async () => {
  const pre = (u: string, origin: string) =>
    fetch(new URL('v1/chat/completions', u), {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
  const off = await pre(server.url, 'http://example.test');
  assert.equal(off.headers.get('access-control-allow-origin'), null);
  const s5 = await startServer(model, { webRoot: null, cors: 'http://app.test' });
  try {
    const ok = await pre(s5.url, 'http://app.test');
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'http://app.test');
    const other = await pre(s5.url, 'http://evil.test');
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  } finally {
    await s5.close();
  }
});

test('presence/frequency penalties reach the sampler: a greedy answer stops repeating itself', async () => {
  const ask = (frequency_penalty: number) =>
    client.completions
      .create({ model: 'default', prompt: 'And God said', max_tokens: 30, temperature: 0, frequency_penalty })
      .then((r) => r.choices[0].text);
  const plain = await ask(0);
  const penalized = await ask(2);
  const distinct = (s: string) => new Set(s.split(' ')).size / s.split(' ').length;
  assert.notEqual(penalized, plain);
  assert.ok(distinct(penalized) > distinct(plain), `${plain} | ${penalized}`);
});
