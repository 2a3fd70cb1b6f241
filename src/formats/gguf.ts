// GGUF (llama.cpp / ggml's model file, https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): reader
// and metadata helpers, through a ByteSource so the same code runs in Node and in browsers. Pure: no Node
// APIs. The writer is gguf-write.ts and the Llama mapping gguf-llama.ts (both re-exported here).
//
// Layout (all little-endian):
//   u32 magic "GGUF" · u32 version · count tensor_count · count metadata_kv_count
//   metadata_kv_count × { string key · u32 value_type · value }
//   tensor_count × { string name · u32 n_dims · count dims[n_dims] (ne0 first) · u32 ggml_type · u64 offset }
//   padding to `general.alignment` (default 32) · tensor data (offsets relative to its start)
// where `count` and string lengths are u64 in versions 2 and 3 and u32 in version 1 (dims too).
// Strings are a length then UTF-8 bytes, without a terminator. Arrays are u32 item type · count · items.
//
// Choices made here:
// - float32 scalars are read as the shortest decimal that rounds to the same float32 (1e-5, not
//   0.000009999999747378752), so writing them back as float32 gives the same bits.
// - u64/i64 scalars are read as `number` when they are safe integers, else as `bigint`; u64/i64 arrays are
//   BigUint64Array/BigInt64Array. Other numeric arrays are the matching typed arrays, bool arrays boolean[],
//   string arrays string[], arrays of arrays GgufArray[].
// - Quantized tensors are dequantized as one flat run of blocks, so only the whole tensor's element count
//   must be a multiple of the block size, not its row length (the stories260K Q8_0 file has 172-long rows).
// - Nothing is allocated from a header count before checking it against the bytes left in the file.
// - The parsed header's memory is budgeted at 4× the file's size (+16 MB): items cheap on disk and dear in
//   memory (bools, empty strings, nested arrays, tensor infos) are charged before they are allocated.
import type { ByteSource } from '../util/bytes.js';
import { GlassError } from '../util/errors.js';
import { LITTLE_ENDIAN, swapBytes } from '../util/half.js';
import { readTarget, tensorNotFound, type TensorInfo, type WeightSource } from './weights.js';
import {
  DEQUANTIZABLE_TYPES,
  dequantize,
  ggmlTypeById,
  ggmlTypeTraits,
  type GgmlType,
  type GgmlTypeTraits,
} from '../tensor/ggml-quant.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS. */
export const GGUF_MAX_DIMS = 4;

/** The metadata value types, in GGUF's numbering (the index is the type id). */
export const VALUE_TYPES = [
  'uint8',
  'int8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'float32',
  'bool',
  'string',
  'array',
  'uint64',
  'int64',
  'float64',
] as const;

export type GgufValueType = (typeof VALUE_TYPES)[number];
export type GgufScalarType = Exclude<GgufValueType, 'array'>;

export type GgufArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GgufArray[];

/** A metadata value as read: see the file comment for how each type is represented. */
export type GgufValue = number | bigint | boolean | string | GgufArray;

