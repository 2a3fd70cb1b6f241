// Marian (encoder-decoder) against the independent float64 reference (test/fixtures/marian_model_reference.py):
// decoder logits with and without the KV cache, and greedy translations, for random-weight folders that
// compute their sinusoidal tables and that store their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHfConfig, type MarianConfig } from '../../src/formats/hf-config.js';
import { openSafetensorsFolder } from '../../src/formats/safetensors-node.js';
import { buildMarian } from '../../src/models/marian.js';
import type { Seq2Seq } from '../../src/models/seq2seq.js';
import { createWasmBackend, referenceBackend, setBackend } from '../../src/tensor/index.js';
import { ensureMarianFixtures, MARIAN_VARIANTS, SHARED_MARIAN } from '../fixtures/make-marian.js';
import { assertSameFiles, rowError, type PositionRef } from './reference.js';

interface CaseRef {
  source: number[];
  decoder: number[];
  positions: PositionRef[];
  greedy: number[];
}
const REF = JSON.parse(
  readFileSync(new URL('../fixtures/marian-reference.json', import.meta.url), 'utf8'),
) as {
  stride: number;
  variants: Record<string, { sha256: Record<string, string>; cases: Record<string, CaseRef> }>;
};

async function load(dir: string): Promise<Seq2Seq> {
  const config = parseHfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), 'config.json');
  const src = await openSafetensorsFolder(dir);
  try {
    return await buildMarian(config as MarianConfig, src);
  } finally {
    await src.close();
  }
}

/** Greedy decoding on the KV cache: pad masked, stop at eos. */
function greedy(m: Seq2Seq, source: number[], steps: number, eos: number): number[] {
  const state = m.encode(source);
  const cache = m.newCache();
  const out: number[] = [];
  let next = m.decoderStartTokenId;
  for (let s = 0; s < steps; s++) {
    const logits = m.forward(state, [next], cache, true);
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    out.push((next = best));
    if (best === eos) break;
  }
  return out;
}

for (const kernels of ['reference', 'wasm'] as const) {
  test(`Marian: logits (whole, and token by token on the KV cache) and greedy output equal the float64 reference (${kernels})`, async (t) => {
    const dirs = await ensureMarianFixtures();
    if (!dirs) return t.skip(`${SHARED_MARIAN} is absent: cannot build the Marian fixtures`);
    setBackend(kernels === 'wasm' ? await createWasmBackend({ threads: 1 }) : referenceBackend);
    try {
      for (const v of MARIAN_VARIANTS) {
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
          assert.deepEqual(greedy(m, c.source, 12, 0), c.greedy, `${v}/${name}: greedy output`);
        }
      }
    } finally {
      setBackend(referenceBackend);
    }
  });
}

test('Marian: the beams of one source in one batched pass give each beam its own logits', async (t) => {
  const dirs = await ensureMarianFixtures();
  if (!dirs) return t.skip(`${SHARED_MARIAN} is absent: cannot build the Marian fixtures`);
  const m = await load(dirs['marian-tiny']);
  const state = m.encode([35, 2091, 7, 0]);
  const step = m.bind(state);
  const histories = [[54687, 11, 400], [54687, 9], [54687]];
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
    for (let j = 0; j < V; j++)
      if (Number.isFinite(ref[j])) worst = Math.max(worst, Math.abs(ref[j] - row[j]));
    assert.ok(worst < 1e-5, `beam ${i}: batched logits differ by ${worst}`);
    assert.equal(row[54687], -Infinity, 'the pad id is never generated');
  });
});
