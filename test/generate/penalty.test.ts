// OpenAI's presence and frequency penalties in the Sampler: logit[t] −= presence·[count[t] > 0] +
// frequency·count[t], over the tokens this sampler chose; out-of-range values refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sampler } from '../../src/generate/sampler.js';

test('penalties lower the logits of tokens already chosen, by presence once and frequency per use', () => {
  const logits = new Float32Array([3, 2.5, 0]);
  const freq = new Sampler({ greedy: true, frequencyPenalty: 0.4 });
  // 3 → 2.6 → 2.2 (< 2.5): 0, 0, then 1
  assert.deepEqual([freq.sample(logits), freq.sample(logits), freq.sample(logits)], [0, 0, 1]);
  const presence = new Sampler({ greedy: true, presencePenalty: 1 });
  // 3 → 2 once (not again): 0, 1 (2.5 → 1.5), then 0 (2 > 1.5)
  assert.deepEqual([presence.sample(logits), presence.sample(logits), presence.sample(logits)], [0, 1, 0]);
  assert.deepEqual(Array.from(logits), [3, 2.5, 0], 'the given row is not changed');
  const none = new Sampler({ greedy: true });
  assert.deepEqual([none.sample(logits), none.sample(logits)], [0, 0]);
  assert.throws(() => new Sampler({ presencePenalty: 3 }), /presence penalty must be in \[-2, 2\]/);
  assert.throws(() => new Sampler({ frequencyPenalty: Number.NaN }), /frequency penalty/);
});