/** A metadata value with its GGUF type, as the writer needs it (and as `typedMetadata` reports it). */
export type GgufTypedValue =
  | {
      type: 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';
      value: number;
    }
  | { type: 'uint64' | 'int64'; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | {
      type: 'array';
      itemType: GgufScalarType | 'array';
      value: GgufArray | readonly number[] | readonly bigint[];
    };

/** Where a GGUF tensor lives and what it looks like on disk. */
export interface GgufTensorInfo {
  name: string;
  type: GgmlType;
  /** ggml's numeric type id. */
  typeId: number;
  /** Dimensions in ggml order: ne0 (the contiguous one) first. */
  dims: number[];
  /** Dimensions in PyTorch order (dims reversed): [rows, columns] for a matrix. */
  shape: number[];
  /** Number of elements. */
  count: number;
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  /** Offset relative to the start of the data section, as stored. */
  relativeOffset: number;
  byteLength: number;
}

/** An opened GGUF file: a WeightSource (read() dequantizes to float32) plus metadata and raw access. */
export interface GgufFile extends WeightSource {
  readonly version: number;
  readonly alignment: number;
  /** Absolute byte offset of the tensor data section. */
  readonly dataOffset: number;
  readonly metadata: Map<string, GgufValue>;
  /** The metadata in file order, with each value's GGUF type (what writeGguf takes). */
  readonly typedMetadata: ReadonlyArray<[string, GgufTypedValue]>;
  tensorInfo(name: string): GgufTensorInfo;
  /** The tensor's bytes as stored (a fresh copy), for consumers that compute on quantized blocks. */
  readRaw(name: string): Promise<{ type: GgmlType; bytes: Uint8Array }>;
}

/** Bytes read from the source per step while parsing the header. */
const HEADER_CHUNK = 1 << 20;
/** Raw bytes converted per step in read(): bounds the extra memory a read needs. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** No single header field (a string, a numeric array) is larger than this in a real file. */
const MAX_HEADER_READ = 256 * 1024 * 1024;
/** Arrays nested deeper than this are refused (no real file nests at all). */
const MAX_NESTING = 4;

const utf8 = new TextDecoder('utf-8');

/** Sequential reader over the header, fetching the source in chunks; every read is bounds-checked. */
class Cursor {
  private buf: Uint8Array = new Uint8Array(0);
  private dv = new DataView(this.buf.buffer);
  private bufStart = 0;
  pos = 0;
  constructor(
    private readonly src: ByteSource,
    /** 4 in version 1, 8 from version 2 on. */
    public countSize: 4 | 8,
  ) {}

  get left(): number {
    return this.src.size - this.pos;
  }

  private get avail(): number {
    return this.bufStart + this.buf.length - this.pos;
  }

  /** Makes `n` bytes at `pos` available, or throws BAD_FILE naming `what`. */
  async need(n: number, what: string): Promise<void> {
    if (this.avail >= n) return;
    if (n > MAX_HEADER_READ) {
      throw new GlassError(
        'BAD_FILE',
        `${this.src.name}: ${what} at byte ${this.pos} would take ${n} bytes (at most ${MAX_HEADER_READ} expected in a header); corrupt header`,
      );
    }
    if (n > this.left) {
      throw new GlassError(
        'BAD_FILE',
        `${this.src.name}: unexpected end of file reading ${what} at byte ${this.pos} (expected ${n} more bytes, the file has ${this.left})`,
      );
    }
    const len = Math.min(this.left, Math.max(n, HEADER_CHUNK));
    const got = await this.src.read(this.pos, len, new Uint8Array(len));
    this.buf = got.length === len ? got : got.slice(0, len);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
  }

  private at(n: number): number {
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }

  u32(): number {
    return this.dv.getUint32(this.at(4), true);
  }
  /** A u64 as a number (exact up to 2^53; larger values come out approximate, which every check rejects). */
  u64(): number {
    const o = this.at(8);
    return this.dv.getUint32(o, true) + this.dv.getUint32(o + 4, true) * 2 ** 32;
  }
  /** A count or string length: u32 in version 1, u64 after. */
  count(): number {
    return this.countSize === 4 ? this.u32() : this.u64();
  }
  bytes(n: number): Uint8Array {
    const o = this.at(n);
    return this.buf.subarray(o, o + n);
  }
  view(): DataView {
    return this.dv;
  }
  offsetOf(n: number): number {
    return this.at(n);
  }

  /** A length-prefixed string when it is already buffered (and within the file), else undefined; no await. */
  tryStr(): string | undefined {
    if (this.avail < this.countSize) return undefined;
    const start = this.pos;
    const n = this.count();
    if (n > this.left || this.avail < n) {
      this.pos = start;
      return undefined;
    }
    return utf8.decode(this.bytes(n));
  }

  /** A length-prefixed string; `what` names it in errors. */
  async str(what: string): Promise<string> {
    await this.need(this.countSize, what);
    const start = this.pos;
    const n = this.count();
    if (n > this.left) {
      throw new GlassError(
        'BAD_FILE',
        `${this.src.name}: ${what} at byte ${start} has length ${n}, past the end of the file (${this.left} bytes left); corrupt header`,
      );
    }
    await this.need(n, what);
    return utf8.decode(this.bytes(n));
  }
}

/**
 * What the parsed header may cost in memory: a small multiple of the file's size. Counts are already
 * checked against the bytes left, but some items are cheap on disk and dear in memory — an empty nested
 * array is 12 bytes in the file and a typed-array object in memory, a bool is 1 byte and an 8-byte array
 * slot — so every value is charged its estimated in-memory cost (V8, 64-bit) and the header is refused once
 * the total passes the budget. Real files spend their bytes on tensor data and stay far below it.
 */
class Budget {
  private spent = 0;
  readonly limit: number;
  constructor(
    private readonly file: string,
    size: number,
  ) {
    this.limit = METADATA_BUDGET_FACTOR * size + METADATA_BUDGET_FLOOR;
  }
  spend(bytes: number, what: string): void {
    this.spent += bytes;
    if (this.spent > this.limit) {
      throw new GlassError(
        'BAD_FILE',
        `${this.file}: ${what}: the header would take over ${mb(this.limit)} of memory to hold (more than ${METADATA_BUDGET_FACTOR}× the file's size); corrupt or hostile header`,
      );
    }
  }
}

const mb = (n: number) => `${Math.ceil(n / 2 ** 20)} MB`;
/** The header's memory budget: this many times the file's size, plus the floor. */
const METADATA_BUDGET_FACTOR = 4;
const METADATA_BUDGET_FLOOR = 16 * 2 ** 20;
/** Estimated in-memory costs (bytes) of parsed header items. */
const COST_VALUE = 32; // a metadata entry's Map slot, typed entry object and boxed value
const COST_STRING = 24; // a string's header and its array slot, plus its bytes (× 2 for two-byte strings)
const COST_ARRAY = 160; // a typed array or JS array object and its backing store
const COST_TENSOR = 400; // a tensor's info objects, dims arrays and map entries

function typeName(id: number): string {
  return id < VALUE_TYPES.length ? VALUE_TYPES[id] : `unknown type ${id}`;
}

const SCALAR_SIZE: Partial<Record<GgufValueType, number>> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  bool: 1,
  uint64: 8,
  int64: 8,
  float64: 8,
};

