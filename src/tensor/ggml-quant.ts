// ggml tensor types and their block codecs (dequantize to float32; quantize for Q8_0, Q4_0, Q4_K, Q5_K
// and Q6_K).
// Pure: no Node APIs. Layouts follow ggml's ggml-common.h; every multi-byte field is little-endian.
//
// A quantized tensor is a flat run of blocks: `count / blockSize` blocks of `typeSize` bytes, each block
// holding `blockSize` consecutive elements in row-major (ggml) order.
//
//   Q8_0  (32 elems, 34 B):  f16 d, int8 q[32]                       x = q·d
//   Q4_0  (32 elems, 18 B):  f16 d, u8 qs[16]                        x = (nibble − 8)·d; the low nibbles of
//                            qs[0..15] are elements 0..15, the high nibbles elements 16..31
//   Q4_1  (32 elems, 20 B):  f16 d, f16 m, u8 qs[16]                 x = nibble·d + m
//   Q5_0  (32 elems, 22 B):  f16 d, u32 qh, u8 qs[16]                x = ((nibble | fifth bit << 4) − 16)·d;
//                            bit j of qh is element j's fifth bit (elements 0..31)
//   Q5_1  (32 elems, 24 B):  f16 d, f16 m, u32 qh, u8 qs[16]         x = (nibble | fifth bit << 4)·d + m
//   Q4_K  (256 elems, 144 B): f16 d, f16 dmin, u8 scales[12], u8 qs[128]
//                            8 sub-blocks of 32, each with a 6-bit scale sc and a 6-bit min m packed in
//                            `scales`; x = d·sc·nibble − dmin·m. Each 32-byte group of qs serves two
//                            sub-blocks: low nibbles the first, high nibbles the second.
//   Q5_K  (256 elems, 176 B): f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
//                            as Q4_K, plus a fifth bit from qh (bit 2j / 2j+1 for the j-th 64-element chunk)
//   Q6_K  (256 elems, 210 B): u8 ql[128], u8 qh[64], int8 scales[16], f16 d
//                            16 sub-blocks of 16; x = d·scale·(q − 32), q 6 bits: 4 from ql, 2 from qh
import { f16Table, f32ToF16, LITTLE_ENDIAN } from '../util/half.js';
import { GlassError } from '../util/errors.js';

/** Every ggml tensor type a GGUF file may name (ggml's `enum ggml_type`), by name. */
export type GgmlType =
  | 'F32'
  | 'F16'
  | 'Q4_0'
  | 'Q4_1'
  | 'Q5_0'
  | 'Q5_1'
  | 'Q8_0'
  | 'Q8_1'
  | 'Q2_K'
  | 'Q3_K'
  | 'Q4_K'
  | 'Q5_K'
  | 'Q6_K'
  | 'Q8_K'
  | 'IQ2_XXS'
  | 'IQ2_XS'
  | 'IQ3_XXS'
  | 'IQ1_S'
  | 'IQ4_NL'
  | 'IQ3_S'
  | 'IQ2_S'
  | 'IQ4_XS'
  | 'I8'
  | 'I16'
  | 'I32'
  | 'I64'
  | 'F64'
  | 'IQ1_M'
  | 'BF16'
  | 'TQ1_0'
  | 'TQ2_0'
  | 'MXFP4';

