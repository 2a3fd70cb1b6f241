// Scaled RoPE (llama3, linear, dynamic, yarn, longrope), Llama 3 and Phi-3 folders vs the float64 numpy
// reference (rope_reference.py, from HF's definitions): logits within 1e-5 in one pass and token by token
// through the KV cache (dynamic and LongRoPE frequencies follow the length a pass reaches, so these differ
// past the original context), greedy ids equal; the same weights as GGUF; refused configs name the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderExplain } from '../../src/cli/explain.js';
import { openGguf } from '../../src/formats/gguf.js';
import { writeGguf, type GgufTensorToWrite } from '../../src/formats/gguf-write.js';
import { parseHfConfig } from '../../src/formats/hf-config.js';
import { ChatFormatter } from '../../src/generate/chat.js';
import { modelFromGguf } from '../../src/models/load-files.js';
import { loadModel } from '../../src/models/load-node.js';
import type { LanguageModel } from '../../src/models/model.js';
import { traceModel } from '../../src/trace/trace.js';
import { bytesSource } from '../../src/util/bytes.js';
import { GlassError } from '../../src/util/errors.js';
import {
  ensureRopeFixtures,
  LLAMA3_CHAT_TEMPLATE,
  ROPE_VARIANTS,
  ropeGguf,
  type RopeVariant,
} from '../fixtures/make-rope.js';
import { assertSameFiles, readReference, rowError, type PositionRef } from './reference.js';

const REF = readReference('rope-reference.json');
const dirs = await ensureRopeFixtures();
const TOL = 1e-5;

type RopePromptRef = { ids: number[]; positions: PositionRef[]; cached: PositionRef[]; greedy: number[] };
const prompts = (v: RopeVariant) =>
  Object.entries(REF.variants[v].prompts) as unknown as Array<[string, RopePromptRef]>;

function assertRows(logits: Float32Array, vocab: number, refs: PositionRef[], what: string): void {
  refs.forEach((r, i) => {
    const row = logits.subarray(i * vocab, (i + 1) * vocab);
    const e = rowError(row, r, REF.stride);
    assert.ok(e < TOL, `${what} position ${i}: relative error ${e.toExponential(2)}`);
  });
}

/** One pass without a cache, then token by token through the cache: each against its reference. */
function assertLogits(model: LanguageModel, v: RopeVariant, label: string): void {
  for (const [name, p] of prompts(v)) {
    const full = model.forward(p.ids);
    assertRows(full.data, full.shape[1], p.positions, `${label} ${name} (one pass)`);
    const cache = model.newCache();
    p.cached.forEach((r, i) => {
      const e = rowError(model.forward([p.ids[i]], cache).data, r, REF.stride);
      assert.ok(e < TOL, `${label} ${name} position ${i}: relative error ${e.toExponential(2)} (KV cache)`);
    });
  }
}

async function assertGreedy(model: LanguageModel, v: RopeVariant): Promise<void> {
  for (const [name, p] of prompts(v)) {
    const gen = model.generate(p.ids, { greedy: true, maxTokens: p.greedy.length, stopAtEos: false });
    for await (const _ of gen) {
      // drain
    }
    assert.deepEqual((await gen.result).ids, p.greedy, `${v} ${name}: greedy ids`);
  }
}

for (const v of ROPE_VARIANTS) {
  test(`rope ${v}: logits match the float64 reference within 1e-5, in one pass and through the KV cache; greedy ids equal`, async () => {
    assertSameFiles(dirs[v], REF.variants[v].sha256);
    const model = await loadModel(dirs[v]);
    assertLogits(model, v, v);
    await assertGreedy(model, v);
  });
}

test('rope: dynamic and LongRoPE passes past the original context really differ from token-by-token ones', () => {
  for (const v of ['llama-dynamic', 'phi3-longrope', 'phi3-partial'] as const) {
    const p = REF.variants[v].prompts.long as unknown as RopePromptRef;
    const last = p.ids.length - 1;
    assert.notEqual(p.positions[last].max, p.cached[last].max, v);
  }
});

