// Block codecs: each dequantizer on hand-built blocks, checked against a per-element formula written from
// the layout description (not from the decoder's loops); quantize → dequantize round trips.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  dequantize,
  ggmlByteSize,
  ggmlTypeById,
  ggmlTypeTraits,
  quantize,
  quantizeQ4_0,
  quantizeQ8_0,
  type GgmlType,
} from '../../src/tensor/ggml-quant.js';
import { f16ToF32, f32ToF16 } from '../../src/util/half.js';
import { GlassError } from '../../src/util/errors.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function decode(type: GgmlType, bytes: Uint8Array): Float32Array {
  const t = ggmlTypeTraits(type);
  const out = new Float32Array((bytes.length / t.typeSize) * t.blockSize);
  assert.equal(dequantize(type, bytes, out), out.length);
  return out;
}

function putF16(b: Uint8Array, at: number, v: number) {
  const h = f32ToF16(v);
  b[at] = h & 0xff;
  b[at + 1] = h >> 8;
}

/** Exactly-representable f16 values keep the expected formulas exact. */
const D = 0.5;
const DMIN = 0.25;

describe('ggml type table', () => {
  test('ids, block sizes and byte sizes of the common types', () => {
    assert.deepEqual(ggmlTypeById(0), { name: 'F32', id: 0, blockSize: 1, typeSize: 4 });
    assert.deepEqual(ggmlTypeById(8), { name: 'Q8_0', id: 8, blockSize: 32, typeSize: 34 });
    assert.deepEqual(ggmlTypeById(2), { name: 'Q4_0', id: 2, blockSize: 32, typeSize: 18 });
    assert.deepEqual(ggmlTypeById(12), { name: 'Q4_K', id: 12, blockSize: 256, typeSize: 144 });
    assert.deepEqual(ggmlTypeById(14), { name: 'Q6_K', id: 14, blockSize: 256, typeSize: 210 });
    assert.deepEqual(ggmlTypeById(30), { name: 'BF16', id: 30, blockSize: 1, typeSize: 2 });
    assert.equal(ggmlTypeById(4), undefined); // removed Q4_2
    assert.equal(ggmlTypeById(1000), undefined);
    assert.equal(ggmlByteSize('Q8_0', 64), 68);
    assert.throws(() => ggmlByteSize('Q8_0', 33), GlassError);
  });
});