/** Opens a GGUF file: reads and validates the header; tensors are read on demand. */
export async function openGguf(src: ByteSource): Promise<GgufFile> {
  const file = src.name;
  const bad = (msg: string) => new GlassError('BAD_FILE', `${file}: ${msg}`);
  if (src.size < 8)
    throw bad(`the file is ${src.size} bytes, too short for a GGUF header (expected at least 8 bytes)`);
  const c = new Cursor(src, 8);
  await c.need(8, 'the header');
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) {
    const head = new Uint8Array(c.view().buffer, c.view().byteOffset, 4);
    const shown = [...head]
      .map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`))
      .join('');
    throw bad(`bad magic "${shown}" (expected "GGUF"); this is not a GGUF file`);
  }
  const version = c.u32();
  if (version !== 0 && (version & 0xffff) === 0) {
    throw new GlassError(
      'UNSUPPORTED',
      `${file}: big-endian GGUF (version reads as 0x${version.toString(16)}) is not supported (expected a little-endian file)`,
    );
  }
  if (version === 0) throw bad('GGUF version 0 (expected 1, 2 or 3)');
  if (version > 3)
    throw new GlassError(
      'UNSUPPORTED',
      `${file}: GGUF version ${version} is not supported (expected 1, 2 or 3)`,
    );
  c.countSize = version === 1 ? 4 : 8;

  await c.need(2 * c.countSize, 'the tensor and metadata counts');
  const nTensors = c.count();
  const nKv = c.count();
  // Each metadata entry takes at least a key length, a type and one byte; each tensor info at least a name
  // length, n_dims, a type and an offset.
  const minKv = c.countSize + 4 + 1;
  const minTensor = c.countSize + 4 + 4 + 8;
  if (nKv * minKv > c.left) {
    throw bad(`metadata count ${nKv} cannot fit in the ${c.left} bytes that follow (corrupt header)`);
  }
  if (nTensors * minTensor > c.left) {
    throw bad(`tensor count ${nTensors} cannot fit in the ${c.left} bytes that follow (corrupt header)`);
  }

  const budget = new Budget(file, src.size);
  budget.spend(nTensors * COST_TENSOR, `${nTensors} tensors`);
  const metadata = new Map<string, GgufValue>();
  const typed: Array<[string, GgufTypedValue]> = [];
  for (let i = 0; i < nKv; i++) {
    const key = await c.str(`the key of metadata entry ${i}`);
    budget.spend(COST_VALUE + COST_STRING + 2 * key.length, `metadata entry ${i}`);
    await c.need(4, `the type of metadata "${key}"`);
    const t = c.u32();
    if (t >= VALUE_TYPES.length) throw bad(`metadata "${key}" has unknown value type ${t} (expected 0..12)`);
    if (metadata.has(key)) throw bad(`metadata "${key}" appears twice (expected unique keys)`);
    const tv = await readValue(c, VALUE_TYPES[t], `metadata "${key}"`, file, 0, budget);
    metadata.set(key, tv.value as GgufValue);
    typed.push([key, tv]);
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al !== undefined) {
    if (typeof al !== 'number' || !Number.isInteger(al) || al <= 0 || (al & (al - 1)) !== 0) {
      throw bad(`metadata "general.alignment" is ${describeValue(al)} (expected a power of two)`);
    }
    alignment = al;
  }

  interface Raw {
    name: string;
    traits: GgmlTypeTraits;
    dims: number[];
    count: number;
    rel: number;
    bytes: number;
  }
  const raws: Raw[] = [];
  const seen = new Set<string>();
  const dimSize = c.countSize;
  for (let i = 0; i < nTensors; i++) {
    const name = await c.str(`the name of tensor ${i}`);
    const badT = (msg: string) => bad(`tensor "${name}": ${msg}`);
    if (seen.has(name)) throw badT('appears twice (expected unique tensor names)');
    seen.add(name);
    await c.need(4, `tensor "${name}"`);
    const nDims = c.u32();
    if (nDims > GGUF_MAX_DIMS) throw badT(`has ${nDims} dimensions (expected at most ${GGUF_MAX_DIMS})`);
    await c.need(nDims * dimSize + 4 + 8, `tensor "${name}"`);
    const dims: number[] = [];
    let count = 1;
    for (let d = 0; d < nDims; d++) {
      const v = dimSize === 4 ? c.u32() : c.u64();
      dims.push(v);
      count *= v;
    }
    if (!Number.isSafeInteger(count) || dims.some((v) => !Number.isSafeInteger(v))) {
      throw badT(`dims [${dims.join(', ')}] are absurdly large (corrupt header)`);
    }
    const typeId = c.u32();
    const rel = c.u64();
    const traits = ggmlTypeById(typeId);
    if (!traits) {
      throw new GlassError(
        'UNSUPPORTED',
        `${file}: tensor "${name}": unknown ggml type ${typeId} (this version knows ids 0..39; a newer llama.cpp type?)`,
      );
    }
    if (count % traits.blockSize !== 0) {
      throw badT(
        `${count} elements (dims [${dims.join(', ')}]) of ${traits.name} are not a whole number of blocks (expected a multiple of ${traits.blockSize})`,
      );
    }
    const bytes = (count / traits.blockSize) * traits.typeSize;
    if (rel % alignment !== 0) {
      throw badT(`data offset ${rel} is not a multiple of the alignment ${alignment}`);
    }
    raws.push({ name, traits, dims, count, rel, bytes });
  }

  const headerEnd = c.pos;
  const dataOffset = Math.ceil(headerEnd / alignment) * alignment;
  const dataSize = Math.max(0, src.size - dataOffset);
  for (const r of raws) {
    if (r.rel + r.bytes > dataSize) {
      throw bad(
        `tensor "${r.name}": data [${r.rel}, ${r.rel + r.bytes}) (${r.traits.name}, dims [${r.dims.join(', ')}]) lies outside the data section, which holds ${dataSize} bytes (the file is ${src.size} bytes; truncated?)`,
      );
    }
  }
  const sorted = raws.filter((r) => r.bytes > 0).sort((a, b) => a.rel - b.rel);
  let reach: Raw | undefined;
  for (const r of sorted) {
    if (reach && r.rel < reach.rel + reach.bytes) {
      const span = (x: Raw) => `[${x.rel}, ${x.rel + x.bytes})`;
      throw bad(
        `tensor "${r.name}" (bytes ${span(r)}) overlaps tensor "${reach.name}" (bytes ${span(reach)}) (expected disjoint tensors)`,
      );
    }
    if (!reach || r.rel + r.bytes > reach.rel + reach.bytes) reach = r;
  }

  const infos = new Map<string, GgufTensorInfo>();
  for (const r of raws) {
    infos.set(r.name, {
      name: r.name,
      type: r.traits.name,
      typeId: r.traits.id,
      dims: r.dims,
      shape: r.dims.slice().reverse(),
      count: r.count,
      offset: dataOffset + r.rel,
      relativeOffset: r.rel,
      byteLength: r.bytes,
    });
  }
  const order = raws.map((r) => r.name);
  const get = (name: string): GgufTensorInfo => {
    const t = infos.get(name);
    if (!t) throw tensorNotFound(file, name, order);
    return t;
  };
  const copyInfo = (t: GgufTensorInfo): GgufTensorInfo => ({
    ...t,
    dims: t.dims.slice(),
    shape: t.shape.slice(),
  });

  return {
    name: file,
    version,
    alignment,
    dataOffset,
    metadata,
    typedMetadata: typed,
    names: () => order.slice(),
    has: (name) => infos.has(name),
    info(name): TensorInfo {
      const t = get(name);
      return { name, dtype: t.type, shape: t.shape.slice(), file };
    },
    tensorInfo: (name) => copyInfo(get(name)),
    read: async (name, into) => readTensor(src, get(name), into),
    async readRaw(name) {
      const t = get(name);
      const bytes = new Uint8Array(t.byteLength);
      const got = await src.read(t.offset, t.byteLength, bytes);
      if (got !== bytes) bytes.set(got.subarray(0, t.byteLength));
      return { type: t.type, bytes };
    },
    async close() {
      await src.close?.();
    },
  };
}

async function readValue(
  c: Cursor,
  type: GgufValueType,
  what: string,
  file: string,
  depth: number,
  budget: Budget,
): Promise<GgufTypedValue> {
  switch (type) {
    case 'string': {
      const value = await c.str(`${what} (a string)`);
      budget.spend(COST_STRING + 2 * value.length, what);
      return { type, value };
    }
    case 'array':
      return readArray(c, what, file, depth, budget);
    default: {
      const size = SCALAR_SIZE[type]!;
      await c.need(size, what);
      const dv = c.view();
      const o = c.offsetOf(size);
      switch (type) {
        case 'uint8':
          return { type, value: dv.getUint8(o) };
        case 'int8':
          return { type, value: dv.getInt8(o) };
        case 'uint16':
          return { type, value: dv.getUint16(o, true) };
        case 'int16':
          return { type, value: dv.getInt16(o, true) };
        case 'uint32':
          return { type, value: dv.getUint32(o, true) };
        case 'int32':
          return { type, value: dv.getInt32(o, true) };
        case 'float32':
          return { type, value: shortestF32(dv.getFloat32(o, true)) };
        case 'float64':
          return { type, value: dv.getFloat64(o, true) };
        case 'bool':
          return { type, value: dv.getUint8(o) !== 0 };
        case 'uint64':
          return { type, value: safeOrBig(dv.getBigUint64(o, true)) };
        case 'int64':
          return { type, value: safeOrBig(dv.getBigInt64(o, true)) };
      }
    }
  }
  throw new Error(`internal: unhandled GGUF value type ${type}`);
}

/** The shortest decimal that is the same float32 (1e-5 rather than 0.000009999999747378752). */
function shortestF32(v: number): number {
  if (!Number.isFinite(v)) return v;
  for (let p = 1; p < 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return s;
  }
  return v;
}

function safeOrBig(v: bigint): number | bigint {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

async function readArray(
  c: Cursor,
  what: string,
  file: string,
  depth: number,
  budget: Budget,
): Promise<GgufTypedValue> {
  const bad = (msg: string) => new GlassError('BAD_FILE', `${file}: ${what}: ${msg}`);
  if (depth >= MAX_NESTING) throw bad(`arrays nested more than ${MAX_NESTING} deep (corrupt header?)`);
  await c.need(4 + c.countSize, what);
  const itemId = c.u32();
  if (itemId >= VALUE_TYPES.length) throw bad(`array of unknown value type ${itemId} (expected 0..12)`);
  const itemType = VALUE_TYPES[itemId];
  const n = c.count();
  const minItem =
    itemType === 'string' ? c.countSize : itemType === 'array' ? 4 + c.countSize : SCALAR_SIZE[itemType]!;
  if (n * minItem > c.left) {
    throw bad(
      `array of ${n} ${typeName(itemId)} items cannot fit in the ${c.left} bytes left in the file (corrupt header)`,
    );
  }
  const size = SCALAR_SIZE[itemType];
  // Charged up front, before any allocation: the array object, then per item its slot and the least an
  // item costs (a string's header, a nested array's object; a nested array charges only its items).
  const perItem =
    itemType === 'string'
      ? 8 + COST_STRING
      : itemType === 'array'
        ? 8 + COST_ARRAY
        : itemType === 'bool'
          ? 8
          : size!;
  budget.spend(
    (depth === 0 ? COST_ARRAY : 0) + n * perItem,
    `${what} (an array of ${n} ${typeName(itemId)} items)`,
  );
  if (itemType === 'string') {
    const out: string[] = new Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = c.tryStr() ?? (await c.str(`${what} item ${i}`));
      budget.spend(2 * out[i].length, what);
    }
    return { type: 'array', itemType, value: out };
  }
  if (itemType === 'array') {
    const out: GgufArray[] = new Array(n);
    for (let i = 0; i < n; i++)
      out[i] = (await readArray(c, `${what} item ${i}`, file, depth + 1, budget)).value as GgufArray;
    return { type: 'array', itemType, value: out };
  }
  const itemSize = size!;
  await c.need(n * itemSize, what);
  const raw = c.bytes(n * itemSize);
  if (itemType === 'bool') return { type: 'array', itemType, value: Array.from(raw, (b) => b !== 0) };
  const copy = new Uint8Array(n * itemSize);
  copy.set(raw);
  if (!LITTLE_ENDIAN && itemSize > 1) swapBytes(copy, itemSize);
  const buf = copy.buffer;
  const value: GgufArray = (() => {
    switch (itemType) {
      case 'uint8':
        return copy;
      case 'int8':
        return new Int8Array(buf);
      case 'uint16':
        return new Uint16Array(buf);
      case 'int16':
        return new Int16Array(buf);
      case 'uint32':
        return new Uint32Array(buf);
      case 'int32':
        return new Int32Array(buf);
      case 'float32':
        return new Float32Array(buf);
      case 'float64':
        return new Float64Array(buf);
      case 'uint64':
        return new BigUint64Array(buf);
      case 'int64':
        return new BigInt64Array(buf);
    }
  })();
  return { type: 'array', itemType, value };
}

async function readTensor(src: ByteSource, t: GgufTensorInfo, into?: Float32Array): Promise<Float32Array> {
  if (!DEQUANTIZABLE_TYPES.includes(t.type)) {
    throw new GlassError(
      'UNSUPPORTED',
      `${src.name}: tensor "${t.name}": ggml type ${t.type} cannot be converted to float32 yet (supported: ${DEQUANTIZABLE_TYPES.join(', ')})`,
    );
  }
  const out = readTarget(src.name, t.name, t.count, into);
  if (t.count === 0) return out;
  if (t.type === 'F32' && LITTLE_ENDIAN) {
    const dst = new Uint8Array(out.buffer, out.byteOffset, t.count * 4);
    const got = await src.read(t.offset, t.byteLength, dst);
    if (got !== dst) dst.set(got.subarray(0, dst.length));
    return out;
  }
  const { blockSize, typeSize } = ggmlTypeTraits(t.type);
  const nBlocks = t.count / blockSize;
  const step = Math.max(1, Math.floor(CHUNK_BYTES / typeSize));
  const buf = new Uint8Array(Math.min(nBlocks, step) * typeSize);
  for (let b = 0; b < nBlocks; b += step) {
    const nb = Math.min(step, nBlocks - b);
    const view = buf.subarray(0, nb * typeSize);
    const got = await src.read(t.offset + b * typeSize, nb * typeSize, view);
    if (got !== view) view.set(got.subarray(0, view.length));
    dequantize(t.type, view, out, b * blockSize);
  }
  return out;
}

function describeValue(v: GgufValue | undefined): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'object') return `an array of ${v.length}`;
  return String(v);
}

// ---------------------------------------------------------------------------------------------------
// Metadata helpers. Each takes the file (for its name in errors) or a bare metadata map.

type MetaLike = GgufFile | { name: string; metadata: Map<string, GgufValue> } | Map<string, GgufValue>;

function metaOf(m: MetaLike): { name: string; metadata: Map<string, GgufValue> } {
  return m instanceof Map ? { name: '<gguf metadata>', metadata: m } : m;
}

function metaGet<T>(
  m: MetaLike,
  key: string,
  fallback: T | undefined,
  expected: string,
  convert: (v: GgufValue) => T | undefined,
): T {
  const { name, metadata } = metaOf(m);
  const v = metadata.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new GlassError('BAD_FILE', `${name}: metadata "${key}" is missing (expected ${expected})`);
  }
  const out = convert(v);
  if (out === undefined)
    throw new GlassError(
      'BAD_FILE',
      `${name}: metadata "${key}" is ${describeValue(v)} (expected ${expected})`,
    );
  return out;
}

/** A string metadata value; BAD_FILE naming the key when missing (and no fallback) or not a string. */
export function ggufString(m: MetaLike, key: string, fallback?: string): string {
  return metaGet(m, key, fallback, 'a string', (v) => (typeof v === 'string' ? v : undefined));
}

/** A numeric metadata value (u64/i64 must fit in a safe integer). */
export function ggufNumber(m: MetaLike, key: string, fallback?: number): number {
  return metaGet(m, key, fallback, 'a number', (v) => (typeof v === 'number' ? v : undefined));
}

/** A non-negative integer metadata value. */
export function ggufCount(m: MetaLike, key: string, fallback?: number): number {
  return metaGet(m, key, fallback, 'a non-negative integer', (v) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined,
  );
}

export function ggufBool(m: MetaLike, key: string, fallback?: boolean): boolean {
  return metaGet(m, key, fallback, 'a bool', (v) => (typeof v === 'boolean' ? v : undefined));
}

export function ggufStringArray(m: MetaLike, key: string, fallback?: string[]): string[] {
  return metaGet(m, key, fallback, 'an array of strings', (v) =>
    Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined,
  );
}

/** Numeric metadata arrays as ggufNumberArray returns them. */
export type GgufNumberArray =
  Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/** A numeric array metadata value (64-bit integer arrays are converted to Float64Array and must hold safe integers). */
export function ggufNumberArray(m: MetaLike, key: string, fallback?: GgufNumberArray): GgufNumberArray {
  return metaGet<GgufNumberArray>(m, key, fallback, 'an array of numbers', (v) => {
    if (v instanceof BigInt64Array || v instanceof BigUint64Array) {
      const out = new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const n = Number(v[i]);
        if (!Number.isSafeInteger(n)) return undefined;
        out[i] = n;
      }
      return out;
    }
    return ArrayBuffer.isView(v) ? (v as GgufNumberArray) : undefined;
  });
}
