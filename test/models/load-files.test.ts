// loadModelFromFiles (what the in-browser engine uses: files' bytes, no paths) must give the very same
// model as loadModel(path): same logits bit for bit, for a llama2.c checkpoint + its tokenizer, GGUF files
// and Hugging Face GPT-2 folders (single file, sharded, tokenizer.json or vocab.json + merges.txt). And
// nothing it pulls in may import a node: module, so that the page can bundle it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/models/load-node.js';
import { loadModelFromFiles, type NamedFile } from '../../src/models/load-files.js';
import type { LanguageModel } from '../../src/models/model.js';
import { isGlassError } from '../../src/util/errors.js';
import { ensureGpt2Fixtures } from '../fixtures/make-gpt2.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = join(ROOT, '../shared/models/');
const BIN = join(SHARED, 'stories260K-llama2c/stories260K.bin');
const TOK = join(SHARED, 'stories260K-llama2c/tok512.bin');
const F32 = join(SHARED, 'stories260K-gguf/tinyllamas-stories-260k-f32.gguf');
const Q8 = join(SHARED, 'stories260K-gguf/tinyllamas-stories-260k-q8_0.gguf');
const NO_STORIES = `stories260K is absent from ${SHARED} (../shared is where the real models live on development machines): skipped`;

const file = (path: string, name = path.split('/').pop()!): NamedFile => ({
  name,
  bytes: new Uint8Array(readFileSync(path)),
});
const blob = (path: string): NamedFile => ({
  name: path.split('/').pop()!,
  bytes: new Blob([new Uint8Array(readFileSync(path))]),
});
const folder = (dir: string): NamedFile[] =>
  readdirSync(dir)
    .filter((n) => !n.startsWith('.'))
    .map((n) => file(join(dir, n), `some/folder/${n}`));

function sameModel(a: LanguageModel, b: LanguageModel, prompt: string): void {
  assert.equal(a.decoder.nLayers, b.decoder.nLayers);
  assert.equal(a.decoder.vocabSize, b.decoder.vocabSize);
  assert.equal(a.addBos, b.addBos);
  assert.deepEqual(a.config.modelType, b.config.modelType);
  const ids = Array.from(a.tokenizer.encode(prompt));
  assert.deepEqual(Array.from(b.tokenizer.encode(prompt)), ids, 'same token ids');
  assert.deepEqual(a.tokenizer.specialTokens, b.tokenizer.specialTokens);
  const la = a.forward(ids).data;
  const lb = b.forward(ids).data;
  assert.equal(la.length, lb.length);
  for (let i = 0; i < la.length; i++) {
    if (la[i] !== lb[i]) assert.fail(`logit ${i} differs: ${la[i]} vs ${lb[i]}`);
  }
}

