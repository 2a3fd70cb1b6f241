// Beam search (src/generate/beam.ts, run by the one step loop in steps.ts) against a plain-Python
// implementation of Hugging Face's algorithm (test/fixtures/beam_reference.py → beam-reference.json) on
// a scripted model whose logits are a fixed function of the sequence; then on a real tiny GPT-2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Decoder } from '../../src/models/decoder.js';
import { generationSteps, type StepModel, type StepsEnd } from '../../src/generate/steps.js';
import { Sampler } from '../../src/generate/sampler.js';
import { bannedByNgram, logSoftmax, type EarlyStopping } from '../../src/generate/beam.js';
import type { Tokenizer } from '../../src/tokenizers/tokenizer.js';
import { loadModel } from '../../src/models/load-node.js';
import { createLlama } from '../../src/train/init.js';
import { ensureGpt2Fixtures, SHARED_GPT2 } from '../fixtures/make-gpt2.js';
import { ensureMarianFixtures, SHARED_MARIAN } from '../fixtures/make-marian.js';
import { TINY_LLAMA } from '../fixtures/tiny-llama.js';
import { withWasmBackend } from '../fixtures/wasm.js';

interface Case {
  name: string;
  prompt: number[];
  num_beams: number;
  max_new: number;
  length_penalty?: number;
  early_stopping?: EarlyStopping;
  ngram?: number;
  num_return?: number;
  hypotheses: Array<{ ids: number[]; score: number; logprob: number }>;
  greedy: number[];
  greedy_logprob: number;
}
const ref = JSON.parse(readFileSync(new URL('../fixtures/beam-reference.json', import.meta.url), 'utf8')) as {
  vocab: number;
  eos: number;
  cases: Case[];
};
const V = ref.vocab;
const EOS = ref.eos;

/** The scripted model's logits for a sequence (beam_reference.py's `logits`). */
function logitsOf(seq: readonly number[]): Float32Array {
  let h = 7;
  for (const t of seq) h = (h * 31 + t + 1) % 1000003;
  return Float32Array.from(
    { length: V },
    (_, t) => ((h * (t + 3) + 17 * t * t) % 997) / 199 + (t === EOS ? 0.4 : 0),
  );
}

/** A "KV cache" that remembers the ids it has seen. */
class ScriptedCache {
  ids: number[] = [];
  constructor(readonly maxPositions: number) {}
  get length() {
    return this.ids.length;
  }
  copyFrom(o: ScriptedCache) {
    this.ids = [...o.ids];
  }
  release() {}
  reset() {
    this.ids = [];
  }
}

/** A decoder whose forward returns logitsOf(everything seen); counts batched forwards. */
function scriptedDecoder() {
  const d = {
    vocabSize: V,
    contextLength: 100,
    batches: 0,
    newCache: (n = 100) => new ScriptedCache(n),
    forward(ids: ArrayLike<number>, cache: ScriptedCache) {
      cache.ids.push(...Array.from(ids));
      return logitsOf(cache.ids);
    },
    forwardBatch(items: ReadonlyArray<{ ids: ArrayLike<number>; cache: ScriptedCache }>) {
      d.batches++;
      const out = new Float32Array(items.length * V);
      items.forEach(({ ids, cache }, i) => out.set(d.forward(ids, cache), i * V));
      return out;
    },
  };
  return d;
}

const tokenizer = {
  specialTokens: { eos: EOS },
  decoder() {
    return { push: (id: number) => 'abcdefghij'[id], flush: () => '' };
  },
  decode: (ids: ArrayLike<number>) => Array.from(ids, (id) => 'abcdefghij'[id]).join(''),
} as unknown as Tokenizer;

function runBeams(
  c: Omit<Case, 'hypotheses' | 'greedy' | 'greedy_logprob'>,
  extra: { stop?: string[] } = {},
) {
  const d = scriptedDecoder();
  const steps = generationSteps(d as unknown as Decoder, tokenizer, c.prompt, {
    sampler: new Sampler({ greedy: true }),
    maxTokens: c.max_new,
    noRepeatNgramSize: c.ngram,
    beams: {
      numBeams: c.num_beams,
      lengthPenalty: c.length_penalty,
      earlyStopping: c.early_stopping,
      numReturnSequences: c.num_return,
    },
    ...extra,
  });
  let r: IteratorResult<unknown, StepsEnd>;
  let n = 0;
  while (!(r = steps.next()).done) n++;
  return { end: r.value, steps: n, batches: d.batches };
}

