// One training pass of trainShard against a float64 reference written out here, update by update
// (skip-gram and CBOW; negative sampling and hierarchical softmax), the window shrink of a fixed seed,
// and training on a corpus with planted structure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainShard, trainWord2Vec, type ShardJob } from '../../src/word2vec/train.js';
import { trainWord2VecThreads, wasmKernels, wasmPlan } from '../../src/word2vec/train-node.js';
import { huffmanTree } from '../../src/word2vec/vocab.js';
import { nearest } from '../../src/word2vec/query.js';
import type { WordVectors } from '../../src/word2vec/vectors.js';

const ALWAYS = 2 ** 32; // p(keep)·2³² for "always kept"

/** Small deterministic values in [-0.5, 0.5). */
function values(n: number, seed: number): Float32Array {
  let x = seed;
  return Float32Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  });
}

interface Setup {
  counts: number[];
  sentence: number[];
  dim: number;
  window: number;
  cbow: boolean;
  hs: boolean;
  negative: number;
  /** The one word every negative draw returns. */
  noise: number;
  alpha: number;
  seed: number;
}

function job(s: Setup): ShardJob {
  const V = s.counts.length;
  const corpus = Int32Array.from([...s.sentence, -1]);
  return {
    dim: s.dim,
    window: s.window,
    cbow: s.cbow,
    negative: s.negative,
    hs: s.hs,
    alpha: s.alpha,
    minAlpha: s.alpha, // a constant rate: the reference need not follow the decay
    epochs: 1,
    plannedWords: s.sentence.length,
    seed: s.seed,
    worker: 0,
    corpus,
    begin: 0,
    end: corpus.length,
    keep: new Float64Array(V).fill(ALWAYS),
    table: Int32Array.of(s.noise),
    W: values(V * s.dim, 1),
    C: values(V * s.dim, 2),
    H: values((V - 1) * s.dim, 3),
    tree: huffmanTree(s.counts),
    progress: new Float64Array(4),
    stop: new Int32Array(1),
  };
}

/** The same updates in float64, written plainly: reach[i] = the context size either side of word i. */
function reference(s: Setup, j: ShardJob, reach: number[]) {
  const rows = (a: Float32Array, n: number) =>
    Array.from({ length: n }, (_, r) => Array.from(a.subarray(r * s.dim, (r + 1) * s.dim)));
  const V = s.counts.length;
  const W = rows(j.W, V);
  const C = rows(j.C, V);
  const H = rows(j.H, V - 1);
  // σ as word2vec.c and gensim look it up: the value at the left end of x's 1/1000 of [−6, 6)
  const sig = (x: number) => {
    if (x >= 6) return 1;
    if (x < -6) return 0;
    const left = ((2 * Math.floor((x + 6) * (1000 / 12))) / 1000 - 1) * 6;
    return 1 / (1 + Math.exp(-left));
  };
  const dot = (a: number[], b: number[]) => a.reduce((t, x, k) => t + x * b[k]!, 0);
  const tree = j.tree;
  // One target: g = α(label − σ(x·out)); e += g·out; out += g·x.
  const step = (x: number[], out: number[], label: number, e: number[]) => {
    const g = s.alpha * (label - sig(dot(x, out)));
    for (let k = 0; k < s.dim; k++) {
      e[k]! += g * out[k]!;
      out[k]! += g * x[k]!;
    }
  };
  const targets = (x: number[], w: number, e: number[]) => {
    if (s.hs) {
      for (let d = 0; d < tree.length[w]!; d++) {
        const at = w * tree.maxDepth + d;
        step(x, H[tree.point[at]!]!, 1 - tree.code[at]!, e);
      }
    }
    if (s.negative > 0) {
      step(x, C[w]!, 1, e);
      for (let n = 0; n < s.negative; n++) if (s.noise !== w) step(x, C[s.noise]!, 0, e);
    }
  };
  const sent = s.sentence;
  sent.forEach((w, i) => {
    const ctx: number[] = [];
    for (let c = Math.max(0, i - reach[i]!); c <= Math.min(sent.length - 1, i + reach[i]!); c++) {
      if (c !== i) ctx.push(sent[c]!);
    }
    if (s.cbow) {
      const h = Array.from({ length: s.dim }, (_, k) => ctx.reduce((t, c) => t + W[c]![k]!, 0) / ctx.length);
      const e = new Array<number>(s.dim).fill(0);
      targets(h, w, e);
      for (const c of ctx) for (let k = 0; k < s.dim; k++) W[c]![k]! += e[k]!;
    } else {
      for (const c of ctx) {
        const e = new Array<number>(s.dim).fill(0);
        targets(W[c]!, w, e);
        for (let k = 0; k < s.dim; k++) W[c]![k]! += e[k]!;
      }
    }
  });
  return { W: W.flat(), C: C.flat(), H: H.flat() };
}