export interface GgmlTypeTraits {
  name: GgmlType;
  /** ggml's numeric type id, as stored in GGUF tensor infos. */
  id: number;
  /** Elements per block (1 for plain types). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

const TRAITS: GgmlTypeTraits[] = (
  [
    ['F32', 0, 1, 4],
    ['F16', 1, 1, 2],
    ['Q4_0', 2, 32, 18],
    ['Q4_1', 3, 32, 20],
    ['Q5_0', 6, 32, 22],
    ['Q5_1', 7, 32, 24],
    ['Q8_0', 8, 32, 34],
    ['Q8_1', 9, 32, 36],
    ['Q2_K', 10, 256, 84],
    ['Q3_K', 11, 256, 110],
    ['Q4_K', 12, 256, 144],
    ['Q5_K', 13, 256, 176],
    ['Q6_K', 14, 256, 210],
    ['Q8_K', 15, 256, 292],
    ['IQ2_XXS', 16, 256, 66],
    ['IQ2_XS', 17, 256, 74],
    ['IQ3_XXS', 18, 256, 98],
    ['IQ1_S', 19, 256, 50],
    ['IQ4_NL', 20, 32, 18],
    ['IQ3_S', 21, 256, 110],
    ['IQ2_S', 22, 256, 82],
    ['IQ4_XS', 23, 256, 136],
    ['I8', 24, 1, 1],
    ['I16', 25, 1, 2],
    ['I32', 26, 1, 4],
    ['I64', 27, 1, 8],
    ['F64', 28, 1, 8],
    ['IQ1_M', 29, 256, 56],
    ['BF16', 30, 1, 2],
    ['TQ1_0', 34, 256, 54],
    ['TQ2_0', 35, 256, 66],
    ['MXFP4', 39, 32, 17],
  ] as const
).map(([name, id, blockSize, typeSize]) => ({ name, id, blockSize, typeSize }));

const BY_ID = new Map<number, GgmlTypeTraits>(TRAITS.map((t) => [t.id, t]));
const BY_NAME = new Map<string, GgmlTypeTraits>(TRAITS.map((t) => [t.name, t]));

/** Traits of a ggml type id; undefined for ids this version does not know. */
export function ggmlTypeById(id: number): GgmlTypeTraits | undefined {
  return BY_ID.get(id);
}

export function ggmlTypeTraits(type: GgmlType): GgmlTypeTraits {
  const t = BY_NAME.get(type);
  if (!t) throw new GlassError('UNSUPPORTED', `unknown ggml type "${type}"`);
  return t;
}

/** Names of the ggml types that `dequantize` converts to float32. */
export const DEQUANTIZABLE_TYPES: readonly GgmlType[] = [
  'F32',
  'F16',
  'BF16',
  'F64',
  'I8',
  'I16',
  'I32',
  'I64',
  'Q8_0',
  'Q4_0',
  'Q4_1',
  'Q5_0',
  'Q5_1',
  'Q4_K',
  'Q5_K',
  'Q6_K',
];

/** Bytes that `count` elements of `type` take; throws BAD_INPUT when count is not a whole number of blocks. */
export function ggmlByteSize(type: GgmlType, count: number): number {
  const t = ggmlTypeTraits(type);
  if (count % t.blockSize !== 0) {
    throw new GlassError(
      'BAD_INPUT',
      `${count} elements of ${type} are not a whole number of blocks (expected a multiple of ${t.blockSize})`,
    );
  }
  return (count / t.blockSize) * t.typeSize;
}

// ---------------------------------------------------------------------------------------------------
// Dequantization.

/**
 * Decodes `src` (a whole number of blocks of `type`) into `out[at ..]`, returning the number of elements
 * written. Throws UNSUPPORTED for types without a decoder and BAD_INPUT when `src` is not whole blocks or
 * does not fit in `out`.
 */
export function dequantize(type: GgmlType, src: Uint8Array, out: Float32Array, at = 0): number {
  const t = ggmlTypeTraits(type);
  if (src.length % t.typeSize !== 0) {
    throw new GlassError(
      'BAD_INPUT',
      `${src.length} bytes of ${type} are not whole blocks of ${t.typeSize} bytes`,
    );
  }
  const nb = src.length / t.typeSize;
  const n = nb * t.blockSize;
  if (at < 0 || at + n > out.length) {
    throw new GlassError(
      'BAD_INPUT',
      `${n} ${type} elements do not fit in an output of ${out.length} at ${at}`,
    );
  }
  switch (type) {
    case 'F32':
      deF32(src, out, at, n);
      break;
    case 'F16': {
      const tab = f16Table();
      for (let i = 0; i < n; i++) out[at + i] = tab[src[2 * i] | (src[2 * i + 1] << 8)];
      break;
    }
    case 'BF16': {
      const u = new Uint32Array(out.buffer, out.byteOffset + at * 4, n);
      for (let i = 0; i < n; i++) u[i] = ((src[2 * i] | (src[2 * i + 1] << 8)) << 16) >>> 0;
      break;
    }
    case 'F64': {
      const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
      for (let i = 0; i < n; i++) out[at + i] = dv.getFloat64(8 * i, true);
      break;
    }
    case 'I8':
      for (let i = 0; i < n; i++) out[at + i] = (src[i] << 24) >> 24;
      break;
    case 'I16':
      for (let i = 0; i < n; i++) out[at + i] = ((src[2 * i] | (src[2 * i + 1] << 8)) << 16) >> 16;
      break;
    case 'I32': {
      const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
      for (let i = 0; i < n; i++) out[at + i] = dv.getInt32(4 * i, true);
      break;
    }
    case 'I64': {
      const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
      for (let i = 0; i < n; i++) out[at + i] = Number(dv.getBigInt64(8 * i, true));
      break;
    }
    case 'Q8_0':
      deQ8_0(src, nb, out, at);
      break;
    case 'Q4_0':
      deQ4_0(src, nb, out, at);
      break;
    case 'Q4_1':
      deQ4_1(src, nb, out, at);
      break;
    case 'Q5_0':
      deQ5(src, nb, out, at, false);
      break;
    case 'Q5_1':
      deQ5(src, nb, out, at, true);
      break;
    case 'Q4_K':
      deQ4_K(src, nb, out, at);
      break;
    case 'Q5_K':
      deQ5_K(src, nb, out, at);
      break;
    case 'Q6_K':
      deQ6_K(src, nb, out, at);
      break;
    default:
      throw new GlassError(
        'UNSUPPORTED',
        `ggml type ${type} cannot be converted to float32 yet (supported: ${DEQUANTIZABLE_TYPES.join(', ')})`,
      );
  }
  return n;
}

function deF32(src: Uint8Array, out: Float32Array, at: number, n: number): void {
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer, out.byteOffset + at * 4, n * 4).set(src.subarray(0, n * 4));
  } else {
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    for (let i = 0; i < n; i++) out[at + i] = dv.getFloat32(4 * i, true);
  }
}

