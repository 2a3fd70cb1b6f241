// Hostile model files (issue 13, items 9–11): sizes a header claims but the file does not hold must not
// cost memory or time before they are checked, odd dimensions are refused by name, a tokenizer's regex
// cannot backtrack exponentially, and every failure is one readable GlassError line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGguf, type GgufTypedValue } from '../../src/formats/gguf.js';
import { writeGguf } from '../../src/formats/gguf-write.js';
import { llama2cLlamaConfig, openLlama2c } from '../../src/formats/llama2c.js';
import { checkLlamaSpec, type LlamaSpec } from '../../src/models/llama.js';
import { loadModel } from '../../src/models/load-node.js';
import { loadModelFromFiles } from '../../src/models/load-files.js';
import { MAX_CONTEXT_LENGTH, RotaryEmbedding } from '../../src/nn/positional.js';
import { loadTokenizerFromBytes } from '../../src/tokenizers/load-files.js';
import { bytesSource } from '../../src/util/bytes.js';
import { GlassError, MAX_MESSAGE_LENGTH } from '../../src/util/errors.js';
import { ggufV3, LLAMA3_PATTERN, sharedDir, tinyBpeJson } from '../../scripts/fuzz/cases.js';

const SHARED = sharedDir();
const NO_SHARED = '../shared (the real stories260K files) is absent: skipped';
const shared = (p: string) => new Uint8Array(readFileSync(join(SHARED!, p)));
const GGUF_F32 = 'models/stories260K-gguf/tinyllamas-stories-260k-f32.gguf';
const BIN = 'models/stories260K-llama2c/stories260K.bin';
const TOK = 'models/stories260K-llama2c/tok512.bin';

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: string, ...parts: string[]) {
  const run = typeof p === 'function' ? async () => p() : () => p;
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof GlassError, `expected a GlassError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(!e.message.includes('\n'), 'one line');
    for (const part of parts)
      assert.ok(e.message.includes(part), `${JSON.stringify(e.message)} lacks ${part}`);
    return true;
  });
}

/** stories260K as GGUF v3 with one metadata value replaced. */
function withMeta(key: string, value: GgufTypedValue): Promise<Uint8Array> {
  return ggufV3(shared(GGUF_F32), (m) => m.map(([k, v]) => [k, k === key ? value : v]));
}

test('RoPE tables grow per block as positions are reached, not from the context length', () => {
  const big = new RotaryEmbedding(8, 2 ** 24, 10000, 'interleaved');
  const small = new RotaryEmbedding(8, 8192, 10000, 'interleaved');
  const x = Float32Array.from({ length: 8 * 3 }, (_, i) => Math.sin(i));
  const y = x.slice();
  big.apply(x, 3, 1, 8, 1000, 8, 0);
  small.apply(y, 3, 1, 8, 1000, 8, 0);
  assert.deepEqual(x, y);
  assert.deepEqual(big.angles(5000), small.angles(5000));
  const used = (big as unknown as { base: { cos: Float32Array } }).base.cos.length;
  assert.ok(used <= 2 * 5001 * 4 + 256 * 4, `table rows grown to ${used / 4}, expected about 5000`);
  assert.throws(() => small.angles(8192), GlassError);
  assert.throws(() => new RotaryEmbedding(8, 16, 10000, 'interleaved', 7), /even integer/);
  assert.throws(() => new RotaryEmbedding(7, 16), /even integer/);
});

test('checkLlamaSpec names the bad dimension: odd head dim, RoPE dims, context and layer bounds', () => {
  // stories260K's shape, as llama2.c's header gives it
  const header = { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512 };
  const ok: LlamaSpec = llama2cLlamaConfig({ ...header, sharedClassifier: true, version: 0 });
  checkLlamaSpec(ok, 'f', 'config.json');
  const bad = (patch: Partial<LlamaSpec>, part: string) =>
    assert.throws(
      () => checkLlamaSpec({ ...ok, ...patch }, 'f', 'config.json'),
      (e: unknown) => e instanceof GlassError && e.code === 'BAD_FILE' && e.message.includes(part),
    );
  bad({ headDim: 7 }, 'head dim 7 is odd');
  bad({ ropeDim: 7 }, 'RoPE dimension count is 7');
  bad({ ropeDim: 16 }, 'RoPE dimension count is 16');
  bad({ contextLength: 2 ** 32 }, 'context length is 4294967296');
  bad({ nLayers: 2 ** 31 }, 'layer count');
  bad({ nKvHeads: 3 }, 'not a multiple');
  bad({ ropeTheta: Infinity }, 'RoPE base');
});

test(
  'GGUF: llama.context_length 2^24 loads at once; 2^26 and 2^32 are refused by name',
  { skip: !SHARED && NO_SHARED },
  async () => {
    const t0 = performance.now();
    const big = await withMeta('llama.context_length', { type: 'uint32', value: 2 ** 24 });
    const model = await loadModelFromFiles([{ name: 'm.gguf', bytes: big }]);
    assert.equal(model.decoder.contextLength, 2 ** 24);
    const cache = model.decoder.newCache(8);
    const logits = model.decoder.forward([1, 403], cache, true);
    assert.ok(Number.isFinite(logits[0]));
    assert.ok(performance.now() - t0 < 5000, 'no table for the whole context is built');
    for (const v of [2 ** 26, 2 ** 32 - 1]) {
      const bytes = await withMeta('llama.context_length', { type: 'uint32', value: v });
      await rejectsWith(
        loadModelFromFiles([{ name: 'm.gguf', bytes }]),
        'BAD_FILE',
        'llama.context_length',
        String(v),
      );
    }
  },
);

test(
  'GGUF: rope.dimension_count 7 and an odd head dim are refused, naming the key',
  { skip: !SHARED && NO_SHARED },
  async () => {
    const bytes = await withMeta('llama.rope.dimension_count', { type: 'uint32', value: 7 });
    await rejectsWith(
      loadModelFromFiles([{ name: 'm.gguf', bytes }]),
      'BAD_FILE',
      'llama.rope.dimension_count',
      '7',
    );
    const wide = await withMeta('llama.rope.dimension_count', { type: 'uint32', value: 10 });
    await rejectsWith(
      loadModelFromFiles([{ name: 'm.gguf', bytes: wide }]),
      'BAD_FILE',
      'at most the head dim 8',
    );
  },
);

test('GGUF metadata memory is bounded by the file: a large bool array and many nested arrays are refused', async () => {
  // 5 M bools: 5 MB on disk, 40 MB as a JS array; the budget is 4 × the file + 16 MB
  const bools = writeGguf({
    metadata: [
      ['x.flags', { type: 'array', itemType: 'bool', value: new Array<boolean>(5_000_000).fill(true) }],
    ],
    tensors: [],
  });
  await rejectsWith(openGguf(bytesSource(bools, 'bools.gguf')), 'BAD_FILE', 'x.flags', 'memory');
  // 1 M empty nested arrays (12 bytes each on disk, a typed-array object each in memory), written by hand
  const n = 1_000_000;
  const key = new TextEncoder().encode('x.nested');
  const b = new Uint8Array(24 + 8 + key.length + 4 + 4 + 8 + n * 12);
  const dv = new DataView(b.buffer);
  let p = 0;
  const u32 = (v: number) => (dv.setUint32(p, v, true), (p += 4));
  const u64 = (v: number) => (dv.setBigUint64(p, BigInt(v), true), (p += 8));
  u32(0x46554747);
  u32(3);
  u64(0);
  u64(1);
  u64(key.length);
  b.set(key, p);
  p += key.length;
  u32(9); // array
  u32(9); // of arrays
  u64(n);
  for (let i = 0; i < n; i++) {
    u32(0); // of uint8
    u64(0); // empty
  }
  const t0 = performance.now();
  await rejectsWith(openGguf(bytesSource(b, 'nested.gguf')), 'BAD_FILE', 'x.nested', 'memory');
  assert.ok(performance.now() - t0 < 5000);
});

test('a *.gguf path: missing → "no such file", empty or with a bad magic → a GGUF message', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-hostile-'));
  try {
    await rejectsWith(loadModel(join(dir, 'x.gguf')), 'NOT_FOUND', 'no such file', 'GGUF');
    await writeFile(join(dir, 'empty.gguf'), new Uint8Array(0));
    await rejectsWith(loadModel(join(dir, 'empty.gguf')), 'BAD_FILE', 'too short for a GGUF header');
    await writeFile(join(dir, 'bad.gguf'), new Uint8Array(64).fill(7));
    await rejectsWith(loadModel(join(dir, 'bad.gguf')), 'BAD_FILE', 'bad magic', 'not a GGUF file');
    await rejectsWith(
      loadModelFromFiles([{ name: 'bad.gguf', bytes: new Uint8Array(64).fill(7) }]),
      'BAD_FILE',
      'bad magic',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test(
  'llama2.c: seq_len past the bound is refused; a large one within it costs nothing up front',
  { skip: !SHARED && NO_SHARED },
  async () => {
    const bin = shared(BIN);
    const tok = shared(TOK);
    // version 0 holds freq_cis for seq_len positions, so its seq_len is bounded by the file: a header
    // claiming 2^30 is a size mismatch, reported as such
    const v0 = bin.slice();
    new DataView(v0.buffer).setInt32(24, 2 ** 30, true);
    await rejectsWith(openLlama2c(bytesSource(v0, 'big.bin')), 'BAD_FILE', 'seq_len');
    const over = bin.slice();
    new DataView(over.buffer).setInt32(24, MAX_CONTEXT_LENGTH + 1, true);
    await rejectsWith(
      openLlama2c(bytesSource(over, 'over.bin')),
      'BAD_FILE',
      `seq_len ${MAX_CONTEXT_LENGTH + 1}`,
    );
    const model = await loadModelFromFiles([
      { name: 'stories260K.bin', bytes: bin },
      { name: 'tok512.bin', bytes: tok },
    ]);
    assert.equal(model.decoder.contextLength, 512);
  },
);

test('tokenizer.json: a catastrophic pre-tokenizer regex is refused at once; released ones load', () => {
  for (const evil of ['(a+)+$', '(a|a)*b', '(?:x(?:a*))+', '(a)\\1']) {
    const t0 = performance.now();
    assert.throws(
      () => loadTokenizerFromBytes(tinyBpeJson(evil), 'tokenizer.json'),
      (e: unknown) => e instanceof GlassError && e.code === 'UNSUPPORTED' && /exponential/.test(e.message),
    );
    assert.ok(performance.now() - t0 < 1000);
  }
  const tok = loadTokenizerFromBytes(tinyBpeJson(LLAMA3_PATTERN), 'tokenizer.json');
  assert.equal(tok.decode(tok.encode('the rest, 1234 ')), 'the rest, 1234 ');
});

test('tokenizer.json: a regex or an added token matching the empty string does not loop (found by the fuzzer)', () => {
  const text = 'a 🙂 b';
  const tok = loadTokenizerFromBytes(tinyBpeJson(''), 'tokenizer.json');
  assert.equal(tok.decode(tok.encode(text)), text);
  const json = JSON.parse(new TextDecoder().decode(tinyBpeJson())) as { added_tokens: object[] };
  json.added_tokens.push({ id: 300, content: '', special: false });
  try {
    const t2 = loadTokenizerFromBytes(new TextEncoder().encode(JSON.stringify(json)), 'tokenizer.json');
    assert.equal(t2.decode(t2.encode(text)), text);
  } catch (e) {
    assert.ok(e instanceof GlassError, String(e));
  }
});

test('tokenizer.json: a token id far past the token count is refused before tables are sized', () => {
  const bytes = new TextEncoder().encode(
    JSON.stringify({
      model: { type: 'BPE', vocab: { a: 0, b: 2 ** 31 }, merges: [] },
      pre_tokenizer: { type: 'ByteLevel' },
      decoder: { type: 'ByteLevel' },
    }),
  );
  assert.throws(
    () => loadTokenizerFromBytes(bytes, 'tokenizer.json'),
    (e: unknown) => e instanceof GlassError && e.code === 'BAD_FILE' && e.message.includes('2147483648'),
  );
});

test('GlassError messages stay one readable line, however long the value they quote', () => {
  const e = new GlassError('BAD_FILE', `f: model_type "${'x'.repeat(100_000)}" is\nnot supported`);
  assert.ok(e.message.length <= MAX_MESSAGE_LENGTH + 100, `${e.message.length} characters`);
  assert.ok(!e.message.includes('\n'));
  assert.match(e.message, /^f: model_type "x+ …\(\d+ characters elided\)… x+" is ⏎ not supported$/);
});
