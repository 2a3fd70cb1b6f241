// `glasslm serve`'s JSON API on loopback, with the tiny GPT-2 fixture (learned positions, 50257 tokens)
// and the real stories260K (Llama: RoPE, GQA, BOS) when ../shared has it: response shapes, attention rows
// that sum to 1, streamed steps equal to model.trace's, and a clear 400 for every bad body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/models/load-node.js';
import type { LanguageModel } from '../../src/models/model.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import type { Trace, TraceModelInfo, TraceStep, TraceToken } from '../../src/trace/schema.js';
import { ensureGpt2Fixtures } from '../fixtures/make-gpt2.js';

const STORIES = fileURLToPath(
  new URL('../../../shared/models/stories260K-llama2c/stories260K.bin', import.meta.url),
);
const gpt2 = await ensureGpt2Fixtures();

interface Case {
  name: string;
  load: () => Promise<LanguageModel | null>;
  skip: string;
  prompt: string;
}

const CASES: Case[] = [
  {
    name: 'tiny GPT-2',
    load: async () => (gpt2 ? loadModel(gpt2['gpt2-tiny']) : null),
    skip: 'the GPT-2 fixtures cannot be built: ../shared/tokenizers/gpt2 is absent',
    prompt: 'The bank of the river',
  },
  {
    name: 'stories260K',
    load: async () => (existsSync(STORIES) ? loadModel(STORIES) : null),
    skip: `the real stories260K is absent (${STORIES}): skipping its API checks`,
    prompt: 'Once upon a time, there was a little bird',
  },
];

async function call(server: RunningServer, path: string, body?: unknown, raw?: string) {
  const r = await fetch(new URL(path, server.url), {
    method: body === undefined && raw === undefined ? 'GET' : 'POST',
    headers: body === undefined && raw === undefined ? {} : { 'content-type': 'application/json' },
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await r.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // NDJSON or HTML
  }
  return { status: r.status, type: r.headers.get('content-type') ?? '', text, json };
}

function assertRowsSumToOne(rows: number[][], where: string): void {
  rows.forEach((row, i) => {
    const s = row.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(s - 1) < 2e-3, `${where} row ${i} sums to ${s}`);
  });
}

function assert400(r: Awaited<ReturnType<typeof call>>, pattern: RegExp): void {
  assert.equal(r.status, 400, r.text);
  const err = (r.json as { error?: string }).error ?? '';
  assert.match(err, pattern);
}

async function streamSteps(
  server: RunningServer,
  body: unknown,
): Promise<{ steps: TraceStep[]; type: string }> {
  const r = await call(server, 'api/generate', body);
  assert.equal(r.status, 200, r.text);
  const steps = r.text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as TraceStep & { error?: string });
  for (const s of steps) assert.equal(s.error, undefined, s.error);
  return { steps, type: r.type };
}

