import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sampler, argmax, probabilities, softmax, topK } from '../../src/generate/sampler.js';
import { Rng } from '../../src/generate/rng.js';
import { withWasmBackend } from '../fixtures/wasm.js';

function randomLogits(n: number, seed: number, scale = 3): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => (r.next() - 0.5) * 2 * scale);
}

test('softmax sums to 1 and keeps order; temperature sharpens', () => {
  const l = randomLogits(100, 1);
  const p = softmax(l);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  const cold = softmax(l, 0.5);
  const i = argmax(l);
  assert.equal(argmax(p), i);
  assert.ok(cold[i] > p[i]);
});

test('greedy and temperature 0 take the argmax', () => {
  const l = randomLogits(1000, 2);
  assert.equal(new Sampler({ greedy: true }).sample(l), argmax(l));
  assert.equal(new Sampler({ temperature: 0 }).sample(l), argmax(l));
});

test('top-k 1 and a tiny top-p are greedy', () => {
  const l = randomLogits(500, 3);
  for (let s = 0; s < 20; s++) {
    assert.equal(new Sampler({ topK: 1, seed: s }).sample(l), argmax(l));
    assert.equal(new Sampler({ topP: 1e-9, seed: s }).sample(l), argmax(l));
  }
});

test('top-k only ever returns one of the k most likely tokens', () => {
  const l = randomLogits(200, 4);
  const allowed = new Set(topK(softmax(l), 5).map((c) => c.id));
  const s = new Sampler({ topK: 5, seed: 9 });
  for (let i = 0; i < 500; i++) assert.ok(allowed.has(s.sample(l)));
});

test('top-p only returns tokens inside the nucleus', () => {
  const l = randomLogits(200, 5);
  const ranked = topK(softmax(l), 200);
  const nucleus = new Set<number>();
  let mass = 0;
  for (const c of ranked) {
    nucleus.add(c.id);
    mass += c.prob;
    if (mass >= 0.5) break;
  }
  const s = new Sampler({ topP: 0.5, seed: 10 });
  for (let i = 0; i < 500; i++) assert.ok(nucleus.has(s.sample(l)));
});

test('the same seed gives the same draws; another seed differs', () => {
  const l = randomLogits(50, 6, 1);
  const draw = (seed: number) => {
    const s = new Sampler({ seed, temperature: 1.2 });
    return Array.from({ length: 50 }, () => s.sample(l));
  };
  assert.deepEqual(draw(42), draw(42));
  assert.notDeepEqual(draw(42), draw(43));
});

test('sampling frequencies follow the softmax (20k draws, 4 tokens)', () => {
  const l = Float32Array.from([2, 1, 0, -1]);
  const p = softmax(l);
  const s = new Sampler({ seed: 7 });
  const counts = [0, 0, 0, 0];
  const n = 20000;
  for (let i = 0; i < n; i++) counts[s.sample(l)]++;
  for (let i = 0; i < 4; i++)
    assert.ok(Math.abs(counts[i] / n - p[i]) < 0.015, `token ${i}: ${counts[i] / n} vs ${p[i]}`);
});

test('the sampler’s float32 probabilities are the float64 softmax within 1e-5; a banned id gets exactly 0', async () => {
  // reference kernels, then the wasm ones (a SIMD exp); rows flat, peaked, at temperatures 0.3 – 2
  const check = (name: string) => {
    for (const [ri, l] of [randomLogits(50257, 21, 4), randomLogits(1003, 22, 30)].entries()) {
      l[7] = -Infinity; // banned
      l[l.length - 1] = -Infinity; // banned, in the scalar tail
      for (const t of [0.3, 1, 2]) {
        const want = softmax(l, t);
        const got = probabilities(l, t, new Float32Array(l.length + 5));
        assert.equal(got.length, l.length);
        let sum = 0;
        for (let i = 0; i < l.length; i++) {
          sum += got[i];
          // relative for the ids that can be drawn, absolute below
          const err = Math.abs(got[i] - want[i]) / Math.max(want[i], 1e-9);
          assert.ok(err < 1e-5, `${name} row ${ri} T ${t} [${i}]: ${got[i]} vs ${want[i]}`);
        }
        assert.equal(got[7], 0, `${name}: a banned id`);
        assert.equal(got[l.length - 1], 0, `${name}: a banned id in the tail`);
        assert.ok(Math.abs(sum - 1) < 1e-5, `${name} row ${ri} T ${t}: sum ${sum}`);
      }
    }
  };
  check('reference');
  await withWasmBackend(async () => check('wasm'));
});

test('top-k / top-p candidates without a full sort draw exactly what sorting every id gives', async () => {
  // the sampler before mostLikely: every id sorted by probability (equal ones: lower id first), the first
  // k, cut where the mass reaches top-p, then one draw over them — here as the reference
  const fullSort = (
    l: Float32Array,
    o: { temperature?: number; topK?: number; topP?: number },
    seed: number,
  ) => {
    const rng = new Rng(seed);
    const p = probabilities(l, o.temperature ?? 1, new Float32Array(l.length)); // the sampler's own
    const ids = Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
    let c = ids.slice(0, o.topK || ids.length);
    if ((o.topP ?? 1) < 1) {
      let mass = 0;
      const cut = c.findIndex((id) => (mass += p[id]) >= o.topP!);
      if (cut >= 0) c = c.slice(0, cut + 1);
    }
    return () => {
      let total = 0;
      for (const id of c) total += p[id];
      let r = rng.next() * total;
      for (const id of c) if ((r -= p[id]) < 0) return id;
      return c[c.length - 1];
    };
  };
  const cases: Float32Array[] = [
    randomLogits(50257, 11, 4), // a flat row: top-p takes thousands of ids
    Float32Array.from(randomLogits(32000, 12, 2), (v, i) => (i % 97 === 0 ? v + 12 : v)), // a peaked one
    Float32Array.from({ length: 3000 }, (_, i) => Math.round(Math.sin(i) * 4)), // many equal values
    Float32Array.from(randomLogits(1000, 13), (v, i) => (i % 3 === 0 ? -Infinity : v)), // banned ids
  ];
  const options = [
    { topK: 40 },
    { topP: 0.9, temperature: 0.7 },
    { topK: 50, topP: 0.5 },
    { topP: 0.999 },
    { topK: 1 },
  ];
  // on the reference kernels and on the wasm ones (whose probabilities the sampler then draws from)
  const draws = (name: string) => {
    for (const [ci, l] of cases.entries()) {
      for (const o of options) {
        const s = new Sampler({ ...o, seed: 5 + ci });
        const want = fullSort(l, o, 5 + ci);
        for (let d = 0; d < 30; d++)
          assert.equal(s.sample(l), want(), `${name} row ${ci} ${JSON.stringify(o)} draw ${d}`);
      }
    }
  };
  draws('reference');
  await withWasmBackend(async () => draws('wasm'));
  // the k most likely, ties by id
  const l = cases[2];
  const p = softmax(l);
  const order = Array.from({ length: l.length }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
  assert.deepEqual(
    topK(p, 25).map((c) => c.id),
    order.slice(0, 25),
  );
});

test('bad sampling options are refused', () => {
  assert.throws(() => new Sampler({ temperature: -1 }), /temperature/);
  assert.throws(() => new Sampler({ topP: 0 }), /top-p/);
  assert.throws(() => new Sampler({ topK: 1.5 }), /top-k/);
});
