// Qwen3, Mistral with a sliding window, Qwen2 with use_sliding_window, Gemma 2, Gemma 3 (HF folders with
// windows shorter than the prompts, q/k norms, soft-caps, sandwich norms) vs the float64 numpy reference:
// logits with and without the KV cache (whole prompt; token by token; a prefix, then token by token),
// greedy ids; and the same folders written as GGUF by glasslm's writer load to the same logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderExplain } from '../../src/cli/explain.js';
import { openGguf } from '../../src/formats/gguf.js';
import {
  ggufAsHfLlama,
  ggufLlamaConfig,
  ggufLlamaMetadata,
  ggufNormValues,
  hfToGgufLlamaName,
  type GgufLlamaArch,
} from '../../src/formats/gguf-llama.js';
import { writeGguf } from '../../src/formats/gguf-write.js';
import { hfLlamaSpec, parseHfConfig, type LlamaConfig } from '../../src/formats/hf-config.js';
import { writeSafetensors, type TensorToWrite } from '../../src/formats/safetensors.js';
import { openSafetensorsFolder } from '../../src/formats/safetensors-node.js';
import { buildLlama } from '../../src/models/llama.js';
import { loadModel } from '../../src/models/load-node.js';
import { bytesSource } from '../../src/util/bytes.js';
import { SHARED_LLAMA2_TOKENIZER } from '../fixtures/make-llama.js';
import { withWasmBackend } from '../fixtures/wasm.js';
import { ensureWindowedFixtures, WINDOWED_VARIANTS } from '../fixtures/make-windowed.js';
import {
  assertGreedyMatches,
  assertLogitsMatch,
  assertSameFiles,
  readReference,
  rowError,
} from './reference.js';

const REF = readReference('windowed-reference.json') as ReturnType<typeof readReference> & {
  variants: Record<string, { windows: (number | null)[] }>;
};
const SKIP = `${SHARED_LLAMA2_TOKENIZER} is absent: cannot build the windowed fixtures`;
const dirs = await ensureWindowedFixtures();

const configOf = (dir: string) =>
  parseHfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), dir) as LlamaConfig;

for (const variant of WINDOWED_VARIANTS) {
  test(`${variant}: each layer's window is the one HF's config rules give`, (t) => {
    if (!dirs) return t.skip(SKIP);
    const want = REF.variants[variant].windows.map((w) => w ?? 0);
    assert.deepEqual(configOf(dirs[variant]).slidingWindows ?? want.map(() => 0), want);
  });

  test(`${variant}: logits match the float64 reference within 1e-5, with and without the KV cache`, async (t) => {
    if (!dirs) return t.skip(SKIP);
    assertSameFiles(dirs[variant], REF.variants[variant].sha256);
    const model = await loadModel(dirs[variant]);
    assertLogitsMatch(model, REF, variant, 1e-5);
    // a prefix longer than the windows in one pass, then the rest token by token through the cache
    for (const [name, p] of Object.entries(REF.variants[variant].prompts)) {
      const cut = Math.min(9, p.ids.length - 1);
      const cache = model.newCache();
      const first = model.forward(p.ids.slice(0, cut), cache);
      const vocab = first.shape[1];
      for (let i = 0; i < cut; i++) {
        const e = rowError(first.data.subarray(i * vocab, (i + 1) * vocab), p.positions[i], REF.stride);
        assert.ok(e < 1e-5, `${name} position ${i}: relative error ${e.toExponential(2)} (prefix)`);
      }
      for (let i = cut; i < p.ids.length; i++) {
        const e = rowError(model.forward([p.ids[i]], cache).data, p.positions[i], REF.stride);
        assert.ok(e < 1e-5, `${name} position ${i}: relative error ${e.toExponential(2)} (after the prefix)`);
      }
    }
  });

  test(`${variant}: the same on the wasm backend (its fast attention kernels, tiled for the 20-token prompt)`, async (t) => {
    if (!dirs) return t.skip(SKIP);
    await withWasmBackend(async () => assertLogitsMatch(await loadModel(dirs[variant]), REF, variant, 1e-5));
  });

  test(`${variant}: greedy continuations are identical token for token`, async (t) => {
    if (!dirs) return t.skip(SKIP);
    await assertGreedyMatches(await loadModel(dirs[variant]), REF, variant);
  });
}

test('the windows act: Mistral and Gemma 2 without them miss the reference', async (t) => {
  if (!dirs) return t.skip(SKIP);
  for (const variant of ['mistral-tiny-window', 'gemma2-tiny'] as const) {
    const src = await openSafetensorsFolder(dirs[variant]);
    const spec = { ...hfLlamaSpec(configOf(dirs[variant])), slidingWindows: undefined };
    const p = REF.variants[variant].prompts.random20;
    const logits = (await buildLlama(spec, src)).forward(p.ids);
    const vocab = spec.vocabSize;
    const last = p.ids.length - 1;
    const e = rowError(logits.subarray(last * vocab), p.positions[last], REF.stride);
    assert.ok(e > 1e-3, `${variant}: attending to every key still matches (${e})`);
    await src.close();
  }
});

/** The GGUF architecture a fixture is written as (Mistral and Qwen2 are llama.cpp's llama / qwen2: not written). */
const GGUF_ARCH: Partial<Record<(typeof WINDOWED_VARIANTS)[number], GgufLlamaArch>> = {
  'qwen3-tiny': 'qwen3',
  'gemma2-tiny': 'gemma2',
  'gemma3-tiny': 'gemma3',
};