function deQ8_0(src: Uint8Array, nb: number, out: Float32Array, at: number): void {
  const tab = f16Table();
  for (let b = 0, p = 0, o = at; b < nb; b++, p += 34, o += 32) {
    const d = tab[src[p] | (src[p + 1] << 8)];
    for (let j = 0; j < 32; j++) out[o + j] = ((src[p + 2 + j] << 24) >> 24) * d;
  }
}

function deQ4_0(src: Uint8Array, nb: number, out: Float32Array, at: number): void {
  const tab = f16Table();
  for (let b = 0, p = 0, o = at; b < nb; b++, p += 18, o += 32) {
    const d = tab[src[p] | (src[p + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[p + 2 + j];
      out[o + j] = ((q & 0x0f) - 8) * d;
      out[o + j + 16] = ((q >> 4) - 8) * d;
    }
  }
}

function deQ4_1(src: Uint8Array, nb: number, out: Float32Array, at: number): void {
  const tab = f16Table();
  for (let b = 0, p = 0, o = at; b < nb; b++, p += 20, o += 32) {
    const d = tab[src[p] | (src[p + 1] << 8)];
    const m = tab[src[p + 2] | (src[p + 3] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[p + 4 + j];
      out[o + j] = (q & 0x0f) * d + m;
      out[o + j + 16] = (q >> 4) * d + m;
    }
  }
}

function deQ5(src: Uint8Array, nb: number, out: Float32Array, at: number, withMin: boolean): void {
  const tab = f16Table();
  const size = withMin ? 24 : 22;
  for (let b = 0, p = 0, o = at; b < nb; b++, p += size, o += 32) {
    const d = tab[src[p] | (src[p + 1] << 8)];
    const m = withMin ? tab[src[p + 2] | (src[p + 3] << 8)] : 0;
    const h = withMin ? p + 4 : p + 2;
    const qh = (src[h] | (src[h + 1] << 8) | (src[h + 2] << 16) | (src[h + 3] << 24)) >>> 0;
    const qs = h + 4;
    for (let j = 0; j < 16; j++) {
      const q = src[qs + j];
      const lo = (q & 0x0f) | (((qh >>> j) & 1) << 4);
      const hi = (q >> 4) | (((qh >>> (j + 16)) & 1) << 4);
      if (withMin) {
        out[o + j] = lo * d + m;
        out[o + j + 16] = hi * d + m;
      } else {
        out[o + j] = (lo - 16) * d;
        out[o + j + 16] = (hi - 16) * d;
      }
    }
  }
}

/**
 * The j-th (0..7) 6-bit scale and min of a K-quant super-block, from its 12 packed bytes at `s`:
 * bytes 0..3 hold scales 0..3 (low 6 bits), bytes 4..7 mins 0..3 (low 6 bits); bytes 8..11 hold the low
 * 4 bits of scale 4..7 (low nibble) and of min 4..7 (high nibble), whose top 2 bits are the top 2 bits of
 * bytes 0..3 (scales) and 4..7 (mins).
 */
export function kScaleMin(src: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [src[s + j] & 63, src[s + j + 4] & 63];
  const sc = (src[s + j + 4] & 0x0f) | ((src[s + j - 4] >> 6) << 4);
  const m = (src[s + j + 4] >> 4) | ((src[s + j] >> 6) << 4);
  return [sc, m];
}

function deQ4_K(src: Uint8Array, nb: number, out: Float32Array, at: number): void {
  const tab = f16Table();
  for (let b = 0, p = 0, o = at; b < nb; b++, p += 144, o += 256) {
    const d = tab[src[p] | (src[p + 1] << 8)];
    const dmin = tab[src[p + 2] | (src[p + 3] << 8)];
    const s = p + 4;
    const qs = p + 16;
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = kScaleMin(src, s, 2 * c);
      const [sc2, m2] = kScaleMin(src, s, 2 * c + 1);
      const d1 = d * sc1;
      const mm1 = dmin * m1;
      const d2 = d * sc2;
      const mm2 = dmin * m2;
      const q = qs + 32 * c;
      const y = o + 64 * c;
      for (let l = 0; l < 32; l++) {
        out[y + l] = d1 * (src[q + l] & 0x0f) - mm1;
        out[y + 32 + l] = d2 * (src[q + l] >> 4) - mm2;
      }
    }
  }
}

function deQ5_K(src: Uint8Array, nb: number, out: Float32Array, at: number): void {
  const tab = f16Table();
  for (let b = 0, p = 0, o = at; b < nb; b++, p += 176, o += 256) {
    const d = tab[src[p] | (src[p + 1] << 8)];
    const dmin = tab[src[p + 2] | (src[p + 3] << 8)];
    const s = p + 4;
    const qh = p + 16;
    const qs = p + 48;
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = kScaleMin(src, s, 2 * c);
      const [sc2, m2] = kScaleMin(src, s, 2 * c + 1);
      const d1 = d * sc1;
      const mm1 = dmin * m1;
      const d2 = d * sc2;
      const mm2 = dmin * m2;
      const q = qs + 32 * c;
      const y = o + 64 * c;
      const u1 = 1 << (2 * c);
      const u2 = 2 << (2 * c);
      for (let l = 0; l < 32; l++) {
        const h = src[qh + l];
        out[y + l] = d1 * ((src[q + l] & 0x0f) + (h & u1 ? 16 : 0)) - mm1;
        out[y + 32 + l] = d2 * ((src[q + l] >> 4) + (h & u2 ? 16 : 0)) - mm2;
      }
    }
  }
}

function deQ6_K(src: Uint8Array, nb: number, out: Float32Array, at: number): void {
  const tab = f16Table();
  for (let b = 0, p = 0, o = at; b < nb; b++, p += 210, o += 256) {
    const d = tab[src[p + 208] | (src[p + 209] << 8)];
    for (let half = 0; half < 2; half++) {
      const ql = p + 64 * half;
      const qh = p + 128 + 32 * half;
      const sc = p + 192 + 8 * half;
      const y = o + 128 * half;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l];
        const q1 = ((src[ql + l] & 0x0f) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = d * i8(src[sc + is]) * q1;
        out[y + l + 32] = d * i8(src[sc + is + 2]) * q2;
        out[y + l + 64] = d * i8(src[sc + is + 4]) * q3;
        out[y + l + 96] = d * i8(src[sc + is + 6]) * q4;
      }
    }
  }
}