const byName = (name: string) => {
  const c = ref.cases.find((x) => x.name === name);
  assert.ok(c, name);
  return c;
};

for (const c of ref.cases) {
  test(`beam search = HF reference: ${c.name}`, () => {
    const { end, steps, batches } = runBeams(c);
    const hyps = end.hypotheses ?? [];
    assert.deepEqual(
      hyps.map((h) => h.ids),
      c.hypotheses.map((h) => h.ids),
    );
    hyps.forEach((h, i) => {
      assert.ok(Math.abs(h.score - c.hypotheses[i].score) < 1e-9, `${h.score} vs ${c.hypotheses[i].score}`);
      assert.ok(Math.abs(h.logprob - c.hypotheses[i].logprob) < 1e-9);
      assert.equal(h.stop, h.ids[h.ids.length - 1] === EOS ? 'eos' : 'max-tokens');
    });
    // one batched forward per step but the last
    assert.equal(batches, steps - 1);
  });
}

test('the reference cases show what they are named for', () => {
  const differ = byName('beams differ from greedy');
  assert.notDeepEqual(differ.hypotheses[0].ids, differ.greedy);
  // the beam's sequence is more likely than greedy's
  assert.ok(differ.hypotheses[0].logprob > differ.greedy_logprob);
  const eos = byName('end-of-text ends hypotheses early').hypotheses[0].ids;
  assert.equal(eos[eos.length - 1], EOS);
  assert.ok(eos.length < 8);
  assert.notDeepEqual(
    byName('length penalty 0').hypotheses[0].ids,
    byName('length penalty 2').hypotheses[0].ids,
  );
  const es = ['true', 'false', 'never'].map((x) => byName(`early stopping ${x}`).hypotheses[0].ids.join());
  assert.equal(new Set(es).size, 3);
  const ng = byName('no repeat ngram 2');
  assert.notDeepEqual(ng.hypotheses[0].ids, byName('no repeat ngram 0').hypotheses[0].ids);
  const seq = [...ng.prompt, ...ng.hypotheses[0].ids];
  const bigrams = seq.slice(1).map((t, i) => `${seq[i]},${t}`);
  assert.equal(new Set(bigrams).size, bigrams.length);
  const ret = byName('num return sequences 4').hypotheses;
  assert.equal(ret.length, 4);
  for (let i = 1; i < ret.length; i++) assert.ok(ret[i - 1].score >= ret[i].score);
});

test('no-repeat n-grams: the tokens that would repeat an n-gram', () => {
  assert.deepEqual(bannedByNgram([1, 2, 3, 1, 2], 3), [3]);
  assert.deepEqual(bannedByNgram([1, 2, 1, 2, 1], 2), [2, 2]);
  assert.deepEqual(bannedByNgram([4, 5], 1), [4, 5]);
  assert.deepEqual(bannedByNgram([1], 3), []);
});

test('beam search: a stop string ends a hypothesis; forced ids come first; bad options are refused', () => {
  const c = byName('beams differ from greedy');
  // 'f' is token 5: every hypothesis stops at its first 5, its text cut before it
  const { end } = runBeams({ ...c }, { stop: ['f'] });
  for (const h of end.hypotheses ?? []) {
    assert.equal(h.stop, 'stop');
    assert.equal(h.ids[h.ids.length - 1], 5);
    assert.ok(!h.text.includes('f'));
  }
  const d = scriptedDecoder();
  const steps = generationSteps(d as unknown as Decoder, tokenizer, [1], {
    sampler: new Sampler({ greedy: true }),
    maxTokens: 5,
    forced: [3, 3],
    beams: { numBeams: 2 },
  });
  let r: IteratorResult<unknown, StepsEnd>;
  while (!(r = steps.next()).done);
  for (const h of r.value.hypotheses ?? []) assert.deepEqual(h.ids.slice(0, 2), [3, 3]);
  assert.throws(
    () =>
      generationSteps(d as unknown as Decoder, tokenizer, [1], {
        sampler: new Sampler(),
        maxTokens: 5,
        beams: { numBeams: 2, numReturnSequences: 3 },
      }),
    /num-return-sequences/,
  );
});

const dirs = await ensureGpt2Fixtures();

