// Stage 0 — weights: the safetensors format (https://github.com/huggingface/safetensors), read through
// a ByteSource so the same code runs in Node and in browsers. Pure: no Node APIs here.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON header
// `{ "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, "__metadata__": {..} }`,
// then the data section; offsets are relative to the start of the data section (byte 8 + N).
import type { ByteSource } from '../util/bytes.js';
import { GlassError } from '../util/errors.js';
import { f16Table, f32ToBf16, f32ToF16, LITTLE_ENDIAN, swapBytes } from '../util/half.js';
import { readTarget, tensorNotFound, type WeightSource } from './weights.js';

/** A WeightSource over safetensors files; `metadata` is the (string → string) `__metadata__` of the header. */
export interface SafetensorsSource extends WeightSource {
  readonly metadata: Record<string, string>;
}

/** Bytes per element of every safetensors dtype whose size is a whole number of bytes. */
export const SAFETENSORS_DTYPE_SIZES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** Dtypes read() can convert to float32. */
const READABLE = new Set([
  'F64',
  'F32',
  'F16',
  'BF16',
  'I64',
  'I32',
  'I16',
  'I8',
  'U64',
  'U32',
  'U16',
  'U8',
  'BOOL',
]);

/** A header larger than this is not a real safetensors file (real ones are a few hundred kB at most). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Raw bytes converted per step for non-F32 tensors: bounds the extra memory a read() needs. */
const CHUNK_BYTES = 4 * 1024 * 1024;

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file. */
  start: number;
  end: number;
  count: number;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Opens one .safetensors file: reads and validates the header; tensors are read on demand. */
