import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHfConfig } from '../../src/formats/hf-config.js';
import { GlassError } from '../../src/util/errors.js';

// openai-community/gpt2's config.json (abridged to the fields that matter plus a few that do not).
const GPT2 = {
  activation_function: 'gelu_new',
  architectures: ['GPT2LMHeadModel'],
  attn_pdrop: 0.1,
  bos_token_id: 50256,
  embd_pdrop: 0.1,
  eos_token_id: 50256,
  initializer_range: 0.02,
  layer_norm_epsilon: 1e-5,
  model_type: 'gpt2',
  n_ctx: 1024,
  n_embd: 768,
  n_head: 12,
  n_layer: 12,
  n_positions: 1024,
  resid_pdrop: 0.1,
  summary_type: 'cls_index',
  task_specific_params: { 'text-generation': { do_sample: true, max_length: 50 } },
  vocab_size: 50257,
};

function expectError(fn: () => unknown, code: string, ...parts: string[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof GlassError, `expected a GlassError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const p of parts)
      assert.ok(e.message.includes(p), `${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
    return true;
  });
}

test('parses GPT-2 config.json', () => {
  const c = parseHfConfig(GPT2, 'gpt2/config.json');
  const { raw, ...rest } = c;
  assert.equal(raw, GPT2);
  assert.deepEqual(rest, {
    modelType: 'gpt2',
    vocabSize: 50257,
    contextLength: 1024,
    dim: 768,
    nLayers: 12,
    nHeads: 12,
    headDim: 64,
    ffnDim: 3072,
    layerNormEps: 1e-5,
    activation: 'gelu_new',
    tieWordEmbeddings: true,
    scaleAttnWeights: true,
    scaleAttnByInverseLayerIdx: false,
    bosTokenId: 50256,
    eosTokenId: 50256,
  });
});

test('GPT-2 defaults and alternatives', () => {
  const c = parseHfConfig(
    { model_type: 'gpt2', vocab_size: 1000, n_ctx: 128, n_embd: 64, n_layer: 2, n_head: 4, n_inner: null },
    'tiny/config.json',
  );
  assert.ok(c.modelType === 'gpt2');
  assert.equal(c.contextLength, 128);
  assert.equal(c.ffnDim, 256);
  assert.equal(c.layerNormEps, 1e-5);
  assert.equal(c.activation, 'gelu_new');
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.bosTokenId, undefined); // 50256 is not in a 1000-token vocabulary
  const d = parseHfConfig(
    { ...GPT2, n_inner: 1000, layer_norm_epsilon: 1e-6, tie_word_embeddings: false, eos_token_id: [7, 8] },
    'x/config.json',
  );
  assert.ok(d.modelType === 'gpt2');
  assert.equal(d.ffnDim, 1000);
  assert.equal(d.layerNormEps, 1e-6);
  assert.equal(d.tieWordEmbeddings, false);
  assert.equal(d.eosTokenId, 7);
});

test('missing or invalid fields name the file and field', () => {
  const { n_embd: _, ...noEmbd } = GPT2;
  expectError(
    () => parseHfConfig(noEmbd, 'm/config.json'),
    'BAD_FILE',
    'm/config.json: field "n_embd" is missing (expected a positive integer)',
  );
  expectError(
    () => parseHfConfig({ ...GPT2, n_head: 0 }, 'm/config.json'),
    'BAD_FILE',
    '"n_head"',
    'positive integer',
  );
  expectError(
    () => parseHfConfig({ ...GPT2, n_layer: '12' }, 'm/config.json'),
    'BAD_FILE',
    '"n_layer" is "12"',
  );
  expectError(
    () => parseHfConfig({ ...GPT2, layer_norm_epsilon: -1 }, 'm/config.json'),
    'BAD_FILE',
    '"layer_norm_epsilon"',
  );
  const { n_positions: _p, n_ctx: _c, ...noCtx } = GPT2;
  expectError(() => parseHfConfig(noCtx, 'm/config.json'), 'BAD_FILE', '"n_positions" is missing');
  expectError(
    () => parseHfConfig({ ...GPT2, model_type: undefined }, 'm/config.json'),
    'BAD_FILE',
    '"model_type" is missing',
  );
  expectError(() => parseHfConfig([1, 2], 'm/config.json'), 'BAD_FILE', 'm/config.json');
});

