// generation_config.json: the sampling defaults a model ships (HF GenerationConfig) apply when the caller
// leaves an option undefined; anything the caller gives wins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/models/load-node.js';
import type { LanguageModel } from '../../src/models/model.js';
import type { GenerateOptions } from '../../src/generate/generate.js';
import { ensureGpt2Fixtures, SHARED_GPT2 } from '../fixtures/make-gpt2.js';

const dirs = await ensureGpt2Fixtures();
const SKIP = `${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`;

async function withConfig(genConfig: unknown): Promise<{ dir: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-genconfig-'));
  await cp(dirs!['gpt2-tiny'], dir, { recursive: true });
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify(genConfig));
  return { dir, done: () => rm(dir, { recursive: true, force: true }) };
}

async function ids(m: LanguageModel, o: GenerateOptions): Promise<number[]> {
  const g = m.generate('The bank of the river', { maxTokens: 12, stopAtEos: false, ...o });
  for await (const piece of g) void piece;
  return (await g.result).ids;
}

test('generation_config.json: do_sample false makes greedy the default; a given temperature wins', async (t) => {
  if (!dirs) return t.skip(SKIP);
  const plain = await loadModel(dirs['gpt2-tiny']);
  const { dir, done } = await withConfig({ do_sample: false, bos_token_id: 50256, eos_token_id: 50256 });
  try {
    const m = await loadModel(dir);
    assert.deepEqual(m.generationDefaults, { greedy: true });
    const greedy = await ids(plain, { greedy: true });
    assert.deepEqual(await ids(m, { seed: 3 }), greedy);
    assert.deepEqual(
      await ids(m, { seed: 3, temperature: 1 }),
      await ids(plain, { seed: 3, temperature: 1 }),
    );
  } finally {
    await done();
  }
});

test('generation_config.json: temperature / top_k / top_p become defaults; given options win', async (t) => {
  if (!dirs) return t.skip(SKIP);
  const plain = await loadModel(dirs['gpt2-tiny']);
  const { dir, done } = await withConfig({ do_sample: true, temperature: 0.7, top_k: 5, top_p: 0.9 });
  try {
    const m = await loadModel(dir);
    assert.deepEqual(m.generationDefaults, { temperature: 0.7, topK: 5, topP: 0.9 });
    const want = await ids(plain, { seed: 9, temperature: 0.7, topK: 5, topP: 0.9 });
    assert.deepEqual(await ids(m, { seed: 9 }), want);
    assert.deepEqual(await ids(m, { seed: 9, greedy: true }), await ids(plain, { greedy: true }));
    assert.deepEqual(
      await ids(m, { seed: 9, topK: 0 }),
      await ids(plain, { seed: 9, temperature: 0.7, topK: 0, topP: 0.9 }),
    );
  } finally {
    await done();
  }
});

test('generation_config.json: a bad value is refused naming the file and the key', async (t) => {
  if (!dirs) return t.skip(SKIP);
  const { dir, done } = await withConfig({ top_p: 3 });
  try {
    await assert.rejects(
      loadModel(dir),
      /generation_config\.json: "top_p" must be a number in \[0, 1\], got 3/,
    );
  } finally {
    await done();
  }
});