function close(actual: Float32Array, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length);
  let worst = 0;
  expected.forEach((x, i) => (worst = Math.max(worst, Math.abs(actual[i]! - x))));
  assert.ok(worst < 2e-6, `${what}: off by ${worst}`);
}

async function check(s: Setup, reach: number[], simd = false, replica = false): Promise<void> {
  const j = job(s);
  if (simd) {
    // The same pass with the wasm SIMD kernels, the matrices moved into their memory. With `replica`, a
    // plan for two workers: worker 0 trains its own copy and folds it into j's matrices at the end.
    const plan = await wasmPlan(j, s, replica ? 2 : 1);
    assert.equal(plan.workers[0]!.merges.length > 0, replica);
    j.wasm = wasmKernels(plan, 0);
  }
  const before = { W: j.W.slice(), C: j.C.slice(), H: j.H.slice() };
  const want = reference(s, j, reach);
  trainShard(j);
  close(j.W, want.W, 'W');
  close(j.C, want.C, 'C');
  close(j.H, want.H, 'H');
  // The step did something to every matrix it uses.
  assert.notDeepEqual(j.W, before.W);
  if (s.negative > 0) assert.notDeepEqual(j.C, before.C);
  else assert.deepEqual(j.C, before.C);
  if (s.hs) assert.notDeepEqual(j.H, before.H);
  else assert.deepEqual(j.H, before.H);
}

// Window 1: the shrink b = rand % 1 is always 0, so the context is each neighbour.
const base: Setup = {
  counts: [4, 3, 2, 1],
  sentence: [0, 1, 2, 3, 1],
  dim: 6,
  window: 1,
  cbow: false,
  hs: false,
  negative: 2,
  noise: 2, // word 2 as a centre draws itself as noise: skipped
  alpha: 0.5,
  seed: 1,
};
const ones = [1, 1, 1, 1, 1];

for (const simd of [false, true]) {
  const how = simd ? 'wasm SIMD kernels' : 'TypeScript loops';
  test(`one skip-gram pass with negative sampling matches the float64 reference (${how})`, () =>
    check(base, ones, simd));
  test(`one skip-gram pass with hierarchical softmax matches the float64 reference (${how})`, () =>
    check({ ...base, hs: true, negative: 0 }, ones, simd));
  test(`one skip-gram pass with both matches the float64 reference (${how}, dim 7: SIMD remainders)`, () =>
    check({ ...base, hs: true, dim: 7 }, ones, simd));
  test(`one CBOW pass with negative sampling matches the float64 reference (${how})`, () =>
    check({ ...base, cbow: true }, ones, simd));
  test(`one CBOW pass with hierarchical softmax and negative sampling matches the float64 reference (${how})`, () =>
    check({ ...base, cbow: true, hs: true }, ones, simd));
}

test('a worker training a replica: merged into the shared matrices, one pass matches the float64 reference', async () => {
  await check(base, ones, true, true);
  await check({ ...base, cbow: true, hs: true, dim: 7 }, ones, true, true);
});