export async function openSafetensors(src: ByteSource): Promise<SafetensorsSource> {
  const file = src.name;
  const bad = (msg: string) => new GlassError('BAD_FILE', `${file}: ${msg}`);
  if (src.size < 8) {
    throw bad(
      `the file is ${src.size} bytes, too short for a safetensors header (expected at least 8 bytes)`,
    );
  }
  const lenBytes = await src.read(0, 8, new Uint8Array(8));
  const lenView = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
  const lo = lenView.getUint32(0, true);
  const hi = lenView.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (headerLen > MAX_HEADER_BYTES) {
    throw bad(
      `header length is ${headerLen} bytes (expected at most ${MAX_HEADER_BYTES}); this is not a safetensors file or it is corrupt`,
    );
  }
  if (8 + headerLen > src.size) {
    throw bad(
      `header length is ${headerLen} bytes but the file is only ${src.size} bytes (expected the header to fit in the file; truncated?)`,
    );
  }
  const headerBytes = await src.read(8, headerLen, new Uint8Array(headerLen));
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw bad('header is not valid UTF-8 (expected a JSON object)');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw bad(`header is not valid JSON (${(e as Error).message}); expected a JSON object`);
  }
  if (!isObject(header)) throw bad(`header is ${describe(header)} (expected a JSON object)`);

  const dataStart = 8 + headerLen;
  const dataSize = src.size - dataStart;
  const metadata: Record<string, string> = {};
  const entries = new Map<string, Entry>();

  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(raw)) throw bad(`"__metadata__" is ${describe(raw)} (expected an object of strings)`);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') {
          throw bad(`"__metadata__" field "${k}" is ${describe(v)} (expected a string)`);
        }
        metadata[k] = v;
      }
      continue;
    }
    const badT = (msg: string) => new GlassError('BAD_FILE', `${file}: tensor "${name}": ${msg}`);
    if (!isObject(raw)) throw badT(`entry is ${describe(raw)} (expected {dtype, shape, data_offsets})`);
    const { dtype, shape, data_offsets: offsets } = raw;
    if (typeof dtype !== 'string')
      throw badT(`dtype is ${describe(dtype)} (expected a string such as "F32")`);
    const esize = SAFETENSORS_DTYPE_SIZES[dtype];
    if (esize === undefined) {
      throw new GlassError(
        'UNSUPPORTED',
        `${file}: tensor "${name}": dtype "${dtype}" is not supported (expected one of ${Object.keys(SAFETENSORS_DTYPE_SIZES).join(', ')})`,
      );
    }
    if (!Array.isArray(shape))
      throw badT(`shape is ${describe(shape)} (expected an array of non-negative integers)`);
    let count = 1;
    for (const d of shape) {
      if (!isCount(d))
        throw badT(
          `shape [${shape.join(', ')}] has dimension ${describe(d)} (expected non-negative integers)`,
        );
      count *= d;
    }
    if (!Number.isSafeInteger(count * esize)) throw badT(`shape [${shape.join(', ')}] is absurdly large`);
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      throw badT(`data_offsets is ${describe(offsets)} (expected [begin, end])`);
    }
    const [begin, end] = offsets as unknown[];
    if (!isCount(begin) || !isCount(end)) {
      throw badT(`data_offsets [${offsets.join(', ')}] (expected two non-negative integers)`);
    }
    if (end < begin)
      throw badT(`data_offsets [${begin}, ${end}] end before they begin (expected begin <= end)`);
    const span = end - begin;
    if (span !== count * esize) {
      throw badT(
        `shape [${shape.join(', ')}] × ${dtype} (${esize} bytes) is ${count * esize} bytes but data_offsets [${begin}, ${end}] span ${span} bytes (expected them to match)`,
      );
    }
    if (end > dataSize) {
      throw badT(
        `data_offsets [${begin}, ${end}] lie outside the data section, which holds ${dataSize} bytes (the file is ${src.size} bytes; truncated?)`,
      );
    }
    entries.set(name, {
      name,
      dtype,
      shape: shape.slice() as number[],
      start: dataStart + begin,
      end: dataStart + end,
      count,
    });
  }

  // Overlapping spans: sort by start and compare each tensor with the furthest-reaching one before it.
  const sorted = [...entries.values()].filter((e) => e.end > e.start).sort((a, b) => a.start - b.start);
  let reach: Entry | undefined;
  for (const e of sorted) {
    if (reach && e.start < reach.end) {
      const r = (x: Entry) => `[${x.start - dataStart}, ${x.end - dataStart})`;
      throw new GlassError(
        'BAD_FILE',
        `${file}: tensor "${e.name}" (bytes ${r(e)}) overlaps tensor "${reach.name}" (bytes ${r(reach)}) (expected disjoint data_offsets)`,
      );
    }
    if (!reach || e.end > reach.end) reach = e;
  }

  const order = [...entries.values()].sort((a, b) => a.start - b.start || a.end - b.end).map((e) => e.name);

  const get = (name: string): Entry => {
    const e = entries.get(name);
    if (!e) throw tensorNotFound(file, name, order);
    return e;
  };

  return {
    name: file,
    metadata,
    names: () => order.slice(),
    has: (name) => entries.has(name),
    info(name) {
      const e = get(name);
      return { name, dtype: e.dtype, shape: e.shape.slice(), file };
    },
    read: async (name, into) => readEntry(src, get(name), into),
    async close() {
      await src.close?.();
    },
  };
}

async function readEntry(src: ByteSource, e: Entry, into?: Float32Array): Promise<Float32Array> {
  if (!READABLE.has(e.dtype)) {
    throw new GlassError(
      'UNSUPPORTED',
      `${src.name}: tensor "${e.name}": dtype ${e.dtype} cannot be converted to float32 yet (expected F32, F16, BF16, F64 or an integer dtype)`,
    );
  }
  const out = readTarget(src.name, e.name, e.count, into);
  if (e.count === 0) return out;
  if (e.dtype === 'F32') {
    const dst = new Uint8Array(out.buffer, out.byteOffset, e.count * 4);
    const got = await src.read(e.start, e.end - e.start, dst);
    if (got !== dst) dst.set(got.subarray(0, dst.length));
    if (!LITTLE_ENDIAN) swapBytes(dst, 4);
    return out;
  }
  const esize = SAFETENSORS_DTYPE_SIZES[e.dtype];
  const chunkElems = Math.max(1, Math.floor(CHUNK_BYTES / esize));
  const buf = new Uint8Array(Math.min(e.count, chunkElems) * esize);
  for (let i = 0; i < e.count; i += chunkElems) {
    const n = Math.min(chunkElems, e.count - i);
    const view = buf.subarray(0, n * esize);
    const got = await src.read(e.start + i * esize, n * esize, view);
    if (got !== view) view.set(got.subarray(0, view.length));
    if (!LITTLE_ENDIAN && esize > 1) swapBytes(view, esize);
    convertChunk(e.dtype, buf.buffer, n, out, i);
  }
  return out;
}

