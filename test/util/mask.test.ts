// maskSecrets: every credential form that can reach a message is replaced, and nothing else changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskSecrets } from '../../src/util/mask.js';

test('maskSecrets hides userinfo passwords, secret parameters, tokens and secret env values', () => {
  const saved = { ...process.env };
  try {
    process.env.HF_TOKEN = 'plain-token-value';
    const cases: Array<[string, string]> = [
      ['postgres://me:hunter2@db:5432/x', 'postgres://me:***@db:5432/x'],
      ['postgres://me:p@ss:w@rd@db/x', 'postgres://me:***@db/x'],
      [
        'postgres://me@db/x?password=hunter2&sslmode=require',
        'postgres://me@db/x?password=***&sslmode=require',
      ],
      ['postgres://db/x?sslmode=require&sslpassword=k3y', 'postgres://db/x?sslmode=require&sslpassword=***'],
      [
        'cannot reach http://u:pw@hub:9/api?token=abc#frag',
        'cannot reach http://u:***@hub:9/api?token=***#frag',
      ],
      [
        'https://cdn/x?X-Amz-Signature=abcd&X-Amz-Credential=AKIA',
        'https://cdn/x?X-Amz-Signature=***&X-Amz-Credential=***',
      ],
      ['Authorization: Bearer hf_abcdefghijklmnop', 'Authorization: Bearer ***'],
      ['token hf_abcdefghijklmnopqrst leaked', 'token hf_*** leaked'],
      ['server said: plain-token-value is invalid', 'server said: *** is invalid'],
    ];
    for (const [input, want] of cases) assert.equal(maskSecrets(input), want, input);
    // No credentials: unchanged.
    for (const s of [
      'postgres://me@db:5432/x',
      'http://127.0.0.1:8080/a/b?x=1',
      '/tmp/store: no store there',
    ])
      assert.equal(maskSecrets(s), s);
  } finally {
    process.env = saved;
  }
});
