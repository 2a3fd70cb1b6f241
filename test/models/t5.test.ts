// T5 and Flan-T5 (encoder-decoder, relative position bias) against the independent float64 reference
// (test/fixtures/t5_reference.py): decoder logits with and without the KV cache, greedy output, and beam
// search (3 beams, Hugging Face's algorithm) through the shared step loop, for a ReLU T5 with a tied head
// and a gated-GELU Flan-T5 with an untied head and d_kv ≠ d_model / num_heads — on both backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHfConfig, type T5Config } from '../../src/formats/hf-config.js';
import { openSafetensorsFolder } from '../../src/formats/safetensors-node.js';
import { loadModel } from '../../src/models/load-node.js';
import type { Seq2Seq } from '../../src/models/seq2seq.js';
import { buildT5 } from '../../src/models/t5.js';
import { RelativePositionBias } from '../../src/nn/positional.js';
import { createWasmBackend, referenceBackend, setBackend } from '../../src/tensor/index.js';
import { ensureT5Fixtures, T5_VARIANTS } from '../fixtures/make-t5.js';
import { assertSameFiles, rowError, type PositionRef } from './reference.js';

interface CaseRef {
  source: number[];
  decoder: number[];
  positions: PositionRef[];
  greedy: number[];
  beams: { ids: number[]; score: number }[];
}
const REF = JSON.parse(readFileSync(new URL('../fixtures/t5-reference.json', import.meta.url), 'utf8')) as {
  stride: number;
  variants: Record<string, { sha256: Record<string, string>; cases: Record<string, CaseRef> }>;
};

async function load(dir: string): Promise<Seq2Seq> {
  const config = parseHfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), 'config.json');
  const src = await openSafetensorsFolder(dir);
  try {
    return await buildT5(config as T5Config, src);
  } finally {
    await src.close();
  }
}

/** Greedy decoding on the KV cache: nothing masked, stop at eos (1). */
function greedy(m: Seq2Seq, source: number[], steps: number): number[] {
  const state = m.encode(source);
  const cache = m.newCache();
  const out: number[] = [];
  let next = m.decoderStartTokenId;
  for (let s = 0; s < steps; s++) {
    const logits = m.forward(state, [next], cache, true);
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    out.push((next = best));
    if (best === 1) break;
  }
  return out;
}

test('T5 relative position buckets: HF _relative_position_bucket at the boundaries', () => {
  // 32 buckets, max distance 128 (the released models): bidirectional halves, then 8 exact, then log-spaced
  const enc = new RelativePositionBias(new Float32Array(32), 32, 128, 1, true);
  const dec = new RelativePositionBias(new Float32Array(32), 32, 128, 1, false);
  // as t5_reference.py's bucket() (written from transformers' T5Attention._relative_position_bucket,
  // float32 logarithm as torch) gives them
  const cases: [number, number, number][] = [
    // rel = key − query, bidirectional bucket, causal bucket
    [0, 0, 0],
    [1, 17, 0],
    [-1, 1, 1],
    [-7, 7, 7],
    [-8, 8, 8],
    [8, 24, 0],
    [-12, 9, 12],
    [-16, 10, 16],
    [-31, 11, 21],
    [-32, 12, 21],
    [-64, 14, 26],
    [-127, 15, 31],
    [-128, 15, 31],
    [-1000, 15, 31],
    [1000, 31, 0],
  ];
  for (const [rel, b, c] of cases) {
    assert.equal(enc.bucket(rel), b, `bidirectional bucket of ${rel}`);
    assert.equal(dec.bucket(rel), c, `causal bucket of ${rel}`);
  }
});

for (const kernels of ['reference', 'wasm'] as const) {
  test(`T5: logits (whole, and token by token on the KV cache) and greedy output equal the float64 reference (${kernels})`, async (t) => {
    const dirs = await ensureT5Fixtures();
    setBackend(kernels === 'wasm' ? await createWasmBackend({ threads: 1 }) : referenceBackend);
    try {
      for (const v of T5_VARIANTS) {
        const ref = REF.variants[v];
        assertSameFiles(dirs[v], ref.sha256);
        const m = await load(dirs[v]);
        for (const [name, c] of Object.entries(ref.cases)) {
          const state = m.encode(c.source);
          const V = m.vocabSize;
          // the whole decoder input at once
          const all = m.decoder.forward(c.decoder, m.newCache(), false, null, state);
          // one token at a time on the cache
          const cache = m.newCache();
          let worst = 0;
          c.decoder.forEach((id, i) => {
            const step = m.decoder.forward([id], cache, true, null, state);
            worst = Math.max(worst, rowError(all.subarray(i * V, (i + 1) * V), c.positions[i], REF.stride));
            worst = Math.max(worst, rowError(step, c.positions[i], REF.stride));
          });
          t.diagnostic(`${v}/${name}: worst relative error ${worst.toExponential(2)}`);
          assert.ok(worst < 1e-5, `${v}/${name}: logits differ by ${worst}`);
          assert.deepEqual(greedy(m, c.source, 12), c.greedy, `${v}/${name}: greedy output`);
        }
      }
    } finally {
      setBackend(referenceBackend);
    }
  });
}

test('T5: beam search (3 beams) through the step loop equals the reference; the beams of a source batch', async () => {
  const dirs = await ensureT5Fixtures();
  for (const v of T5_VARIANTS) {
    const model = await loadModel(dirs[v]);
    for (const [name, c] of Object.entries(REF.variants[v].cases)) {
      const g = model.generate(c.source, { maxTokens: 8, numBeams: 3, numReturnSequences: 3 });
      for await (const piece of g) void piece;
      const seqs = (await g.result).sequences!;
      assert.deepEqual(
        seqs.map((s) => s.ids),
        c.beams.map((h) => h.ids.filter((id, i) => !(id === 1 && i === h.ids.length - 1))),
        `${v}/${name}: beams`,
      );
      seqs.forEach((s, i) =>
        assert.ok(Math.abs(s.score - c.beams[i].score) < 1e-4, `${v}/${name}: beam ${i} score`),
      );
    }
  }
  // one batched pass over several histories = one pass each
  const m = await load(dirs['flan-t5-tiny']);
  const state = m.encode([3, 4, 5, 6, 1]);
  const step = m.bind(state);
  const histories = [[0, 11, 40], [0, 9], [0]];
  const caches = histories.map(() => m.newCache());
  const alone = histories.map(() => m.newCache());
  histories.forEach((h, i) => {
    m.forward(state, h, caches[i]);
    m.forward(state, h, alone[i]);
  });
  const V = m.vocabSize;
  const got = step.forwardBatch!(histories.map((_, i) => ({ ids: [5 + i], cache: caches[i] })));
  histories.forEach((_, i) => {
    const ref = m.forward(state, [5 + i], alone[i], true);
    const row = got.subarray(i * V, (i + 1) * V);
    let worst = 0;
    for (let j = 0; j < V; j++) worst = Math.max(worst, Math.abs(ref[j] - row[j]));
    assert.ok(worst < 1e-5, `history ${i}: batched logits differ by ${worst}`);
  });
});