const GGUF_VARIANTS = [
  'llama3-tied',
  'llama-linear',
  'phi3-longrope',
  'phi3-partial',
  'phi3-window',
] as const;
for (const v of GGUF_VARIANTS) {
  test(`rope ${v}: written as GGUF (llama.cpp's names and rope tensors), the same logits`, async () => {
    const hf = await loadModel(dirs[v]);
    const file = await openGguf(bytesSource(await ropeGguf(dirs[v]), `${v}.gguf`));
    const model = await modelFromGguf(file, `${v}.gguf`, hf.tokenizer);
    assert.equal(model.decoder.contextLength, hf.decoder.contextLength);
    assertLogits(model, v, `${v}.gguf`);
  });
}

test('rope phi3-longrope: a Q4_0 GGUF keeps the fused qkv and gate|up in their blocks (split by rows)', async () => {
  const v = 'phi3-longrope';
  const hf = await loadModel(dirs[v]);
  const q4 = (name: string) => (/attn_qkv|ffn_up/.test(name) ? 'Q4_0' : 'F32');
  const file = await openGguf(bytesSource(await ropeGguf(dirs[v], q4), `${v}-q4.gguf`));
  const model = await modelFromGguf(file, `${v}-q4.gguf`, hf.tokenizer);
  const b = model.decoder.blocks[0];
  assert.equal(b.attention.qkv.weight.kind, 'quant');
  assert.equal(b.ffn.gate!.weight.kind, 'quant');
  assert.equal(b.ffn.up.weight.kind, 'quant');
  // the same file with every tensor expanded to float32 (the values the blocks hold)
  const tensors: GgufTensorToWrite[] = [];
  for (const n of file.names())
    tensors.push({ name: n, shape: file.info(n).shape, type: 'F32', data: await file.read(n) });
  const expanded = await openGguf(
    bytesSource(writeGguf({ metadata: [...file.typedMetadata], tensors }), `${v}-f32.gguf`),
  );
  const f32 = await modelFromGguf(expanded, `${v}-f32.gguf`, hf.tokenizer);
  assert.equal(f32.decoder.blocks[0].ffn.gate!.weight.kind, 'f32');
  const ids = REF.variants[v].prompts.long.ids;
  const a = model.forward(ids).data;
  const e = f32.forward(ids).data;
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - e[i]));
    scale = Math.max(scale, Math.abs(e[i]));
  }
  // the same values, in blocks or expanded (a wrong split would be off by O(1))
  assert.ok(err / scale < 1e-5, `relative error ${(err / scale).toExponential(2)}`);
});

test('rope: the GGUF of a YaRN model is refused naming llama.rope.scaling.type', async () => {
  const file = await openGguf(bytesSource(await ropeGguf(dirs['qwen2-yarn']), 'yarn.gguf'));
  await assert.rejects(
    modelFromGguf(file, 'yarn.gguf', (await loadModel(dirs['qwen2-yarn'])).tokenizer),
    (e: unknown) => e instanceof GlassError && /llama\.rope\.scaling\.type/.test(e.message),
  );
});

test('rope: the loaded configs carry the scaling, rotary dims and context length', async () => {
  const cfg = (v: RopeVariant) => loadModel(dirs[v]).then((m) => m.decoder.blocks[0].attention.rotation!);
  const llama3 = await cfg('llama3-tied');
  assert.equal(llama3.scaling?.type, 'llama3');
  assert.equal(llama3.headDim, 16); // head_dim 16 with hidden 48 / 4 heads
  const yarn = await cfg('qwen2-yarn');
  assert.equal(yarn.scaling?.type, 'yarn');
  assert.ok(Math.abs(yarn.attentionFactor - (0.1 * Math.log(4) + 1)) < 1e-12);
  assert.equal(yarn.maxPositions, 256); // factor 4 × original 64
  assert.equal((await cfg('llama-dynamic')).maxPositions, 32); // factor 2 × 16
  const partial = await cfg('phi3-partial');
  assert.equal(partial.rotaryDim, 6); // ⌊12 × 0.5⌋
  assert.equal(partial.scaling?.type, 'longrope');
  assert.ok(Math.abs(partial.attentionFactor - Math.sqrt(1 + Math.log(4) / Math.log(16))) < 1e-12);
  assert.equal((await cfg('phi3-longrope')).scaling?.type, 'longrope'); // "su"
  const window = await loadModel(dirs['phi3-window']);
  assert.equal(window.decoder.contextLength, 31); // sliding_window 31 < max_position_embeddings 64
  assert.throws(() => window.forward(Array.from({ length: 32 }, (_, i) => 3 + i)), GlassError);
});

