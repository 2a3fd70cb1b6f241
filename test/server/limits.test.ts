// `glasslm serve` under hostile or heavy use (issue 13): Host names that only look like loopback, the
// API key off loopback, KV memory that follows the tokens used (a 2^20-context model), 12 concurrent
// generations that each succeed or get a clean 429, a client that stops reading, a trace too big to
// answer, a trace that does not freeze the other requests, and 500s that are reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { KV_BLOCK, type KVCache } from '../../src/nn/kv-cache.js';
import type { LanguageModel } from '../../src/models/model.js';
import { startServer, type AppOptions, type RunningServer } from '../../src/server/app.js';
import type { Trace, TraceStep } from '../../src/trace/schema.js';
import { GlassError } from '../../src/util/errors.js';
import { tinyModel } from '../fixtures/tiny-llama.js';

const model = await tinyModel(8192);

async function serve(m: LanguageModel, o: AppOptions = {}): Promise<RunningServer> {
  return startServer(m, { port: 0, webRoot: null, ...o });
}

/** A raw request (any Host header, no fetch normalisation); resolves once the body is read. */
function raw(
  server: RunningServer,
  path: string,
  o: { method?: string; host?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: IncomingMessage['headers']; text: string }> {
  const url = new URL(server.url);
  const body = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: o.method ?? (body ? 'POST' : 'GET'),
        headers: {
          host: o.host ?? url.host,
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...o.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const error = (r: { text: string }) => (JSON.parse(r.text) as { error: string }).error;

function ndjson(text: string): Array<TraceStep & { error?: string }> {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as TraceStep & { error?: string });
}

test('Host guard: only exact loopback names; /api/model names the file, not its path', async () => {
  const server = await serve(model);
  const port = new URL(server.url).port;
  try {
    for (const host of [
      '127.attacker.example',
      `127.0.0.1.nip.io:${port}`,
      'localhost.evil',
      '127.1',
      'attacker.example',
    ]) {
      const r = await raw(server, '/api/model', { host });
      assert.equal(r.status, 403, `Host ${host}: ${r.text}`);
      assert.match(error(r), /loopback names only/);
      const g = await raw(server, '/api/generate', { host, body: { prompt: 'the', steps: 1 } });
      assert.equal(g.status, 403, `Host ${host} drove /api/generate`);
    }
    for (const host of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      '127.0.0.2',
      `[::1]:${port}`,
      'LOCALHOST',
    ]) {
      const r = await raw(server, '/api/model', { host });
      assert.equal(r.status, 200, `Host ${host}: ${r.text}`);
      const info = JSON.parse(r.text) as { source: string };
      assert.equal(info.source, 'tiny-llama.bin', 'the basename, not /models/private/...');
    }
  } finally {
    await server.close();
  }
});

test('API key: required on /api/ when set; off loopback the server will not start without one', async () => {
  await assert.rejects(
    startServer(model, { host: '0.0.0.0', port: 0, webRoot: null }),
    /refusing to listen on 0\.0\.0\.0 without an API key.*--api-key.*GLASSLM_API_KEY/,
  );
  const server = await serve(model, { apiKey: 's3cret-key' });
  try {
    const none = await raw(server, '/api/model');
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    assert.match(error(none), /Authorization: Bearer/);
    const wrong = await raw(server, '/api/model', { headers: { authorization: 'Bearer s3cret-kez' } });
    assert.equal(wrong.status, 401);
    const right = await raw(server, '/api/generate', {
      body: { prompt: 'the', steps: 2 },
      headers: { authorization: 'Bearer s3cret-key' },
    });
    assert.equal(right.status, 200, right.text);
    assert.equal(ndjson(right.text).length, 2);
  } finally {
    await server.close();
  }
});

test('memory: a 2^20-context model generates with a KV cache of one block, freed at the end', async () => {
  const huge = await tinyModel(2 ** 20);
  const caches: KVCache[] = [];
  const newCache = huge.decoder.newCache.bind(huge.decoder);
  huge.decoder.newCache = (n?: number) => {
    const c = newCache(n);
    caches.push(c);
    return c;
  };
  const capacities: number[] = [];
  const forward = huge.decoder.forward.bind(huge.decoder);
  huge.decoder.forward = ((...a: Parameters<typeof forward>) => {
    const out = forward(...a);
    if (a[1]) capacities.push(a[1].capacity);
    return out;
  }) as typeof forward;
  const server = await serve(huge);
  try {
    const r = await raw(server, '/api/generate', { body: { prompt: 'the quick brown fox', steps: 20 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(ndjson(r.text).length, 20);
    assert.equal(caches.length, 1);
    assert.equal(Math.max(...capacities), KV_BLOCK, 'one block of positions, not 2^20');
    assert.equal(caches[0].bytes, 0, 'released once the stream is over');
    const info = JSON.parse((await raw(server, '/api/model')).text) as { contextLength: number };
    assert.equal(info.contextLength, 2 ** 20);
  } finally {
    await server.close();
  }
});

test('12 concurrent generations: each a full 200 stream or a clean 429 with Retry-After', async () => {
  const server = await serve(model, { limits: { parallel: 2, queue: 4 } });
  try {
    const all = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        raw(server, '/api/generate', { body: { prompt: `the fox ${i}`, steps: 20 } }),
      ),
    );
    const ok = all.filter((r) => r.status === 200);
    const busy = all.filter((r) => r.status === 429);
    assert.equal(ok.length + busy.length, 12, all.map((r) => r.status).join(' '));
    assert.ok(ok.length >= 6, `2 running + 4 queued get through (${ok.length})`);
    assert.ok(busy.length >= 1, 'the rest are refused, not queued without bound');
    for (const r of ok) {
      const steps = ndjson(r.text);
      assert.equal(steps.length, 20);
      assert.ok(steps.every((s) => s.error === undefined));
    }
    for (const r of busy) {
      assert.equal(r.headers['retry-after'], '1');
      assert.match(error(r), /busy.*--parallel 2/);
    }
    // With room in the queue, all 12 are served.
    const roomy = await serve(model, { limits: { parallel: 3, queue: 12 } });
    try {
      const all2 = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          raw(roomy, '/api/generate', { body: { prompt: `the dog ${i}`, steps: 20 } }),
        ),
      );
      assert.deepEqual(
        all2.map((r) => r.status),
        Array.from({ length: 12 }, () => 200),
      );
    } finally {
      await roomy.close();
    }
  } finally {
    await server.close();
  }
});

