// Llama GGUF files in Q4_0 / Q4_K / Q5_K / Q6_K (written by glasslm's writer from random weights quantized
// by our quantizers): the loader keeps those matrices in their blocks — a Q4_K_M-style mix (q, k Q4_K,
// v Q6_K) as one q/k/v matrix of two parts — at the file's bits per weight, and the wasm kernels give the
// logits the reference backend gives on the same file. `--dtype q4_k` quantizes an F32 file at load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeGgufFile } from '../../src/formats/gguf-node.js';
import type { GgufTypedValue } from '../../src/formats/gguf.js';
import type { GgufWritableType } from '../../src/formats/gguf-write.js';
import { loadModel } from '../../src/models/load-node.js';
import {
  createWasmBackend,
  matrixBytes,
  referenceBackend,
  setBackend,
  type Matrix,
} from '../../src/tensor/index.js';
import { Rng } from '../../src/generate/rng.js';

const SH = { dim: 256, layers: 2, heads: 4, kvHeads: 2, ffn: 512, vocab: 300, ctx: 64 };
const u32 = (value: number): GgufTypedValue => ({ type: 'uint32', value });
const f32 = (value: number): GgufTypedValue => ({ type: 'float32', value });
const str = (value: string): GgufTypedValue => ({ type: 'string', value });

function rand(n: number, seed: number, scale: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
}