test('replica merge: shared += replica − snapshot, then all three equal', async () => {
  const s = { ...base, dim: 5 }; // 4 words × 5: SIMD lanes and a remainder
  const j = job(s);
  const plan = await wasmPlan(j, s, 2);
  const [shared, replica, snapshot, n] = plan.workers[1]!.merges[0]!;
  assert.equal(n, j.W.length);
  const view = (at: number) => new Float32Array(plan.memory.buffer, at!, n!);
  const [S, L, P] = [view(shared!), view(replica!), view(snapshot!)];
  assert.deepEqual(L, S); // both start as the shared matrix
  S.forEach((_, i) => {
    S[i] = i; // what the other worker merged meanwhile
    L[i] = P[i]! + 0.5 * i; // what this one learned
  });
  const want = Array.from(S, (x, i) => x + 0.5 * i);
  wasmKernels(plan, 1).merge!();
  for (const a of [S, L, P]) close(a, want, 'after the merge');
});

test('window shrink: reach = window − (rand % window) from the seeded xorshift32', async () => {
  const s: Setup = { ...base, sentence: [0, 1, 2, 3, 0, 1, 2], window: 3, hs: true, negative: 0, seed: 5 };
  // The kernel's generator: xorshift32 from the seed and worker 0; one draw per word read (the
  // subsampling test), then one per centre word for its shrink (no negatives here).
  let rnd = (Math.imul(s.seed + 1, 0x9e3779b1) ^ Math.imul(1, 0x85ebca6b)) | 0 || 1;
  const next = () => {
    rnd ^= rnd << 13;
    rnd ^= rnd >>> 17;
    rnd ^= rnd << 5;
    return rnd >>> 0;
  };
  s.sentence.forEach(() => next());
  const reach = s.sentence.map(() => s.window - (next() % s.window));
  assert.deepEqual(reach, [2, 1, 3, 1, 1, 3, 3]); // seed 5: shrunk at random, never 0
  await check(s, reach);
});

/** Two groups of words that only ever share a line with their own group. */
function planted(lines: number): string {
  const groups = [
    ['lion', 'tiger', 'wolf', 'bear', 'fox'],
    ['rose', 'lily', 'tulip', 'daisy', 'iris'],
  ];
  let x = 7;
  const pick = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const out: string[] = [];
  for (let l = 0; l < lines; l++) {
    const g = groups[l % 2]!;
    out.push(Array.from({ length: 8 }, () => g[pick(g.length)]).join(' '));
  }
  return out.join('\n');
}

function assertGrouped(wv: WordVectors): void {
  for (const w of wv.words) {
    const group = ['lion', 'tiger', 'wolf', 'bear', 'fox'].includes(w) ? 0 : 1;
    const near = nearest(wv, w, { k: 4 }).map((s) => s.word);
    const mates = near.filter(
      (n) => (['lion', 'tiger', 'wolf', 'bear', 'fox'].includes(n) ? 0 : 1) === group,
    );
    assert.equal(mates.length, 4, `${w}: nearest ${near.join(' ')}`);
  }
}

const small = { dim: 16, minCount: 1, sample: 0, epochs: 10, seed: 3 };

test('planted structure: skip-gram puts each group nearest itself', () =>
  assertGrouped(trainWord2Vec(planted(200), small)));
test('planted structure: CBOW with hierarchical softmax puts each group nearest itself', () =>
  assertGrouped(trainWord2Vec(planted(200), { ...small, cbow: true, hs: true, negative: 0 })));
test('planted structure: two worker threads (Hogwild) and progress reports', async () => {
  const seen: number[] = [];
  const run = trainWord2VecThreads(planted(200), { ...small, threads: 2 }, (p) => seen.push(p.words), 5);
  const r = await run.done;
  assert.equal(r.stopped, false);
  assert.equal(r.words, 10 * 1600); // every word of every epoch read
  assert.ok(Number.isFinite(r.loss) && r.loss > 0);
  assert.equal(seen.at(-1), r.words);
  assertGrouped(r.vectors);
});
