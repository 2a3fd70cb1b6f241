// Gemma's chat template (google/gemma-2-2b-it's tokenizer_config.json; Gemma 3's differs only in folding
// a system message into the first user turn) through the Jinja path: turns as <start_of_turn>user /
// model, the assistant's role renamed, alternation enforced by the template's raise_exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatFormatter } from '../../src/generate/chat.js';
import { GlassError } from '../../src/util/errors.js';

const GEMMA2_TEMPLATE =
  "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
  "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}" +
  "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

test("Gemma 2's chat template renders its turns", () => {
  const chat = new ChatFormatter(GEMMA2_TEMPLATE, { bosToken: '<bos>', eosToken: '<eos>' });
  const prompt = chat.format([
    { role: 'user', content: 'Hello ' },
    { role: 'assistant', content: 'Hi.' },
    { role: 'user', content: 'Why is the sky blue?' },
  ]);
  assert.equal(
    prompt,
    '<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi.<end_of_turn>\n' +
      '<start_of_turn>user\nWhy is the sky blue?<end_of_turn>\n<start_of_turn>model\n',
  );
  assert.throws(
    () => chat.format([{ role: 'system', content: 'Be brief.' }]),
    (e: unknown) => e instanceof GlassError && /System role not supported/.test(e.message),
  );
});