function i8(b: number): number {
  return (b << 24) >> 24;
}

// ---------------------------------------------------------------------------------------------------
// Quantization (ggml's reference rounding, in float32 arithmetic, so files match llama.cpp's own).

const fr = Math.fround;

/** roundf: halves away from zero. */
function roundAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

function checkWhole(type: string, n: number, block: number): void {
  if (n % block !== 0) {
    throw new GlassError(
      'BAD_INPUT',
      `cannot quantize ${n} values to ${type}: the count must be a multiple of the block size ${block}`,
    );
  }
}

/**
 * float32 → Q8_0 blocks: per 32 values, d = max|x| / 127 stored as f16, q = round(x / d) (halves away from
 * zero), as ggml's reference quantizer does.
 */
export function quantizeQ8_0(x: Float32Array, out?: Uint8Array): Uint8Array {
  checkWhole('Q8_0', x.length, 32);
  const nb = x.length / 32;
  const dst = out ?? new Uint8Array(nb * 34);
  if (dst.length < nb * 34)
    throw new GlassError('BAD_INPUT', `Q8_0 output needs ${nb * 34} bytes, got ${dst.length}`);
  for (let b = 0, p = 0, i = 0; b < nb; b++, p += 34, i += 32) {
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(x[i + j]);
      if (a > amax) amax = a;
    }
    const d = fr(amax / 127);
    const id = d !== 0 ? fr(1 / d) : 0;
    const h = f32ToF16(d);
    dst[p] = h & 0xff;
    dst[p + 1] = h >> 8;
    for (let j = 0; j < 32; j++) dst[p + 2 + j] = roundAway(fr(x[i + j] * id)) & 0xff;
  }
  return dst;
}

