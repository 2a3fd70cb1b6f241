// A short run of the fuzz harness (npm run fuzz runs 10,000 files per format): 50 mutations per format
// through the real loaders must give clean errors or working models, never a raw exception; the child
// process runner (time and memory watch) is checked on a few files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bases, classify, FORMATS, loadMutation, mutate } from '../scripts/fuzz/cases.js';
import { runFuzz } from '../scripts/fuzz.js';
import { GlassError } from '../src/util/errors.js';

const PER_FORMAT = 50;

test('classify: a GlassError is a clean error; any other exception is a crash', () => {
  assert.equal(classify(new GlassError('BAD_FILE', 'x: bad')).outcome, 'error');
  assert.equal(classify(new RangeError('Invalid array length')).outcome, 'crash');
  assert.equal(classify(new TypeError('x is undefined')).outcome, 'crash');
  assert.equal(classify('a string').outcome, 'crash');
});

for (const format of FORMATS) {
  test(`fuzz smoke: ${PER_FORMAT} mutated ${format} files, no crash`, async (t) => {
    const all = await bases(format);
    if (!all.length) return t.skip(`no ${format} base files (../shared is absent)`);
    // the unmutated files load: the harness is not testing a loader that always fails
    for (const base of all)
      await loadMutation(format, { base, bytes: base.files[base.target].bytes, kind: 'none' });
    const seen = { loaded: 0, error: 0 };
    for (let i = 0; i < PER_FORMAT; i++) {
      const m = mutate(all, 1, i);
      const t0 = performance.now();
      try {
        await loadMutation(format, m);
        seen.loaded++;
      } catch (e) {
        const c = classify(e);
        assert.equal(c.outcome, 'error', `#${i} (${m.base.label}, ${m.kind}): ${c.message}`);
        seen.error++;
      }
      assert.ok(performance.now() - t0 < 10_000, `#${i} (${m.base.label}, ${m.kind}) took over 10 s`);
    }
    assert.ok(seen.error > 0, 'mutations reach the loaders’ checks');
  });
}

test('fuzz runner: child processes under a time and memory watch report every file', async () => {
  const [r] = await runFuzz({ perFormat: 4, formats: ['safetensors'] });
  assert.equal(r.tried, 4);
  assert.equal(r.outcomes.crash + r.outcomes.hang + r.outcomes.memory, 0, JSON.stringify(r.failures));
  assert.equal(r.outcomes.loaded + r.outcomes.error, 4);
  assert.ok(r.peakRssMb > 10, `RSS was sampled (${r.peakRssMb} MB)`);
});
