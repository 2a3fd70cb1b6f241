// config.json of the families with sliding windows, q/k norms or soft-caps: the real configs' fields
// (abridged), each layer's window by HF's rules, Gemma's options, and the fields refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHfConfig, type LlamaConfig } from '../../src/formats/hf-config.js';
import { GlassError } from '../../src/util/errors.js';

const parse = (json: Record<string, unknown>) => parseHfConfig(json, 'config.json') as LlamaConfig;

function expectUnsupported(json: Record<string, unknown>, field: string) {
  assert.throws(
    () => parse(json),
    (e: unknown) => e instanceof GlassError && e.code === 'UNSUPPORTED' && e.message.includes(`"${field}"`),
  );
}

// Qwen/Qwen3-0.6B
const QWEN3 = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 1024,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  model_type: 'qwen3',
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_sliding_window: false,
  vocab_size: 151936,
};

// google/gemma-2-2b
const GEMMA2 = {
  architectures: ['Gemma2ForCausalLM'],
  attn_logit_softcapping: 50.0,
  final_logit_softcapping: 30.0,
  head_dim: 256,
  hidden_act: 'gelu_pytorch_tanh',
  hidden_activation: 'gelu_pytorch_tanh',
  hidden_size: 2304,
  intermediate_size: 9216,
  max_position_embeddings: 8192,
  model_type: 'gemma2',
  num_attention_heads: 8,
  num_hidden_layers: 26,
  num_key_value_heads: 4,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 10000.0,
  sliding_window: 4096,
  torch_dtype: 'float32',
  vocab_size: 256000,
};

// google/gemma-3-1b-it
const GEMMA3 = {
  architectures: ['Gemma3ForCausalLM'],
  attn_logit_softcapping: null,
  final_logit_softcapping: null,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  hidden_size: 1152,
  intermediate_size: 6912,
  max_position_embeddings: 32768,
  model_type: 'gemma3_text',
  num_attention_heads: 4,
  num_hidden_layers: 26,
  num_key_value_heads: 1,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_local_base_freq: 10000,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: 512,
  sliding_window_pattern: 6,
  torch_dtype: 'bfloat16',
  vocab_size: 262144,
};

test('Qwen3: head_dim apart from hidden / heads, q/k norms, tied; no window while use_sliding_window is false', () => {
  const c = parse(QWEN3);
  assert.equal(c.family, 'qwen3');
  assert.equal(c.headDim, 128);
  assert.equal(c.qkNorm, true);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.attentionBias, false);
  assert.equal(c.slidingWindows, undefined);
  // switched on: layers from max_window_layers on
  const w = parse({
    ...QWEN3,
    num_hidden_layers: 4,
    use_sliding_window: true,
    sliding_window: 64,
    max_window_layers: 2,
  });
  assert.deepEqual(w.slidingWindows, [0, 0, 64, 64]);
});

test('Qwen2: use_sliding_window + max_window_layers (HF: layers >= max_window_layers), layer_types wins', () => {
  const base = {
    model_type: 'qwen2',
    hidden_size: 64,
    intermediate_size: 128,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    num_hidden_layers: 4,
    max_position_embeddings: 4096,
    vocab_size: 1000,
    sliding_window: 131072,
    max_window_layers: 28,
    use_sliding_window: false,
  };
  assert.equal(parse(base).slidingWindows, undefined);
  assert.equal(parse({ ...base, use_sliding_window: true }).slidingWindows, undefined); // 28 > 4 layers
  assert.deepEqual(
    parse({ ...base, use_sliding_window: true, max_window_layers: 0 }).slidingWindows,
    [131072, 131072, 131072, 131072],
  );
  const types = ['full_attention', 'sliding_attention', 'full_attention', 'sliding_attention'];
  assert.deepEqual(
    parse({ ...base, use_sliding_window: true, layer_types: types }).slidingWindows,
    [0, 131072, 0, 131072],
  );
  expectUnsupported({ ...base, use_sliding_window: true, layer_types: ['chunked_attention'] }, 'layer_types');
});

