import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ggufBool,
  ggufCount,
  ggufNumber,
  ggufNumberArray,
  ggufString,
  ggufStringArray,
  openGguf,
  type GgufFile,
  type GgufTypedValue,
} from '../../src/formats/gguf.js';
import { writeGguf, type GgufWriteOptions } from '../../src/formats/gguf-write.js';
import {
  ggufAsHfLlama,
  ggufLlamaConfig,
  ggufToHfLlamaName,
  hfToGgufLlamaName,
} from '../../src/formats/gguf-llama.js';
import { openGgufFile, writeGgufFile } from '../../src/formats/gguf-node.js';
import { dequantize, quantizeQ4_0, quantizeQ8_0 } from '../../src/tensor/ggml-quant.js';
import { openLlama2cFile } from '../../src/formats/llama2c-node.js';
import { f16ToF32, f32ToF16 } from '../../src/util/half.js';
import { bytesSource } from '../../src/util/bytes.js';
import { GlassError } from '../../src/util/errors.js';

const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const F32_GGUF = join(SHARED, 'models/stories260K-gguf/tinyllamas-stories-260k-f32.gguf');
const Q8_GGUF = join(SHARED, 'models/stories260K-gguf/tinyllamas-stories-260k-q8_0.gguf');
const LLAMA2C_BIN = join(SHARED, 'models/stories260K-llama2c/stories260K.bin');

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glasslm-gguf-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * 10 ** ((i % 5) - 2);
  }
  return out;
}

function dq(type: 'Q8_0' | 'Q4_0', bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  dequantize(type, bytes, out);
  return out;
}