/**
 * float32 → Q4_0 blocks: per 32 values, with `max` the value of largest magnitude, d = max / −8 (stored as
 * f16) and q = min(15, ⌊x/d + 8.5⌋), as ggml's reference quantizer does.
 */
export function quantizeQ4_0(x: Float32Array, out?: Uint8Array): Uint8Array {
  checkWhole('Q4_0', x.length, 32);
  const nb = x.length / 32;
  const dst = out ?? new Uint8Array(nb * 18);
  if (dst.length < nb * 18)
    throw new GlassError('BAD_INPUT', `Q4_0 output needs ${nb * 18} bytes, got ${dst.length}`);
  for (let b = 0, p = 0, i = 0; b < nb; b++, p += 18, i += 32) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[i + j];
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d !== 0 ? fr(1 / d) : 0;
    const h = f32ToF16(d);
    dst[p] = h & 0xff;
    dst[p + 1] = h >> 8;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(fr(fr(x[i + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(x[i + 16 + j] * id) + 8.5)));
      dst[p + 2 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
    }
  }
  return dst;
}

// ---- K-quants (256-value super-blocks) ---------------------------------------------------------------
// ggml's reference quantizers (quantize_row_q{4,5,6}_K_ref in ggml-quants.c), written again here: no
// importance matrix, just the per-sub-block scale (and min) search. Sums run in JS numbers (float64), so a
// value that sits on a rounding tie may land one step away from llama.cpp's own file; the layouts and the
// search are the same. A file is valid whatever the search picks: dequantization is what must agree.

