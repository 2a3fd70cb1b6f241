// The Q8_0 × int8 kernels of assembly/q8dot.ts, called directly on both builds (relaxed SIMD, where this
// engine has it, and plain SIMD128): quantizeRowQ8 against the same rounding in JS (its int8 as magnitudes
// and sign masks), and matmulQ8Dot
// against an integer reference — exactly, at awkward sizes and at the edges of the int8 range (-128, 127);
// and the backend's q8_0 decode matmul, the same bits on 1, 2 and 3 threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createWasmBackend, quantizeMatrixQ8_0 } from '../../src/tensor/index.js';
import { relaxedSimdAvailable } from '../../src/tensor/wasm/index.js';
import { q8FromKernel, q8ToKernel } from '../../src/tensor/wasm/matrices.js';
import type { KernelExports } from '../../src/tensor/wasm/exports.js';
import { Rng } from '../../src/generate/rng.js';
import { f16ToF32 } from '../../src/util/half.js';

type Q8Kernels = Pick<KernelExports, 'heapBase' | 'quantizeRowQ8' | 'matmulQ8Dot'>;

const builds: Array<{ name: string; file: string }> = [{ name: 'simd128', file: 'kernels.wasm' }];
if (await relaxedSimdAvailable()) builds.unshift({ name: 'relaxed-simd', file: 'kernels-relaxed.wasm' });

async function instantiate(file: string): Promise<{ k: Q8Kernels; mem: WebAssembly.Memory }> {
  const bytes = readFileSync(new URL(`../../src/tensor/wasm/${file}`, import.meta.url));
  const mem = new WebAssembly.Memory({ initial: 256 }); // 16 MiB
  const inst = await WebAssembly.instantiate(await WebAssembly.compile(bytes), { env: { memory: mem } });
  return { k: inst.exports as unknown as Q8Kernels, mem };
}

/** A bump allocator over the memory from the module's heap base, 16-byte aligned. */
function allocator(k: Q8Kernels): (bytes: number) => number {
  let p = (k.heapBase() + 15) & ~15;
  return (bytes) => {
    const q = p;
    p = (p + bytes + 15) & ~15;
    return q;
  };
}

/** Random int8 in [lo, hi], with the edge values planted often. */
function int8s(n: number, r: Rng, lo: number, hi: number): Int8Array {
  const edges = [lo, hi, lo + 1, hi - 1, 0, -1, 1];
  return Int8Array.from({ length: n }, () =>
    r.next() < 0.3 ? edges[Math.floor(r.next() * edges.length)] : lo + Math.floor(r.next() * (hi - lo + 1)),
  );
}

/** int8 quants [rows·k] in quantizeRowQ8's layout: per 32-block, 32 bytes |q| then 32 sign masks (-1 / 0). */
function splitQ8(q: Int8Array): Int8Array {
  const out = new Int8Array(2 * q.length);
  for (let b = 0; b < q.length / 32; b++)
    for (let i = 0; i < 32; i++) {
      const v = q[b * 32 + i];
      out[b * 64 + i] = Math.abs(v);
      out[b * 64 + 32 + i] = v < 0 ? -1 : 0;
    }
  return out;
}