test('memory budget: a request that could never fit is refused with 413 before any byte', async () => {
  const need = model.decoder.kvCacheBytes(300);
  const server = await serve(model, { limits: { maxBytes: need - 1 } });
  try {
    const r = await raw(server, '/api/generate', { body: { prompt: 'the', steps: 290 } });
    assert.equal(r.status, 413, r.text);
    assert.match(error(r), /limit of .* MiB .*--max-memory-mb/);
    const small = await raw(server, '/api/generate', { body: { prompt: 'the', steps: 5 } });
    assert.equal(small.status, 200);
  } finally {
    await server.close();
  }
});

test('a client that stops reading is dropped after the stall timeout; it does not block the next', async () => {
  const server = await serve(model, { limits: { parallel: 1, stallTimeoutMs: 300 } });
  const url = new URL(server.url);
  try {
    // Long lines (each step's attention row grows with its position), not read until the end.
    const stalled = new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({
        host: url.hostname,
        port: url.port,
        path: '/api/generate',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        res.pause();
        resolve(res);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ prompt: 'the', steps: 8000, precision: 9 }));
    });
    const res = await stalled;
    const t0 = performance.now();
    const next = await raw(server, '/api/generate', { body: { prompt: 'the dog', steps: 5 } });
    const waited = performance.now() - t0;
    assert.equal(next.status, 200, next.text);
    assert.equal(ndjson(next.text).length, 5);
    assert.ok(waited < 20_000, `the next request waited ${waited.toFixed(0)} ms`);
    // The stalled one was cut short: reading it now gives fewer than its 8000 steps, then the end.
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (text += c));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      const end = () => {
        clearTimeout(timer);
        resolve();
      };
      res.on('end', end);
      res.on('error', end);
      res.on('aborted', end);
      res.on('close', end);
      res.resume();
    });
    const lines = text.split('\n').length - 1;
    assert.ok(lines > 0 && lines < 8000, `the stalled client got ${lines} of 8000 steps`);
    assert.ok(!res.complete, 'its answer ended without its final chunk (the connection was dropped)');
  } finally {
    await server.close();
  }
});

