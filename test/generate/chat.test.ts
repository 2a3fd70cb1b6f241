import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChatFormatter,
  fitConversation,
  PLAIN_CHAT_TEMPLATE,
  type ChatMessage,
} from '../../src/generate/chat.js';

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

// Conversation fitting: a word is a token here, so the arithmetic can be checked by hand.
const words = (s: string) => s.split(/\s+/).filter(Boolean).length;
const plain = new ChatFormatter(PLAIN_CHAT_TEMPLATE);
const turns = (): ChatMessage[] => [
  { role: 'system', content: 'be brief' },
  { role: 'user', content: 'one two three' },
  { role: 'assistant', content: 'four five' },
  { role: 'user', content: 'six seven eight nine' },
];

test('fitConversation shortens the reply to the room left, keeping every turn', () => {
  const h = turns();
  const total = words(plain.format(h));
  const fit = fitConversation(h, plain, words, total + 5, 50, false);
  assert.ok(fit.ok);
  assert.equal(fit.maxTokens, 5);
  assert.equal(fit.dropped, 0);
  assert.equal(h.length, 4);
});

test('fitConversation with dropOldest forgets the oldest turn, keeps the system message and the new one', () => {
  const h = turns();
  const total = words(plain.format(h));
  const fit = fitConversation(h, plain, words, total + 3, 5, true);
  assert.ok(fit.ok);
  assert.equal(fit.dropped, 2);
  assert.deepEqual(
    h.map((m) => m.role),
    ['system', 'user'],
  );
  assert.equal(h[1].content, 'six seven eight nine');
  assert.equal(fit.maxTokens, 5);
});

test('fitConversation refuses a message that cannot fit, says how much fits, and changes nothing', () => {
  for (const dropOldest of [false, true]) {
    const h = turns();
    h[3].content = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
    const fit = fitConversation(h, plain, words, 30, 8, dropOldest);
    assert.equal(fit.ok, false);
    if (fit.ok) continue;
    assert.equal(fit.messageTokens, 40);
    assert.ok(fit.fits > 0 && fit.fits < 40, `fits ${fit.fits}`);
    assert.equal(fit.contextLength, 30);
    assert.equal(h.length, 4, 'the history is left as it was');
  }
});