test('rope: Llama 3 chat template from tokenizer_config.json renders', async () => {
  const model = await loadModel(dirs['llama3-tied']);
  assert.equal(model.chatTemplate, LLAMA3_CHAT_TEMPLATE);
  const text = new ChatFormatter(model.chatTemplate!, { bosToken: '<|begin_of_text|>' }).format([
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: ' Hi there ' },
  ]);
  assert.equal(
    text,
    '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n',
  );
});

test('rope: the trace records the scaling, rotary dims and attention factor', async () => {
  const model = await loadModel(dirs['phi3-partial']);
  const trace = traceModel(model, 'the quick brown fox', { vectors: 'summary' });
  const rope = trace.embeddings.rope!;
  assert.equal(rope.scaling?.type, 'longrope');
  assert.equal(rope.rotaryDim, 6);
  assert.ok(rope.attentionFactor! > 1);
  assert.equal(rope.angles[0].length, 3);
  // glasslm explain's header says it
  const text = renderExplain(trace, trace.layers.length - 1, 'mean');
  assert.match(text.split('\n')[0], /rope positions \(longrope scaling, 6\/12 dims rotated\)/);
});

/** A Llama config.json with one change. */
const config = (patch: Record<string, unknown>) => ({
  model_type: 'llama',
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  max_position_embeddings: 64,
  vocab_size: 100,
  ...patch,
});
const refused = (patch: Record<string, unknown>, field: string) =>
  assert.throws(
    () => parseHfConfig(config(patch), 'config.json'),
    (e: unknown) => e instanceof GlassError && e.message.includes(`"${field}"`),
    field,
  );

test('rope: configs with unsupported or wrong RoPE fields are refused naming the field', () => {
  refused({ rope_scaling: { rope_type: 'ntk-by-parts', factor: 2 } }, 'rope_scaling.rope_type');
  refused({ rope_scaling: { type: 'mrope', factor: 2 } }, 'rope_scaling.type');
  refused({ rope_scaling: { rope_type: 'linear', factor: 2, mscale: 1 } }, 'rope_scaling.mscale');
  refused({ rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1 } }, 'high_freq_factor');
  refused({ rope_scaling: { rope_type: 'yarn' } }, 'factor');
  refused(
    { rope_scaling: { rope_type: 'longrope', short_factor: [1, 1], long_factor: [1, 1, 1, 1] } },
    'rope_scaling.short_factor',
  );
  refused(
    { rope_scaling: { rope_type: 'dynamic', factor: 2, original_max_position_embeddings: 32 } },
    'rope_scaling.original_max_position_embeddings',
  );
  refused({ partial_rotary_factor: 0.5 }, 'partial_rotary_factor');
  refused({ rope_parameters: { rope_type: 'default', rope_theta: 1e4, extra: 1 } }, 'rope_parameters.extra');
  // accepted: the default type in either spelling, v5's rope_parameters with θ inside
  assert.equal(parseHfConfig(config({ rope_scaling: { type: 'default' } }), 'c').modelType, 'llama');
  const v5 = parseHfConfig(config({ rope_parameters: { rope_type: 'default', rope_theta: 5e5 } }), 'c');
  assert.equal(v5.modelType === 'llama' && v5.ropeTheta, 5e5);
});