/** Round half to even, as f32x4.nearest. */
function nearest(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

for (const b of builds) {
  test(`q8dot ${b.name}: matmulQ8Dot is the exact integer Σ w·x at awkward sizes and int8 edges`, async () => {
    const { k: K, mem } = await instantiate(b.file);
    const r = new Rng(17);
    for (const rows of [1, 2, 5]) {
      for (const k of [32, 96, 992]) {
        for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 13, 15, 33]) {
          const alloc = allocator(K);
          const nb = k / 32;
          // weights over the whole int8 range; x as quantizeRowQ8 makes it, in [-127, 127]
          const w = int8s(n * k, r, -128, 127);
          const x = int8s(rows * k, r, -127, 127);
          // unit scales: the float side is then exact too (every partial sum is an integer below 2^24)
          const lay = q8ToKernel(w, new Float32Array(n * nb).fill(1), n, k);
          const wq = alloc(lay.length);
          const xq = alloc(2 * rows * k);
          const xs = alloc(rows * nb * 4);
          const bias = alloc(n * 4);
          const out = alloc(rows * n * 4);
          new Uint8Array(mem.buffer, wq, lay.length).set(lay);
          new Int8Array(mem.buffer, xq, 2 * rows * k).set(splitQ8(x));
          new Float32Array(mem.buffer, xs, rows * nb).fill(1);
          const bv = Float32Array.from({ length: n }, (_, j) => j - 3);
          new Float32Array(mem.buffer, bias, n).set(bv);
          // the integer reference; w = -128 against a negative x counts as -127 (the sign moved onto w saturates)
          const want = new Float64Array(rows * n);
          for (let m = 0; m < rows; m++)
            for (let j = 0; j < n; j++) {
              let s = 0;
              for (let i = 0; i < k; i++) {
                const xv = x[m * k + i];
                const wv = w[j * k + i] === -128 && xv < 0 ? -127 : w[j * k + i];
                s += wv * xv;
              }
              want[m * n + j] = s;
            }
          // all rows at once, and split at a group boundary as two threads would
          for (const [withBias, splits] of [
            [false, [[0, n]]],
            [
              true,
              n > 4
                ? [
                    [0, 4],
                    [4, n],
                  ]
                : [[0, n]],
            ],
          ] as const) {
            new Float32Array(mem.buffer, out, rows * n).fill(NaN);
            for (const [j0, j1] of splits)
              K.matmulQ8Dot(out, xq, xs, wq, withBias ? bias : 0, rows, n, k, j0, j1);
            const got = new Float32Array(mem.buffer, out, rows * n);
            for (let i = 0; i < rows * n; i++)
              assert.equal(
                got[i],
                want[i] + (withBias ? bv[i % n] : 0),
                `${rows}x${k}x${n} [${i}]${withBias ? ' bias' : ''}`,
              );
          }
        }
      }
    }
  });

  test(`q8dot ${b.name}: the saturating extremes, w = -128 and 127 against x = ±127`, async () => {
    const { k: K, mem } = await instantiate(b.file);
    const alloc = allocator(K);
    const n = 5;
    const k = 64;
    const cases: Array<[number, number, number]> = [
      // [w, x, Σ per row]: the largest sums a block can make, and the -128 · negative case
      [127, 127, 127 * 127 * k],
      [127, -127, -127 * 127 * k],
      [-128, 127, -128 * 127 * k],
      [-128, -127, 127 * 127 * k],
      [-127, -127, 127 * 127 * k],
    ];
    for (const [wv, xv, sum] of cases) {
      const lay = q8ToKernel(new Int8Array(n * k).fill(wv), new Float32Array((n * k) / 32).fill(1), n, k);
      const wq = alloc(lay.length);
      const xq = alloc(2 * k);
      const xs = alloc((k / 32) * 4);
      const out = alloc(n * 4);
      new Uint8Array(mem.buffer, wq, lay.length).set(lay);
      new Int8Array(mem.buffer, xq, 2 * k).set(splitQ8(new Int8Array(k).fill(xv)));
      new Float32Array(mem.buffer, xs, k / 32).fill(1);
      K.matmulQ8Dot(out, xq, xs, wq, 0, 1, n, k, 0, n);
      assert.deepEqual([...new Float32Array(mem.buffer, out, n)], new Array(n).fill(sum), `w ${wv}, x ${xv}`);
    }
  });

  test(`q8dot ${b.name}: quantizeRowQ8 rounds each 32-block to int8 with scale max|x| / 127 (as magnitudes and signs)`, async () => {
    const { k: K, mem } = await instantiate(b.file);
    const alloc = allocator(K);
    const r = new Rng(5);
    const rows = 3;
    const k = 96;
    const x = Float32Array.from({ length: rows * k }, () => (r.next() * 2 - 1) * 4);
    x.fill(0, 32, 64); // a block of zeros: scale 0, quants 0
    x[100] = -9; // a block whose largest magnitude is negative
    const xp = alloc(rows * k * 4);
    const xq = alloc(2 * rows * k);
    const xs = alloc(((rows * k) / 32) * 4);
    new Float32Array(mem.buffer, xp, rows * k).set(x);
    K.quantizeRowQ8(xp, rows, k, xq, xs);
    // magnitudes and sign masks back to int8 (every mask byte -1 or 0)
    const split = new Int8Array(mem.buffer, xq, 2 * rows * k);
    const q = Int8Array.from({ length: rows * k }, (_, i) => {
      const [b, j] = [Math.floor(i / 32), i % 32];
      const mask = split[b * 64 + 32 + j];
      assert.ok(mask === 0 || mask === -1, `sign mask of [${i}]`);
      return mask ? -split[b * 64 + j] : split[b * 64 + j];
    });
    const s = new Float32Array(mem.buffer, xs, (rows * k) / 32);
    for (let blk = 0; blk < (rows * k) / 32; blk++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[blk * 32 + i]));
      const d = Math.fround(amax / 127);
      const id = d !== 0 ? Math.fround(1 / d) : 0;
      assert.equal(s[blk], d, `scale of block ${blk}`);
      for (let i = 0; i < 32; i++) {
        const want = nearest(Math.fround(x[blk * 32 + i] * id));
        assert.equal(q[blk * 32 + i], want, `block ${blk} [${i}]`);
        assert.ok(Math.abs(want) <= 127);
      }
    }
    assert.equal(q[100], -127);
  });
}

