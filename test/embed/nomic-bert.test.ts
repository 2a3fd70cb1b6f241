// nomic-bert (nomic-embed-text-v1.5's architecture: rotary positions, fused Wqkv, SwiGLU, no biases,
// post-norm) on a random-weight folder (make-nomic-bert.ts) vs the float64 numpy reference written from
// nomic's modeling_hf_nomic_bert.py (nomic_bert_reference.py): token vectors and pooled vectors within 1e-5,
// padded batches equal to one text at a time, and the config fields it cannot honour refused by name.
// The ids (nomic-bert-ids.json) are our WordPiece tokenizer's, checked elsewhere against llama.cpp's
// bert-bge vectors (the same bert-base-uncased vocabulary).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadEmbedder } from '../../src/embed/load.js';
import { parseHfConfig } from '../../src/formats/hf-config.js';
import { GlassError } from '../../src/util/errors.js';
import { SHARED_MINILM } from '../fixtures/make-bert.js';
import { ensureNomicBertFixture, nomicBertConfig, NOMIC_MAX_TOKENS } from '../fixtures/make-nomic-bert.js';
import { assertSameFiles, relError } from '../models/reference.js';

const REF = JSON.parse(
  readFileSync(new URL('../fixtures/nomic-bert-reference.json', import.meta.url), 'utf8'),
) as {
  sha256: Record<string, string>;
  texts: string[];
  ids: number[][];
  tokens: number[][][];
  vectors: number[][];
};
const SKIP = `${SHARED_MINILM} is absent: no bert-base-uncased tokenizer for the nomic-bert fixture`;

test('nomic-bert: token vectors and pooled vectors match the float64 reference within 1e-5', async (t) => {
  const dir = await ensureNomicBertFixture();
  if (!dir) return t.skip(SKIP);
  assertSameFiles(dir, REF.sha256);
  const e = await loadEmbedder(dir);
  assert.equal(e.config.family, 'nomic-bert');
  assert.equal(e.encoder.positional, null); // rotary: no table
  assert.equal(e.maxTokens, NOMIC_MAX_TOKENS);
  REF.texts.forEach((text, i) => {
    assert.deepEqual(e.inputIds(text), REF.ids[i], `ids of text ${i}`);
    const err = relError(e.tokenVectors(text).hidden, REF.tokens[i].flat());
    assert.ok(err < 1e-5, `text ${i} token vectors: relative error ${err.toExponential(2)}`);
  });
  e.embed(REF.texts).forEach((v, i) => {
    const err = relError(v, REF.vectors[i]);
    assert.ok(err < 1e-5, `text ${i} pooled: relative error ${err.toExponential(2)}`);
  });
  // padded batches: each text padded to the longest (id 0), its tail marked as padding
  const T = Math.max(...REF.ids.map((x) => x.length));
  const dim = e.dim;
  const padded = e.encoder.forwardBatch(
    REF.ids.map((ids) => ({
      ids: [...ids, ...new Array<number>(T - ids.length).fill(0)],
      validKeys: ids.length,
    })),
  );
  REF.ids.forEach((ids, i) => {
    const rows = padded.subarray(i * T * dim, (i * T + ids.length) * dim);
    assert.ok(relError(rows, Array.from(e.encoder.forward(ids))) < 1e-6, `text ${i}: padded batch vs alone`);
  });
});

test('nomic-bert config: fields that would change the maths are refused by name', () => {
  const base = nomicBertConfig();
  const refused = (patch: Record<string, unknown>, field: string) =>
    assert.throws(
      () => parseHfConfig({ ...base, ...patch }, 'config.json'),
      (err: unknown) => err instanceof GlassError && err.message.includes(`"${field}"`),
      field,
    );
  refused({ prenorm: true }, 'prenorm');
  refused({ causal: true }, 'causal');
  refused({ use_rms_norm: true }, 'use_rms_norm');
  refused({ activation_function: 'gelu' }, 'activation_function');
  refused({ rotary_emb_fraction: 0.5 }, 'rotary_emb_fraction');
  refused({ rotary_scaling_factor: 2 }, 'rotary_scaling_factor');
  refused({ rotary_emb_scale_base: 512 }, 'rotary_emb_scale_base');
  refused({ moe_every_n_layers: 2 }, 'moe_every_n_layers');
  const c = parseHfConfig(base, 'config.json');
  assert.ok(c.modelType === 'bert' && c.rope?.theta === 1000 && c.rope.style === 'half');
  assert.deepEqual(c.modelType === 'bert' && c.biases, { attention: false, up: false, down: false });
});