test('n_embd must be divisible by n_head', () => {
  expectError(
    () => parseHfConfig({ ...GPT2, n_embd: 770 }, 'm/config.json'),
    'BAD_FILE',
    'm/config.json',
    '770',
    'n_head',
  );
});

test('llama-shaped configs (llama, mistral, qwen2) parse with HF defaults', () => {
  const base = {
    model_type: 'llama',
    vocab_size: 32000,
    hidden_size: 64,
    intermediate_size: 172,
    num_hidden_layers: 2,
    num_attention_heads: 8,
    num_key_value_heads: 2,
    max_position_embeddings: 128,
  };
  const c = parseHfConfig(base, 'l/config.json');
  assert.equal(c.modelType, 'llama');
  if (c.modelType !== 'llama') return;
  assert.equal(c.nKvHeads, 2);
  assert.equal(c.headDim, 8);
  assert.equal(c.ropeTheta, 10000);
  assert.equal(c.tieWordEmbeddings, false);
  assert.equal(c.attentionBias, false);
  const q = parseHfConfig({ ...base, model_type: 'qwen2' }, 'q/config.json');
  assert.ok(q.modelType === 'llama' && q.family === 'qwen2' && q.attentionBias);
  expectError(
    () => parseHfConfig({ ...base, num_key_value_heads: 3 }, 'l/config.json'),
    'BAD_FILE',
    'num_key_value_heads',
  );
  // rope_scaling is read (test/models/rope.test.ts): a method's missing field, an unknown method
  expectError(
    () => parseHfConfig({ ...base, rope_scaling: { type: 'llama3' } }, 'l/config.json'),
    'BAD_FILE',
    'rope_scaling: field "factor" is missing',
  );
  expectError(
    () => parseHfConfig({ ...base, rope_scaling: { type: 'xpos', factor: 2 } }, 'l/config.json'),
    'UNSUPPORTED',
    'field "rope_scaling.type" "xpos" is not supported yet',
  );
});

test('T5 configs: HF defaults, d_kv apart from d_model / num_heads, and the fields that are refused', () => {
  const c = parseHfConfig(
    { model_type: 't5', d_model: 16, num_heads: 3, d_kv: 6, d_ff: 20, num_layers: 2, vocab_size: 128 },
    't/config.json',
  );
  assert.equal(c.modelType, 't5');
  if (c.modelType !== 't5') return;
  assert.equal(c.headDim, 6);
  assert.equal(c.nLayers, 2, 'num_decoder_layers defaults to num_layers');
  assert.equal(c.activation, 'relu');
  assert.equal(c.relativeBuckets, 32);
  assert.equal(c.relativeMaxDistance, 128);
  assert.equal(c.normEps, 1e-6);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.decoderStartTokenId, 0);
  assert.equal(c.eosTokenId, 1);
  const base = { model_type: 't5', d_model: 16, num_heads: 4, d_ff: 20, num_layers: 2, vocab_size: 128 };
  expectError(
    () => parseHfConfig({ ...base, feed_forward_proj: 'gated-silu' }, 't/config.json'),
    'UNSUPPORTED',
    'feed_forward_proj',
  );
  expectError(
    () => parseHfConfig({ ...base, is_decoder: true }, 't/config.json'),
    'UNSUPPORTED',
    'is_decoder',
  );
});

test('unsupported model types', () => {
  expectError(
    () => parseHfConfig({ model_type: 'bart' }, 'b/config.json'),
    'UNSUPPORTED',
    'not supported yet: bart',
  );
  expectError(
    () => parseHfConfig({ model_type: 'whatever' }, 'w/config.json'),
    'UNSUPPORTED',
    'not supported yet: whatever',
  );
  expectError(
    () => parseHfConfig({ model_type: 'toString' }, 'w/config.json'),
    'UNSUPPORTED',
    'not supported yet: toString',
  );
});
