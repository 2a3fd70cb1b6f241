import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/util/half.js';
import {
  openSafetensors,
  openShardedSafetensors,
  writeSafetensors,
  type TensorToWrite,
} from '../../src/formats/safetensors.js';
import { openSafetensorsFolder, writeSafetensorsFile } from '../../src/formats/safetensors-node.js';
import { bytesSource } from '../../src/util/bytes.js';
import { fileSource } from '../../src/util/bytes-node.js';
import { GlassError } from '../../src/util/errors.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glasslm-st-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    out[i] = ((s / 2 ** 31) * 2 - 1) * 10 ** ((i % 7) - 3); // magnitudes 1e-3 … 1e3
  }
  return out;
}

function assertClose(got: Float32Array, want: Float32Array, relTol: number, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(
      err <= relTol * Math.abs(want[i]),
      `${what}[${i}]: got ${got[i]}, want ${want[i]} (rel err ${err / Math.abs(want[i])})`,
    );
  }
}

/** Builds a raw safetensors file from a header object and a data section. */
function rawFile(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

async function expectGlassError(p: Promise<unknown>, code: string, ...parts: string[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof GlassError, `expected a GlassError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const part of parts)
      assert.ok(
        e.message.includes(part),
        `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(part)}`,
      );
    return true;
  });
}

describe('safetensors round trip', () => {
  const tensors: TensorToWrite[] = [
    { name: 'wte.weight', dtype: 'F32', shape: [5, 3], data: values(15, 1) },
    { name: 'h.0.attn.c_attn.weight', dtype: 'F16', shape: [3, 7], data: values(21, 2) },
    { name: 'h.0.ln_1.bias', dtype: 'BF16', shape: [9], data: values(9, 3) },
    { name: 'odd.f16', dtype: 'F16', shape: [3], data: values(3, 4) }, // leaves the next tensor 2-aligned only
    { name: 'after.odd', dtype: 'F32', shape: [2, 2], data: values(4, 5) },
    { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([42]) },
    { name: 'empty', dtype: 'BF16', shape: [0, 4], data: new Float32Array(0) },
  ];

  test('write → open → read for F32, F16 and BF16', async () => {
    const path = join(dir, 'rt.safetensors');
    await writeSafetensorsFile(path, tensors, { format: 'pt', note: 'glasslm test' });
    const w = await openSafetensors(await fileSource(path));
    try {
      assert.deepEqual(
        w.names(),
        tensors.map((t) => t.name),
      );
      assert.deepEqual(w.metadata, { format: 'pt', note: 'glasslm test' });
      for (const t of tensors) {
        assert.ok(w.has(t.name));
        assert.deepEqual(w.info(t.name), { name: t.name, dtype: t.dtype, shape: t.shape, file: path });
        const got = await w.read(t.name);
        const tol = t.dtype === 'F32' ? 0 : t.dtype === 'F16' ? 2 ** -11 : 2 ** -8;
        assertClose(got, t.data, tol, t.name);
      }
      assert.equal(w.has('nope'), false);
      assert.throws(
        () => w.info('h.0.attn.c_attn.weigh'),
        (e: unknown) => e instanceof GlassError && e.code === 'NOT_FOUND' && e.message.includes(path),
      );
      await expectGlassError(w.read('missing.weight'), 'NOT_FOUND', path, '"missing.weight"');
    } finally {
      await w.close();
    }
  });

  test('the header is padded to 8 bytes and the output is deterministic', () => {
    const a = writeSafetensors(tensors, { format: 'pt' });
    const b = writeSafetensors(tensors, { format: 'pt' });
    assert.deepEqual(a, b);
    const n = Number(new DataView(a.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const header = new TextDecoder().decode(a.subarray(8, 8 + n));
    assert.ok(header.startsWith('{"__metadata__":{"format":"pt"},"wte.weight":'), header);
    assert.match(header, / *$/);
    assert.deepEqual(JSON.parse(header)['wte.weight'], {
      dtype: 'F32',
      shape: [5, 3],
      data_offsets: [0, 60],
    });
  });

  test('F64 and integer dtypes are converted to float32', async () => {
    const f64 = new Float64Array([1.5, -2.25, 1e-3]);
    const i64 = new BigInt64Array([0n, 5n, -7n]);
    const data = new Uint8Array(24 + 24);
    data.set(new Uint8Array(f64.buffer), 0);
    data.set(new Uint8Array(i64.buffer), 24);
    const file = rawFile(
      {
        a: { dtype: 'F64', shape: [3], data_offsets: [0, 24] },
        ids: { dtype: 'I64', shape: [1, 3], data_offsets: [24, 48] },
      },
      data,
    );
    const w = await openSafetensors(bytesSource(file, 'mixed.safetensors'));
    assert.deepEqual([...(await w.read('a'))], [1.5, -2.25, Math.fround(1e-3)]);
    assert.deepEqual([...(await w.read('ids'))], [0, 5, -7]);
  });

  test('half conversions round to nearest even and keep specials', () => {
    assert.equal(f32ToF16(1), 0x3c00);
    assert.equal(f32ToF16(-2), 0xc000);
    assert.equal(f32ToF16(65504), 0x7bff);
    assert.equal(f32ToF16(65520), 0x7c00); // rounds up to Infinity
    assert.equal(f32ToF16(2 ** -24), 0x0001); // smallest subnormal
    assert.equal(f32ToF16(2 ** -25), 0x0000); // tie → even (zero)
    assert.equal(f32ToF16(3 * 2 ** -25), 0x0002); // tie → even (2)
    assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie → even
    assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
    assert.equal(f32ToF16(-0), 0x8000);
    assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
    assert.equal(f16ToF32(f32ToF16(-Infinity)), -Infinity);
    for (let h = 0; h < 0x7c00; h += 37) assert.equal(f32ToF16(f16ToF32(h)), h);
    assert.equal(f32ToBf16(1), 0x3f80);
    assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie → even
    assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
    assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(NaN))));
    assert.equal(bf16ToF32(0x3f80), 1);
  });

  test('a large F16 tensor is read in chunks correctly', async () => {
    const n = 3 * 1024 * 1024 + 5; // 6 MB of F16: two chunks
    const data = values(n, 9);
    const bytes = writeSafetensors([{ name: 'big', dtype: 'F16', shape: [n], data }]);
    const w = await openSafetensors(bytesSource(bytes, 'big.safetensors'));
    const got = await w.read('big');
    for (const i of [0, 1, 2 * 1024 * 1024 - 1, 2 * 1024 * 1024, n - 1]) {
      assert.equal(got[i], f16ToF32(f32ToF16(data[i])), `element ${i}`);
    }
  });
});

describe('sharded safetensors', () => {
  test('index across 2 shards', async () => {
    const folder = join(dir, 'sharded');
    await mkdir(folder, { recursive: true });
    const a = values(6, 11);
    const b = values(4, 12);
    const c = values(3, 13);
    await writeSafetensorsFile(join(folder, 'model-00001-of-00002.safetensors'), [
      { name: 'a', dtype: 'F32', shape: [2, 3], data: a },
      { name: 'b', dtype: 'BF16', shape: [4], data: b },
    ]);
    await writeSafetensorsFile(join(folder, 'model-00002-of-00002.safetensors'), [
      { name: 'c', dtype: 'F16', shape: [3], data: c },
    ]);
    const index = {
      metadata: { total_size: 38 },
      weight_map: {
        a: 'model-00001-of-00002.safetensors',
        c: 'model-00002-of-00002.safetensors',
        b: 'model-00001-of-00002.safetensors',
      },
    };
    await writeFile(join(folder, 'model.safetensors.index.json'), JSON.stringify(index));
    const w = await openSafetensorsFolder(folder);
    try {
      assert.deepEqual(w.names(), ['a', 'b', 'c']);
      assert.equal(w.info('c').file, join(folder, 'model-00002-of-00002.safetensors'));
      assert.deepEqual(w.info('b').shape, [4]);
      assertClose(await w.read('a'), a, 0, 'a');
      assertClose(await w.read('b'), b, 2 ** -8, 'b');
      assertClose(await w.read('c'), c, 2 ** -11, 'c');
      assert.equal(w.metadata.total_size, '38');
    } finally {
      await w.close();
    }
  });

  test('a tensor missing from its shard names index, shard and tensor', async () => {
    const shard = writeSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: new Float32Array([1]) }]);
    const index = { weight_map: { a: 's1.safetensors', ghost: 's1.safetensors' } };
    await expectGlassError(
      openShardedSafetensors(index, 'model.safetensors.index.json', async (f) => bytesSource(shard, f)),
      'BAD_FILE',
      'model.safetensors.index.json',
      's1.safetensors',
      '"ghost"',
    );
  });

  test('a bad index is rejected', async () => {
    const open = async (f: string) => bytesSource(new Uint8Array(0), f);
    await expectGlassError(
      openShardedSafetensors({}, 'idx.json', open),
      'BAD_FILE',
      'idx.json',
      'weight_map',
    );
    await expectGlassError(
      openShardedSafetensors({ weight_map: { a: '../../etc/passwd' } }, 'idx.json', open),
      'BAD_FILE',
      'idx.json',
      '"a"',
    );
  });

  test('a folder without weights says what was looked for', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    await expectGlassError(
      openSafetensorsFolder(empty),
      'NOT_FOUND',
      'model.safetensors',
      'model.safetensors.index.json',
    );
    await writeFile(join(empty, 'pytorch_model.bin'), 'x');
    await expectGlassError(openSafetensorsFolder(empty), 'UNSUPPORTED', 'pytorch_model.bin', 'safetensors');
    const missingShard = join(dir, 'missing-shard');
    await mkdir(missingShard, { recursive: true });
    await writeFile(
      join(missingShard, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: 'gone.safetensors' } }),
    );
    await expectGlassError(
      openSafetensorsFolder(missingShard),
      'NOT_FOUND',
      'model.safetensors.index.json',
      'gone.safetensors',
    );
  });
});

describe('safetensors bad input', () => {
  const good = () =>
    writeSafetensors([
      { name: 'w1', dtype: 'F32', shape: [4, 4], data: values(16, 21) },
      { name: 'w2', dtype: 'F16', shape: [8], data: values(8, 22) },
    ]);

  async function openBytes(bytes: Uint8Array, name: string) {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return { path, result: openSafetensors(await fileSource(path)) };
  }

  test('truncated file', async () => {
    const bytes = good();
    const { path, result } = await openBytes(bytes.subarray(0, bytes.length - 5), 'truncated.safetensors');
    await expectGlassError(result, 'BAD_FILE', path, 'tensor "w2"', 'truncated');
  });

  test('truncated inside the header', async () => {
    const { path, result } = await openBytes(good().subarray(0, 20), 'truncated-header.safetensors');
    await expectGlassError(result, 'BAD_FILE', path, 'header length');
  });

  test('overlapping spans name both tensors', async () => {
    const file = rawFile(
      {
        first: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
        second: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
        third: { dtype: 'F32', shape: [1], data_offsets: [16, 20] },
      },
      new Uint8Array(20),
    );
    const { path, result } = await openBytes(file, 'overlap.safetensors');
    await expectGlassError(result, 'BAD_FILE', path, 'tensor "second"', 'tensor "first"', 'overlaps');
  });

  test('holes between tensors are fine', async () => {
    const data = new Uint8Array(32);
    new Float32Array(data.buffer, 16, 2).set([3, 4]);
    const file = rawFile({ x: { dtype: 'F32', shape: [2], data_offsets: [16, 24] } }, data);
    const w = await openSafetensors(bytesSource(file, 'hole.safetensors'));
    assert.deepEqual([...(await w.read('x'))], [3, 4]);
  });

  test('shape × dtype size differs from the byte span', async () => {
    const file = rawFile({ w: { dtype: 'F16', shape: [3, 3], data_offsets: [0, 16] } }, new Uint8Array(16));
    const { path, result } = await openBytes(file, 'mismatch.safetensors');
    await expectGlassError(result, 'BAD_FILE', path, 'tensor "w"', '[3, 3]', '18 bytes', '16 bytes');
  });

  test('unknown dtype', async () => {
    const file = rawFile({ q: { dtype: 'Q4_K', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2));
    const { path, result } = await openBytes(file, 'dtype.safetensors');
    await expectGlassError(result, 'UNSUPPORTED', path, 'tensor "q"', '"Q4_K"');
  });

  test('header length too big', async () => {
    const huge = rawFile({}, new Uint8Array(0), 200n * 1024n * 1024n);
    const r1 = await openBytes(huge, 'huge-header.safetensors');
    await expectGlassError(r1.result, 'BAD_FILE', r1.path, 'header length');
    const beyond = rawFile({}, new Uint8Array(0), 4096n);
    const r2 = await openBytes(beyond, 'beyond-header.safetensors');
    await expectGlassError(r2.result, 'BAD_FILE', r2.path, 'header length is 4096 bytes', 'only');
    const absurd = rawFile({}, new Uint8Array(0), 2n ** 63n);
    const r3 = await openBytes(absurd, 'absurd-header.safetensors');
    await expectGlassError(r3.result, 'BAD_FILE', r3.path, 'header length');
  });

  test('span outside the file', async () => {
    const file = rawFile({ w: { dtype: 'F32', shape: [4], data_offsets: [100, 116] } }, new Uint8Array(16));
    const { path, result } = await openBytes(file, 'outside.safetensors');
    await expectGlassError(result, 'BAD_FILE', path, 'tensor "w"', '[100, 116]', 'outside');
  });

  test('invalid JSON, negative or fractional offsets and dims', async () => {
    const json = new TextEncoder().encode('{"w": {"dtype": "F32",');
    const broken = new Uint8Array(8 + json.length);
    new DataView(broken.buffer).setBigUint64(0, BigInt(json.length), true);
    broken.set(json, 8);
    const r0 = await openBytes(broken, 'badjson.safetensors');
    await expectGlassError(r0.result, 'BAD_FILE', r0.path, 'JSON');

    const cases: Array<[string, unknown, string]> = [
      ['negoff', { w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, 'data_offsets'],
      ['fracoff', { w: { dtype: 'F32', shape: [1], data_offsets: [0.5, 4.5] } }, 'data_offsets'],
      ['negdim', { w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 'shape'],
      ['fracdim', { w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 'shape'],
      ['noshape', { w: { dtype: 'F32', data_offsets: [0, 4] } }, 'shape'],
      ['reversed', { w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, 'data_offsets'],
      ['notobject', { w: 7 }, 'entry'],
    ];
    for (const [name, header, part] of cases) {
      const { path, result } = await openBytes(rawFile(header, new Uint8Array(8)), `${name}.safetensors`);
      await expectGlassError(result, 'BAD_FILE', path, 'tensor "w"', part);
    }
    const meta = await openBytes(rawFile({ __metadata__: { n: 3 } }, new Uint8Array(0)), 'meta.safetensors');
    await expectGlassError(meta.result, 'BAD_FILE', meta.path, '__metadata__', '"n"');
  });

  test('a file too short for the length prefix', async () => {
    const { path, result } = await openBytes(new Uint8Array(3), 'tiny.safetensors');
    await expectGlassError(result, 'BAD_FILE', path, '3 bytes');
  });

  test('writeSafetensors rejects a shape that does not match the data', () => {
    assert.throws(
      () => writeSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }]),
      (e: unknown) => e instanceof GlassError && e.code === 'BAD_INPUT' && e.message.includes('"w"'),
    );
  });

  test('reading leaves the file untouched', async () => {
    const bytes = good();
    const path = join(dir, 'untouched.safetensors');
    await writeFile(path, bytes);
    const w = await openSafetensors(await fileSource(path));
    await w.read('w1');
    await w.close();
    assert.deepEqual(new Uint8Array(await readFile(path)), bytes);
  });
});
