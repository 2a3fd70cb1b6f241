// XLM-RoBERTa embedders (multilingual-e5, paraphrase-multilingual-MiniLM) on random-weight folders
// (make-xlmr.ts) vs the float64 numpy reference written from HF's modeling_xlm_roberta.py
// (xlmr_reference.py): token vectors and pooled sentence vectors within 1e-5 relative, the tokenizer's
// ids equal to sentencepiece's, batched (padded batches of several lengths) equal to one text at a time,
// the CLI, and the config fields that would change the maths refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEmbedder } from '../../src/embed/load.js';
import { parseHfConfig } from '../../src/formats/hf-config.js';
import { l2normalize } from '../../src/embed/pooling.js';
import { openGgufFile } from '../../src/formats/gguf-node.js';
import { writeGguf } from '../../src/formats/gguf-write.js';
import { GlassError } from '../../src/util/errors.js';
import { ensureXlmrFixture, ensureXlmrGguf, XLMR_MAX_TOKENS, XLMR_VARIANTS } from '../fixtures/make-xlmr.js';
import { assertSameFiles, relError } from '../models/reference.js';

const REF = JSON.parse(readFileSync(new URL('../fixtures/xlmr-reference.json', import.meta.url), 'utf8')) as {
  texts: string[];
  ids: number[][];
  variants: Record<string, { sha256: Record<string, string>; tokens: number[][][]; vectors: number[][] }>;
};

for (const variant of XLMR_VARIANTS) {
  test(`${variant}: ids, token vectors and pooled vectors match the float64 reference within 1e-5`, async () => {
    const dir = await ensureXlmrFixture(variant);
    const ref = REF.variants[variant];
    assertSameFiles(dir, ref.sha256);
    const e = await loadEmbedder(dir);
    assert.equal(e.config.family, 'xlm-roberta');
    assert.equal(e.config.positionOffset, 2);
    assert.equal(e.maxTokens, XLMR_MAX_TOKENS);
    assert.equal(e.pooling, variant === 'xlmr-cls-random' ? 'cls' : 'mean');
    assert.equal(e.normalize, variant === 'xlmr-e5-random');
    REF.texts.forEach((text, i) => {
      assert.deepEqual(e.inputIds(text), REF.ids[i], `ids of text ${i}`);
      const { hidden } = e.tokenVectors(text);
      const err = relError(hidden, ref.tokens[i].flat());
      assert.ok(err < 1e-5, `text ${i} token vectors: relative error ${err.toExponential(2)}`);
    });
    const vecs = e.embed(REF.texts);
    vecs.forEach((v, i) => {
      const err = relError(v, ref.vectors[i]);
      assert.ok(err < 1e-5, `text ${i} pooled: relative error ${err.toExponential(2)}`);
    });
    // one text at a time gives the same vectors as the batches
    const alone = e.embed(REF.texts, { batchSize: 1 });
    alone.forEach((v, i) => assert.ok(relError(v, Array.from(vecs[i])) < 1e-6, `text ${i} alone`));
  });
}

test('xlm-roberta: padded batches of several lengths (pad id 1, validKeys) equal each text alone', async () => {
  const dir = await ensureXlmrFixture('xlmr-e5-random');
  const e = await loadEmbedder(dir);
  const ref = REF.variants['xlmr-e5-random'];
  const dim = e.dim;
  const T = Math.max(...REF.ids.map((x) => x.length));
  // every text padded to the longest, as HF's tokenizer(padding=True) gives them; padding tokens keep
  // position padding_idx, no query attends to them
  const items = REF.ids.map((ids) => ({
    ids: [...ids, ...new Array<number>(T - ids.length).fill(1)],
    validKeys: ids.length,
  }));
  const padded = e.encoder.forwardBatch(items); // [texts·T, dim]
  const plain = e.encoder.forwardBatch(REF.ids.map((ids) => ({ ids }))); // [Σ lengths, dim]
  let row = 0;
  REF.ids.forEach((ids, i) => {
    const n = ids.length;
    const fromPadded = padded.subarray(i * T * dim, (i * T + n) * dim);
    const fromPlain = plain.subarray(row * dim, (row + n) * dim);
    const alone = e.encoder.forward(ids);
    assert.ok(relError(fromPadded, Array.from(alone)) < 1e-6, `text ${i}: padded batch vs alone`);
    assert.ok(relError(fromPlain, Array.from(alone)) < 1e-6, `text ${i}: batch vs alone`);
    assert.ok(relError(fromPadded, ref.tokens[i].flat()) < 1e-5, `text ${i}: padded batch vs reference`);
    row += n;
  });
});

test('xlm-roberta: texts longer than max_seq_length are cut to it (the table holds it + padding_idx + 1 rows)', async () => {
  const e = await loadEmbedder(await ensureXlmrFixture('xlmr-e5-random'));
  const seen: number[] = [];
  const [v] = e.embed(['the bank of the river '.repeat(20)], {
    onTruncate: (_i, n, kept) => seen.push(n, kept),
  });
  assert.equal(seen[1], XLMR_MAX_TOKENS);
  assert.equal(v.length, e.dim);
  assert.throws(() => e.encoder.forward(new Array<number>(XLMR_MAX_TOKENS + 1).fill(5)), /limit is 32/);
});