test('trace: one over the size limit is refused with a 413 naming the limit', async () => {
  const server = await serve(model, { limits: { maxTraceBytes: 2 ** 20 } });
  try {
    const r = await raw(server, '/api/trace', { body: { prompt: 'the fox', options: { steps: 2000 } } });
    assert.equal(r.status, 413, r.text.slice(0, 200));
    assert.match(error(r), /over this server's limit of 1 MiB \(glasslm serve --max-trace-mb\)/);
    const small = await raw(server, '/api/trace', { body: { prompt: 'the fox', options: { steps: 3 } } });
    assert.equal(small.status, 200);
  } finally {
    await server.close();
  }
});

test('trace: while a long trace runs, /api/model answers promptly; the streamed JSON is the trace', async () => {
  const server = await serve(model);
  try {
    const options = { steps: 200, precision: 6 };
    const t0 = performance.now();
    const tracing = raw(server, '/api/trace', { body: { prompt: 'the quick brown fox', options } });
    let done = false;
    void tracing.finally(() => (done = true));
    const latencies: number[] = [];
    while (!done) {
      const t = performance.now();
      const r = await raw(server, '/api/model');
      assert.equal(r.status, 200);
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
    const r = await tracing;
    const elapsed = performance.now() - t0;
    assert.equal(r.status, 200);
    const got = JSON.parse(r.text) as Trace;
    const want = JSON.parse(JSON.stringify(model.trace('the quick brown fox', options))) as Trace;
    assert.equal(got.model.source, 'tiny-llama.bin');
    got.elapsedMs = want.elapsedMs = 0;
    got.model.source = want.model.source;
    assert.deepEqual(got, want);
    const worst = Math.max(...latencies);
    assert.ok(latencies.length >= 3, `${latencies.length} answers during a ${elapsed.toFixed(0)} ms trace`);
    assert.ok(worst < 1000, `/api/model took up to ${worst.toFixed(0)} ms during the trace`);
  } finally {
    await server.close();
  }
});

test('500s are reported (to the logger or stderr), not only sent', async () => {
  const broken = await tinyModel(8192);
  broken.decoder.forward = () => {
    throw new Error('boom in forward');
  };
  const seen: string[] = [];
  const server = await serve(broken, {
    onError: (e, where) => seen.push(`${where}: ${(e as Error).message}`),
  });
  try {
    const r = await raw(server, '/api/trace', { body: { prompt: 'the' } });
    assert.equal(r.status, 500);
    assert.match(error(r), /boom in forward/);
    assert.equal(seen.length, 1);
    assert.match(seen[0], /500 on POST \/api\/trace: boom in forward/);
    const g = await raw(server, '/api/generate', { body: { prompt: 'the', steps: 2 } });
    assert.equal(g.status, 500, 'a failure in the prompt pass is a status, not an error inside a 200');
    assert.equal(seen.length, 2);
  } finally {
    await server.close();
  }
  // With no reporter and no logger: stderr.
  const server2 = await serve(broken);
  const write = process.stderr.write.bind(process.stderr);
  let err = '';
  process.stderr.write = ((s: string | Uint8Array) => {
    err += String(s);
    return true;
  }) as typeof process.stderr.write;
  try {
    const r = await raw(server2, '/api/trace', { body: { prompt: 'the' } });
    assert.equal(r.status, 500);
  } finally {
    process.stderr.write = write;
    await server2.close();
  }
  assert.match(err, /glasslm serve: 500 on POST \/api\/trace: Error: boom in forward/);
});

test('the backend running out of memory before the first byte is a 503 with Retry-After', async () => {
  const starved = await tinyModel(8192);
  starved.decoder.forward = () => {
    throw new GlassError(
      'UNSUPPORTED',
      'wasm backend: out of memory: 4097 MiB needed, the limit is 4096 MiB',
    );
  };
  const seen: string[] = [];
  const server = await serve(starved, { onError: (_e, where) => seen.push(where) });
  try {
    for (const [path, body] of [
      ['/api/generate', { prompt: 'the', steps: 2 }],
      ['/api/trace', { prompt: 'the' }],
    ] as const) {
      const r = await raw(server, path, { body });
      assert.equal(r.status, 503, r.text);
      assert.equal(r.headers['retry-after'], '5');
      assert.match(error(r), /out of memory now: wasm backend: out of memory/);
    }
    assert.deepEqual(seen, ['503 on POST /api/generate', '503 on POST /api/trace']);
  } finally {
    await server.close();
  }
});