async function expectGlassError(p: Promise<unknown>, code: string, ...parts: string[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof GlassError, `expected a GlassError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const part of parts)
      assert.ok(
        e.message.includes(part),
        `message ${JSON.stringify(e.message)} should mention ${JSON.stringify(part)}`,
      );
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------
// The real stories260K files.

describe('stories260K GGUF files (shared/)', () => {
  let f32: GgufFile | undefined;
  let q8: GgufFile | undefined;
  before(async () => {
    if (await exists(F32_GGUF)) f32 = await openGgufFile(F32_GGUF);
    if (await exists(Q8_GGUF)) q8 = await openGgufFile(Q8_GGUF);
  });
  after(async () => {
    await f32?.close();
    await q8?.close();
  });

  test('F32 file: GGUF version 1, 48 F32 tensors, dims in ggml order', (t) => {
    if (!f32) return t.skip(`${F32_GGUF} is absent`);
    assert.equal(f32.version, 1);
    assert.equal(f32.alignment, 32);
    assert.equal(f32.dataOffset, 11456); // header ends at 11450, padded to 32
    assert.equal(f32.names().length, 48);
    assert.ok(f32.names().every((n) => f32!.tensorInfo(n).type === 'F32'));
    const down = f32.tensorInfo('blk.0.ffn_down.weight');
    assert.deepEqual(down.dims, [172, 64]);
    assert.deepEqual(down.shape, [64, 172]);
    assert.deepEqual(f32.info('token_embd.weight'), {
      name: 'token_embd.weight',
      dtype: 'F32',
      shape: [512, 64],
      file: F32_GGUF,
    });
    assert.equal(ggufString(f32, 'general.architecture'), 'llama');
  });

  test('F32 file tensors equal the llama2.c stories260K.bin tensors bit for bit', async (t) => {
    if (!f32) return t.skip(`${F32_GGUF} is absent`);
    if (!(await exists(LLAMA2C_BIN))) return t.skip(`${LLAMA2C_BIN} is absent`);
    const l = await openLlama2cFile(LLAMA2C_BIN);
    try {
      let compared = 0;
      for (const name of f32.names()) {
        let hf = ggufToHfLlamaName(name);
        assert.ok(hf, `no HF name for ${name}`);
        // The llama2.c file shares its classifier with the embedding; the GGUF stores a copy as output.weight.
        if (hf === 'lm_head.weight') hf = 'model.embed_tokens.weight';
        // llama2.c stores [out, in], which is GGUF's dims reversed.
        assert.deepEqual(f32.info(name).shape, l.info(hf).shape, name);
        const a: Uint32Array = new Uint32Array((await f32.read(name)).buffer);
        const b: Uint32Array = new Uint32Array((await l.read(hf)).buffer);
        assert.equal(a.length, b.length, name);
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`${name}[${i}] differs from ${hf}`);
        compared++;
      }
      assert.equal(compared, 48);
    } finally {
      await l.close();
    }
  });

  test('Q8_0 file: GGUF version 2, 37 Q8_0 tensors and 11 F32 (the norms)', (t) => {
    if (!q8) return t.skip(`${Q8_GGUF} is absent`);
    assert.equal(q8.version, 2);
    assert.equal(q8.dataOffset, 14240);
    const byType = new Map<string, string[]>();
    for (const n of q8.names()) {
      const ty = q8.tensorInfo(n).type;
      byType.set(ty, [...(byType.get(ty) ?? []), n]);
    }
    assert.equal(byType.get('Q8_0')?.length, 37);
    assert.equal(byType.get('F32')?.length, 11);
    assert.ok(byType.get('F32')!.every((n) => n.endsWith('_norm.weight')));
    assert.equal(ggufCount(q8, 'general.file_type'), 7); // MOSTLY_Q8_0
  });

  test('every Q8_0 tensor dequantises to within Q8_0 error of the F32 file', async (t) => {
    if (!f32 || !q8) return t.skip('a stories260K GGUF file is absent');
    for (const name of q8.names()) {
      const a: Float32Array = await f32.read(name);
      const b: Float32Array = await q8.read(name);
      assert.equal(b.length, a.length, name);
      let num = 0;
      let den = 0;
      for (let i = 0; i < a.length; i++) {
        num += (a[i] - b[i]) ** 2;
        den += a[i] ** 2;
      }
      const rel = Math.sqrt(num / den);
      if (q8.tensorInfo(name).type === 'F32') assert.equal(rel, 0, name);
      else assert.ok(rel < 0.01 && rel > 0, `${name}: relative error ${rel}`);
    }
  });

  test('ffn_down (172-long rows) is one flat run of blocks crossing rows, and our Q8_0 quantizer reproduces every byte', async (t) => {
    if (!f32 || !q8) return t.skip('a stories260K GGUF file is absent');
    const info = q8.tensorInfo('blk.0.ffn_down.weight');
    assert.deepEqual(info.dims, [172, 64]);
    assert.equal(info.count, 11008); // 344 blocks of 32, not 64 rows of ceil(172/32) blocks
    assert.equal(info.byteLength, 344 * 34);
    for (const name of q8.names()) {
      if (q8.tensorInfo(name).type !== 'Q8_0') continue;
      const raw = await q8.readRaw(name);
      assert.equal(raw.type, 'Q8_0');
      assert.deepEqual(quantizeQ8_0(await f32.read(name)), raw.bytes, name);
    }
  });

  test('tokenizer metadata: 512 tokens, scores and token types', (t) => {
    for (const [file, path] of [
      [f32, F32_GGUF],
      [q8, Q8_GGUF],
    ] as const) {
      if (!file) return t.skip(`${path} is absent`);
      const tokens = ggufStringArray(file, 'tokenizer.ggml.tokens');
      assert.equal(tokens.length, 512);
      assert.deepEqual(tokens.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>']);
      assert.equal(tokens[259], '▁t');
      const scores = file.metadata.get('tokenizer.ggml.scores');
      assert.ok(scores instanceof Float32Array && scores.length === 512);
      const types = file.metadata.get('tokenizer.ggml.token_type');
      assert.ok(types instanceof Int32Array && types.length === 512);
      assert.deepEqual([...types.slice(0, 4)], [2, 3, 3, 6]); // unknown, control, control, byte
      assert.equal(ggufString(file, 'tokenizer.ggml.model'), 'llama');
      assert.equal(ggufNumber(file, 'tokenizer.ggml.bos_token_id'), 1);
      assert.equal(ggufNumberArray(file, 'tokenizer.ggml.scores').length, 512);
    }
  });

  test('ggufLlamaConfig reads the llama.* metadata', (t) => {
    if (!q8) return t.skip(`${Q8_GGUF} is absent`);
    assert.deepEqual(ggufLlamaConfig(q8), {
      arch: 'llama',
      dim: 64,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      headDim: 8,
      ffnDim: 172,
      vocabSize: 512,
      contextLength: 512,
      normEps: 1e-5, // stored as float32; read as the shortest decimal with the same bits
      ropeTheta: 10000, // absent: default
      ropeDim: 8,
      ropeStyle: 'interleaved',
      tieWordEmbeddings: false,
      bosTokenId: 1,
      eosTokenId: 2,
    });
  });

  test('the HF-named view maps every tensor', async (t) => {
    if (!q8) return t.skip(`${Q8_GGUF} is absent`);
    const v = ggufAsHfLlama(q8);
    assert.equal(v.names().length, 48);
    assert.ok(v.has('model.layers.4.mlp.down_proj.weight'));
    assert.ok(v.has('lm_head.weight'));
    assert.deepEqual(v.info('model.layers.0.self_attn.k_proj.weight').shape, [32, 64]);
    assert.deepEqual(await v.read('model.norm.weight'), await q8.read('output_norm.weight'));
    assert.throws(
      () => v.info('token_embd.weight'),
      (e: unknown) => e instanceof GlassError && e.code === 'NOT_FOUND',
    );
  });

  test('re-written as GGUF v3 by writeGguf, the F32 file keeps its metadata and tensors', async (t) => {
    if (!f32) return t.skip(`${F32_GGUF} is absent`);
    const tensors: GgufWriteOptions['tensors'] = [];
    for (const n of f32.names())
      tensors.push({ name: n, shape: f32.info(n).shape, type: 'F32', data: await f32.read(n) });
    const bytes = writeGguf({ metadata: [...f32.typedMetadata], tensors });
    const g = await openGguf(bytesSource(bytes, 'rewritten.gguf'));
    assert.equal(g.version, 3);
    assert.deepEqual(g.metadata, f32.metadata);
    assert.deepEqual(g.typedMetadata, f32.typedMetadata);
    assert.deepEqual(g.names(), f32.names());
    for (const n of f32.names()) {
      assert.deepEqual(g.tensorInfo(n).dims, f32.tensorInfo(n).dims);
      assert.equal(g.tensorInfo(n).relativeOffset, f32.tensorInfo(n).relativeOffset, n); // same packing as llama.cpp's
      assert.deepEqual(await g.read(n), await f32.read(n));
    }
    assert.equal(bytes.length - g.dataOffset, (await readFile(F32_GGUF)).length - f32.dataOffset);
  });
});

// ---------------------------------------------------------------------------------------------------
// Writer round trips.

const META: Array<[string, GgufTypedValue]> = [
  ['general.architecture', { type: 'string', value: 'llama' }],
  ['general.name', { type: 'string', value: 'tiny ✓ ünïcode' }],
  ['test.u8', { type: 'uint8', value: 255 }],
  ['test.i8', { type: 'int8', value: -128 }],
  ['test.u16', { type: 'uint16', value: 65535 }],
  ['test.i16', { type: 'int16', value: -32768 }],
  ['test.u32', { type: 'uint32', value: 4294967295 }],
  ['test.i32', { type: 'int32', value: -2147483648 }],
  ['test.f32', { type: 'float32', value: 1e-5 }],
  ['test.f64', { type: 'float64', value: Math.PI }],
  ['test.bool', { type: 'bool', value: true }],
  ['test.u64.small', { type: 'uint64', value: 12345 }],
  ['test.u64.big', { type: 'uint64', value: 2n ** 63n + 5n }],
  ['test.i64', { type: 'int64', value: -(2n ** 62n) }],
  ['test.empty', { type: 'string', value: '' }],
  ['test.arr.str', { type: 'array', itemType: 'string', value: ['a', '', '▁the', '<0x0A>'] }],
  ['test.arr.f32', { type: 'array', itemType: 'float32', value: new Float32Array([0, -1.5, 3.25]) }],
  ['test.arr.i32', { type: 'array', itemType: 'int32', value: new Int32Array([1, -2, 3]) }],
  ['test.arr.u8', { type: 'array', itemType: 'uint8', value: new Uint8Array([1, 2, 255]) }],
  ['test.arr.i16', { type: 'array', itemType: 'int16', value: new Int16Array([-7]) }],
  ['test.arr.u64', { type: 'array', itemType: 'uint64', value: new BigUint64Array([1n, 2n ** 64n - 1n]) }],
  ['test.arr.f64', { type: 'array', itemType: 'float64', value: new Float64Array([Math.E]) }],
  ['test.arr.bool', { type: 'array', itemType: 'bool', value: [true, false, true] }],
  ['test.arr.empty', { type: 'array', itemType: 'int32', value: new Int32Array(0) }],
];

describe('writeGguf → openGguf round trips', () => {
  const a = values(64 * 96, 1);
  const b = values(32 * 3, 2);
  const opts: GgufWriteOptions = {
    metadata: META,
    tensors: [
      { name: 'f32', shape: [64, 96], type: 'F32', data: a },
      { name: 'f16', shape: [3, 32], type: 'F16', data: b },
      { name: 'bf16', shape: [96], type: 'BF16', data: b },
      { name: 'q8', shape: [96, 64], type: 'Q8_0', data: a },
      { name: 'q4', shape: [2, 3, 32, 32], type: 'Q4_0', data: values(2 * 3 * 32 * 32, 3) },
      { name: 'scalarish', shape: [1], type: 'F32', data: new Float32Array([7]) },
    ],
  };

  test('metadata comes back identical, with its types', async () => {
    const g = await openGguf(bytesSource(writeGguf(opts), 'mem.gguf'));
    assert.equal(g.version, 3);
    assert.deepEqual(g.typedMetadata, META);
    assert.equal(g.metadata.get('test.u64.small'), 12345); // a safe u64 reads as a number
    assert.equal(g.metadata.get('test.u64.big'), 2n ** 63n + 5n); // an unsafe one as a bigint
    assert.equal(g.metadata.get('test.f32'), 1e-5);
    assert.ok(g.metadata.get('test.arr.i32') instanceof Int32Array);
    assert.equal(ggufBool(g, 'test.bool'), true);
  });

  test('F32 bit-exact, F16/BF16 within rounding, Q8_0/Q4_0 equal to quantize → dequantize', async () => {
    const g = await openGguf(bytesSource(writeGguf(opts), 'mem.gguf'));
    assert.deepEqual(g.names(), ['f32', 'f16', 'bf16', 'q8', 'q4', 'scalarish']);
    assert.deepEqual(await g.read('f32'), a);
    const f16 = await g.read('f16');
    for (let i = 0; i < b.length; i++) {
      assert.equal(f16[i], f16ToF32(f32ToF16(b[i])));
      assert.ok(Math.abs(f16[i] - b[i]) <= Math.abs(b[i]) * 2 ** -11 + 2 ** -25);
    }
    const bf16 = await g.read('bf16');
    for (let i = 0; i < b.length; i++) assert.ok(Math.abs(bf16[i] - b[i]) <= Math.abs(b[i]) * 2 ** -8);
    assert.deepEqual(await g.read('q8'), dq('Q8_0', quantizeQ8_0(a), a.length));
    const q4src = opts.tensors[4].data;
    assert.deepEqual(await g.read('q4'), dq('Q4_0', quantizeQ4_0(q4src), q4src.length));
    assert.deepEqual((await g.readRaw('q8')).bytes, quantizeQ8_0(a));
    assert.deepEqual([...(await g.read('scalarish'))], [7]);
    const q4 = g.tensorInfo('q4');
    assert.deepEqual(q4.dims, [32, 32, 3, 2]);
    assert.deepEqual(q4.shape, [2, 3, 32, 32]);
    assert.equal(q4.type, 'Q4_0');
    assert.equal(q4.typeId, 2);
    for (const n of g.names()) assert.equal(g.tensorInfo(n).offset % 32, 0, n);
  });

  test('a custom alignment is written as general.alignment and honoured', async () => {
    const bytes = writeGguf({ ...opts, alignment: 256 });
    const g = await openGguf(bytesSource(bytes, 'mem.gguf'));
    assert.equal(g.alignment, 256);
    assert.equal(g.metadata.get('general.alignment'), 256);
    assert.equal(g.dataOffset % 256, 0);
    for (const n of g.names()) assert.equal(g.tensorInfo(n).offset % 256, 0, n);
    assert.deepEqual(await g.read('f32'), a);
  });

  test('writeGgufFile streams the same bytes to disk', async () => {
    const path = join(dir, 'streamed.gguf');
    const n = await writeGgufFile(path, opts);
    const onDisk = await readFile(path);
    const inMemory = writeGguf(opts);
    assert.equal(n, inMemory.length);
    assert.deepEqual(new Uint8Array(onDisk), inMemory);
    const g = await openGgufFile(path);
    assert.deepEqual(await g.read('f32'), a);
    await g.close();
  });

  test('a header larger than the reader’s chunk (a 100k-token vocabulary) round-trips', async () => {
    const tokens = Array.from({ length: 100_000 }, (_, i) => `tok${i}▁`);
    const scores = Float32Array.from(tokens, (_, i) => -i / 7);
    const bytes = writeGguf({
      metadata: [
        ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens }],
        ['tokenizer.ggml.scores', { type: 'array', itemType: 'float32', value: scores }],
      ],
      tensors: [{ name: 'w', shape: [32], type: 'Q8_0', data: b.subarray(0, 32) }],
    });
    assert.ok(bytes.length > 2 << 20);
    const started = Date.now();
    const g = await openGguf(bytesSource(bytes, 'big.gguf'));
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(ggufStringArray(g, 'tokenizer.ggml.tokens'), tokens);
    assert.deepEqual(g.metadata.get('tokenizer.ggml.scores'), scores);
    assert.deepEqual(await g.read('w'), dq('Q8_0', quantizeQ8_0(b.subarray(0, 32)), 32));
  });

  test('invalid input is BAD_INPUT naming the tensor or key', () => {
    const bad = (o: Partial<GgufWriteOptions>, ...parts: string[]) =>
      assert.throws(
        () => writeGguf({ metadata: [], tensors: [], ...o }),
        (e: unknown) =>
          e instanceof GlassError && e.code === 'BAD_INPUT' && parts.every((p) => e.message.includes(p)),
      );
    const t = (
      name: string,
      shape: number[],
      type: 'F32' | 'Q8_0',
      n = shape.reduce((x, y) => x * y, 1),
    ) => ({ name, shape, type, data: new Float32Array(n) });
    bad({ tensors: [t('w', [2, 48], 'Q8_0')] }, '"w"', '48', '32'); // llama.cpp needs whole blocks per row
    bad({ tensors: [t('x'.repeat(64), [4], 'F32')] }, 'name');
    bad({ tensors: [t('w', [4], 'F32'), t('w', [4], 'F32')] }, '"w"', 'twice');
    bad({ tensors: [t('w', [4], 'F32', 5)] }, '"w"', '5');
    bad({ tensors: [t('w', [1, 1, 1, 1, 1], 'F32')] }, '"w"', 'dimensions');
    bad({ metadata: [['k', { type: 'uint8', value: 300 }]] }, '"k"', '300');
    bad({ metadata: [['k', { type: 'int32', value: 1.5 }]] }, '"k"');
    bad({ metadata: [['k', { type: 'array', itemType: 'array', value: [] }]] }, '"k"');
    bad(
      {
        metadata: [
          ['k', { type: 'string', value: 'a' }],
          ['k', { type: 'string', value: 'b' }],
        ],
      },
      '"k"',
      'twice',
    );
    bad({ alignment: 48 }, '48');
  });
});

// ---------------------------------------------------------------------------------------------------
// Corrupt and unsupported files: a small hand-rolled writer lets each field be broken on purpose.

class Raw {
  private parts: number[] = [];
  constructor(readonly wide: boolean) {}
  u8(v: number) {
    this.parts.push(v & 0xff);
    return this;
  }
  u32(v: number) {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: number | bigint) {
    const big = BigInt(v);
    for (let i = 0n; i < 8n; i++) this.parts.push(Number((big >> (8n * i)) & 0xffn));
    return this;
  }
  count(v: number | bigint) {
    return this.wide ? this.u64(v) : this.u32(Number(v));
  }
  str(s: string, len?: number | bigint) {
    const b = new TextEncoder().encode(s);
    this.count(len ?? b.length);
    for (const x of b) this.parts.push(x);
    return this;
  }
  pad(alignment: number) {
    while (this.parts.length % alignment !== 0) this.parts.push(0);
    return this;
  }
  zeros(n: number) {
    for (let i = 0; i < n; i++) this.parts.push(0);
    return this;
  }
  get length() {
    return this.parts.length;
  }
  bytes() {
    return new Uint8Array(this.parts);
  }
}

interface RawTensor {
  name: string;
  dims: number[];
  type: number;
  offset: number;
}

/** A GGUF file: header, a string metadata entry (plus what `kv` writes, returning how many entries), the
 * tensor infos, padding to the alignment, then `data` zero bytes. */
function rawGguf(o: {
  version?: number;
  tensors?: RawTensor[];
  kv?: (r: Raw) => number;
  data?: number;
}): Uint8Array {
  const version = o.version ?? 3;
  const r = new Raw(version !== 1);
  const tensors = o.tensors ?? [];
  r.u32(0x46554747).u32(version).count(tensors.length);
  const kvAt = r.length;
  r.count(1);
  r.str('general.architecture').u32(8).str('llama');
  const extra = o.kv ? o.kv(r) : 0;
  for (const x of tensors) {
    r.str(x.name).u32(x.dims.length);
    for (const d of x.dims) r.count(d);
    r.u32(x.type).u64(x.offset);
  }
  r.pad(32).zeros(o.data ?? 0);
  const out = r.bytes();
  out[kvAt] = 1 + extra;
  return out;
}

const F32 = 0;
const Q8_0 = 8;

describe('corrupt or unsupported GGUF files are GlassErrors, never hangs', { timeout: 10_000 }, () => {
  const open = (b: Uint8Array) => openGguf(bytesSource(b, 'bad.gguf'));

  test('a valid hand-rolled file opens (the builder itself is right)', async () => {
    const g = await open(rawGguf({ tensors: [{ name: 'w', dims: [8, 2], type: F32, offset: 0 }], data: 64 }));
    assert.deepEqual(g.info('w').shape, [2, 8]);
    assert.deepEqual(await g.read('w'), new Float32Array(16));
    const g1 = await open(
      rawGguf({ version: 1, tensors: [{ name: 'w', dims: [8], type: F32, offset: 0 }], data: 32 }),
    );
    assert.equal(g1.version, 1);
  });

  test('bad magic', async () => {
    const b = rawGguf({});
    b[3] = 0x58; // "GGUX"
    await expectGlassError(open(b), 'BAD_FILE', 'bad.gguf', 'magic', 'GGUX');
    await expectGlassError(open(new TextEncoder().encode('{"not": "gguf"}')), 'BAD_FILE', 'magic');
  });

  test('too short', async () => {
    await expectGlassError(open(new Uint8Array([0x47, 0x47])), 'BAD_FILE', 'bad.gguf', 'too short');
  });

  test('version 99, version 0 and a big-endian file', async () => {
    await expectGlassError(open(rawGguf({ version: 99 })), 'UNSUPPORTED', 'bad.gguf', 'version 99');
    const v0 = rawGguf({});
    v0[4] = 0;
    await expectGlassError(open(v0), 'BAD_FILE', 'version 0');
    const be = rawGguf({});
    be.set([0, 0, 0, 3], 4);
    await expectGlassError(open(be), 'UNSUPPORTED', 'big-endian');
  });

  test('a string length of 2^40 (key, value and tensor name)', async () => {
    const key = new Raw(true)
      .u32(0x46554747)
      .u32(3)
      .u64(0)
      .u64(1)
      .str('x', 2n ** 40n)
      .zeros(64)
      .bytes();
    await expectGlassError(open(key), 'BAD_FILE', 'bad.gguf', '1099511627776', 'metadata entry 0');
    const value = rawGguf({
      kv: (r) => {
        r.str('general.name')
          .u32(8)
          .str('x', 2n ** 40n);
        return 1;
      },
    });
    await expectGlassError(open(value), 'BAD_FILE', '1099511627776', 'general.name');
    const name = new Raw(true)
      .u32(0x46554747)
      .u32(3)
      .u64(1)
      .u64(0)
      .str('w', 2n ** 40n)
      .zeros(64)
      .bytes();
    await expectGlassError(open(name), 'BAD_FILE', '1099511627776', 'tensor 0');
  });

  test('absurd counts: tensors, metadata entries, array items', async () => {
    const tensors = new Raw(true)
      .u32(0x46554747)
      .u32(3)
      .u64(2n ** 40n)
      .u64(0)
      .zeros(64)
      .bytes();
    await expectGlassError(open(tensors), 'BAD_FILE', 'tensor count 1099511627776');
    const kvs = new Raw(true)
      .u32(0x46554747)
      .u32(3)
      .u64(0)
      .u64(2n ** 50n)
      .zeros(64)
      .bytes();
    await expectGlassError(open(kvs), 'BAD_FILE', 'metadata count');
    const arr = rawGguf({
      kv: (r) => {
        r.str('tokenizer.ggml.tokens')
          .u32(9)
          .u32(8)
          .u64(2n ** 40n);
        return 1;
      },
    });
    await expectGlassError(open(arr), 'BAD_FILE', 'tokenizer.ggml.tokens', '1099511627776');
    const nested = rawGguf({
      kv: (r) => {
        r.str('deep');
        for (let i = 0; i < 10; i++) r.u32(9).u32(9).u64(1);
        return 1;
      },
    });
    await expectGlassError(open(nested), 'BAD_FILE', 'deep');
  });

  test('tensor data past the end of the file', async () => {
    const b = rawGguf({
      tensors: [{ name: 'blk.0.attn_q.weight', dims: [64, 64], type: F32, offset: 0 }],
      data: 1024,
    });
    await expectGlassError(
      open(b),
      'BAD_FILE',
      'bad.gguf',
      'blk.0.attn_q.weight',
      'outside the data section',
      'truncated',
    );
  });

  test('unknown ggml type', async () => {
    const b = rawGguf({ tensors: [{ name: 'w', dims: [32], type: 99, offset: 0 }], data: 128 });
    await expectGlassError(open(b), 'UNSUPPORTED', 'bad.gguf', '"w"', 'unknown ggml type 99');
  });

  test('element count not a multiple of the block size', async () => {
    const b = rawGguf({ tensors: [{ name: 'w', dims: [33], type: Q8_0, offset: 0 }], data: 128 });
    await expectGlassError(open(b), 'BAD_FILE', 'bad.gguf', '"w"', '33', 'multiple of 32');
  });

  test('overlapping tensors, misaligned offsets, too many dims, duplicate names', async () => {
    const overlap = rawGguf({
      tensors: [
        { name: 'a', dims: [16], type: F32, offset: 0 },
        { name: 'b', dims: [16], type: F32, offset: 32 },
      ],
      data: 128,
    });
    await expectGlassError(open(overlap), 'BAD_FILE', '"b"', '"a"', 'overlaps');
    const misaligned = rawGguf({ tensors: [{ name: 'a', dims: [4], type: F32, offset: 4 }], data: 64 });
    await expectGlassError(open(misaligned), 'BAD_FILE', '"a"', 'alignment');
    const dims = rawGguf({ tensors: [{ name: 'a', dims: [1, 1, 1, 1, 1], type: F32, offset: 0 }], data: 64 });
    await expectGlassError(open(dims), 'BAD_FILE', '"a"', '5 dimensions');
    const dup = rawGguf({
      tensors: [
        { name: 'a', dims: [8], type: F32, offset: 0 },
        { name: 'a', dims: [8], type: F32, offset: 32 },
      ],
      data: 64,
    });
    await expectGlassError(open(dup), 'BAD_FILE', '"a"', 'twice');
  });

  test('bad metadata: unknown value type, duplicate key, bad alignment, truncated header', async () => {
    const unknownType = rawGguf({
      kv: (r) => {
        r.str('weird').u32(42).u32(0);
        return 1;
      },
    });
    await expectGlassError(open(unknownType), 'BAD_FILE', '"weird"', 'unknown value type 42');
    const dupKey = rawGguf({
      kv: (r) => {
        r.str('general.architecture').u32(8).str('gpt2');
        return 1;
      },
    });
    await expectGlassError(open(dupKey), 'BAD_FILE', '"general.architecture"', 'twice');
    const align = rawGguf({
      kv: (r) => {
        r.str('general.alignment').u32(4).u32(48);
        return 1;
      },
    });
    await expectGlassError(open(align), 'BAD_FILE', 'general.alignment', '48');
    const full = rawGguf({ tensors: [{ name: 'w', dims: [8], type: F32, offset: 0 }], data: 32 });
    await expectGlassError(open(full.subarray(0, 60)), 'BAD_FILE', 'bad.gguf', 'unexpected end of file');
  });

  test('a known type without a decoder opens; read() is UNSUPPORTED, readRaw() works', async () => {
    const b = rawGguf({ tensors: [{ name: 'w', dims: [256], type: 10 /* Q2_K */, offset: 0 }], data: 96 });
    const g = await open(b);
    assert.equal(g.tensorInfo('w').type, 'Q2_K');
    await expectGlassError(g.read('w'), 'UNSUPPORTED', 'bad.gguf', '"w"', 'Q2_K');
    assert.equal((await g.readRaw('w')).bytes.length, 84);
    await expectGlassError(g.read('nope'), 'NOT_FOUND', '"nope"');
  });
});

describe('metadata helpers', () => {
  test('errors name the key and what was expected', async () => {
    const g = await openGguf(bytesSource(writeGguf({ metadata: META, tensors: [] }), 'meta.gguf'));
    assert.equal(ggufString(g, 'general.architecture'), 'llama');
    assert.equal(ggufString(g, 'missing.key', 'fallback'), 'fallback');
    assert.equal(ggufNumber(g, 'test.f64'), Math.PI);
    assert.deepEqual(ggufStringArray(g, 'test.arr.str'), ['a', '', '▁the', '<0x0A>']);
    assert.deepEqual(Array.from(ggufNumberArray(g, 'test.arr.i32')), [1, -2, 3]);
    const err = (f: () => unknown, ...parts: string[]) =>
      assert.throws(
        f,
        (e: unknown) =>
          e instanceof GlassError && e.code === 'BAD_FILE' && parts.every((p) => e.message.includes(p)),
      );
    err(() => ggufString(g, 'missing.key'), 'meta.gguf', '"missing.key"', 'missing');
    err(() => ggufNumber(g, 'general.name'), '"general.name"', 'a number');
    err(() => ggufNumber(g, 'test.u64.big'), '"test.u64.big"');
    err(() => ggufCount(g, 'test.i8'), '"test.i8"', 'non-negative');
    err(() => ggufStringArray(g, 'test.arr.i32'), '"test.arr.i32"', 'strings');
    err(() => ggufNumberArray(g, 'test.arr.u64'), '"test.arr.u64"', 'numbers'); // 2^64 − 1 is not a safe number
    err(() => ggufLlamaConfig(g), '"llama.embedding_length"', 'missing');
  });

  test('name maps between GGUF and Hugging Face Llama names', () => {
    const pairs: Array<[string, string]> = [
      ['token_embd.weight', 'model.embed_tokens.weight'],
      ['blk.0.attn_norm.weight', 'model.layers.0.input_layernorm.weight'],
      ['blk.11.attn_q.weight', 'model.layers.11.self_attn.q_proj.weight'],
      ['blk.2.attn_k.weight', 'model.layers.2.self_attn.k_proj.weight'],
      ['blk.2.attn_v.weight', 'model.layers.2.self_attn.v_proj.weight'],
      ['blk.2.attn_output.weight', 'model.layers.2.self_attn.o_proj.weight'],
      ['blk.3.ffn_norm.weight', 'model.layers.3.post_attention_layernorm.weight'],
      ['blk.3.ffn_gate.weight', 'model.layers.3.mlp.gate_proj.weight'],
      ['blk.3.ffn_down.weight', 'model.layers.3.mlp.down_proj.weight'],
      ['blk.3.ffn_up.weight', 'model.layers.3.mlp.up_proj.weight'],
      ['blk.1.attn_q.bias', 'model.layers.1.self_attn.q_proj.bias'],
      ['output_norm.weight', 'model.norm.weight'],
      ['output.weight', 'lm_head.weight'],
    ];
    for (const [g, h] of pairs) {
      assert.equal(ggufToHfLlamaName(g), h);
      assert.equal(hfToGgufLlamaName(h), g);
    }
    assert.equal(ggufToHfLlamaName('rope_freqs.weight'), undefined);
    // phi3's fused projections (ffn_up is gate|up there: ggufAsHfLlama renames it by the architecture)
    assert.equal(ggufToHfLlamaName('blk.0.attn_qkv.weight'), 'model.layers.0.self_attn.qkv_proj.weight');
    assert.equal(hfToGgufLlamaName('model.layers.0.mlp.gate_up_proj.weight'), 'blk.0.ffn_up.weight');
    assert.equal(hfToGgufLlamaName('model.layers.0.mlp.weird.weight'), undefined);
  });
});