test('a real tiny GPT-2: numBeams 1 is greedy; 4 beams score at least greedy', async (t) => {
  if (!dirs) return t.skip(`${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`);
  const m = await loadModel(dirs['gpt2-tiny-sharded']);
  const prompt = 'Once upon a time';
  const run = async (o: object) => {
    const g = m.generate(prompt, { maxTokens: 8, stopAtEos: false, ...o });
    let text = '';
    for await (const p of g) text += p;
    return { ...(await g.result), streamed: text };
  };
  const greedy = await run({ greedy: true });
  const one = await run({ greedy: true, numBeams: 1 });
  assert.deepEqual(one.ids, greedy.ids);
  // the summed log-prob of greedy's ids, scored by the model itself
  const ids = [...greedy.promptIds];
  let greedyLogprob = 0;
  for (const id of greedy.ids) {
    const logits = m.decoder.forward(ids, undefined, true);
    greedyLogprob += logSoftmax(logits)[id];
    ids.push(id);
  }
  const beams = await run({ numBeams: 4, numReturnSequences: 2, lengthPenalty: 0 });
  assert.equal(beams.sequences?.length, 2);
  const best = beams.sequences![0];
  assert.equal(best.ids.length, 8);
  assert.ok(best.logprob >= greedyLogprob - 1e-4, `${best.logprob} < ${greedyLogprob}`);
  assert.ok(best.score >= beams.sequences![1].score);
  assert.equal(beams.streamed, best.text);
  assert.deepEqual(beams.ids, best.ids);
  assert.equal(best.text, m.tokenizer.decode(best.ids));
});

test('KVCache.copyFrom under wasm: a cache overwritten by a fork gives the fork sequence’s logits', () =>
  withWasmBackend(async () => {
    const d = await createLlama({ ...TINY_LLAMA, vocabSize: 64, contextLength: 64 }, 4);
    const a = d.newCache();
    d.forward([1, 2, 3, 4, 5], a, true);
    // b has been mirrored with other rows (same last id: the mirror's spot check would not see them)
    const b = d.newCache();
    d.forward([9, 8, 7, 6, 5], b, true);
    b.copyFrom(a);
    assert.equal(b.length, 5);
    const fromB = d.forward([6], b, true);
    const fresh = d.forward([1, 2, 3, 4, 5, 6], d.newCache(), true);
    assert.deepEqual(Array.from(fromB), Array.from(d.forward([6], a, true)));
    for (let i = 0; i < fresh.length; i++) assert.ok(Math.abs(fromB[i] - fresh[i]) < 1e-4);
  }));

test('generation_config.json: num_beams, length_penalty, early_stopping, no_repeat_ngram_size are defaults', async (t) => {
  if (!dirs) return t.skip(`${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`);
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-beams-'));
  try {
    await cp(dirs['gpt2-tiny'], dir, { recursive: true });
    const cfg = { num_beams: 3, length_penalty: 0.5, early_stopping: 'never', no_repeat_ngram_size: 2 };
    await writeFile(join(dir, 'generation_config.json'), JSON.stringify(cfg));
    const m = await loadModel(dir);
    assert.deepEqual(m.generationDefaults, {
      numBeams: 3,
      lengthPenalty: 0.5,
      earlyStopping: 'never',
      noRepeatNgramSize: 2,
    });
    const g = m.generate('The bank of the river', { maxTokens: 6, stopAtEos: false, numReturnSequences: 3 });
    for await (const piece of g) void piece;
    assert.equal((await g.result).sequences?.length, 3);
    await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ early_stopping: 'sometimes' }));
    await assert.rejects(loadModel(dir), /"early_stopping" must be true, false or "never"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('glasslm generate --beams: the best sequences, whole, each with its score; options reach the search', async (t) => {
  if (!dirs) return t.skip(`${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`);
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, HF_HUB_OFFLINE: '1' },
    });
  const model = dirs['gpt2-tiny-sharded'];
  const prompt = 'Once upon a time';
  const out = cli(
    'generate',
    '--model',
    model,
    '--no-stats',
    '-n',
    '6',
    '--beams',
    '3',
    '--num-return',
    '2',
    '--no-repeat-ngram',
    '2',
    '--length-penalty',
    '0.5',
    '--early-stopping',
    'never',
    prompt,
  );
  assert.equal(out.status, 0, out.stderr);
  const m = await loadModel(model);
  const g = m.generate(prompt, {
    maxTokens: 6,
    numBeams: 3,
    numReturnSequences: 2,
    noRepeatNgramSize: 2,
    lengthPenalty: 0.5,
    earlyStopping: 'never',
  });
  for await (const piece of g) void piece;
  const want = (await g.result).sequences!.flatMap((q, i) => [
    `[${i + 1}] score ${q.score.toFixed(4)} (log-prob ${q.logprob.toFixed(4)})`,
    `${prompt}${q.text}`,
  ]);
  assert.equal(out.stdout, want.join('\n') + '\n');
  const bad = cli('generate', '--model', model, '--beams', '2', '--num-return', '3', prompt);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /num-return-sequences must be an integer in \[1, num-beams = 2\]/);
  const es = cli('generate', '--model', model, '--beams', '2', '--early-stopping', 'soon', prompt);
  assert.notEqual(es.status, 0);
  assert.match(es.stderr, /early-stopping must be true, false or never/);
});