/** ggml's nearest_int: round to nearest, ties to even (what adding 1.5·2²³ in float32 does). */
function nearestInt(v: number): number {
  const f = Math.floor(v);
  const r = v - f;
  if (r > 0.5) return f + 1;
  if (r < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** makeQkx2's trial levels (one sub-block's worth). */
const AUX = new Uint8Array(32);

/**
 * make_qkx2_quants: the scale and min of one sub-block of n values quantized to 0..nmax (x ≈ scale·L − min,
 * min ≥ 0), minimising Σ w·(scale·L − min − x)²: start from (max − min)/nmax, then try nstep + 1 other
 * inverse scales (nmax + rmin + rdelta·is)/(max − min), each with its least-squares scale and min, and keep
 * the best. L (n values at `at`) receives the chosen levels; returns [scale, min].
 */
function makeQkx2(
  x: Float32Array,
  at: number,
  n: number,
  nmax: number,
  w: Float64Array,
  L: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
): [number, number] {
  let min = x[at];
  let max = x[at];
  let sumW = w[0];
  let sumX = sumW * x[at];
  for (let i = 1; i < n; i++) {
    const v = x[at + i];
    if (v < min) min = v;
    if (v > max) max = v;
    sumW += w[i];
    sumX += w[i] * v;
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, 0, n);
    return [0, -min];
  }
  // the plain range scale first
  let iscale = nmax / (max - min);
  let scale = 1 / iscale;
  let best = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(iscale * (x[at + i] - min))));
    L[i] = l;
    const diff = scale * l + min - x[at + i];
    best += w[i] * diff * diff;
  }
  // then the search over nearby inverse scales, each refit by weighted least squares
  const aux = AUX.subarray(0, n);
  for (let is = 0; is <= nstep; is++) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(iscale * (x[at + i] - min))));
      aux[i] = l;
      sumL += w[i] * l;
      sumL2 += w[i] * l * l;
      sumXL += w[i] * l * x[at + i];
    }
    const D = sumW * sumL2 - sumL * sumL;
    if (D <= 0) continue;
    let thisScale = (sumW * sumXL - sumX * sumL) / D;
    let thisMin = (sumL2 * sumX - sumL * sumXL) / D;
    if (thisMin > 0) {
      thisMin = 0;
      thisScale = sumXL / sumL2;
    }
    let err = 0;
    for (let i = 0; i < n; i++) {
      const diff = thisScale * aux[i] + thisMin - x[at + i];
      err += w[i] * diff * diff;
    }
    if (err < best) {
      L.set(aux.subarray(0, n));
      best = err;
      scale = thisScale;
      min = thisMin;
    }
  }
  return [scale, -min];
}

/**
 * The Q4_K / Q5_K encoder: per super-block of 256, eight sub-blocks of 32 each get a scale and a min
 * (makeQkx2 with weights √(mean x²) + |x|); those are quantized to 6 bits against the super-block's
 * d = max scale / 63 and dmin = max min / 63 (f16), packed into 12 bytes as kScaleMin reads them, and
 * every value is quantized again with the stored (rounded) scale and min: L = round((x + dmin·m)/(d·sc)).
 * `store` writes the 256 levels L into the block's quant bytes at p.
 */
function quantizeKMin(
  type: 'Q4_K' | 'Q5_K',
  x: Float32Array,
  out: Uint8Array | undefined,
  nmax: number,
  rmin: number,
  rdelta: number,
  nstep: number,
  store: (dst: Uint8Array, p: number, L: Uint8Array) => void,
): Uint8Array {
  checkWhole(type, x.length, 256);
  const size = type === 'Q4_K' ? 144 : 176;
  const nb = x.length / 256;
  const dst = out ?? new Uint8Array(nb * size);
  if (dst.length < nb * size)
    throw new GlassError('BAD_INPUT', `${type} output needs ${nb * size} bytes, got ${dst.length}`);
  const tab = f16Table();
  const L = new Uint8Array(256);
  const w = new Float64Array(32);
  const scales = new Float64Array(8);
  const mins = new Float64Array(8);
  for (let b = 0, p = 0, i = 0; b < nb; b++, p += size, i += 256) {
    // 1. a scale and a min per sub-block of 32
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      const at = i + 32 * j;
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 += x[at + l] * x[at + l];
      const av = Math.sqrt(sumX2 / 32);
      for (let l = 0; l < 32; l++) w[l] = av + Math.abs(x[at + l]);
      [scales[j], mins[j]] = makeQkx2(x, at, 32, nmax, w, L.subarray(32 * j), rmin, rdelta, nstep);
      maxScale = Math.max(maxScale, scales[j]);
      maxMin = Math.max(maxMin, mins[j]);
    }
    // 2. the sub-block scales and mins as 6-bit multiples of d and dmin, packed into 12 bytes
    const invScale = maxScale > 0 ? 63 / maxScale : 0;
    const invMin = maxMin > 0 ? 63 / maxMin : 0;
    const s = p + 4;
    dst.fill(0, p, p + size);
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(invScale * scales[j]));
      const lm = Math.min(63, nearestInt(invMin * mins[j]));
      if (j < 4) {
        dst[s + j] = ls;
        dst[s + j + 4] = lm;
      } else {
        dst[s + j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
        dst[s + j - 4] |= (ls >> 4) << 6;
        dst[s + j] |= (lm >> 4) << 6;
      }
    }
    const hd = f32ToF16(fr(maxScale / 63));
    const hm = f32ToF16(fr(maxMin / 63));
    dst[p] = hd & 0xff;
    dst[p + 1] = hd >> 8;
    dst[p + 2] = hm & 0xff;
    dst[p + 3] = hm >> 8;
    // 3. every value again against the scale and min as stored
    const d = tab[hd];
    const dmin = tab[hm];
    for (let j = 0; j < 8; j++) {
      const [sc, m] = kScaleMin(dst, s, j);
      const dj = fr(d * sc);
      if (dj === 0) continue;
      const mj = fr(dmin * m);
      for (let l = 0; l < 32; l++)
        L[32 * j + l] = Math.max(0, Math.min(nmax, nearestInt(fr(x[i + 32 * j + l] + mj) / dj)));
    }
    store(dst, p, L);
  }
  return dst;
}