/** Converts `n` little-endian elements at the start of `raw` into out[at .. at+n). */
function convertChunk(dtype: string, raw: ArrayBufferLike, n: number, out: Float32Array, at: number): void {
  switch (dtype) {
    case 'F16': {
      const src = new Uint16Array(raw, 0, n);
      const table = f16Table();
      for (let j = 0; j < n; j++) out[at + j] = table[src[j]];
      return;
    }
    case 'BF16': {
      const src = new Uint16Array(raw, 0, n);
      const dst = new Uint32Array(out.buffer, out.byteOffset + at * 4, n);
      for (let j = 0; j < n; j++) dst[j] = src[j] << 16;
      return;
    }
    case 'F64':
      out.set(new Float64Array(raw, 0, n), at);
      return;
    case 'I32':
      out.set(new Int32Array(raw, 0, n), at);
      return;
    case 'U32':
      out.set(new Uint32Array(raw, 0, n), at);
      return;
    case 'I16':
      out.set(new Int16Array(raw, 0, n), at);
      return;
    case 'U16':
      out.set(new Uint16Array(raw, 0, n), at);
      return;
    case 'I8':
      out.set(new Int8Array(raw, 0, n), at);
      return;
    case 'U8':
      out.set(new Uint8Array(raw, 0, n), at);
      return;
    case 'BOOL': {
      const src = new Uint8Array(raw, 0, n);
      for (let j = 0; j < n; j++) out[at + j] = src[j] !== 0 ? 1 : 0;
      return;
    }
    case 'I64': {
      const src = new BigInt64Array(raw, 0, n);
      for (let j = 0; j < n; j++) out[at + j] = Number(src[j]);
      return;
    }
    case 'U64': {
      const src = new BigUint64Array(raw, 0, n);
      for (let j = 0; j < n; j++) out[at + j] = Number(src[j]);
      return;
    }
    default:
      throw new Error(`internal: no converter for ${dtype}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Sharded checkpoints: model.safetensors.index.json.

/**
 * Opens a sharded checkpoint from its parsed `model.safetensors.index.json` (`weight_map`: tensor name →
 * shard file). `openShard` turns a shard file name (relative to the index) into a ByteSource.
 */
export async function openShardedSafetensors(
  indexJson: unknown,
  indexName: string,
  openShard: (file: string) => Promise<ByteSource>,
): Promise<SafetensorsSource> {
  const bad = (msg: string) => new GlassError('BAD_FILE', `${indexName}: ${msg}`);
  if (!isObject(indexJson)) throw bad(`is ${describe(indexJson)} (expected a JSON object with "weight_map")`);
  const map = indexJson.weight_map;
  if (!isObject(map)) {
    throw bad(
      `field "weight_map" is ${map === undefined ? 'missing' : describe(map)} (expected an object: tensor name → shard file)`,
    );
  }
  const shardOf = new Map<string, string>();
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file === '') {
      throw bad(`tensor "${name}" maps to ${describe(file)} (expected a shard file name)`);
    }
    if (!isSafeRelativePath(file)) {
      throw bad(
        `tensor "${name}" maps to shard "${file}" (expected a file name relative to the index, without "..")`,
      );
    }
    shardOf.set(name, file);
  }
  const metadata: Record<string, string> = {};
  if (isObject(indexJson.metadata)) {
    for (const [k, v] of Object.entries(indexJson.metadata)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') metadata[k] = String(v);
    }
  }

  const shards = new Map<string, SafetensorsSource>();
  try {
    for (const file of new Set(shardOf.values())) {
      shards.set(file, await openSafetensors(await openShard(file)));
    }
  } catch (e) {
    await Promise.allSettled([...shards.values()].map((s) => s.close()));
    throw e;
  }
  for (const [name, file] of shardOf) {
    const shard = shards.get(file)!;
    if (!shard.has(name)) {
      await Promise.allSettled([...shards.values()].map((s) => s.close()));
      throw bad(`tensor "${name}" is mapped to shard "${file}", but ${shard.name} has no such tensor`);
    }
  }
  // Names in shard order, then file order within a shard.
  const order: string[] = [];
  for (const [file, shard] of shards) {
    for (const n of shard.names()) if (shardOf.get(n) === file) order.push(n);
  }
  const get = (name: string): SafetensorsSource => {
    const file = shardOf.get(name);
    if (file === undefined) throw tensorNotFound(indexName, name, order);
    return shards.get(file)!;
  };
  return {
    name: indexName,
    metadata,
    names: () => order.slice(),
    has: (name) => shardOf.has(name),
    info: (name) => get(name).info(name),
    read: async (name, into) => get(name).read(name, into),
    async close() {
      await Promise.all([...shards.values()].map((s) => s.close()));
    },
  };
}

/** A relative path that stays inside its folder: no absolute paths, no "..", no backslashes, no empty parts. */
export function isSafeRelativePath(p: string): boolean {
  if (p === '' || p.startsWith('/') || p.includes('\\') || /^[A-Za-z]:/.test(p) || p.includes('\0'))
    return false;
  return p.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

// ---------------------------------------------------------------------------------------------------
// Writing.

export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  data: Float32Array;
}

/**
 * Serialises tensors to safetensors bytes: `__metadata__` first (when given), then the tensors in the given
 * order, laid out back to back; the header is padded with spaces to a multiple of 8. F16/BF16 are rounded to
 * nearest even. The output is deterministic.
 */
export function writeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string')
        throw new GlassError('BAD_INPUT', `safetensors metadata "${k}" must be a string`);
    }
    header.__metadata__ = metadata;
  }
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name === '') {
      throw new GlassError('BAD_INPUT', `cannot write a tensor named "${t.name}"`);
    }
    if (seen.has(t.name)) throw new GlassError('BAD_INPUT', `tensor "${t.name}" is given twice`);
    seen.add(t.name);
    const esize = SAFETENSORS_DTYPE_SIZES[t.dtype];
    if (esize === undefined || !['F32', 'F16', 'BF16'].includes(t.dtype)) {
      throw new GlassError(
        'BAD_INPUT',
        `tensor "${t.name}": cannot write dtype "${t.dtype}" (expected F32, F16 or BF16)`,
      );
    }
    let count = 1;
    for (const d of t.shape) {
      if (!isCount(d))
        throw new GlassError(
          'BAD_INPUT',
          `tensor "${t.name}": shape [${t.shape.join(', ')}] must be non-negative integers`,
        );
      count *= d;
    }
    if (count !== t.data.length) {
      throw new GlassError(
        'BAD_INPUT',
        `tensor "${t.name}": shape [${t.shape.join(', ')}] holds ${count} values but data has ${t.data.length}`,
      );
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + count * esize] };
    offset += count * esize;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, json.length % 2 ** 32, true);
  dv.setUint32(4, Math.floor(json.length / 2 ** 32), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    const n = t.data.length;
    if (t.dtype === 'F32') {
      if (LITTLE_ENDIAN) {
        out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, 4 * n), at);
      } else {
        for (let i = 0; i < n; i++) dv.setFloat32(at + 4 * i, t.data[i], true);
      }
      at += 4 * n;
    } else {
      // Offsets after an odd-length half tensor are not 2-aligned for a typed view, so go through DataView.
      const conv = t.dtype === 'F16' ? f32ToF16 : f32ToBf16;
      for (let i = 0; i < n; i++) dv.setUint16(at + 2 * i, conv(t.data[i]), true);
      at += 2 * n;
    }
  }
  return out;
}