async function rejects(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isGlassError(e), `a GlassError, not ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return true;
  });
}

test('stories260K llama2.c .bin + tok512.bin as bytes (and as Blobs) = loadModel(path)', async (t) => {
  if (!existsSync(BIN) || !existsSync(TOK)) return t.skip(NO_STORIES);
  const prompt = 'Once upon a time, there was a little bird';
  const fromPath = await loadModel(BIN);
  // Either order; the tokenizer is found by its name (tok<vocab>.bin).
  sameModel(fromPath, await loadModelFromFiles([file(TOK), file(BIN)]), prompt);
  const fromBlobs = await loadModelFromFiles([blob(BIN), blob(TOK)]);
  sameModel(fromPath, fromBlobs, prompt);
  assert.equal(fromBlobs.source, 'stories260K.bin');
  // A tokenizer under another name is found by its content.
  sameModel(fromPath, await loadModelFromFiles([file(BIN), file(TOK, 'my-vocab.bin')]), prompt);
  // The same greedy continuation.
  const greedy = async (m: LanguageModel) => {
    let s = '';
    for await (const p of m.generate(prompt, { greedy: true, maxTokens: 12 })) s += p;
    return s;
  };
  assert.equal(await greedy(fromBlobs), await greedy(fromPath));
});

test('stories260K GGUF (F32 and Q8_0) as bytes = loadModel(path)', async (t) => {
  if (!existsSync(F32) || !existsSync(Q8)) return t.skip(NO_STORIES);
  for (const p of [F32, Q8]) {
    const m = await loadModelFromFiles([blob(p)]);
    sameModel(await loadModel(p), m, 'The little dog ran to the park');
    assert.equal(m.source, p.split('/').pop());
  }
});

test('a tiny GPT-2 folder as bytes = loadModel(folder): single file, sharded, tokenizer.json or vocab+merges', async (t) => {
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip('the GPT-2 fixtures cannot be built (../shared/tokenizers/gpt2 is absent)');
  for (const dir of Object.values(dirs)) {
    const files = folder(dir);
    const m = await loadModelFromFiles(files);
    sameModel(await loadModel(dir), m, 'The bank of the river');
    assert.equal(m.config.modelType, 'gpt2');
    assert.equal(m.addBos, false);
  }
  assert.ok(readdirSync(dirs['gpt2-tiny']).includes('vocab.json'), 'one fixture has vocab.json + merges.txt');
});

test('loadModelFromFiles: clear errors for missing pieces', async (t) => {
  await rejects(loadModelFromFiles([]), 'BAD_INPUT', /no files/);
  const dirs = await ensureGpt2Fixtures();
  if (dirs) {
    const noConfig = folder(dirs['gpt2-tiny']).filter((f) => !f.name.endsWith('config.json'));
    await rejects(loadModelFromFiles(noConfig), 'BAD_INPUT', /needs its config\.json/);
    const noWeights = folder(dirs['gpt2-tiny']).filter((f) => !f.name.endsWith('.safetensors'));
    await rejects(loadModelFromFiles(noWeights), 'NOT_FOUND', /no safetensors weights/);
    const noTok = folder(dirs['gpt2-tiny']).filter((f) => !/vocab|merges/.test(f.name));
    await rejects(loadModelFromFiles(noTok), 'NOT_FOUND', /no tokenizer found/);
  }
  if (!existsSync(BIN)) return t.skip(NO_STORIES);
  await rejects(
    loadModelFromFiles([file(BIN)]),
    'NOT_FOUND',
    /has no tokenizer; add its tokenizer file \(tok512\.bin/,
  );
  await rejects(
    loadModelFromFiles([file(BIN), file(BIN)]),
    'BAD_INPUT',
    /two files are named stories260K\.bin/,
  );
});

/** Relative, non-type imports of a TypeScript file (static and dynamic), and its bare/node: imports. */
function imports(path: string): { local: string[]; external: string[] } {
  const src = readFileSync(path, 'utf8');
  const re =
    /^\s*(import|export)\s+(type\s+)?[^'";]*?from\s*['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  const local: string[] = [];
  const external: string[] = [];
  for (const m of src.matchAll(re)) {
    if (m[2]) continue; // import type: erased
    const spec = m[3] ?? m[4] ?? m[5];
    if (spec.startsWith('.')) local.push(resolve(dirname(path), spec.replace(/\.js$/, '.ts')));
    else external.push(spec);
  }
  return { local, external };
}

test('the byte loader, the trace and the explorer answers import no node: modules (the page bundles them)', () => {
  // The wasm backend loads its Node half (kernels from disk, worker threads) only when it runs in Node.
  const NODE_ONLY_BY_DESIGN = new Set([join(ROOT, 'src/tensor/wasm/node.ts')]);
  const entries = ['src/models/load-files.ts', 'src/server/answers.ts', 'src/server/steps.ts'];
  const seen = new Set<string>();
  const bad: string[] = [];
  const walk = (p: string) => {
    if (seen.has(p) || NODE_ONLY_BY_DESIGN.has(p)) return;
    seen.add(p);
    const { local, external } = imports(p);
    for (const e of external) bad.push(`${p.slice(ROOT.length)} imports ${e}`);
    for (const l of local) walk(l);
  };
  for (const e of entries) walk(join(ROOT, e));
  assert.ok(seen.size > 20, `walked ${seen.size} files`);
  assert.deepEqual(bad, []);
});
