// GGUF writer: metadata and tensors (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) to a version-3 file, in
// one piece (writeGguf) or as chunks (ggufChunks, for streaming to disk). Pure: no Node APIs. The layout is gguf.ts's.
import { GlassError } from '../util/errors.js';
import { ggmlTypeTraits, quantize } from '../tensor/ggml-quant.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  VALUE_TYPES,
  type GgufScalarType,
  type GgufTypedValue,
} from './gguf.js';

/** Tensor types the writer produces. */
export type GgufWritableType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q5_K' | 'Q6_K';
const WRITABLE: readonly string[] = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_K', 'Q5_K', 'Q6_K'];

export interface GgufTensorToWrite {
  name: string;
  /** PyTorch order ([rows, columns]); written reversed (ne0 first), as GGUF stores dims. */
  shape: number[];
  type: GgufWritableType;
  data: Float32Array;
}

export interface GgufWriteOptions {
  /** Only version 3 is written. */
  version?: 3;
  metadata: Array<[string, GgufTypedValue]>;
  tensors: GgufTensorToWrite[];
  /** Data alignment (a power of two; default 32, or `general.alignment` when the metadata has it). */
  alignment?: number;
}

/** llama.cpp's GGML_MAX_NAME (64) includes the terminator. */
const MAX_TENSOR_NAME = 63;

const ENCODER = new TextEncoder();