describe('dequantize hand-built blocks', () => {
  test('Q8_0: x = q·d', () => {
    const b = new Uint8Array(34);
    putF16(b, 0, D);
    for (let j = 0; j < 32; j++) b[2 + j] = (j * 8 - 128) & 0xff; // -128, -120, ..., 120
    const y = decode('Q8_0', b);
    for (let j = 0; j < 32; j++) assert.equal(y[j], (j * 8 - 128) * D);
  });

  test('Q4_0: x = (nibble − 8)·d; low nibbles are elements 0..15, high nibbles 16..31', () => {
    const b = new Uint8Array(18);
    putF16(b, 0, D);
    for (let j = 0; j < 16; j++) b[2 + j] = j | ((15 - j) << 4);
    const y = decode('Q4_0', b);
    for (let j = 0; j < 16; j++) {
      assert.equal(y[j], (j - 8) * D);
      assert.equal(y[16 + j], (15 - j - 8) * D);
    }
  });

  test('Q4_1: x = nibble·d + m', () => {
    const b = new Uint8Array(20);
    putF16(b, 0, D);
    putF16(b, 2, -3);
    for (let j = 0; j < 16; j++) b[4 + j] = j | ((15 - j) << 4);
    const y = decode('Q4_1', b);
    for (let j = 0; j < 16; j++) {
      assert.equal(y[j], j * D - 3);
      assert.equal(y[16 + j], (15 - j) * D - 3);
    }
  });

  test('Q5_0 and Q5_1: bit j of qh is element j’s fifth bit', () => {
    const r = rng(5);
    const q = Array.from({ length: 32 }, () => Math.floor(r() * 32));
    const pack = (b: Uint8Array, qhAt: number) => {
      let qh = 0;
      for (let j = 0; j < 32; j++) if (q[j] & 16) qh |= 1 << j;
      new DataView(b.buffer).setUint32(qhAt, qh >>> 0, true);
      for (let j = 0; j < 16; j++) b[qhAt + 4 + j] = (q[j] & 15) | ((q[16 + j] & 15) << 4);
    };
    const b0 = new Uint8Array(22);
    putF16(b0, 0, D);
    pack(b0, 2);
    const y0 = decode('Q5_0', b0);
    for (let j = 0; j < 32; j++) assert.equal(y0[j], (q[j] - 16) * D, `Q5_0[${j}]`);
    const b1 = new Uint8Array(24);
    putF16(b1, 0, D);
    putF16(b1, 2, 1.5);
    pack(b1, 4);
    const y1 = decode('Q5_1', b1);
    for (let j = 0; j < 32; j++) assert.equal(y1[j], q[j] * D + 1.5, `Q5_1[${j}]`);
  });

  /**
   * Packs 8 six-bit scales and mins the K-quant way: j < 4 in the low 6 bits of bytes j (scale) and j+4
   * (min); j ≥ 4 as low nibbles in byte j+4 (scale low, min high) with their top 2 bits in the top bits of
   * bytes j−4 (scale) and j (min).
   */
  function packScales(sc: number[], m: number[]): Uint8Array {
    const s = new Uint8Array(12);
    for (let j = 0; j < 4; j++) {
      s[j] |= sc[j];
      s[j + 4] |= m[j];
    }
    for (let j = 4; j < 8; j++) {
      s[j + 4] = (sc[j] & 15) | ((m[j] & 15) << 4);
      s[j - 4] |= (sc[j] >> 4) << 6;
      s[j] |= (m[j] >> 4) << 6;
    }
    return s;
  }

  test('Q4_K: x = d·sc[s]·q − dmin·m[s] for sub-block s = i/32, nibbles shared by sub-block pairs', () => {
    const r = rng(12);
    const sc = Array.from({ length: 8 }, () => Math.floor(r() * 64));
    const m = Array.from({ length: 8 }, () => Math.floor(r() * 64));
    sc[7] = 63; // exercise the top bits
    m[6] = 63;
    const q = Array.from({ length: 256 }, () => Math.floor(r() * 16));
    const b = new Uint8Array(144);
    putF16(b, 0, D);
    putF16(b, 2, DMIN);
    b.set(packScales(sc, m), 4);
    for (let i = 0; i < 256; i++) {
      const s = Math.floor(i / 32);
      const at = 16 + 32 * Math.floor(s / 2) + (i % 32);
      b[at] |= s % 2 === 0 ? q[i] : q[i] << 4;
    }
    const y = decode('Q4_K', b);
    for (let i = 0; i < 256; i++) {
      const s = Math.floor(i / 32);
      assert.equal(y[i], Math.fround(Math.fround(D * sc[s]) * q[i] - Math.fround(DMIN * m[s])), `Q4_K[${i}]`);
    }
    // Two values by hand: element 0 (sub-block 0) and element 255 (sub-block 7).
    assert.equal(y[0], D * sc[0] * q[0] - DMIN * m[0]);
    assert.equal(y[255], D * 63 * q[255] - DMIN * m[7]);
  });

  test('Q5_K: as Q4_K with the fifth bit of element i in bit s of qh[i % 32]', () => {
    const r = rng(13);
    const sc = Array.from({ length: 8 }, () => Math.floor(r() * 64));
    const m = Array.from({ length: 8 }, () => Math.floor(r() * 64));
    const q = Array.from({ length: 256 }, () => Math.floor(r() * 32));
    const b = new Uint8Array(176);
    putF16(b, 0, D);
    putF16(b, 2, DMIN);
    b.set(packScales(sc, m), 4);
    for (let i = 0; i < 256; i++) {
      const s = Math.floor(i / 32);
      const at = 48 + 32 * Math.floor(s / 2) + (i % 32);
      b[at] |= s % 2 === 0 ? q[i] & 15 : (q[i] & 15) << 4;
      if (q[i] & 16) b[16 + (i % 32)] |= 1 << s;
    }
    const y = decode('Q5_K', b);
    for (let i = 0; i < 256; i++) {
      const s = Math.floor(i / 32);
      assert.equal(y[i], Math.fround(Math.fround(D * sc[s]) * q[i] - Math.fround(DMIN * m[s])), `Q5_K[${i}]`);
    }
  });

  test('Q6_K: x = d·scales[i/16]·(q − 32), q split into 4 bits in ql and 2 bits in qh', () => {
    const r = rng(14);
    const scales = Array.from({ length: 16 }, () => Math.floor(r() * 256) - 128);
    const q = Array.from({ length: 256 }, () => Math.floor(r() * 64));
    const b = new Uint8Array(210);
    for (let i = 0; i < 256; i++) {
      const h = Math.floor(i / 128);
      const rr = i % 128;
      const l = rr % 32;
      const g = Math.floor(rr / 32); // which of the four 32-element quarters of this half
      const qlAt = 64 * h + l + 32 * (g & 1);
      b[qlAt] |= g < 2 ? q[i] & 15 : (q[i] & 15) << 4;
      b[128 + 32 * h + l] |= (q[i] >> 4) << (2 * g);
    }
    for (let k = 0; k < 16; k++) b[192 + k] = scales[k] & 0xff;
    putF16(b, 208, D);
    const y = decode('Q6_K', b);
    for (let i = 0; i < 256; i++) {
      assert.equal(y[i], Math.fround(D * scales[Math.floor(i / 16)] * (q[i] - 32)), `Q6_K[${i}]`);
    }
  });

  test('F16, BF16 and integer types', () => {
    const f16 = new Uint8Array([0x00, 0x3c, 0x00, 0xc0]); // 1, -2
    assert.deepEqual([...decode('F16', f16)], [1, -2]);
    const bf16 = new Uint8Array([0x80, 0x3f, 0x40, 0xc0]); // 1, -3
    assert.deepEqual([...decode('BF16', bf16)], [1, -3]);
    assert.deepEqual([...decode('I8', new Uint8Array([0xff, 5]))], [-1, 5]);
    assert.deepEqual([...decode('I16', new Uint8Array([0xfe, 0xff]))], [-2]);
  });

  test('several blocks land at the right places, at an output offset', () => {
    const x = new Float32Array(96).map((_, i) => Math.sin(i));
    const q = quantizeQ8_0(x);
    const out = new Float32Array(100);
    dequantize('Q8_0', q, out, 4);
    const whole = decode('Q8_0', q);
    assert.deepEqual(out.subarray(4), whole);
    assert.deepEqual([...out.subarray(0, 4)], [0, 0, 0, 0]);
  });

  test('partial blocks, overflowing outputs and types without a decoder are GlassErrors', () => {
    assert.throws(
      () => dequantize('Q8_0', new Uint8Array(33), new Float32Array(32)),
      (e: unknown) => e instanceof GlassError && e.code === 'BAD_INPUT',
    );
    assert.throws(
      () => dequantize('Q8_0', new Uint8Array(68), new Float32Array(32)),
      (e: unknown) => e instanceof GlassError && e.code === 'BAD_INPUT',
    );
    assert.throws(
      () => dequantize('Q2_K', new Uint8Array(84), new Float32Array(256)),
      (e: unknown) => e instanceof GlassError && e.code === 'UNSUPPORTED',
    );
  });
});