/**
 * float32 → Q4_K blocks (layout in the header): ggml's reference search (nmax 15, 21 inverse scales from
 * 15 − 1 in steps of 0.1). qs: 32 bytes per 64 values, low nibble the first 32, high nibble the next 32.
 */
export function quantizeQ4_K(x: Float32Array, out?: Uint8Array): Uint8Array {
  return quantizeKMin('Q4_K', x, out, 15, -1, 0.1, 20, (dst, p, L) => {
    for (let c = 0; c < 4; c++)
      for (let l = 0; l < 32; l++) dst[p + 16 + 32 * c + l] = L[64 * c + l] | (L[64 * c + 32 + l] << 4);
  });
}

/**
 * float32 → Q5_K blocks: as Q4_K with 5-bit levels (nmax 31, 16 inverse scales from 31 − 0.5): the low 4
 * bits as Q4_K's qs (at 48), the fifth bit of value l of 64-chunk c in bit 2c (first 32) / 2c + 1 (next
 * 32) of qh[l] (at 16).
 */
export function quantizeQ5_K(x: Float32Array, out?: Uint8Array): Uint8Array {
  return quantizeKMin('Q5_K', x, out, 31, -0.5, 0.1, 15, (dst, p, L) => {
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const l1 = L[64 * c + l];
        const l2 = L[64 * c + 32 + l];
        dst[p + 48 + 32 * c + l] = (l1 & 0x0f) | ((l2 & 0x0f) << 4);
        dst[p + 16 + l] |= ((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1));
      }
    }
  });
}

/**
 * make_qx_quants (rmse_type 1, no importance): the signed scale of n values quantized to −nmax..nmax−1
 * minimising Σ x²·(scale·L − x)²: from −nmax/max (max the value of largest magnitude), then 18 nearby
 * inverse scales −(nmax + 0.1·is)/max, each with its least-squares scale. L receives L + nmax.
 */
function makeQx(x: Float32Array, at: number, n: number, nmax: number, L: Uint8Array): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(x[at + i]);
    if (a > amax) {
      amax = a;
      max = x[at + i];
    }
  }
  if (amax < 1e-15) {
    L.fill(0, 0, n);
    return 0;
  }
  const fit = (iscale: number, keep: boolean): [number, number] => {
    let sumLX = 0;
    let sumL2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[at + i];
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * v)));
      if (keep) L[i] = l + nmax;
      const w = v * v;
      sumLX += w * v * l;
      sumL2 += w * l * l;
    }
    return [sumLX, sumL2];
  };
  let [sumLX, sumL2] = fit(-nmax / max, true);
  let scale = sumL2 ? sumLX / sumL2 : 0;
  let best = scale * sumLX;
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const iscale = -(nmax + 0.1 * is) / max;
    [sumLX, sumL2] = fit(iscale, false);
    if (sumL2 > 0 && sumLX * sumLX > best * sumL2) {
      fit(iscale, true);
      scale = sumLX / sumL2;
      best = scale * sumLX;
    }
  }
  return scale;
}

/**
 * float32 → Q6_K blocks (layout in the header): a signed scale per 16 values (makeQx, nmax 32), quantized
 * to int8 against d = −max scale / 128 (f16; `max` the scale of largest magnitude), then every value again
 * against d·scale: q = clamp(round(x / (d·scale)), −32, 31) + 32, 4 low bits in ql, 2 high bits in qh.
 */