for (const c of CASES) {
  test(`API with ${c.name}: model, tokenize, trace, embeddings, streamed generation`, async (t) => {
    const model = await c.load();
    if (!model) return t.skip(c.skip);
    const server = await startServer(model, { host: '127.0.0.1', port: 0, webRoot: null });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const d = model.decoder;

      // GET /api/model
      const info = (await call(server, 'api/model')).json as TraceModelInfo;
      assert.equal(info.nLayers, d.nLayers);
      assert.equal(info.dim, d.dim);
      assert.equal(info.vocabSize, d.vocabSize);
      assert.equal(info.contextLength, d.contextLength);
      assert.equal(info.nHeads, d.blocks[0].attention.config.nHeads);
      // The file's or folder's name, not its absolute path.
      assert.equal(info.source, basename(model.source));
      assert.equal(info.positional, c.name === 'stories260K' ? 'rope' : 'learned');

      // POST /api/tokenize: the ids the model sees (BOS first for Llama), with byte spans.
      const tok = (await call(server, 'api/tokenize', { text: c.prompt })).json as {
        tokens: TraceToken[];
        count: number;
      };
      const ids = Array.from(model.tokenizer.encode(c.prompt));
      if (model.addBos) ids.unshift(model.tokenizer.specialTokens.bos as number);
      assert.deepEqual(
        tok.tokens.map((x) => x.id),
        ids,
      );
      assert.equal(tok.count, ids.length);
      const T = ids.length;

      // POST /api/trace
      const r = await call(server, 'api/trace', {
        prompt: c.prompt,
        options: { topK: 5, steps: 2, lens: 'all' },
      });
      assert.equal(r.status, 200, r.text);
      const trace = r.json as Trace;
      assert.equal(trace.version, 2);
      assert.equal(trace.tokens.length, T);
      assert.equal(trace.layers.length, d.nLayers);
      assert.equal(trace.embeddings.token?.length, T);
      assert.equal(trace.embeddings.token?.[0].length, d.dim);
      assert.equal(trace.output.top.length, 5);
      assert.deepEqual(trace.lensPositions, [...Array(T).keys()]);
      for (const layer of trace.layers) {
        assert.equal(layer.attention?.length, info.nHeads);
        for (const head of layer.attention ?? []) {
          assert.equal(head.length, T);
          assertRowsSumToOne(head, `layer ${layer.layer}`);
        }
        assert.equal(layer.lens.length, T);
      }
      assert.equal(trace.steps.length, 2);
      for (const st of trace.steps) {
        assert.equal(st.attention.length, d.nLayers);
        for (const l of st.attention) {
          assert.equal(l.length, info.nHeads);
          for (const row of l) assert.equal(row.length, st.position + 1);
          assertRowsSumToOne(l, `step ${st.position}`);
        }
      }

      // POST /api/embeddings: the mean of each word's token rows of the embedding table.
      const e = (await call(server, 'api/embeddings', { words: ['leap', 'bound'] })).json as {
        dim: number;
        words: Array<{ word: string; tokens: Array<{ id: number }>; vector: number[] }>;
      };
      assert.equal(e.dim, d.dim);
      assert.deepEqual(
        e.words.map((w) => w.word),
        ['leap', 'bound'],
      );
      for (const w of e.words) {
        assert.ok(w.tokens.length >= 1);
        assert.equal(w.vector.length, d.dim);
        const emb = d.embedding.weight;
        for (const i of [0, 7, d.dim - 1]) {
          const want = w.tokens.reduce((a, x) => a + emb[x.id * d.dim + i], 0) / w.tokens.length;
          assert.ok(Math.abs(w.vector[i] - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${w.word}[${i}]`);
        }
      }

      // POST /api/generate: NDJSON, one step per line; greedy equals model.trace's steps exactly.
      const g = await streamSteps(server, { prompt: c.prompt, steps: 3, topK: 5, precision: 5 });
      assert.match(g.type, /application\/x-ndjson/);
      const ref = model.trace(c.prompt, { steps: 3, topK: 5, vectors: 'summary' });
      assert.equal(g.steps.length, ref.steps.length);
      g.steps.forEach((st, i) => {
        assert.equal(st.token.id, ref.steps[i].token.id);
        assert.equal(st.position, T + i);
        assert.deepEqual(st.attention, ref.steps[i].attention);
        assert.deepEqual(st.output.top, ref.steps[i].output.top);
      });
      // Forced tokens come first, then sampling (seeded) continues.
      const forced = [ref.output.top[2].id];
      const f = await streamSteps(server, { prompt: c.prompt, steps: 2, forced, temperature: 1, seed: 3 });
      assert.equal(f.steps.length, 2);
      assert.equal(f.steps[0].token.id, forced[0]);
      const again = await streamSteps(server, {
        prompt: c.prompt,
        steps: 2,
        forced,
        temperature: 1,
        seed: 3,
      });
      assert.deepEqual(
        again.steps.map((s) => s.token.id),
        f.steps.map((s) => s.token.id),
      );
    } finally {
      await server.close();
    }
  });
}

test('API: bad bodies and model errors are 400 with a clear message', async (t) => {
  const model = gpt2
    ? await loadModel(gpt2['gpt2-tiny'])
    : existsSync(STORIES)
      ? await loadModel(STORIES)
      : null;
  if (!model) return t.skip('no model: neither the GPT-2 fixtures nor stories260K can be had');
  const server = await startServer(model, { port: 0, webRoot: null });
  const ctx = model.contextLength;
  const vocab = model.decoder.vocabSize;
  try {
    assert400(await call(server, 'api/tokenize', {}), /must have required property 'text'/);
    assert400(await call(server, 'api/tokenize', { text: 5 }), /text must be string/);
    assert400(
      await call(server, 'api/tokenize', { text: 'a', extra: 1 }),
      /body must NOT have additional properties: "extra" is not one it takes/,
    );
    assert400(await call(server, 'api/tokenize', undefined, '{"text": '), /JSON/i);
    assert400(await call(server, 'api/trace', { options: {} }), /prompt/);
    assert400(
      await call(server, 'api/trace', { prompt: 'a', options: { vectors: 'some' } }),
      /vectors must be equal to one of/,
    );
    assert400(
      await call(server, 'api/trace', { prompt: 'a', options: { layers: [99] } }),
      /layers\/0 must be <=/,
    );
    assert400(
      await call(server, 'api/trace', { prompt: 'a', options: { topK: '5' } }),
      /topK must be integer/,
    );
    assert400(
      await call(server, 'api/trace', { prompt: 'a', options: { steps: ctx + 1 } }),
      /steps must be <=/,
    );
    // Bounded by the model's context: a GlassError from the engine, passed on as a 400.
    const long = Array.from({ length: ctx + 8 }, () => ' the').join('');
    assert400(await call(server, 'api/trace', { prompt: long }), /context length/);
    assert400(await call(server, 'api/generate', { prompt: long, steps: 1 }), /context length/);
    assert400(await call(server, 'api/generate', { prompt: 'a', steps: 0 }), /steps must be >= 1/);
    assert400(await call(server, 'api/generate', { prompt: 'a' }), /must have required property 'steps'/);
    assert400(
      await call(server, 'api/generate', { prompt: 'a', steps: 1, forced: [vocab] }),
      /forced\/0 must be <=/,
    );
    assert400(
      await call(server, 'api/generate', { prompt: 'a', steps: 1, temperature: -1 }),
      /temperature must be >= 0/,
    );
    assert400(await call(server, 'api/embeddings', { words: [] }), /words must NOT have fewer than 1 items/);
    assert400(await call(server, 'api/embeddings', { words: ['  '] }), /must match pattern/);
    assert400(await call(server, 'api/embeddings', { words: 'leap' }), /words must be array/);
    const nf = await call(server, 'api/nothing');
    assert.equal(nf.status, 404);
    // Still healthy afterwards.
    assert.equal((await call(server, 'api/model')).status, 200);
  } finally {
    await server.close();
  }
});

test('API: a client that goes away mid-stream stops the generation; the server carries on', async (t) => {
  if (!existsSync(STORIES)) return t.skip(`the real stories260K is absent (${STORIES})`);
  const model = await loadModel(STORIES);
  let forwards = 0;
  const forward = model.decoder.forward.bind(model.decoder);
  model.decoder.forward = ((...a: Parameters<typeof forward>) => {
    forwards++;
    return forward(...a);
  }) as typeof forward;
  const server = await startServer(model, { port: 0, webRoot: null });
  try {
    const ac = new AbortController();
    const r = await fetch(new URL('api/generate', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Once', steps: 400 }),
      signal: ac.signal,
    });
    const reader = r.body!.getReader();
    const first = await reader.read();
    assert.ok(first.value && first.value.length > 0, 'a first step arrives before the others are made');
    ac.abort();
    await reader.read().catch(() => undefined);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await sleep(200);
    const settled = forwards;
    await sleep(300);
    assert.equal(forwards, settled, 'no more forward passes once the client is gone');
    assert.ok(forwards < 401, `stopped early (${forwards} forward passes for 400 steps)`);
    const info = await call(server, 'api/model');
    assert.equal(info.status, 200);
  } finally {
    await server.close();
  }
});

test('serving the page: index.html at /, files under the web root only', async (t) => {
  const model = existsSync(STORIES)
    ? await loadModel(STORIES)
    : gpt2
      ? await loadModel(gpt2['gpt2-tiny'])
      : null;
  if (!model) return t.skip('no model: neither the GPT-2 fixtures nor stories260K can be had');
  const root = await mkdtemp(join(tmpdir(), 'glasslm-web-'));
  await writeFile(join(root, 'index.html'), '<!doctype html><title>explorer</title>');
  const server = await startServer(model, { port: 0, webRoot: root });
  try {
    const page = await call(server, '');
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.text, /<title>explorer<\/title>/);
    // Cross-origin isolated, so that a model loaded into the page can run on Web Worker threads.
    const head = await fetch(server.url);
    assert.equal(head.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(head.headers.get('cross-origin-embedder-policy'), 'require-corp');
    // A path that climbs out of the web root (sent raw: fetch would normalise it).
    const port = new URL(server.url).port;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/..%2f..%2fetc%2fpasswd' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 404);
    assert.equal((await call(server, 'missing.js')).status, 404);
    // A request for another host name (DNS rebinding to 127.0.0.1) is refused.
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/api/model', headers: { host: 'attacker.example:80' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(rebound, 403);
    const local = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/api/model', headers: { host: `localhost:${port}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(local, 200);
  } finally {
    await server.close();
  }
  // Without a built page the server still answers at / and says how to build it.
  const bare = await startServer(model, { port: 0, webRoot: null });
  try {
    const page = await call(bare, '');
    assert.equal(page.status, 200);
    assert.match(page.text, /npm run build:web/);
  } finally {
    await bare.close();
  }
});

test('API with an encoder-decoder (models/dates-iso): /api/generate translates, each step with its cross-attention, as model.trace does', async (t) => {
  const dir = fileURLToPath(new URL('../../models/dates-iso', import.meta.url));
  if (!existsSync(join(dir, 'model.safetensors'))) return t.skip('models/dates-iso is not there');
  const model = await loadModel(dir);
  const server = await startServer(model, { host: '127.0.0.1', port: 0, webRoot: null });
  try {
    const prompt = 'the third of March 1998';
    const g = await streamSteps(server, { prompt, steps: 12, topK: 3, precision: 5 });
    assert.equal(g.steps.map((s) => s.token.text).join(''), '1998-03-03<|endoftext|>');
    const ref = model.trace(prompt, { steps: 12, topK: 3, vectors: 'summary' });
    assert.deepEqual(
      g.steps.map((s) => s.token.id),
      ref.steps.map((s) => s.token.id),
    );
    g.steps.forEach((st, i) => {
      assert.deepEqual(st.crossAttention, ref.steps[i].crossAttention);
      for (const layer of st.crossAttention!) assertRowsSumToOne(layer, `step ${i}`); // [heads][source]
    });
  } finally {
    await server.close();
  }
});