test('model.trace({ numBeams }): the beam tree, from which the hypotheses can be rebuilt', async (t) => {
  if (!dirs) return t.skip(`${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`);
  const m = await loadModel(dirs['gpt2-tiny-sharded']);
  const prompt = 'Once upon a time';
  const trace = m.trace(prompt, {
    steps: 6,
    numBeams: 3,
    stopAtEos: false,
    vectors: 'summary',
    attention: false,
  });
  const g = m.generate(prompt, { maxTokens: 6, numBeams: 3, stopAtEos: false });
  for await (const piece of g) void piece;
  const best = (await g.result).sequences![0];
  assert.ok(trace.beams);
  assert.deepEqual(trace.beams.hypotheses[0].ids, best.ids);
  // the winner is replayed as the trace's steps: one recorded step per token, as a greedy trace has
  assert.deepEqual(
    trace.steps.map((s) => s.token.id),
    best.ids,
  );
  assert.equal(trace.beams.hypotheses[0].text, best.text);
  // walk the tree: each step's 'running' candidates, in order, are the next step's parents
  let running: number[][] = [[], [], []];
  const finished: string[] = [];
  for (const step of trace.beams.steps) {
    assert.equal(step.candidates.length, 6);
    const next: number[][] = [];
    for (const c of step.candidates) {
      const ids = [...running[c.parent], c.token.id];
      if (c.fate === 'running') next.push(ids);
      if (c.fate === 'finished') finished.push(ids.join());
    }
    running = next;
  }
  assert.ok(finished.includes(best.ids.join()), 'the best hypothesis is a finished leaf of the tree');
});

test('beams through a StepModel without forwardBatch (one forward per beam) equal the batched ones; Marian plugs in', async (t) => {
  if (!dirs) return t.skip(`${SHARED_GPT2} is absent: cannot build the GPT-2 fixtures`);
  const m = await loadModel(dirs['gpt2-tiny-sharded']);
  const d = m.decoder;
  const prompt = Array.from(m.tokenizer.encode('Once upon a time'));
  const hyps = (model: StepModel) => {
    const steps = generationSteps(model, m.tokenizer, prompt, {
      sampler: new Sampler({ greedy: true }),
      maxTokens: 7,
      beams: { numBeams: 3, numReturnSequences: 3 },
    });
    let r: IteratorResult<unknown, StepsEnd>;
    while (!(r = steps.next()).done);
    return r.value.hypotheses!.map((h) => h.ids);
  };
  const unbatched: StepModel = {
    forward: (...a) => d.forward(...a),
    newCache: () => d.newCache(),
    vocabSize: d.vocabSize,
    contextLength: d.contextLength,
  };
  assert.deepEqual(hyps(unbatched), hyps(d));
  // an encoder-decoder (its decoder bound to the encoded source) runs the same beam search
  const marian = await ensureMarianFixtures();
  if (!marian) return t.diagnostic(`${SHARED_MARIAN} is absent: no Marian check`);
  const mt = await loadModel(marian['marian-tiny']);
  const g = mt.generate('the house', { maxTokens: 6, numBeams: 3, numReturnSequences: 3 });
  for await (const piece of g) void piece;
  const seqs = (await g.result).sequences!;
  assert.equal(seqs.length, 3);
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i - 1].score >= seqs[i].score);
});
