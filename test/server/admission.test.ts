// The server's admission of heavy requests (src/server/admission.ts): slots, a memory budget, a bounded
// first-come-first-served queue, refusals with their status and Retry-After.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Admission, Refusal } from '../../src/server/admission.js';

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail('admitted'),
    (e: unknown) => {
      assert.ok(e instanceof Refusal, String(e));
      return e;
    },
  );

test('admission: slots, then a FIFO queue, then 429; release lets the next one in', async () => {
  const a = new Admission({ parallel: 2, queue: 2, maxBytes: 1000 });
  const r1 = await a.acquire(10, 'one');
  const r2 = await a.acquire(10, 'two');
  const order: string[] = [];
  const q3 = a.acquire(10, 'three').then((r) => (order.push('three'), r));
  const q4 = a.acquire(10, 'four').then((r) => (order.push('four'), r));
  assert.equal(a.queued, 2);
  const busy = await refusal(a.acquire(10, 'five'));
  assert.equal(busy.statusCode, 429);
  assert.equal(busy.retryAfter, 1);
  r1();
  r1(); // a second call does nothing
  const r3 = await q3;
  assert.equal(a.running, 2);
  r2();
  (await q4)();
  r3();
  assert.deepEqual(order, ['three', 'four']);
  assert.equal(a.running, 0);
  assert.equal(a.bytes, 0);
});

test('admission: the memory budget queues what does not fit now and refuses what never fits (413)', async () => {
  const a = new Admission({ parallel: 4, maxBytes: 100 });
  const big = await a.acquire(80, 'big');
  let admitted = false;
  const next = a.acquire(30, 'next').then((r) => ((admitted = true), r));
  await new Promise((r) => setImmediate(r));
  assert.equal(admitted, false, '80 + 30 > 100: it waits');
  const never = await refusal(a.acquire(101, 'this generation'));
  assert.equal(never.statusCode, 413);
  assert.match(never.message, /this generation would hold .* limit of 0\.0 MiB/);
  big();
  (await next)();
});

test('admission: waiting too long is a 503 with Retry-After; a client that leaves the queue is dropped', async () => {
  const a = new Admission({ parallel: 1, queueTimeoutMs: 50 });
  const r = await a.acquire(1, 'one');
  const late = await refusal(a.acquire(1, 'two'));
  assert.equal(late.statusCode, 503);
  assert.ok((late.retryAfter ?? 0) >= 1);
  assert.match(late.message, /no slot freed up within 0\.05 s/);
  const ac = new AbortController();
  const gone = refusal(a.acquire(1, 'three', ac.signal));
  assert.equal(a.queued, 1);
  ac.abort();
  await gone;
  assert.equal(a.queued, 0);
  r();
  assert.equal(a.running, 0);
});