class ByteWriter {
  private buf = new Uint8Array(4096);
  private dv = new DataView(this.buf.buffer);
  length = 0;
  private grow(n: number): number {
    if (this.length + n > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < this.length + n) cap *= 2;
      const b = new Uint8Array(cap);
      b.set(this.buf.subarray(0, this.length));
      this.buf = b;
      this.dv = new DataView(b.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  u8(v: number) {
    const at = this.grow(1);
    this.dv.setUint8(at, v);
  }
  i8(v: number) {
    const at = this.grow(1);
    this.dv.setInt8(at, v);
  }
  u16(v: number) {
    const at = this.grow(2);
    this.dv.setUint16(at, v, true);
  }
  i16(v: number) {
    const at = this.grow(2);
    this.dv.setInt16(at, v, true);
  }
  u32(v: number) {
    const at = this.grow(4);
    this.dv.setUint32(at, v, true);
  }
  i32(v: number) {
    const at = this.grow(4);
    this.dv.setInt32(at, v, true);
  }
  f32(v: number) {
    const at = this.grow(4);
    this.dv.setFloat32(at, v, true);
  }
  f64(v: number) {
    const at = this.grow(8);
    this.dv.setFloat64(at, v, true);
  }
  u64(v: number | bigint) {
    const at = this.grow(8);
    this.dv.setBigUint64(at, BigInt(v), true);
  }
  i64(v: number | bigint) {
    const at = this.grow(8);
    this.dv.setBigInt64(at, BigInt(v), true);
  }
  bytes(b: Uint8Array) {
    const at = this.grow(b.length);
    this.buf.set(b, at);
  }
  /** u64 byte length, then UTF-8 bytes (encoded straight into the buffer). */
  str(s: string) {
    const lenAt = this.grow(8 + 3 * s.length);
    const { written } = ENCODER.encodeInto(s, this.buf.subarray(lenAt + 8));
    this.length = lenAt + 8 + written;
    this.dv.setBigUint64(lenAt, BigInt(written), true);
  }
  pad(alignment: number) {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.grow(n); // new bytes are zero: the buffer is zero-filled and only ever appended to
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const INT_RANGES: Record<string, [number, number]> = {
  uint8: [0, 255],
  int8: [-128, 127],
  uint16: [0, 65535],
  int16: [-32768, 32767],
  uint32: [0, 2 ** 32 - 1],
  int32: [-(2 ** 31), 2 ** 31 - 1],
};
const BIG_RANGES: Record<string, [bigint, bigint]> = {
  uint64: [0n, 2n ** 64n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
};

function badValue(v: unknown, expected: string, key: string, item?: number): GlassError {
  const shown = typeof v === 'string' ? JSON.stringify(v) : String(v);
  const where = item === undefined ? '' : ` item ${item}`;
  return new GlassError('BAD_INPUT', `GGUF metadata "${key}"${where}: value ${shown} is not ${expected}`);
}

function writeScalar(w: ByteWriter, type: GgufScalarType, v: unknown, key: string, item?: number): void {
  switch (type) {
    case 'string':
      if (typeof v !== 'string') throw badValue(v, 'a string', key, item);
      w.str(v);
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw badValue(v, 'a boolean', key, item);
      w.u8(v ? 1 : 0);
      return;
    case 'float32':
    case 'float64':
      if (typeof v !== 'number') throw badValue(v, 'a number', key, item);
      if (type === 'float32') w.f32(v);
      else w.f64(v);
      return;
    case 'uint64':
    case 'int64': {
      const [lo, hi] = BIG_RANGES[type];
      const ok = (typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint';
      if (!ok || BigInt(v) < lo || BigInt(v) > hi) throw badValue(v, `a ${type} integer`, key, item);
      if (type === 'uint64') w.u64(v);
      else w.i64(v);
      return;
    }
    default: {
      const [lo, hi] = INT_RANGES[type];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
        throw badValue(v, `a ${type} integer (${lo}..${hi})`, key, item);
      }
      switch (type) {
        case 'uint8':
          w.u8(v);
          return;
        case 'int8':
          w.i8(v);
          return;
        case 'uint16':
          w.u16(v);
          return;
        case 'int16':
          w.i16(v);
          return;
        case 'uint32':
          w.u32(v);
          return;
        case 'int32':
          w.i32(v);
          return;
      }
    }
  }
}

function writeValue(w: ByteWriter, key: string, tv: GgufTypedValue): void {
  const id = VALUE_TYPES.indexOf(tv.type);
  if (id < 0) throw new GlassError('BAD_INPUT', `GGUF metadata "${key}": unknown type "${String(tv.type)}"`);
  w.u32(id);
  if (tv.type !== 'array') {
    writeScalar(w, tv.type, tv.value, key);
    return;
  }
  const itemId = VALUE_TYPES.indexOf(tv.itemType);
  if (itemId < 0 || tv.itemType === 'array') {
    throw new GlassError(
      'BAD_INPUT',
      `GGUF metadata "${key}": cannot write arrays of ${String(tv.itemType)} (expected a scalar or string item type)`,
    );
  }
  const items = tv.value as ArrayLike<unknown>;
  if (items === null || typeof items !== 'object' || typeof items.length !== 'number') {
    throw new GlassError('BAD_INPUT', `GGUF metadata "${key}": value is not an array`);
  }
  w.u32(itemId);
  w.u64(items.length);
  const itemType = tv.itemType;
  for (let i = 0; i < items.length; i++) writeScalar(w, itemType, items[i], key, i);
}

interface PlannedTensor {
  t: GgufTensorToWrite;
  rel: number;
  bytes: number;
}

/** Validates the options and lays the file out: header bytes (padded to the alignment) and each tensor's place. */
function planGguf(opts: GgufWriteOptions): {
  header: Uint8Array;
  tensors: PlannedTensor[];
  alignment: number;
  size: number;
} {
  if (opts.version !== undefined && opts.version !== 3) {
    throw new GlassError('BAD_INPUT', `GGUF version ${String(opts.version)} cannot be written (expected 3)`);
  }
  const meta = opts.metadata.slice();
  const keys = new Set<string>();
  for (const [k] of meta) {
    if (keys.has(k)) throw new GlassError('BAD_INPUT', `GGUF metadata "${k}" is given twice`);
    keys.add(k);
  }
  const given = meta.find(([k]) => k === 'general.alignment');
  let alignment = opts.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (given) {
    const [, v] = given;
    if (v.type !== 'uint32')
      throw new GlassError('BAD_INPUT', 'GGUF metadata "general.alignment" must have type uint32');
    if (opts.alignment !== undefined && v.value !== opts.alignment) {
      throw new GlassError(
        'BAD_INPUT',
        `GGUF alignment ${opts.alignment} disagrees with metadata "general.alignment" ${v.value}`,
      );
    }
    alignment = v.value;
  }
  if (
    !Number.isInteger(alignment) ||
    alignment <= 0 ||
    alignment > 2 ** 31 ||
    (alignment & (alignment - 1)) !== 0
  ) {
    throw new GlassError('BAD_INPUT', `GGUF alignment ${alignment} is not a power of two`);
  }
  if (!given && alignment !== GGUF_DEFAULT_ALIGNMENT)
    meta.push(['general.alignment', { type: 'uint32', value: alignment }]);

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(3);
  w.u64(opts.tensors.length);
  w.u64(meta.length);
  for (const [k, v] of meta) {
    w.str(k);
    writeValue(w, k, v);
  }
  const names = new Set<string>();
  const planned: PlannedTensor[] = [];
  let rel = 0;
  for (const t of opts.tensors) {
    const badT = (msg: string) => new GlassError('BAD_INPUT', `GGUF tensor "${t.name}": ${msg}`);
    if (t.name === '' || ENCODER.encode(t.name).length > MAX_TENSOR_NAME) {
      throw badT(`the name must be 1..${MAX_TENSOR_NAME} bytes (llama.cpp's limit)`);
    }
    if (names.has(t.name)) throw badT('is given twice');
    names.add(t.name);
    if (t.shape.length < 1 || t.shape.length > GGUF_MAX_DIMS)
      throw badT(`shape [${t.shape.join(', ')}] must have 1..${GGUF_MAX_DIMS} dimensions`);
    let count = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0)
        throw badT(`shape [${t.shape.join(', ')}] must be non-negative integers`);
      count *= d;
    }
    if (count !== t.data.length)
      throw badT(`shape [${t.shape.join(', ')}] holds ${count} values but data has ${t.data.length}`);
    if (!WRITABLE.includes(t.type)) {
      throw badT(`cannot write type ${String(t.type)} (expected ${WRITABLE.join(', ')})`);
    }
    const traits = ggmlTypeTraits(t.type);
    const rowLen = t.shape[t.shape.length - 1];
    if (rowLen % traits.blockSize !== 0) {
      throw badT(
        `rows of ${rowLen} values cannot be stored as ${t.type} (llama.cpp needs a multiple of ${traits.blockSize})`,
      );
    }
    const bytes = (count / traits.blockSize) * traits.typeSize;
    w.str(t.name);
    w.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) w.u64(t.shape[d]);
    w.u32(traits.id);
    w.u64(rel);
    planned.push({ t, rel, bytes });
    rel += Math.ceil(bytes / alignment) * alignment;
  }
  w.pad(alignment);
  const header = w.result();
  return { header, tensors: planned, alignment, size: header.length + rel };
}

function encodeTensor(t: GgufTensorToWrite): Uint8Array {
  if (t.type === 'BF16') {
    const out = new Uint8Array(t.data.length * 2);
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let i = 0; i < t.data.length; i++) {
      f[0] = t.data[i];
      const x = u[0];
      const h =
        (x & 0x7fffffff) > 0x7f800000
          ? ((x >>> 16) | 0x40) & 0xffff
          : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
      out[2 * i] = h & 0xff;
      out[2 * i + 1] = h >> 8;
    }
    return out;
  }
  return quantize(t.type, t.data);
}

/**
 * The bytes of a GGUF version 3 file, in order: the header, then each tensor's data padded to the
 * alignment. Lets a writer stream tensors to disk one at a time (see gguf-node.ts).
 */
export function* ggufChunks(opts: GgufWriteOptions): Generator<Uint8Array> {
  const plan = planGguf(opts);
  yield plan.header;
  for (const p of plan.tensors) {
    const data = encodeTensor(p.t);
    yield data;
    const pad = (plan.alignment - (p.bytes % plan.alignment)) % plan.alignment;
    if (pad > 0) yield new Uint8Array(pad);
  }
}

/**
 * Serialises metadata and tensors to a GGUF version 3 file that llama.cpp reads: tensors back to back in the
 * given order, each at a multiple of the alignment, F16/BF16 rounded to nearest even, Q8_0/Q4_0 and the
 * K-quants quantized with ggml's reference rounding and search (src/tensor/ggml-quant.ts). Deterministic. Throws BAD_INPUT for invalid input.
 */
export function writeGguf(opts: GgufWriteOptions): Uint8Array {
  const plan = planGguf(opts);
  const out = new Uint8Array(plan.size);
  out.set(plan.header, 0);
  for (const p of plan.tensors) out.set(encodeTensor(p.t), plan.header.length + p.rel);
  return out;
}
