import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  LLAMA2C_MAGIC,
  llama2cLlamaConfig,
  openLlama2c,
  writeLlama2c,
  type Llama2cWriteOptions,
} from '../../src/formats/llama2c.js';
import { openLlama2cFile } from '../../src/formats/llama2c-node.js';
import { bytesSource } from '../../src/util/bytes.js';
import { GlassError } from '../../src/util/errors.js';

const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const BIN = join(SHARED, 'models/stories260K-llama2c/stories260K.bin');
const BIN_SIZE = 1056540;

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
  dir = await mkdtemp(join(tmpdir(), 'glasslm-l2c-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

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

describe('stories260K.bin (shared/, llama2.c version 0)', () => {
  test('header: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512 shared, seq_len 512', async (t) => {
    if (!(await exists(BIN))) return t.skip(`${BIN} is absent`);
    const l = await openLlama2cFile(BIN);
    try {
      assert.deepEqual(l.config, {
        dim: 64,
        hiddenDim: 172,
        nLayers: 5,
        nHeads: 8,
        nKvHeads: 4,
        vocabSize: 512,
        seqLen: 512,
        sharedClassifier: true,
        version: 0,
      });
      assert.equal(l.ropeStyle, 'interleaved');
      assert.equal(l.headerBytes, 28);
      assert.equal(l.names().length, 1 + 5 * 9 + 1);
      assert.equal(l.names()[0], 'model.embed_tokens.weight');
      assert.deepEqual(l.info('model.embed_tokens.weight').shape, [512, 64]);
      assert.deepEqual(l.info('model.layers.4.self_attn.k_proj.weight').shape, [32, 64]);
      assert.deepEqual(l.info('model.layers.0.mlp.gate_proj.weight').shape, [172, 64]);
      assert.deepEqual(l.info('model.layers.0.mlp.down_proj.weight').shape, [64, 172]);
      assert.deepEqual(l.info('model.norm.weight'), {
        name: 'model.norm.weight',
        dtype: 'F32',
        shape: [64],
        file: BIN,
      });
      assert.equal(l.has('lm_head.weight'), false);
      await expectGlassError(l.read('lm_head.weight'), 'NOT_FOUND', 'shared');
      const spec = llama2cLlamaConfig(l);
      assert.equal(spec.headDim, 8);
      assert.equal(spec.ropeStyle, 'interleaved');
      assert.equal(spec.tieWordEmbeddings, true);
      // RMSNorm weights of a trained model are near 1, not garbage: the offsets are right.
      const norm = await l.read('model.norm.weight');
      assert.ok(norm.every((v) => Number.isFinite(v) && Math.abs(v) < 20));
    } finally {
      await l.close();
    }
  });

  test('writeLlama2c version 0 reproduces the file (freq_cis tables within 1 ulp)', async (t) => {
    if (!(await exists(BIN))) return t.skip(`${BIN} is absent`);
    const l = await openLlama2cFile(BIN);
    const weights: Record<string, Float32Array> = {};
    for (const n of l.names()) weights[n] = await l.read(n);
    await l.close();
    const { version: _v, ...config } = l.config;
    const out = writeLlama2c({ config, version: 0, weights });
    const orig = new Uint8Array(await readFile(BIN));
    assert.equal(out.length, orig.length);
    const freqStart = orig.length - 2 * 512 * 4 * 4;
    assert.deepEqual(out.subarray(0, freqStart), orig.subarray(0, freqStart));
    const a = new Float32Array(orig.slice(freqStart).buffer);
    const b = new Float32Array(out.slice(freqStart).buffer);
    for (let i = 0; i < a.length; i++)
      assert.ok(Math.abs(a[i] - b[i]) <= 1.2e-7, `freq_cis[${i}]: ${a[i]} vs ${b[i]}`);
  });

  test('a truncated copy is BAD_FILE with expected and actual sizes', async (t) => {
    if (!(await exists(BIN))) return t.skip(`${BIN} is absent`);
    const bytes = await readFile(BIN);
    const cut = join(dir, 'truncated.bin');
    await writeFile(cut, bytes.subarray(0, bytes.length - 1000));
    await expectGlassError(
      openLlama2cFile(cut),
      'BAD_FILE',
      cut,
      `${BIN_SIZE} bytes`,
      `${BIN_SIZE - 1000} bytes`,
      'truncated',
    );
    const long = join(dir, 'long.bin');
    await writeFile(long, Buffer.concat([bytes, Buffer.alloc(4)]));
    await expectGlassError(
      openLlama2cFile(long),
      'BAD_FILE',
      long,
      `${BIN_SIZE} bytes`,
      `${BIN_SIZE + 4} bytes`,
    );
  });
});

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** Random weights for a small config, by HF name. */
function synthetic(shared: boolean, seed = 1): Omit<Llama2cWriteOptions, 'version'> {
  const config = {
    dim: 16,
    hiddenDim: 40,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    vocabSize: 10,
    seqLen: 8,
    sharedClassifier: shared,
  };
  const r = rng(seed);
  const w = (n: number) => Float32Array.from({ length: n }, r);
  const weights: Record<string, Float32Array> = {
    'model.embed_tokens.weight': w(10 * 16),
    'model.norm.weight': w(16),
  };
  for (let i = 0; i < 2; i++) {
    const p = `model.layers.${i}`;
    weights[`${p}.input_layernorm.weight`] = w(16);
    weights[`${p}.post_attention_layernorm.weight`] = w(16);
    weights[`${p}.self_attn.q_proj.weight`] = w(16 * 16);
    weights[`${p}.self_attn.k_proj.weight`] = w(8 * 16);
    weights[`${p}.self_attn.v_proj.weight`] = w(8 * 16);
    weights[`${p}.self_attn.o_proj.weight`] = w(16 * 16);
    weights[`${p}.mlp.gate_proj.weight`] = w(40 * 16);
    weights[`${p}.mlp.down_proj.weight`] = w(16 * 40);
    weights[`${p}.mlp.up_proj.weight`] = w(40 * 16);
  }
  if (!shared) weights['lm_head.weight'] = w(10 * 16);
  return { config, weights };
}

describe('synthetic checkpoints', () => {
  for (const version of [0, 1] as const) {
    for (const shared of [true, false]) {
      test(`version ${version}, ${shared ? 'shared' : 'separate'} classifier: write → open round-trips exactly`, async () => {
        const s = synthetic(shared);
        const bytes = writeLlama2c({ ...s, version });
        const l = await openLlama2c(bytesSource(bytes, `v${version}.bin`));
        assert.deepEqual(l.config, { ...s.config, version });
        assert.equal(l.headerBytes, version === 0 ? 28 : 256);
        assert.deepEqual(new Set(l.names()), new Set(Object.keys(s.weights)));
        for (const [name, data] of Object.entries(s.weights))
          assert.deepEqual(await l.read(name), data, name);
        assert.deepEqual(l.info('model.layers.1.self_attn.v_proj.weight').shape, [8, 16]);
      });
    }
  }

  test('version 1 layout: "ak42" magic, version, params, flag, 256-byte header, norms first', async () => {
    const s = synthetic(false);
    const bytes = writeLlama2c({ ...s, version: 1 });
    const dv = new DataView(bytes.buffer);
    assert.equal(dv.getUint32(0, true), LLAMA2C_MAGIC);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x32, 0x34, 0x6b, 0x61]); // "24ka" on disk
    assert.equal(dv.getInt32(4, true), 1);
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6].map((i) => dv.getInt32(8 + 4 * i, true)),
      [16, 40, 2, 4, 2, 10, 8],
    );
    assert.equal(bytes[36], 0);
    assert.ok(bytes.subarray(37, 256).every((b) => b === 0));
    // attention norm of layer 0 comes first, then layer 1's, then the ffn norms, the final norm, the embedding.
    const f = (at: number, n: number) => new Float32Array(bytes.slice(at, at + 4 * n).buffer);
    assert.deepEqual(f(256, 16), s.weights['model.layers.0.input_layernorm.weight']);
    assert.deepEqual(f(256 + 64, 16), s.weights['model.layers.1.input_layernorm.weight']);
    assert.deepEqual(f(256 + 128, 16), s.weights['model.layers.0.post_attention_layernorm.weight']);
    assert.deepEqual(f(256 + 256, 16), s.weights['model.norm.weight']);
    assert.deepEqual(f(256 + 320, 160), s.weights['model.embed_tokens.weight']);
    // the classifier is last
    assert.deepEqual(f(bytes.length - 640, 160), s.weights['lm_head.weight']);
  });

  test('version 2 (Q8_0 groups): values within half a step of the originals, scales per group', async () => {
    const s = synthetic(false, 7);
    const bytes = writeLlama2c({ ...s, version: 2 });
    const l = await openLlama2c(bytesSource(bytes, 'v2.bin'));
    assert.equal(l.config.version, 2);
    assert.equal(l.config.groupSize, 16); // 64 halved until it divides dim 16
    assert.equal(l.info('model.layers.0.mlp.up_proj.weight').dtype, 'Q8_G16');
    assert.equal(l.info('model.norm.weight').dtype, 'F32');
    for (const [name, data] of Object.entries(s.weights)) {
      const got = await l.read(name);
      if (name.endsWith('norm.weight')) {
        assert.deepEqual(got, data, name);
        continue;
      }
      for (let g = 0; g < data.length / 16; g++) {
        let amax = 0;
        for (let j = 0; j < 16; j++) amax = Math.max(amax, Math.abs(data[16 * g + j]));
        for (let j = 0; j < 16; j++) {
          const i = 16 * g + j;
          assert.ok(
            Math.abs(got[i] - data[i]) <= amax / 127 / 2 + 1e-7,
            `${name}[${i}]: ${got[i]} vs ${data[i]}`,
          );
        }
      }
    }
  });

  test('bad headers are GlassErrors naming the file and field', async () => {
    const open = (b: Uint8Array) => openLlama2c(bytesSource(b, 'bad.bin'));
    const good = writeLlama2c({ ...synthetic(true), version: 0 });
    const patched = (at: number, v: number, base = good) => {
      const b = base.slice();
      new DataView(b.buffer).setInt32(at, v, true);
      return b;
    };
    await expectGlassError(open(good.subarray(0, 20)), 'BAD_FILE', 'bad.bin', 'too short');
    await expectGlassError(open(patched(0, -16)), 'BAD_FILE', 'bad.bin', 'dim', '-16');
    await expectGlassError(open(patched(0, 0)), 'BAD_FILE', 'dim 0');
    await expectGlassError(open(patched(12, 5)), 'BAD_FILE', 'n_heads 5', 'dim 16');
    await expectGlassError(open(patched(16, 3)), 'BAD_FILE', 'n_kv_heads 3');
    await expectGlassError(open(patched(24, 0)), 'BAD_FILE', 'seq_len');
    // A header of absurd sizes is rejected by size, without allocating anything.
    await expectGlassError(open(patched(4, 2 ** 31 - 1)), 'BAD_FILE', 'bad.bin', 'implies');
    await expectGlassError(
      open(patched(8, 2 ** 31 - 1, patched(0, 2 ** 30))),
      'BAD_FILE',
      'bad.bin',
      'absurd',
    );
    const v1 = writeLlama2c({ ...synthetic(true), version: 1 });
    await expectGlassError(open(patched(4, 3, v1)), 'UNSUPPORTED', 'version 3');
    const flag = v1.slice();
    flag[36] = 7;
    await expectGlassError(open(flag), 'BAD_FILE', 'shared_classifier');
    await expectGlassError(open(v1.subarray(0, 100)), 'BAD_FILE', 'too short');
  });

  test('the writer refuses missing or mis-sized tensors', () => {
    const s = synthetic(true);
    const missing = { ...s.weights };
    delete missing['model.norm.weight'];
    assert.throws(
      () => writeLlama2c({ ...s, weights: missing, version: 1 }),
      (e: unknown) =>
        e instanceof GlassError && e.code === 'BAD_INPUT' && e.message.includes('model.norm.weight'),
    );
    const wrong = { ...s.weights, 'model.norm.weight': new Float32Array(3) };
    assert.throws(
      () => writeLlama2c({ ...s, weights: wrong, version: 1 }),
      (e: unknown) => e instanceof GlassError && e.code === 'BAD_INPUT',
    );
  });
});
