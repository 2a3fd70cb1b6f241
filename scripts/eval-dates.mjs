#!/usr/bin/env node
// Exact-match accuracy of a dates model (models/dates-iso) on the held-out test split of
// scripts/make-dates.mjs: each source is translated greedily, as `glasslm generate --model <folder> "..."`
// does, and must equal its ISO date exactly. Needs `npm run build` (it loads dist/).
//
//   node scripts/eval-dates.mjs [--model models/dates-iso] [--split test|val] [--limit n] [--json]
import { loadModel } from '../dist/src/index.js';
import { makeDates } from './make-dates.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const modelPath = opt('model', 'models/dates-iso');
const split = opt('split', 'test');
const limit = Number(opt('limit', Infinity));
const pairs = makeDates()[split];
if (!pairs) throw new Error(`--split ${split}: expected test or val`);

const model = await loadModel(modelPath);
const t0 = performance.now();
let right = 0;
const wrong = [];
const n = Math.min(limit, pairs.length);
for (const [source, target] of pairs.slice(0, n)) {
  const gen = model.generate(source, { greedy: true, maxTokens: 16 });
  for await (const piece of gen) void piece;
  const { text } = await gen.result;
  if (text === target) right++;
  else wrong.push({ source, target, got: text });
}
const result = {
  model: modelPath,
  split,
  pairs: n,
  exact: right,
  accuracy: right / n,
  seconds: Math.round((performance.now() - t0) / 100) / 10,
  errors: wrong.slice(0, 20),
};
if (args.includes('--json')) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
else {
  process.stdout.write(
    `${modelPath}: ${right}/${n} exact on the ${split} split (${((100 * right) / n).toFixed(1)}%) in ${result.seconds} s\n`,
  );
  for (const w of wrong.slice(0, 20))
    process.stdout.write(`  ${JSON.stringify(w.source)} → ${JSON.stringify(w.got)} (want ${w.target})\n`);
}
await model.dispose?.();