export function quantizeQ6_K(x: Float32Array, out?: Uint8Array): Uint8Array {
  checkWhole('Q6_K', x.length, 256);
  const nb = x.length / 256;
  const dst = out ?? new Uint8Array(nb * 210);
  if (dst.length < nb * 210)
    throw new GlassError('BAD_INPUT', `Q6_K output needs ${nb * 210} bytes, got ${dst.length}`);
  const tab = f16Table();
  const L = new Uint8Array(256);
  const scales = new Float64Array(16);
  for (let b = 0, p = 0, i = 0; b < nb; b++, p += 210, i += 256) {
    dst.fill(0, p, p + 210);
    // 1. a signed scale per 16 values
    let maxScale = 0;
    let maxAbs = 0;
    for (let ib = 0; ib < 16; ib++) {
      scales[ib] = makeQx(x, i + 16 * ib, 16, 32, L.subarray(16 * ib));
      if (Math.abs(scales[ib]) > maxAbs) {
        maxAbs = Math.abs(scales[ib]);
        maxScale = scales[ib];
      }
    }
    if (maxAbs < 1e-15) continue; // an all-zero block: d = 0
    // 2. the scales as int8 multiples of d
    const iscale = -128 / maxScale;
    const hd = f32ToF16(fr(1 / iscale));
    dst[p + 208] = hd & 0xff;
    dst[p + 209] = hd >> 8;
    const d = tab[hd];
    for (let ib = 0; ib < 16; ib++) dst[p + 192 + ib] = Math.min(127, nearestInt(iscale * scales[ib])) & 0xff;
    // 3. every value again against d·scale as stored
    for (let j = 0; j < 16; j++) {
      const dj = fr(d * i8(dst[p + 192 + j]));
      if (dj === 0) continue;
      for (let l = 0; l < 16; l++)
        L[16 * j + l] = Math.max(-32, Math.min(31, nearestInt(x[i + 16 * j + l] / dj))) + 32;
    }
    // 4. pack: per half of 128, ql[l] = L[l] | L[l+64] << 4, ql[l+32] = L[l+32] | L[l+96] << 4, qh[l] the
    //    four high 2-bit pairs
    for (let h = 0; h < 2; h++) {
      const ql = p + 64 * h;
      const qh = p + 128 + 32 * h;
      const o = 128 * h;
      for (let l = 0; l < 32; l++) {
        const q1 = L[o + l];
        const q2 = L[o + l + 32];
        const q3 = L[o + l + 64];
        const q4 = L[o + l + 96];
        dst[ql + l] = (q1 & 0x0f) | ((q3 & 0x0f) << 4);
        dst[ql + l + 32] = (q2 & 0x0f) | ((q4 & 0x0f) << 4);
        dst[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
  return dst;
}

/** float32 → F16 bytes (little-endian, rounded to nearest even). */
export function encodeF16(x: Float32Array, out?: Uint8Array): Uint8Array {
  const dst = out ?? new Uint8Array(x.length * 2);
  for (let i = 0; i < x.length; i++) {
    const h = f32ToF16(x[i]);
    dst[2 * i] = h & 0xff;
    dst[2 * i + 1] = h >> 8;
  }
  return dst;
}

/** float32 → bytes of a quantizable type: F32, F16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K. */
export function quantize(type: GgmlType, x: Float32Array): Uint8Array {
  switch (type) {
    case 'F32': {
      const dst = new Uint8Array(x.length * 4);
      if (LITTLE_ENDIAN) dst.set(new Uint8Array(x.buffer, x.byteOffset, x.length * 4));
      else {
        const dv = new DataView(dst.buffer);
        for (let i = 0; i < x.length; i++) dv.setFloat32(4 * i, x[i], true);
      }
      return dst;
    }
    case 'F16':
      return encodeF16(x);
    case 'Q8_0':
      return quantizeQ8_0(x);
    case 'Q4_0':
      return quantizeQ4_0(x);
    case 'Q4_K':
      return quantizeQ4_K(x);
    case 'Q5_K':
      return quantizeQ5_K(x);
    case 'Q6_K':
      return quantizeQ6_K(x);
    default:
      throw new GlassError(
        'UNSUPPORTED',
        `cannot quantize to ${type} (supported: F32, F16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)`,
      );
  }
}