describe('quantize', () => {
  test('Q8_0: d = max|x|/127 (as f16), q = round(x/d); round trip within d/2', () => {
    const r = rng(1);
    const x = Float32Array.from({ length: 32 * 20 }, () => (r() * 2 - 1) * 3);
    const q = quantizeQ8_0(x);
    assert.equal(q.length, 20 * 34);
    const y = decode('Q8_0', q);
    for (let b = 0; b < 20; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]));
      const d = f16ToF32(q[34 * b] | (q[34 * b + 1] << 8));
      assert.ok(Math.abs(d - amax / 127) <= (amax / 127) * 1e-3, `block ${b}: d ${d} vs ${amax / 127}`);
      for (let j = 0; j < 32; j++) {
        const i = 32 * b + j;
        assert.ok(Math.abs(y[i] - x[i]) <= d / 2 + amax * 1e-3, `[${i}] ${y[i]} vs ${x[i]}`);
        const qi = (q[34 * b + 2 + j] << 24) >> 24;
        assert.ok(Math.abs(qi) <= 127);
      }
    }
  });

  test('Q8_0 of a known block; all-zero blocks give d = 0', () => {
    const x = new Float32Array(64);
    for (let j = 0; j < 32; j++) x[j] = (j - 16) * (127 / 16); // max |x| = 127 → d = 1
    const q = quantizeQ8_0(x);
    assert.equal(f16ToF32(q[0] | (q[1] << 8)), 1);
    // roundf rounds halves away from zero: x[8] = -63.5 → -64, x[24] = 63.5 → 64.
    const roundf = (v: number) => Math.sign(v) * Math.round(Math.abs(v));
    for (let j = 0; j < 32; j++) assert.equal((q[2 + j] << 24) >> 24, roundf(x[j]), `[${j}]`);
    assert.equal((q[2 + 8] << 24) >> 24, -64);
    assert.equal(q[34] | q[35], 0);
    assert.ok(q.subarray(36).every((v) => v === 0));
  });

  test('Q4_0: d = max/−8 with max the value of largest magnitude, q = min(15, ⌊x/d + 8.5⌋)', () => {
    const x = new Float32Array(32);
    for (let j = 0; j < 32; j++) x[j] = j - 16; // largest magnitude: -16 → d = 2
    const q = quantizeQ4_0(x);
    assert.equal(f16ToF32(q[0] | (q[1] << 8)), 2);
    const y = decode('Q4_0', q);
    for (let j = 0; j < 32; j++) {
      const expected = Math.min(15, Math.floor((j - 16) / 2 + 8.5));
      assert.equal(y[j], (expected - 8) * 2, `[${j}]`);
    }
    assert.equal(y[0], -16); // the extreme value is exact
  });

  test('Q4_0 round trip stays within d', () => {
    const r = rng(2);
    const x = Float32Array.from({ length: 32 * 16 }, () => r() * 2 - 1);
    const y = decode('Q4_0', quantizeQ4_0(x));
    for (let b = 0; b < 16; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]));
      for (let j = 0; j < 32; j++) {
        const i = 32 * b + j;
        assert.ok(Math.abs(y[i] - x[i]) <= amax / 8 + 1e-6, `[${i}] ${y[i]} vs ${x[i]}`);
      }
    }
  });

  test('quantize() dispatches, and refuses counts that are not whole blocks', () => {
    const x = Float32Array.from({ length: 64 }, (_, i) => i / 7);
    assert.deepEqual(quantize('Q8_0', x), quantizeQ8_0(x));
    assert.deepEqual(decode('F32', quantize('F32', x)), x);
    assert.throws(
      () => quantizeQ8_0(new Float32Array(33)),
      (e: unknown) => e instanceof GlassError && e.code === 'BAD_INPUT',
    );
    assert.throws(
      () => quantize('Q2_K', new Float32Array(256)),
      (e: unknown) => e instanceof GlassError && e.code === 'UNSUPPORTED',
    );
  });
});