test('q8dot: a q8_0 decode matmul gives the same bits on 1, 2 and 3 threads', async () => {
  const r = new Rng(3);
  const n = 203; // 50 groups of four and three rows past them
  const k = 512;
  const w = quantizeMatrixQ8_0(
    n,
    k,
    Float32Array.from({ length: n * k }, () => r.next() * 2 - 1),
  );
  const bias = Float32Array.from({ length: n }, () => r.next());
  const outs: Float32Array[] = [];
  for (const threads of [1, 2, 3]) {
    const be = await createWasmBackend({ threads });
    try {
      for (const rows of [1, 2, 3]) {
        const x = Float32Array.from({ length: rows * k }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
        const out = new Float32Array(rows * n);
        be.matmul(out, x, be.placeMatrix!(w), bias, rows);
        outs.push(out);
      }
    } finally {
      be.close();
    }
  }
  for (let t = 1; t < 3; t++)
    for (let i = 0; i < 3; i++) assert.deepEqual(outs[t * 3 + i], outs[i], `${t + 1} threads, ${i + 1} rows`);
});

test("q8dot: the kernels' one-stream Q8_0 layout round-trips, and a placed matrix gives back its quants and scales", async () => {
  const r = new Rng(11);
  for (const [n, k] of [
    [1, 32],
    [4, 64],
    [7, 96],
    [9, 32],
  ]) {
    const w = quantizeMatrixQ8_0(
      n,
      k,
      Float32Array.from({ length: n * k }, () => r.next() * 2 - 1),
    );
    // the scales as float32 (quantizeMatrixQ8_0 keeps GGUF's f16 bit patterns)
    const scales = w.scales instanceof Float32Array ? w.scales : Float32Array.from(w.scales, f16ToF32);
    const bytes = q8ToKernel(w.quants, scales, n, k);
    assert.equal(bytes.length, (n * k * 9) / 8);
    const back = { q: new Int8Array(n * k), s: new Float32Array((n * k) / 32) };
    q8FromKernel(bytes, n, k, back.q, back.s);
    assert.deepEqual(back.q, w.quants, `${n}x${k} quants`);
    assert.deepEqual(back.s, scales, `${n}x${k} scales`);
    // a whole group's block b: four rows' quants, then their four scales
    if (n >= 4) {
      const f = new DataView(bytes.buffer);
      assert.equal(f.getFloat32(128, true), scales[0]);
      assert.equal(f.getFloat32(140, true), scales[3 * (k / 32)]);
      assert.equal(new Int8Array(bytes.buffer)[32], w.quants[k]);
    }
    const be = await createWasmBackend({ threads: 1 });
    try {
      const placed = be.placeMatrix!(w) as typeof w;
      assert.deepEqual(placed.quants, w.quants);
      assert.deepEqual(placed.scales, scales);
    } finally {
      be.close();
    }
  }
});