test('xlm-roberta config: fields that would change the maths are refused by name', () => {
  const base = JSON.parse(
    readFileSync(
      join(new URL('../fixtures/out/xlmr-e5-random/', import.meta.url).pathname, 'config.json'),
      'utf8',
    ),
  ) as Record<string, unknown>;
  const refused = (patch: Record<string, unknown>, field: RegExp) =>
    assert.throws(
      () => parseHfConfig({ ...base, ...patch }, 'config.json'),
      (err: unknown) => err instanceof GlassError && field.test(err.message),
    );
  refused({ is_decoder: true }, /is_decoder/);
  refused({ add_cross_attention: true }, /add_cross_attention/);
  refused({ position_embedding_type: 'relative_key' }, /position_embedding_type "relative_key"/);
  refused({ hidden_act: 'relu' }, /hidden_act "relu"/);
  refused({ max_position_embeddings: 2 }, /max_position_embeddings/);
  const c = parseHfConfig(base, 'config.json');
  assert.equal(c.modelType, 'bert');
  assert.ok(c.modelType === 'bert' && c.contextLength === XLMR_MAX_TOKENS && c.typeVocabSize === 1);
});

test('glasslm embed --model <xlm-roberta folder> from the command line', async () => {
  const dir = await ensureXlmrFixture('xlmr-e5-random');
  const { spawnSync } = await import('node:child_process');
  const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;
  const out = join(mkdtempSync(join(tmpdir(), 'glasslm-xlmr-')), 'v.jsonl');
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', main, 'embed', '--model', dir, '--jsonl', out, REF.texts[0], REF.texts[3]],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  // one JSON line per text, in the order given
  const [first, second] = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { text: string; vector: number[] });
  assert.equal(first.text, REF.texts[0]);
  assert.equal(second.text, REF.texts[3]);
  const ref = REF.variants['xlmr-e5-random'].vectors;
  assert.ok(relError(first.vector, ref[0]) < 1e-5);
  assert.ok(relError(second.vector, ref[3]) < 1e-5);
});

for (const variant of XLMR_VARIANTS) {
  test(`${variant}: the GGUF file glasslm's writer makes (llama.cpp's bert + t5 layout) gives the same ids and vectors`, async () => {
    const path = await ensureXlmrGguf(variant);
    const folder = await loadEmbedder(await ensureXlmrFixture(variant));
    const e = await loadEmbedder(path);
    const ref = REF.variants[variant];
    assert.equal(e.tokenizer.kind, 'unigram');
    assert.equal(e.pooling, folder.pooling);
    assert.equal(e.normalize, true); // a GGUF file carries no Normalize module: always normalised
    assert.equal(e.maxTokens, XLMR_MAX_TOKENS); // the cut table: max_position_embeddings − 2
    REF.texts.forEach((text, i) => assert.deepEqual(e.inputIds(text), REF.ids[i], `ids of text ${i}`));
    // a GGUF file does not say which GELU: the exact one (HF's "gelu") is taken, so the tanh-GELU
    // ("gelu_new") variant's vectors cannot come back from its GGUF file
    if (folder.config.activation !== 'gelu') return;
    REF.texts.forEach((text, i) => {
      const err = relError(e.tokenVectors(text).hidden, ref.tokens[i].flat());
      assert.ok(err < 1e-5, `text ${i} token vectors: relative error ${err.toExponential(2)}`);
    });
    const vecs = e.embed(REF.texts);
    const fromFolder = folder.embed(REF.texts);
    vecs.forEach((v, i) => {
      const want = l2normalize(Float32Array.from(ref.vectors[i]));
      assert.ok(relError(v, Array.from(want)) < 1e-5, `text ${i} pooled vs reference`);
      assert.ok(relError(v, Array.from(l2normalize(fromFolder[i]))) < 1e-6, `text ${i} GGUF vs folder`);
    });
  });
}

test('GGUF bert: metadata that would change the maths is refused by name', async () => {
  const file = await openGgufFile(await ensureXlmrGguf('xlmr-e5-random'));
  const meta = [...file.typedMetadata];
  const tensors = await Promise.all(
    file.names().map(async (name) => ({
      name,
      shape: file.info(name).shape,
      type: 'F32' as const,
      data: await file.read(name),
    })),
  );
  await file.close();
  const dir = mkdtempSync(join(tmpdir(), 'glasslm-xlmr-gguf-'));
  const refused = async (
    key: string,
    value: Parameters<typeof writeGguf>[0]['metadata'][number][1],
    why: RegExp,
  ) => {
    const path = join(dir, `${key}.gguf`);
    writeFileSync(path, writeGguf({ metadata: [...meta.filter(([k]) => k !== key), [key, value]], tensors }));
    await assert.rejects(
      loadEmbedder(path),
      (err: unknown) => err instanceof GlassError && why.test(err.message),
    );
  };
  await refused('bert.attention.causal', { type: 'bool', value: true }, /bert\.attention\.causal/);
  await refused('bert.pooling_type', { type: 'uint32', value: 4 }, /bert\.pooling_type/);
  await refused('general.architecture', { type: 'string', value: 'jina-bert-v2' }, /jina-bert-v2/);
});
