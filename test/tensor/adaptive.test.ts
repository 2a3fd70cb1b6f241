// The choice between the thread pool and the calling thread alone (src/tensor/wasm/adaptive.ts), driven
// with made-up timings: it starts on the pool, probes the caller alone, keeps whichever mode did the
// probe's work cheaper, and notices when that changes. (That the results do not depend on the choice:
// wasm-threads.test.ts runs the same products at 1, 2 and 3 threads.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ThreadChooser } from '../../src/tensor/wasm/adaptive.js';

/**
 * Runs `calls` calls cycling over `kinds` (kind i: i + 1 thousand units of work), each taking poolMs or
 * soloMs per thousand units (as chosen); returns how many ran solo.
 */
function drive(c: ThreadChooser, kinds: number, calls: number, poolMs: number, soloMs: number): number {
  let solo = 0;
  for (let i = 0; i < calls; i++) {
    const k = i % kinds;
    const s = c.solo();
    if (s) solo++;
    c.record(`kind ${k}`, s, 1000 * (k + 1), (s ? soloMs : poolMs) * (k + 1));
  }
  return solo;
}

test('the pool first; the caller alone once a probe measures it cheaper; back when it is not', () => {
  const c = new ThreadChooser();
  assert.equal(c.solo(), false, 'nothing measured: the pool');
  // a quiet machine (decode's short calls): the pool twice as fast; only the probes run solo
  const quiet = drive(c, 5, 8192, 0.1, 0.2);
  assert.ok(quiet > 0 && quiet <= 5 * 64, `quiet: ${quiet} solo calls of 8192`);
  assert.equal(c.stats.switches, 0);
  // a busy neighbour: the pool now slower; from the next probe on, everything runs solo
  const busy = drive(c, 5, 8192, 0.3, 0.2);
  assert.ok(busy > 8192 - 2048 - 64, `busy: ${busy} solo calls of 8192`);
  assert.equal(c.solo(), true);
  assert.equal(c.stats.switches, 1);
  // the neighbour leaves: a probe of the pool finds it cheaper again
  drive(c, 5, 4096, 0.1, 0.2);
  assert.equal(c.solo(), false);
  assert.equal(c.stats.switches, 2);
});

test('long calls (prefill) are probed by time, with probes of one call', () => {
  const c = new ThreadChooser();
  // 30 ms calls (9 s of them): the first probe after 150 ms of calls, then each twice as far apart up to
  // every 2 s (0.15, 0.45, 1.05, 2.25, 4.25, 6.25, 8.25 s), each ending after one call (≥ 20 ms)
  const solo = drive(c, 1, 300, 30, 50);
  assert.ok(solo >= 6 && solo <= 8, `${solo} solo calls of 300`);
  assert.equal(c.solo(), false);
  drive(c, 1, 300, 60, 50);
  assert.equal(c.solo(), true);
});

test("a kind's first, cold call in a mode does not count: no flip on a quiet machine", () => {
  const c = new ThreadChooser();
  // long calls (a probe after the first 2 s): the first on the pool 5x slow (cold caches, scratch
  // touched for the first time), then the pool 1.5x faster than the caller alone
  let pooled = 0;
  for (let i = 0; i < 40; i++) {
    const s = c.solo();
    c.record('prefill', s, 1000, s ? 1500 : pooled++ === 0 ? 5000 : 1000);
  }
  assert.equal(c.stats.switches, 0);
  assert.ok(c.stats.probes >= 2, `${c.stats.probes} probes`);
  // only the probes ran alone, one call each (the last may still be to come)
  assert.ok(c.stats.soloCalls >= c.stats.probes - 1 && c.stats.soloCalls <= c.stats.probes);
});

test('prefill with a busy neighbour: the caller alone within the first prompt; an unlucky first probe is retried soon', () => {
  // GPT-2 prompt-sized calls: ~12 ms on the pool, 10 ms alone (the neighbour holds the worker's core)
  const c = new ThreadChooser();
  const alone = drive(c, 4, 48, 12, 10);
  assert.equal(c.stats.switches, 1, 'alone within one prompt of ~48 calls');
  assert.ok(alone >= 24, `${alone} of 48 calls alone`);
  // the first probe alone unlucky (the caller shared a core for a moment): 15 ms; then 10 ms as it is
  const u = new ThreadChooser();
  let calls = 0;
  while (u.stats.switches === 0 && calls < 400) {
    const alone = u.solo();
    u.record('k', alone, 1000, alone ? (u.stats.probes === 1 ? 15 : 10) : 12);
    calls++;
  }
  assert.equal(u.stats.switches, 1, 'switched after all');
  // counting 2 s of calls between probes (as before the back-off), the second probe came after ~170 calls
  assert.ok(calls < 80, `switched after ${calls} calls`);
});