test('Mistral: sliding_window on every layer; null: none', () => {
  const base = {
    model_type: 'mistral',
    hidden_size: 64,
    intermediate_size: 128,
    num_attention_heads: 4,
    num_key_value_heads: 1,
    num_hidden_layers: 3,
    max_position_embeddings: 32768,
    vocab_size: 1000,
  };
  assert.deepEqual(parse({ ...base, sliding_window: 4096 }).slidingWindows, [4096, 4096, 4096]);
  assert.equal(parse({ ...base, sliding_window: null }).slidingWindows, undefined);
});

test('Gemma 2: every other layer windowed from the first, soft-caps, (1 + w) norms, √dim, query_pre_attn_scalar', () => {
  const c = parse(GEMMA2);
  assert.equal(c.family, 'gemma2');
  assert.deepEqual(
    c.slidingWindows,
    Array.from({ length: 26 }, (_, i) => (i % 2 === 0 ? 4096 : 0)),
  );
  assert.equal(c.attnSoftcap, 50);
  assert.equal(c.finalSoftcap, 30);
  assert.equal(c.normOffset, 1);
  assert.equal(c.sandwichNorms, true);
  assert.equal(c.ffn, 'geglu');
  assert.equal(c.embedScale, 48);
  assert.equal(c.attnScale, 1 / 16);
  assert.equal(c.qkNorm, false);
  assert.equal(c.tieWordEmbeddings, true);
  // HF's defaults when the fields are absent; null: no cap
  const { attn_logit_softcapping: _a, final_logit_softcapping: _f, ...bare } = GEMMA2;
  assert.deepEqual([parse(bare).attnSoftcap, parse(bare).finalSoftcap], [50, 30]);
  const off = parse({ ...GEMMA2, attn_logit_softcapping: null, final_logit_softcapping: null });
  assert.deepEqual([off.attnSoftcap, off.finalSoftcap], [undefined, undefined]);
  // the 27B's scalar: hidden / heads = 144
  assert.equal(parse({ ...GEMMA2, query_pre_attn_scalar: 144 }).attnScale, 1 / 12);
});

test('Gemma 3: 5 local layers per global one, their own RoPE base, q/k norms, √dim in bfloat16', () => {
  const c = parse(GEMMA3);
  assert.equal(c.family, 'gemma3_text');
  assert.deepEqual(
    c.slidingWindows,
    Array.from({ length: 26 }, (_, i) => ((i + 1) % 6 === 0 ? 0 : 512)),
  );
  assert.equal(c.localRopeTheta, 10000);
  assert.equal(c.ropeTheta, 1000000);
  assert.equal(c.qkNorm, true);
  assert.deepEqual([c.attnSoftcap, c.finalSoftcap], [undefined, undefined]);
  assert.equal(c.embedScale, 34); // √1152 = 33.94 is 34 in bfloat16
  assert.equal(parse({ ...GEMMA3, torch_dtype: 'float32' }).embedScale, Math.fround(Math.sqrt(1152)));
  // layer_types given: it decides
  const types = Array.from({ length: 26 }, (_, i) => (i < 13 ? 'sliding_attention' : 'full_attention'));
  assert.deepEqual(
    parse({ ...GEMMA3, layer_types: types }).slidingWindows,
    types.map((t) => (t === 'sliding_attention' ? 512 : 0)),
  );
  // a gemma3 (multimodal) config: its text_config
  const mm = parse({
    model_type: 'gemma3',
    torch_dtype: 'bfloat16',
    text_config: { ...GEMMA3, model_type: 'gemma3_text', torch_dtype: undefined },
  });
  assert.equal(mm.family, 'gemma3');
  assert.equal(mm.embedScale, 34);
});

test('Gemma: fields that would change the maths and are not implemented are refused by name', () => {
  expectUnsupported({ ...GEMMA3, rope_scaling: { rope_type: 'linear', factor: 8 } }, 'rope_scaling');
  expectUnsupported({ ...GEMMA2, attention_bias: true }, 'attention_bias');
  expectUnsupported({ ...GEMMA3, use_bidirectional_attention: true }, 'use_bidirectional_attention');
  assert.throws(() => parse({ ...GEMMA2, hidden_activation: 'relu' }), /hidden_activation "relu"/);
});