test('rope: real configs parse (Llama 3.2 1B, Phi-3 mini 4k and 128k, Phi-3.5 mini, Qwen2.5 with YaRN)', () => {
  const llama32 = parseHfConfig(
    {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 128000,
      eos_token_id: 128001,
      head_dim: 64,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 8192,
      max_position_embeddings: 131072,
      mlp_bias: false,
      model_type: 'llama',
      num_attention_heads: 32,
      num_hidden_layers: 16,
      num_key_value_heads: 8,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: {
        factor: 32.0,
        high_freq_factor: 4.0,
        low_freq_factor: 1.0,
        original_max_position_embeddings: 8192,
        rope_type: 'llama3',
      },
      rope_theta: 500000.0,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      use_cache: true,
      vocab_size: 128256,
    },
    'Llama-3.2-1B/config.json',
  );
  assert.ok(llama32.modelType === 'llama' && llama32.tieWordEmbeddings);
  assert.equal(llama32.contextLength, 131072);
  assert.deepEqual(llama32.ropeScaling, {
    type: 'llama3',
    factor: 32,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalContext: 8192,
  });
  const phi3 = {
    architectures: ['Phi3ForCausalLM'],
    attention_dropout: 0.0,
    bos_token_id: 1,
    embd_pdrop: 0.0,
    eos_token_id: 32000,
    hidden_act: 'silu',
    hidden_size: 3072,
    initializer_range: 0.02,
    intermediate_size: 8192,
    max_position_embeddings: 4096,
    model_type: 'phi3',
    num_attention_heads: 32,
    num_hidden_layers: 32,
    num_key_value_heads: 32,
    original_max_position_embeddings: 4096,
    pad_token_id: 32000,
    resid_pdrop: 0.0,
    rms_norm_eps: 1e-5,
    rope_scaling: null,
    rope_theta: 10000.0,
    sliding_window: 2047,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    use_cache: true,
    vocab_size: 32064,
  };
  const mini4k = parseHfConfig(phi3, 'Phi-3-mini-4k-instruct/config.json');
  assert.ok(mini4k.modelType === 'llama' && mini4k.family === 'phi3' && !mini4k.attentionBias);
  assert.equal(mini4k.contextLength, 2047); // within the window, windowed attention is full attention
  const factors = Array.from({ length: 48 }, (_, i) => 1 + i / 10);
  const longrope = { long_factor: factors, short_factor: factors.map((f) => f / 2) };
  for (const [type, file] of [
    ['su', 'Phi-3-mini-128k-instruct'],
    ['longrope', 'Phi-3.5-mini-instruct'],
  ]) {
    const c = parseHfConfig(
      {
        ...phi3,
        max_position_embeddings: 131072,
        rope_scaling: { ...longrope, type },
        sliding_window: 262144,
      },
      `${file}/config.json`,
    );
    assert.equal(c.contextLength, 131072, file);
    assert.ok(c.modelType === 'llama' && c.ropeScaling?.type === 'longrope', file);
    const s = c.ropeScaling;
    assert.ok(Math.abs(s.attentionFactor - Math.sqrt(1 + Math.log(32) / Math.log(4096))) < 1e-12);
  }
  const qwen = parseHfConfig(
    {
      architectures: ['Qwen2ForCausalLM'],
      attention_dropout: 0.0,
      bos_token_id: 151643,
      eos_token_id: 151645,
      hidden_act: 'silu',
      hidden_size: 3584,
      initializer_range: 0.02,
      intermediate_size: 18944,
      max_position_embeddings: 32768,
      max_window_layers: 28,
      model_type: 'qwen2',
      num_attention_heads: 28,
      num_hidden_layers: 28,
      num_key_value_heads: 4,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 131072,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      use_cache: true,
      use_sliding_window: false,
      vocab_size: 152064,
      rope_scaling: { factor: 4.0, original_max_position_embeddings: 32768, type: 'yarn' },
    },
    'Qwen2.5-7B-Instruct/config.json',
  );
  assert.equal(qwen.contextLength, 131072);
  assert.ok(qwen.modelType === 'llama' && qwen.ropeScaling?.type === 'yarn' && qwen.attentionBias);
});