/** A Llama GGUF with random weights; `typeOf(name)` picks each matrix's type. */
async function writeLlama(path: string, typeOf: (name: string) => GgufWritableType): Promise<void> {
  const { dim, layers, heads, kvHeads, ffn, vocab, ctx } = SH;
  const hd = dim / heads;
  const tokens = ['<unk>', '<s>', '</s>'];
  for (let i = 0; i < 256; i++) tokens.push(`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`);
  while (tokens.length < vocab) tokens.push(`t${tokens.length}`);
  const types = Int32Array.from(tokens, (t, i) => (i === 0 ? 2 : i < 3 ? 3 : t.startsWith('<0x') ? 6 : 1));
  const scores = Float32Array.from(tokens, (_, i) => -i);
  let seed = 1;
  const mat = (name: string, rows: number, cols: number) => ({
    name,
    shape: [rows, cols],
    type: typeOf(name),
    data: rand(rows * cols, seed++, 0.05),
  });
  const ones = (name: string) => ({
    name,
    shape: [dim],
    type: 'F32' as const,
    data: new Float32Array(dim).fill(1),
  });
  const tensors = [mat('token_embd.weight', vocab, dim)];
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}`;
    tensors.push(
      ones(`${p}.attn_norm.weight`),
      mat(`${p}.attn_q.weight`, heads * hd, dim),
      mat(`${p}.attn_k.weight`, kvHeads * hd, dim),
      mat(`${p}.attn_v.weight`, kvHeads * hd, dim),
      mat(`${p}.attn_output.weight`, dim, heads * hd),
      ones(`${p}.ffn_norm.weight`),
      mat(`${p}.ffn_gate.weight`, ffn, dim),
      mat(`${p}.ffn_up.weight`, ffn, dim),
      mat(`${p}.ffn_down.weight`, dim, ffn),
    );
  }
  tensors.push(ones('output_norm.weight'), mat('output.weight', vocab, dim));
  await writeGgufFile(path, {
    metadata: [
      ['general.architecture', str('llama')],
      ['llama.context_length', u32(ctx)],
      ['llama.embedding_length', u32(dim)],
      ['llama.block_count', u32(layers)],
      ['llama.feed_forward_length', u32(ffn)],
      ['llama.rope.dimension_count', u32(hd)],
      ['llama.attention.head_count', u32(heads)],
      ['llama.attention.head_count_kv', u32(kvHeads)],
      ['llama.attention.layer_norm_rms_epsilon', f32(1e-5)],
      ['llama.rope.freq_base', f32(10000)],
      ['tokenizer.ggml.model', str('llama')],
      ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens }],
      ['tokenizer.ggml.scores', { type: 'array', itemType: 'float32', value: scores }],
      ['tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: types }],
      ['tokenizer.ggml.bos_token_id', u32(1)],
      ['tokenizer.ggml.eos_token_id', u32(2)],
    ],
    tensors,
  });
}

function typesOf(m: Matrix): string {
  return m.kind === 'quant' ? m.parts.map((p) => `${p.type}×${p.rows}`).join('+') : m.kind;
}

function relativeL2(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += a[i] ** 2;
  }
  return Math.sqrt(d / n);
}

const dir = mkdtempSync(join(tmpdir(), 'glasslm-kquants-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const wasm = await createWasmBackend({ threads: 2 });
test.after(() => wasm.close());

/** Q4_K_M's mix: v, ffn_down and the LM head in Q6_K, the rest Q4_K. */
const q4km = (n: string): GgufWritableType =>
  n.includes('_norm') ? 'F32' : /attn_v|ffn_down|output\.weight/.test(n) ? 'Q6_K' : 'Q4_K';
const CASES: Array<[string, (n: string) => GgufWritableType]> = [
  ['Q4_K_M', q4km],
  ['Q4_0', (n) => (n.includes('_norm') ? 'F32' : 'Q4_0')],
  ['Q5_K', (n) => (n.includes('_norm') ? 'F32' : 'Q5_K')],
  ['Q6_K', (n) => (n.includes('_norm') ? 'F32' : 'Q6_K')],
];

for (const [label, typeOf] of CASES) {
  test(`a ${label} GGUF stays in its blocks, and wasm logits equal the reference's on the same file`, async () => {
    const path = join(dir, `${label}.gguf`);
    await writeLlama(path, typeOf);
    setBackend(wasm);
    const m = await loadModel(path);
    setBackend(referenceBackend);
    const ref = await loadModel(path);
    try {
      const b = m.decoder.blocks[0];
      const qkv = b.attention.qkv.weight;
      if (label === 'Q4_K_M')
        assert.equal(typesOf(qkv), 'Q4_K×384+Q6_K×128'); // q, k merged; v
      else assert.equal(typesOf(qkv), `${label}×512`);
      assert.equal(typesOf(b.ffn.down.weight), `${typeOf('ffn_down')}×256`);
      assert.equal(typesOf(m.decoder.lmHead.weight), `${typeOf('output.weight')}×${SH.vocab}`);
      // bits per weight as in the file: Q4_K 4.5, Q6_K 6.5625, Q5_K 5.5, Q4_0 4.5
      const bits: Record<string, number> = { Q4_0: 4.5, Q4_K: 4.5, Q5_K: 5.5, Q6_K: 6.5625 };
      assert.equal(matrixBytes(b.ffn.up.weight), (SH.ffn * SH.dim * bits[typeOf('ffn_up')]) / 8);
      const ids = [1, 40, 300 - 1, 77, 5, 123, 9, 250, 31];
      const a = m.forward(ids).data; // prefill: the batched kernels
      const r = ref.forward(ids).data;
      assert.ok(relativeL2(r, a) < 1e-4, `prefill logits differ by ${relativeL2(r, a)}`);
      // decode, one token at a time: the matrix-vector kernels
      const cache = m.decoder.newCache();
      let last: Float32Array = new Float32Array(0);
      for (const id of ids) last = m.decoder.forward([id], cache);
      const rl = r.subarray(r.length - SH.vocab);
      assert.ok(relativeL2(rl, last) < 1e-4, `decode logits differ by ${relativeL2(rl, last)}`);
    } finally {
      setBackend(referenceBackend);
    }
  });
}

test('--dtype q4_k / q4_0 quantize an F32 GGUF at load; logits stay near f32', async () => {
  const path = join(dir, 'f32.gguf');
  await writeLlama(path, () => 'F32');
  setBackend(wasm);
  try {
    const f = await loadModel(path);
    const ids = [1, 40, 77, 5, 123];
    const want = f.forward(ids).data;
    for (const dtype of ['q4_k', 'q4_0'] as const) {
      const q = await loadModel(path, { dtype });
      assert.equal(typesOf(q.decoder.blocks[1].ffn.gate!.weight), `${dtype.toUpperCase()}×${SH.ffn}`);
      const rel = relativeL2(want, q.forward(ids).data);
      assert.ok(rel > 0 && rel < 0.2, `${dtype}: logits differ from f32 by ${rel}`);
    }
  } finally {
    setBackend(referenceBackend);
  }
});
