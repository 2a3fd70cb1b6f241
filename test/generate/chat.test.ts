import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatFormatter, PLAIN_CHAT_TEMPLATE } from '../../src/generate/chat.js';

// The Llama-2-chat template as published in its tokenizer_config.json (abridged to the parts exercised).
const LLAMA2 =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
  '{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}' +
  "{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
  "{% else %}{% set content = message['content'] %}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

test('a Llama-2-chat template renders system, user and assistant turns', () => {
  const f = new ChatFormatter(LLAMA2, { bosToken: '<s>', eosToken: '</s>' });
  const out = f.format([
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello.' },
    { role: 'user', content: 'Bye' },
  ]);
  assert.equal(out, '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]');
});

test('the plain template ends with the assistant cue', () => {
  const f = new ChatFormatter(PLAIN_CHAT_TEMPLATE);
  assert.equal(f.format([{ role: 'user', content: 'Tell me a story' }]), 'User: Tell me a story\nAssistant:');
});

test('a broken template is a clear error', () => {
  assert.throws(
    () => new ChatFormatter('{% for %}', {}, 'x/tokenizer_config.json'),
    /x\/tokenizer_config\.json: cannot parse/,
  );
});