for (const [variant, arch] of Object.entries(GGUF_ARCH) as [
  (typeof WINDOWED_VARIANTS)[number],
  GgufLlamaArch,
][]) {
  test(`${variant}: written as GGUF (${arch}) by glasslm's writer, it loads to the same logits`, async (t) => {
    if (!dirs) return t.skip(SKIP);
    const dir = dirs[variant];
    const spec = hfLlamaSpec(configOf(dir));
    const src = await openSafetensorsFolder(dir);
    const tensors = [];
    for (const name of src.names()) {
      const gname = hfToGgufLlamaName(name, arch);
      assert.ok(gname, `${name} has a GGUF name`);
      tensors.push({
        name: gname,
        shape: src.info(name).shape,
        type: 'F32' as const,
        data: ggufNormValues(name, await src.read(name), arch),
      });
    }
    const bytes = writeGguf({ metadata: ggufLlamaMetadata(spec, arch), tensors });
    const file = await openGguf(bytesSource(bytes, `${variant}.gguf`));
    const gspec = ggufLlamaConfig(file);
    assert.deepEqual(gspec.slidingWindows, spec.slidingWindows);
    const fromGguf = await buildLlama(gspec, ggufAsHfLlama(file), 'the GGUF metadata');
    // llama.cpp scales the embeddings by √dim in float32 (HF: in torch_dtype, bfloat16 for gemma3-tiny)
    const asLlamaCpp = { ...spec, ...(spec.embedScale && { embedScale: Math.fround(Math.sqrt(spec.dim)) }) };
    const fromFolder = await buildLlama(asLlamaCpp, src, 'config.json');
    const ids = REF.variants[variant].prompts.random20.ids;
    const want = fromFolder.forward(ids);
    const got = fromGguf.forward(ids);
    let err = 0;
    let scale = 0;
    for (let i = 0; i < want.length; i++) {
      err = Math.max(err, Math.abs(got[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    }
    assert.ok(err <= 1e-6 * scale, `GGUF vs folder: max error ${err} (scale ${scale})`);
    await src.close();
    if (!spec.embedScale || spec.embedScale === asLlamaCpp.embedScale) {
      const vocab = spec.vocabSize;
      for (let i = 0; i < ids.length; i++) {
        const e = rowError(
          got.subarray(i * vocab, (i + 1) * vocab),
          REF.variants[variant].prompts.random20.positions[i],
          REF.stride,
        );
        assert.ok(e < 1e-5, `position ${i}: relative error ${e.toExponential(2)} against the reference`);
      }
    }
  });
}

test('gemma2-tiny: the trace records each layer window and soft-cap; weights outside the window are 0', async (t) => {
  if (!dirs) return t.skip(SKIP);
  const model = await loadModel(dirs['gemma2-tiny']);
  const trace = model.trace('the bank of the river was crowded with people that morning', { steps: 3 });
  assert.equal(trace.model.logitSoftcap, 6);
  assert.deepEqual(
    trace.layers.map((l) => [l.window, l.softcap]),
    [
      [6, 4],
      [undefined, 4],
      [6, 4],
    ],
  );
  const T = trace.tokens.length;
  assert.ok(T > 6, `a prompt longer than the window (${T} tokens)`);
  for (const l of trace.layers) {
    for (const head of l.attention!) {
      for (let i = 0; i < T; i++) {
        for (let j = 0; j <= i; j++) {
          const outside = l.window !== undefined && j <= i - l.window;
          if (outside) assert.equal(head[i][j], 0, `layer ${l.layer}: ${i} → ${j} outside the window`);
          else assert.ok(head[i][j] > 0, `layer ${l.layer}: ${i} → ${j} inside`);
        }
      }
    }
  }
  for (const step of trace.steps ?? []) {
    const row = step.attention[0][0];
    for (let j = 0; j <= step.position - 6; j++)
      assert.equal(row[j], 0, `step at ${step.position}: key ${j}`);
  }
  const shown = renderExplain(trace, 0, 'mean');
  assert.match(shown, /sliding window: each token sees itself and the 5 tokens before it/);
  assert.match(shown, /soft-capped: 4·tanh/);
});

test('gemma3-tiny as a gemma3 (multimodal) folder: text_config and language_model.* weights', async (t) => {
  if (!dirs) return t.skip(SKIP);
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-gemma3-'));
  try {
    const text = JSON.parse(readFileSync(join(dirs['gemma3-tiny'], 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const config = {
      model_type: 'gemma3',
      architectures: ['Gemma3ForConditionalGeneration'],
      text_config: text,
    };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    const src = await openSafetensorsFolder(dirs['gemma3-tiny']);
    const tensors: TensorToWrite[] = [
      { name: 'vision_tower.patch_embedding.weight', shape: [2, 3], dtype: 'F32', data: new Float32Array(6) },
    ];
    for (const name of src.names())
      tensors.push({
        name: `language_model.${name}`,
        shape: src.info(name).shape,
        dtype: 'BF16',
        data: await src.read(name),
      });
    await src.close();
    await writeFile(join(dir, 'model.safetensors'), writeSafetensors(tensors));
    await copyFile(SHARED_LLAMA2_TOKENIZER, join(dir, 'tokenizer.model'));
    assertLogitsMatch(await loadModel(dir), REF, 'gemma3-tiny', 1e-5);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
